"""Filters that turn the inventory's data into the roles' parameters (collection flask_deploy.stack).

The inventories hold data only (which app hosts a web host sends to, the site's names); these
few functions derive the structures from it, in one place, where Jinja would have to build them.
"""

from __future__ import annotations

from typing import Any


def _address(hostvars: dict[str, Any], host: str) -> str:
    try:
        return hostvars[host]["ansible_facts"]["default_ipv4"]["address"]
    except KeyError as exc:
        raise ValueError(f"no IPv4 address is known for {host}: gather its facts first ({exc})") from exc


def addresses(hosts: list[str], hostvars: dict[str, Any]) -> list[str]:
    """The hosts' own IPv4 addresses (from their facts), in the given order."""
    return [_address(hostvars, h) for h in hosts]


def uwsgi_upstreams(app_hosts: list[str], hostvars: dict[str, Any], this_host: str, socket: str,
                    port: int) -> list[str]:
    """The uWSGI servers a web host sends a site's requests to, in inventory order.

    Its own app (when this host is one of the app hosts) over the unix socket, every other app
    host over TCP at its address and the app's uwsgi port.
    """
    local = [f"unix:{socket}"] if this_host in app_hosts else []
    return local + [f"{_address(hostvars, h)}:{int(port)}" for h in app_hosts if h != this_host]


def web_hosts_of(web_hosts: list[str], hostvars: dict[str, Any], app_host: str,
                 default_app_hosts: list[str]) -> list[str]:
    """Addresses of the web hosts on other machines that send requests to app_host.

    A web host sends to the app hosts its `upstream_app_hosts` names (default: every app host).
    """
    senders = [
        w for w in web_hosts
        if w != app_host and app_host in hostvars[w].get("upstream_app_hosts", default_app_hosts)
    ]
    return [_address(hostvars, w) for w in senders]


def wheelhouses(hosts: list[str], hostvars: dict[str, Any], cache: str, key: str) -> list[dict[str, str]]:
    """One wheelhouse per (Python, CPU) pair among hosts: {"dir", "python", "arch"}, in host order."""
    out: list[dict[str, str]] = []
    for host in hosts:
        facts = hostvars[host]["ansible_facts"]
        python = ".".join(str(facts["python_version"]).split(".")[:2])
        arch = facts["architecture"]
        entry = {"dir": f"{cache}/{key}/cp{python}-{arch}", "python": python, "arch": arch}
        if entry not in out:
            out.append(entry)
    return out


class FilterModule:
    """flask_deploy.stack filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "addresses": addresses,
            "uwsgi_upstreams": uwsgi_upstreams,
            "web_hosts_of": web_hosts_of,
            "wheelhouses": wheelhouses,
        }
