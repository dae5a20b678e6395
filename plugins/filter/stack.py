"""Filters that turn the inventory's data into the roles' parameters (collection flask_deploy.stack).

The inventories hold data only (which app hosts a web host sends to, the site's names); these
few functions derive the structures from it, in one place, where Jinja would have to build them.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any


try:
    from ansible.errors import AnsibleFilterError
except ImportError:  # the filters also run without Ansible (plain Python)
    AnsibleFilterError = ValueError  # type: ignore[assignment,misc]

from ansible_collections.flask_deploy.stack.plugins.module_utils.app_layout import app_paths
from ansible_collections.flask_deploy.stack.plugins.module_utils.names import APP_NAME_RULE, is_app_name
from ansible_collections.flask_deploy.stack.plugins.module_utils.role_defaults import ROLE_DEFAULTS


def _address(hostvars: dict[str, Any], host: str) -> str:
    try:
        return hostvars[host]["ansible_facts"]["default_ipv4"]["address"]
    except KeyError as exc:
        raise ValueError(f"no IPv4 address is known for {host}: it is not in this run (--limit) or was not reached, "
                         f"or has no default IPv4 route ({exc})") from exc


def without_facts(hosts: list[str], hostvars: dict[str, Any]) -> list[str]:
    """The hosts whose facts were not gathered (unreachable, or refused the setup module), in order."""
    return [h for h in hosts if not hostvars.get(h, {}).get("ansible_facts", {}).get("module_setup")]


def addresses(hosts: list[str], hostvars: dict[str, Any]) -> list[str]:
    """The hosts' own IPv4 addresses (from their facts), in the given order."""
    return [_address(hostvars, h) for h in hosts]


def named_addresses(hosts: list[str], hostvars: dict[str, Any]) -> list[dict[str, str]]:
    """Each host as {name, address}, its own IPv4 address from its facts, in the given order."""
    return [{"name": h, "address": _address(hostvars, h)} for h in hosts]


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


def venv_name(lock_sha256: str, python_path: str, python_version: str) -> str:
    """The name of the virtualenv that a lock file's requirements make under a host's Python:
    py<major.minor>-<16 hex of sha256 over the lock's digest, the Python's path and version>.

    Every release whose lock is the same runs in it, on the same Python; a changed lock, or another
    Python (a path, or a minor version, which names site-packages) makes another one."""
    if not re.fullmatch(r"[0-9a-f]{64}", str(lock_sha256)):
        raise AnsibleFilterError(f"venv_name: the lock's digest must be a sha256 in hex, not {lock_sha256!r}")
    version = ".".join(str(python_version).split(".")[:2])
    if not re.fullmatch(r"\d+\.\d+", version):
        raise AnsibleFilterError(f"venv_name: the Python version must be major.minor[.micro], not {python_version!r}")
    if not str(python_path).startswith("/"):
        raise AnsibleFilterError(f"venv_name: the Python must be an absolute path, not {python_path!r}")
    key = hashlib.sha256("\0".join((lock_sha256, str(python_path), version)).encode()).hexdigest()
    return f"py{version}-{key[:16]}"


def unused_venvs(venvs: list[str], venv_of: dict[str, str], kept_releases: list[str], in_use: list[str]) -> list[str]:
    """The virtualenvs (names, of venvs) that no kept release links to (venv_of: release -> name) and
    that are not in_use (the one this run built or runs): the ones to prune."""
    linked = {venv_of[r] for r in kept_releases if r in venv_of}
    return [v for v in venvs if v not in linked and v not in in_use]


# What an entry of flask_apps may say. The app's code and limits map to python_app's options of the
# same name (python_app_<key>); the site's keys go to its nginx_vhost site as they are.
CODE_OPTIONS = ("src_dir", "package", "wsgi_module", "env_prefix")
LIMITS = ("uwsgi_port", "harakiri", "max_body_mb", "processes", "worker_max_rss_mb", "cpu_nice")
SITE_OPTIONS = ("tls_certificate", "tls_key", "tls_certificate_content", "tls_key_content", "hsts",
                "content_security_policy")
# Switches of the app's vassal, true or false, inherited from the inventory like LIMITS.
SWITCHES = ("cpu_idle",)
ENTRY_KEYS = ("name", "state", "purge", "server_names", "acme", "static_dir", "health_path", "env", "database",
              *CODE_OPTIONS, *LIMITS, *SWITCHES, *SITE_OPTIONS)
