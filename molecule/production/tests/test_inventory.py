"""The scenario's inventory is inventory/production as the README says to copy it.

Only host names, connection variables (ansible_*), the domain, the ACME CA (Pebble instead of
Let's Encrypt) and the database host's memory (the test hosts share a machine) may differ, so the example
users copy is the one this scenario proves, and can never drift from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from testlib.run import PROJECT, SCENARIO

PRODUCTION = PROJECT / "inventory" / "production"
COPY = SCENARIO / "inventory"
DOMAIN_KEYS = {"notes_server_names"}
CA_KEYS = {"nginx_vhost_acme_directory", "nginx_vhost_acme_ca_certificate"}
# The test hosts share one machine: the database host is given less memory than a whole host's.
SIZING_KEYS = {"postgresql_server_memory_mb"}
# Made by the operator with ansible-vault (the README's step), never shipped.
OPERATOR_FILES = {"group_vars/all/vault.yml"}


def without_connection_vars(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_connection_vars(v) for k, v in value.items() if not str(k).startswith("ansible_")}
    if isinstance(value, list):
        return [without_connection_vars(v) for v in value]
    return value


def host_names(groups: dict[str, Any]) -> list[str]:
    """Host names in the order they first appear."""
    names: list[str] = []
    for group in groups.values():
        names += [h for h in (group or {}).get("hosts") or {} if h not in names]
        names += [h for h in host_names((group or {}).get("children") or {}) if h not in names]
    return names


def renamed(groups: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, group in groups.items():
        group = dict(group or {})
        if "hosts" in group:
            group["hosts"] = sorted(names[h] for h in group["hosts"] or {})
        if "children" in group:
            group["children"] = renamed(group["children"], names)
        out[name] = group
    return out


def load(path: Path) -> Any:
    return without_connection_vars(yaml.safe_load(path.read_text()))


def test_hosts_differ_only_in_names_and_connection_variables() -> None:
    production, copy = load(PRODUCTION / "hosts.yml"), load(COPY / "hosts.yml")
    prod_groups, copy_groups = production["all"]["children"], copy["all"]["children"]
    names = dict(zip(host_names(prod_groups), host_names(copy_groups), strict=True))
    assert renamed(prod_groups, names) == renamed(copy_groups, {n: n for n in names.values()})
    assert production["all"].get("vars") == copy["all"].get("vars")


def vars_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.yml") if p.parent.name != root.name} - OPERATOR_FILES


def test_group_vars_differ_only_in_the_domain_and_the_ca() -> None:
    files = vars_files(PRODUCTION)
    assert files == vars_files(COPY)
    for name in sorted(files):
        production, copy = load(PRODUCTION / name), load(COPY / name)
        differ = DOMAIN_KEYS | CA_KEYS | SIZING_KEYS
        assert {k: v for k, v in production.items() if k not in differ} == \
            {k: v for k, v in copy.items() if k not in differ}, name
        assert production.keys() - CA_KEYS == copy.keys() - CA_KEYS, name


def test_the_domain_is_a_real_name_not_localhost() -> None:
    names = load(COPY / "group_vars" / "all" / "main.yml")["notes_server_names"]
    assert names and all("." in n and n not in ("localhost", "127.0.0.1") for n in names)
