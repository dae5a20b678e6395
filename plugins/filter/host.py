"""Filters for what every role's host plumbing shares (collection flask_deploy.stack): the systemd
sandbox baseline of the units the roles write, and firewall sources split by address family.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the filters also run without Ansible (plain Python)
    AnsibleFilterError = ValueError  # type: ignore[assignment,misc]

# The sandbox every service unit of the collection starts from (systemd.exec(5)): nothing but its
# own processes visible, no privilege gained, the file system read-only, no device, kernel
# setting, clock, hostname or namespace of the host's reachable, and only the system calls of an
# ordinary service (others fail with EPERM rather than kill the process). A unit adds what it
# needs (writable paths, capabilities, address families) and drops what it cannot live with.
SANDBOX_BASELINE: tuple[tuple[str, str], ...] = (
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallErrorNumber", "EPERM"),
)


def systemd_sandbox(settings: Mapping[str, Any] | None = None) -> str:
    """The sandbox's [Service] lines: the baseline, where settings replace a directive's value
    (None drops it), then settings' other directives in their order. Values are strings; a list
    is joined with spaces; true and false are yes and no."""
    settings = dict(settings or {})
    lines = []
    for key, value in SANDBOX_BASELINE:
        if key in settings:
            value = settings.pop(key)
        if value is not None:
            lines.append(f"{key}={_unit_value(key, value)}")
    lines += [f"{key}={_unit_value(key, value)}" for key, value in settings.items() if value is not None]
    return "\n".join(lines)


def _unit_value(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    text = str(value)
    if "\n" in text:
        raise AnsibleFilterError(f"systemd_sandbox: {key} must be one line, got {text!r}")
    return text


def by_family(sources: Iterable[str]) -> dict[str, list[str]]:
    """Addresses and networks as nft writes them: {"ip": IPv4 ones, "ip6": IPv6 ones}, each
    normalised (192.0.2.7/24 is 192.0.2.0/24), in the given order, without repeats; a family
    with none is left out."""
    out: dict[str, list[str]] = {}
    for source in sources:
        try:
            network = ipaddress.ip_network(source, strict=False)
        except (TypeError, ValueError) as exc:
            raise AnsibleFilterError(f"{source!r} is not an IPv4 or IPv6 address or network") from exc
        text = str(network.network_address) if network.num_addresses == 1 else str(network)
        family = out.setdefault("ip" if network.version == 4 else "ip6", [])
        if text not in family:
            family.append(text)
    return dict(sorted(out.items()))


def _networks(sources: Iterable[str], caller: str) -> list[str]:
    networks: list[str] = []
    for source in sources:
        try:
            network = ipaddress.ip_network(str(source), strict=False).with_prefixlen
        except ValueError as exc:
            raise AnsibleFilterError(f"{caller}: {source!r} is not an IPv4 or IPv6 address or network") from exc
        if network not in networks:
            networks.append(network)
    return networks


def hba_rules(databases: Iterable[Mapping[str, Any]], sources: Iterable[str]) -> list[dict[str, str]]:
    """pg_hba.conf rules (community.postgresql.postgresql_pg_hba's) that let each database's user into
    that database alone, over TLS, with its password, from each source (an address or a network)."""
    networks = _networks(sources, "hba_rules")
    return [
        {"contype": "hostssl", "databases": db["name"], "users": db["user"], "address": network,
         "method": "scram-sha-256"}
        for db in databases for network in networks
    ]


def member_hba_rules(members: Iterable[str], replication_user: str) -> list[dict[str, str]]:
    """The rules a cluster's members need of each other, over TLS with a password: the replication
    role streams WAL (and copies a new replica), the superuser runs pg_rewind against the leader."""
    return [
        rule
        for network in _networks(members, "member_hba_rules")
        for rule in (
            {"contype": "hostssl", "databases": "replication", "users": replication_user, "address": network,
             "method": "scram-sha-256"},
            {"contype": "hostssl", "databases": "postgres", "users": "postgres", "address": network,
             "method": "scram-sha-256"},
        )
    ]


def hba_line(rule: Mapping[str, str]) -> str:
    """One rule as its pg_hba.conf line (the form Patroni's postgresql.pg_hba takes)."""
    fields = [rule["contype"], rule["databases"], rule["users"]]
    if rule["contype"] != "local":
        fields.append(rule["address"])
    return " ".join([*fields, rule["method"]])


def san(name: str) -> str:
    """A certificate's subject alternative name for a host name or an address: IP:... or DNS:..."""
    try:
        return f"IP:{ipaddress.ip_address(str(name))}"
    except ValueError:
        return f"DNS:{name}"


def url_host(host: str) -> str:
    """A host name or address as a URL's host: an IPv6 address in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(str(host)).version == 6 else str(host)
    except ValueError:
        return str(host)


class FilterModule:
    """flask_deploy.stack filters of host plumbing."""

    def filters(self) -> dict[str, Any]:
        return {"by_family": by_family, "hba_line": hba_line, "hba_rules": hba_rules,
                "member_hba_rules": member_hba_rules, "san": san, "systemd_sandbox": systemd_sandbox,
                "url_host": url_host}
