"""Filters that turn the inventory's data into the roles' parameters (collection flask_deploy.stack).

The inventories hold data only (which app hosts a web host sends to, the site's names); these
few functions derive the structures from it, in one place, where Jinja would have to build them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the filters also run without Ansible, in the project's unit tests
    AnsibleFilterError = ValueError  # type: ignore[assignment,misc]


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


# What an entry of flask_apps may say. The app's code and limits map to python_app's options of the
# same name (python_app_<key>); the site's keys go to its nginx_vhost site as they are.
APP_OPTIONS = ("src_dir", "package", "wsgi_module", "env_prefix", "uwsgi_port", "harakiri", "max_body_mb",
               "processes", "env")
SITE_OPTIONS = ("tls_certificate", "tls_key", "tls_certificate_content", "tls_key_content", "hsts",
                "content_security_policy")
ENTRY_KEYS = ("name", "state", "purge", "server_names", "acme", "static_dir", "health_path",
              *APP_OPTIONS, *SITE_OPTIONS)
# Role options that name one app's paths or user: with several apps each gets its own from its name.
PER_APP_PATHS = ("python_app_user", "python_app_root", "python_app_data_dir",
                 "python_app_config_dir")
NAME = re.compile(r"^[a-z][a-z0-9_-]{0,30}$")


def _role_defaults() -> dict[str, Any]:
    """python_app's defaults, from the one place they are written (its argument spec)."""
    spec_file = Path(__file__).resolve().parents[2] / "roles" / "python_app" / "meta" / "argument_specs.yml"
    options = yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"]
    return {name: option.get("default") for name, option in options.items()}


def _fail(where: str, message: str) -> None:
    raise AnsibleFilterError(f"{where}: {message}")


def apps(flask_apps: list[dict[str, Any]] | None, inventory: dict[str, Any], playbook_dir: str) -> list[dict[str, Any]]:
    """The host's apps, each entry complete (state, code, limits, site), checked.

    flask_apps lists several apps; without it (None) the host runs one app described by the
    one-app variables (python_app_*, notes_server_names, notes_acme). What an entry leaves out
    is the inventory's python_app_* value (limits only, with several apps), else python_app's default.
    """
    defaults = _role_defaults()
    defaults["src_dir"] = str(defaults.pop("python_app_src_dir")).replace("{{ playbook_dir }}", playbook_dir)

    def inventory_value(key: str) -> Any:
        return inventory.get(f"python_app_{key}", defaults.get(f"python_app_{key}", defaults.get(key)))

    one_app = flask_apps is None
    if one_app:
        entries = [{"name": inventory.get("python_app_name", defaults["python_app_name"]),
                    "server_names": inventory.get("notes_server_names"),
                    "acme": inventory.get("notes_acme", False),
                    **{k: inventory_value(k) for k in APP_OPTIONS}}]
    elif not isinstance(flask_apps, list) or not flask_apps:
        _fail("flask_apps", "must be a list of apps, each a dict with at least a name")
    else:
        entries = flask_apps
    out: list[dict[str, Any]] = []
    for index, entry in enumerate(entries):
        where = "the app" if one_app else f"flask_apps[{index}]"
        if not isinstance(entry, dict):
            _fail(where, "must be a dict with at least a name")
        unknown = sorted(set(entry) - set(ENTRY_KEYS))
        if unknown:
            _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(ENTRY_KEYS)}")
        name = entry.get("name")
        if not isinstance(name, str) or not NAME.match(name):
            _fail(where, f"name ({name!r}) must start with a lower case letter and hold only a-z, 0-9, _ and -,"
                         " at most 31 characters")
        where = f"{where} ({name})"
        state = entry.get("state", "present")
        if state not in ("present", "absent"):
            _fail(where, f"state ({state!r}) must be present or absent")
        purge = entry.get("purge", False)
        if not isinstance(purge, bool):
            _fail(where, f"purge ({purge!r}) must be true or false")
        names = entry.get("server_names", [] if state == "absent" else None)
        if state == "present" and (not isinstance(names, list) or not names
                                   or not all(isinstance(n, str) and n for n in names)):
            _fail(where, "server_names must be a non-empty list of the host names the app's site answers"
                         + (" (notes_server_names)" if one_app else ""))
        package = entry.get("package", defaults["python_app_package"])
        health_path = entry.get("health_path", "/healthz")
        if not str(health_path).startswith("/"):
            _fail(where, f"health_path ({health_path!r}) must be a URL path starting with /")
        app = {
            "name": name, "state": state, "purge": purge,
            "server_names": names,
            "acme": bool(entry.get("acme", False)),
            "src_dir": entry.get("src_dir", defaults["src_dir"]),
            "package": package,
            "wsgi_module": entry.get("wsgi_module", defaults["python_app_wsgi_module"]),
            "env_prefix": entry.get("env_prefix", defaults["python_app_env_prefix"]),
            "env": entry.get("env", {}),
            "static_dir": entry.get("static_dir", f"{package}/static"),
            # Asked under the site's first name, over HTTPS like a client.
            "health_url": f"https://{names[0]}{health_path}" if names else "",
        }
        for key in ("uwsgi_port", "harakiri", "max_body_mb", "processes"):
            value = entry.get(key, inventory_value(key))
            try:
                app[key] = int(value)
            except (TypeError, ValueError):
                _fail(where, f"{key} ({value!r}) must be a whole number")
        app.update({k: entry[k] for k in SITE_OPTIONS if k in entry})
        out.append(app)

    _distinct(out, "name", lambda a: [a["name"]])
    present = [a for a in out if a["state"] == "present"]
    _distinct(present, "uwsgi_port", lambda a: [a["uwsgi_port"]])
    _distinct(present, "server name", lambda a: a["server_names"])
    if len(out) > 1:
        shared = [k for k in PER_APP_PATHS if k in inventory]
        if shared:
            _fail("flask_apps", f"{', '.join(shared)} would apply to every app: with several apps leave it unset"
                                " (each app's user and paths are named after it)")
    return out