# What the loops over the apps must not carry: a loop's items are in its results (and logs).
SECRET_KEYS = ("env", "tls_key_content")
# python_app options that are one app's own: with flask_apps, each entry says them (or its name
# does), so the inventory must not. Limits (LIMITS) and switches (SWITCHES) are inherited from the inventory instead.
# migrate_command too: each app's release declares its own migration (pyproject.toml).
PER_APP_OPTIONS = ("user", "root", "data_dir", "config_dir", "backup_dir", "state", "purge", "env", "migrate_command",
                   *CODE_OPTIONS)
# A database entry: the app's PostgreSQL database and role on the db hosts (names default to the app's).
DATABASE_KEYS = ("password", "name", "user")
IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# PostgreSQL's own names (and pg_..., which it reserves for its roles).
RESERVED = ("postgres", "public", "template0", "template1")
MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
# A site's name as nginx and a TLS certificate both take it: a host name (labels of letters, digits
# - and _, joined by .), which may start with one *. wildcard label; or an IP address (_server_names).
HOST_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
HOST_NAME = re.compile(rf"(\*\.)?{HOST_LABEL}(\.{HOST_LABEL})*\.?")
# What an ACME CA validates over HTTP: lower-case DNS names with a dot, as nginx_vhost checks them.
ACME_NAME = re.compile(r"([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]")
SERVER_NAME_RULE = ("must be host names (letters, digits, -, _ and ., such as shop.example.org or localhost, "
                    "the first one without a *. wildcard) or IP addresses")


def _role_defaults() -> dict[str, Any]:
    """python_app's defaults, as its argument spec writes them (scripts/role-docs generates the module)."""
    return ROLE_DEFAULTS["python_app"]


def _fail(where: str, message: str) -> None:
    raise AnsibleFilterError(f"{where}: {message}")


def _one_app(inventory: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The one app of python_app_* and notes_*, values as given: python_app's and nginx_vhost's
    own checks name these variables when a value is wrong."""
    def value(key: str) -> Any:
        return inventory.get(f"python_app_{key}", defaults.get(f"python_app_{key}", defaults.get(key)))

    names = inventory.get("notes_server_names")
    if isinstance(names, list) and all(isinstance(n, str) and n for n in names):
        _server_names("notes_server_names", names, inventory.get("notes_acme", False), {})
    package = value("package")
    return {
        "name": value("name"), "state": value("state"), "purge": value("purge"),
        "server_names": names, "acme": inventory.get("notes_acme", False),
        **{k: value(k) for k in (*CODE_OPTIONS, *LIMITS, *SWITCHES, "env")},
        "static_dir": f"{package}/static",
        "health_url": f"https://{names[0]}/healthz" if isinstance(names, list) and names else "",
        "database": _database("notes_database", inventory.get("notes_database"), str(value("name"))),
        "one_app": True,
    }


def _database(where: str, value: Any, app_name: str) -> dict[str, str] | None:
    """The app's shared database ({password, name, user}), or None: SQLite on each app host."""
    if value is None:
        return None
    if not isinstance(value, dict):
        _fail(where, "must be a dict with at least the database role's password (from Ansible Vault)")
    unknown = sorted(set(value) - set(DATABASE_KEYS))
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(DATABASE_KEYS)}")
    password = value.get("password")
    if not isinstance(password, str) or not password or any(c in password for c in "\n\r\x00"):
        _fail(where, "password must be the database role's password, one line, not empty (keep it in Ansible Vault)")
    out = {"password": password}
    for key in ("name", "user"):
        # The app's name with - read as _, as PostgreSQL's identifiers want.
        given = value.get(key, app_name.replace("-", "_"))
        if not isinstance(given, str) or not IDENTIFIER.fullmatch(given) or given in RESERVED \
                or given.startswith("pg_"):
            _fail(where, f"{key} ({given!r}) must be a lower-case letter or _, then up to 62 lower-case letters, "
                         f"digits or _, not starting with pg_ and not one of {', '.join(RESERVED)}")
        out[key] = given
    return out


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _server_names(field: str, names: list[str], acme: Any, site: dict[str, Any]) -> None:
    """A site's names, checked here on every host and not only by nginx_vhost on the web hosts: a
    name nginx would read as two (a space) or a certificate cannot hold stops the run before any
    host changes. field names them as the inventory does."""
    bad = [n for n in names if len(n) > 253 or not (HOST_NAME.fullmatch(n) or _is_ip(n))]
    if names and not bad and names[0].startswith("*."):
        bad = names[:1]
    if bad:
        raise AnsibleFilterError(f"{field} {SERVER_NAME_RULE}; not {', '.join(map(repr, bad))}")
    if acme is True:
        not_dns = [n for n in names if not ACME_NAME.fullmatch(n)]
        if not_dns:
            raise AnsibleFilterError(
                f"{field} must be DNS names the CA can validate over HTTP, as acme is true (lower case, with a dot, "
                f"no wildcard or IP address); not {', '.join(map(repr, not_dns))}")
        own = [k for k in ("tls_certificate", "tls_certificate_content") if k in site]
        if own:
            raise AnsibleFilterError(f"{field}: acme is true, so the site must not set {' or '.join(own)} "
                                     "(the CA issues its certificate)")