def _distinct(entries: list[dict[str, Any]], what: str, values: Any) -> None:
    seen: dict[Any, str] = {}
    for app in entries:
        for value in values(app):
            if value in seen:
                _fail("flask_apps", f"{seen[value]} and {app['name']} both use {what} {value!r};"
                                    " each app needs its own")
            seen[value] = app["name"]


def sites(stack_apps: list[dict[str, Any]], hostvars: dict[str, Any], this_host: str, app_hosts: list[str],
          serves_code: bool, socket_dir: str, app_root: str | None = None) -> list[dict[str, Any]]:
    """One nginx_vhost site per app: its names, its app hosts' sockets, its static files.

    serves_code: this host holds the apps' releases, so nginx serves their static files from disk
    (a web-only host passes static URLs to the app). app_root: the one app's python_app_root, if set.
    """
    out = []
    for app in stack_apps:
        if app["state"] == "absent":
            out.append({"name": app["name"], "state": "absent"})
            continue
        root = app_root if app_root and len(stack_apps) == 1 else f"/srv/{app['name']}"
        site = {
            "name": app["name"],
            "server_names": app["server_names"],
            "acme": app["acme"],
            "upstreams": uwsgi_upstreams(app_hosts, hostvars, this_host, f"{socket_dir}/{app['name']}.sock",
                                         app["uwsgi_port"]),
            "static_url": "/static/",
            "static_root": f"{root}/current/app/{app['static_dir']}" if serves_code else "",
            "client_max_body_size_mb": app["max_body_mb"],
            # nginx waits longer than uWSGI's harakiri, so a stuck request is cut by uWSGI first.
            "read_timeout": app["harakiri"] + 5,
        }
        site.update({k: app[k] for k in SITE_OPTIONS if k in app})
        out.append(site)
    return out


class FilterModule:
    """flask_deploy.stack filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "addresses": addresses,
            "apps": apps,
            "sites": sites,
            "uwsgi_upstreams": uwsgi_upstreams,
            "web_hosts_of": web_hosts_of,
            "wheelhouses": wheelhouses,
        }