def _integer(value: Any) -> bool:
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        isinstance(value, str) and re.fullmatch(r"[0-9]+", value) is not None)


def _entry(index: int, entry: Any, inventory: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    where = f"flask_apps[{index}]"
    if not isinstance(entry, dict):
        _fail(where, "must be a dict with at least a name")
    unknown = sorted(set(entry) - set(ENTRY_KEYS))
    if unknown:
        _fail(where, f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(ENTRY_KEYS)}")
    name = entry.get("name")
    if not is_app_name(name):
        _fail(where, f"name ({name!r}) {APP_NAME_RULE}")
    where = f"{where} ({name})"
    state = entry.get("state", "present")
    if state not in ("present", "absent"):
        _fail(where, f"state ({state!r}) must be present or absent")
    for key in ("purge", "acme", "hsts"):
        if key in entry and not isinstance(entry[key], bool):
            _fail(where, f"{key} ({entry[key]!r}) must be true or false")
    names = entry.get("server_names", [] if state == "absent" else None)
    if not isinstance(names, list) or (state == "present" and not names) \
            or not all(isinstance(n, str) and n for n in names):
        _fail(where, "server_names must be a non-empty list of the host names the app's site answers")
    _server_names(f"{where}: server_names", names, entry.get("acme", False), entry)
    package = entry.get("package", defaults["python_app_package"])
    if not isinstance(package, str) or not MODULE.fullmatch(package):
        _fail(where, f"package ({package!r}) must be a Python package name")
    static_dir = entry.get("static_dir", f"{package}/static")
    if not isinstance(static_dir, str) or static_dir.startswith("/") or ".." in static_dir.split("/"):
        _fail(where, f"static_dir ({static_dir!r}) must be a path inside the app's source directory")
    health_path = entry.get("health_path", "/healthz")
    if not isinstance(health_path, str) or not health_path.startswith("/"):
        _fail(where, f"health_path ({health_path!r}) must be a URL path starting with /")
    env = entry.get("env", {})
    if not isinstance(env, dict):
        _fail(where, "env must map variable names to values")
    app = {
        "name": name, "state": state, "purge": entry.get("purge", False),
        "server_names": names, "acme": entry.get("acme", False),
        "src_dir": entry.get("src_dir", defaults["src_dir"]),
        "package": package,
        "wsgi_module": entry.get("wsgi_module", defaults["python_app_wsgi_module"]),
        "env_prefix": entry.get("env_prefix", defaults["python_app_env_prefix"]),
        "env": env,
        "static_dir": static_dir,
        # Asked under the site's first name, over HTTPS like a client.
        "health_url": f"https://{names[0]}{health_path}" if names else "",
        "database": _database(f"{where}: database", entry.get("database"), name),
        "one_app": False,
    }
    for key in LIMITS:
        value = entry.get(key, inventory.get(f"python_app_{key}", defaults[f"python_app_{key}"]))
        if not _integer(value):
            _fail(where, f"{key} ({value!r}) must be a whole number")
        app[key] = int(value)
    for key in SWITCHES:
        value = entry.get(key, inventory.get(f"python_app_{key}", defaults[f"python_app_{key}"]))
        if not isinstance(value, bool):
            _fail(where, f"{key} ({value!r}) must be true or false")
        app[key] = value
    app.update({k: entry[k] for k in SITE_OPTIONS if k in entry})
    return app


def apps(flask_apps: list[dict[str, Any]] | None, inventory: dict[str, Any], playbook_dir: str) -> list[dict[str, Any]]:
    """The host's apps, each entry complete (state, code, limits, environment, site).

    flask_apps lists them, each entry checked here, naming flask_apps[i] and the key. Without it
    (None) the host runs the one app of python_app_*, notes_server_names and notes_acme, whose
    values the roles' own checks name. An entry's limits default to the inventory's python_app_*
    values; everything else to python_app's defaults (the bundled app).
    """
    defaults = dict(_role_defaults())
    defaults["src_dir"] = str(defaults.pop("python_app_src_dir")).replace("{{ playbook_dir }}", playbook_dir)
    if flask_apps is None:
        return [_one_app(inventory, defaults)]
    if not isinstance(flask_apps, list) or not flask_apps:
        _fail("flask_apps", "must be a list of apps, each a dict with at least a name")
    shared = [f"python_app_{k}" for k in PER_APP_OPTIONS if f"python_app_{k}" in inventory]
    if shared:
        _fail("flask_apps", f"{', '.join(shared)} would apply to every app: with flask_apps, give each app's "
                            "in its entry (its user and paths come from its name; its migration, from its "
                            "pyproject.toml's [tool.flask-deploy] migrate)")
    # Not read with flask_apps, and left behind it would move the app's data back to SQLite unseen.
    if inventory.get("notes_database") is not None:
        _fail("flask_apps", "notes_database is not read with flask_apps: give the app's database in its entry "
                            "(database: {password: ...}, docs/apps.md)")
    out = [_entry(i, entry, inventory, defaults) for i, entry in enumerate(flask_apps)]
    _distinct(out, "name", lambda a: [a["name"]])
    # nftables tables and nginx variables spell - as _.
    _distinct(out, "name (with - read as _)", lambda a: [a["name"].replace("-", "_")])
    present = [a for a in out if a["state"] == "present"]
    _distinct(present, "uwsgi_port", lambda a: [a["uwsgi_port"]])
    _distinct(present, "server name", lambda a: [n.lower() for n in a["server_names"]])
    # Two apps in one database, or with one role and two passwords, would share (or lose) their data.
    _distinct(present, "database", lambda a: [a["database"]["name"]] if a["database"] else [])
    _distinct(present, "database user", lambda a: [a["database"]["user"]] if a["database"] else [])
    return out


def _distinct(entries: list[dict[str, Any]], what: str, values: Any) -> None:
    seen: dict[Any, str] = {}
    for app in entries:
        for value in set(values(app)):
            if value in seen:
                if seen[value] == app["name"]:
                    _fail("flask_apps", f"{app['name']} is listed twice")
                _fail("flask_apps", f"{seen[value]} and {app['name']} both use {what} {value!r};"
                                    " each app needs its own")
            seen[value] = app["name"]


def loop_items(stack_apps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The apps without their secrets (environment, key, database password), for loops: a loop's
    items are in its results."""
    out = []
    for app in stack_apps:
        item = {k: v for k, v in app.items() if k not in SECRET_KEYS}
        if app.get("database"):
            item["database"] = {k: v for k, v in app["database"].items() if k != "password"}
        out.append(item)
    return out


def app_database_password(stack_apps: list[dict[str, Any]], name: str) -> str:
    """One app's database password (python_app_database_password), looked up by name; '' for SQLite."""
    for app in stack_apps:
        if app["name"] == name:
            return (app.get("database") or {}).get("password", "")
    _fail("app_database_password", f"no app is named {name!r}")


def databases(stack_apps: list[dict[str, Any]]) -> list[dict[str, str]]:
    """postgresql_server_databases: each present app's shared database, {name, user, password}."""
    return [dict(app["database"]) for app in stack_apps if app["state"] == "present" and app.get("database")]


def database_connections(stack_apps: list[dict[str, Any]], hostvars: dict[str, Any], app_hosts: list[str],
                         headroom: int = 20) -> int:
    """postgresql_server_max_connections: one per uWSGI worker of every app in PostgreSQL on every app
    host (the bundled app holds one connection a request), and headroom for migrations, health
    checks, backups and an operator. processes 0 means two per CPU of that host, as python_app does."""
    total = 0
    for app in stack_apps:
        if app["state"] != "present" or not app.get("database"):
            continue
        for host in app_hosts:
            processes = int(app["processes"])
            if processes == 0:
                processes = 2 * int(hostvars[host]["ansible_facts"].get("processor_vcpus", 1) or 1)
            total += processes
    return total + int(headroom)


def shared_data(stack_apps: list[dict[str, Any]], hostvars: dict[str, Any], web_hosts: list[str],
                default_app_hosts: list[str], database_hosts: list[str]) -> bool:
    """True when no app's data is split: fails naming the app, the hosts and the fix when a web host
    sends an app in SQLite to several app hosts (each would keep its own notes), or an app declares
    a shared database and the inventory has no database host."""
    present = [a for a in stack_apps if a["state"] == "present"]
    for app in present:
        if app.get("database") and not database_hosts:
            _fail(f"{app['name']}: database", "the app's data is to be in PostgreSQL, but the inventory has no "
                                               "database host: put one in the `db` group")
    for web in web_hosts:
        senders = sorted(set(hostvars[web].get("upstream_app_hosts", default_app_hosts)))
        if len(senders) < 2:
            continue
        for app in present:
            if not app.get("database"):
                _fail(app["name"], f"web host {web} sends its requests to app hosts {', '.join(senders)}, and each "
                                   "would keep the app's data in its own SQLite file: a note written through one "
                                   "would be missing from reads on the others. Give the app a shared database "
                                   "(database: {password: ...} in its flask_apps entry, or notes_database in a "
                                   "one-app inventory, and a host in the `db` group), or set upstream_app_hosts so "
                                   "that each web host sends to one app host (docs/databases.md)")
    return True


def app_env(stack_apps: list[dict[str, Any]], name: str) -> dict[str, Any]:
    """One app's environment (python_app_env), looked up by name."""
    for app in stack_apps:
        if app["name"] == name:
            return app["env"]
    _fail("app_env", f"no app is named {name!r}")


def sites(stack_apps: list[dict[str, Any]], hostvars: dict[str, Any], this_host: str, app_hosts: list[str],
          serves_code: bool, socket_dir: str | None = None, app_root: str | None = None) -> list[dict[str, Any]]:
    """One nginx_vhost site per app: its names, its app hosts' sockets, its static files.

    serves_code: this host holds the apps' releases, so nginx serves their static files from disk
    (a web-only host passes static URLs to the app). socket_dir: python_app_socket_dir, if set;
    app_root: the one app's python_app_root, if set. Paths as python_app lays them out (app_paths).
    """
    out = []
    for app in stack_apps:
        if app["state"] == "absent":
            out.append({"name": app["name"], "state": "absent"})
            continue
        paths = app_paths(app["name"], app_root if app.get("one_app") else None, socket_dir, app["static_dir"])
        limits = {}
        for key in ("uwsgi_port", "harakiri", "max_body_mb"):
            if not _integer(app[key]):
                _fail(f"python_app_{key}", f"{app[key]!r} must be a whole number")
            limits[key] = int(app[key])
        site = {
            "name": app["name"],
            "server_names": app["server_names"],
            "acme": app["acme"],
            "upstreams": uwsgi_upstreams(app_hosts, hostvars, this_host, paths["socket"],
                                         limits["uwsgi_port"]),
            "static_url": "/static/",
            "static_root": paths["static"] if serves_code else "",
            # Every kept release's, by code digest (python_app links them).
            "static_versions_root": paths["static_versions"] if serves_code else "",
            "client_max_body_size_mb": limits["max_body_mb"],
            # nginx waits longer than uWSGI's harakiri, so a stuck request is cut by uWSGI first.
            "read_timeout": limits["harakiri"] + 5,
        }
        site.update({k: app[k] for k in SITE_OPTIONS if k in app})
        out.append(site)
    return out


def maintenance(stack_apps: list[dict[str, Any]], switch: Any = None, app: Any = None) -> dict[str, bool]:
    """nginx_vhost_maintenance from -e maintenance=on|off and -e maintenance_app=NAME: every present
    app's site (or that one app's) switched so; {} without maintenance (sites stay as they are)."""
    names = [a["name"] for a in stack_apps if a["state"] == "present"]
    if app is not None and app not in names:
        _fail("maintenance_app", f"{app!r} must name one of the apps deployed here: {', '.join(names)}")
    if switch is None:
        if app is not None:
            _fail("maintenance", "must be given (on or off) with maintenance_app")
        return {}
    # Only on, off (any case) or a boolean: 1 and 0 equal True and False, but say neither.
    value = switch if isinstance(switch, bool) else (
        {"on": True, "off": False}.get(switch.lower()) if isinstance(switch, str) else None)
    if value is None:
        _fail("maintenance", f"{switch!r} must be on or off")
    return {name: value for name in names if app is None or name == app}


class FilterModule:
    """flask_deploy.stack filters."""

    def filters(self) -> dict[str, Any]:
        return {
            "addresses": addresses,
            "named_addresses": named_addresses,
            "app_database_password": app_database_password,
            "app_env": app_env,
            "apps": apps,
            "app_paths": app_paths,
            "database_connections": database_connections,
            "databases": databases,
            "loop_items": loop_items,
            "maintenance": maintenance,
            "shared_data": shared_data,
            "sites": sites,
            "unused_venvs": unused_venvs,
            "uwsgi_upstreams": uwsgi_upstreams,
            "venv_name": venv_name,
            "web_hosts_of": web_hosts_of,
            "wheelhouses": wheelhouses,
            "without_facts": without_facts,
        }
