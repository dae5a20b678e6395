"""plugins/filter/stack.py: the filters that turn the inventory's data into the roles' parameters."""

from __future__ import annotations

import functools
import re
import sys
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError

STACK = "plugins/filter/stack.py"
SPEC_FILE = Path(__file__).resolve().parents[4] / "roles" / "python_app" / "meta" / "argument_specs.yml"


_LOADED: dict[str, object] = {}


@pytest.fixture
def stack(load_file):
    """The filters' module, imported once for this file: parsing python_app's argument spec (cached
    per module) is most of what a fresh import per test would cost."""
    if STACK not in _LOADED:
        _LOADED[STACK] = load_file(STACK)
    return _LOADED[STACK]


@functools.cache
def _spec_options() -> dict:
    return yaml.safe_load(SPEC_FILE.read_text())["argument_specs"]["main"]["options"]


def spec_default(option: str):
    """python_app's default of an option, read from its argument spec here (independently of stack.py)."""
    return _spec_options()[option].get("default")


def host(address: str | None = None, python: str = "3.11.2", arch: str = "x86_64", **hostvars):
    facts = {"python_version": python, "architecture": arch}
    if address is not None:
        facts["default_ipv4"] = {"address": address}
    return {"ansible_facts": facts, **hostvars}


HOSTVARS = {
    "app1": host("10.0.0.11"),
    "app2": host("10.0.0.12"),
    "app3": host("10.0.0.13"),
    "web1": host("10.0.0.21"),
    "web2": host("10.0.0.22"),
}


def entry(name: str = "notes", **keys):
    return {"name": name, "server_names": [f"{name}.example.org"], **keys}


def fails(message: str):
    """The filter's error, whose text must hold message (taken literally)."""
    return pytest.raises(AnsibleFilterError, match=re.escape(message))


# addresses ------------------------------------------------------------------------------------


def test_addresses_lists_each_hosts_ipv4_in_the_given_order(stack):
    assert stack.addresses(["web2", "app1", "web1"], HOSTVARS) == ["10.0.0.22", "10.0.0.11", "10.0.0.21"]


@pytest.mark.parametrize("hostvars", [
    pytest.param({}, id="host-unknown"),
    pytest.param({"app9": {}}, id="no-facts"),
    pytest.param({"app9": host()}, id="no-default-ipv4"),
    pytest.param({"app9": {"ansible_facts": {"default_ipv4": {}}}}, id="default-ipv4-without-address"),
])
def test_addresses_of_a_host_without_a_known_ipv4_fails_naming_the_host(stack, hostvars):
    with pytest.raises(ValueError, match=re.escape("no IPv4 address is known for app9: it is not in this run (--limit) "
                                                   "or was not reached")):
        stack.addresses(["app9"], hostvars)


def test_named_addresses_pairs_each_host_with_its_ipv4_in_the_given_order(stack):
    assert stack.named_addresses(["web2", "app1"], HOSTVARS) == [
        {"name": "web2", "address": "10.0.0.22"}, {"name": "app1", "address": "10.0.0.11"}]


# uwsgi_upstreams ------------------------------------------------------------------------------


def test_uwsgi_upstreams_sends_own_app_over_unix_socket_and_others_over_tcp(stack):
    upstreams = stack.uwsgi_upstreams(["app1", "app2", "app3"], HOSTVARS, "app2", "/run/uwsgi/notes.sock", 3031)
    assert upstreams == ["unix:/run/uwsgi/notes.sock", "10.0.0.11:3031", "10.0.0.13:3031"]


def test_uwsgi_upstreams_of_a_web_only_host_are_every_app_host_over_tcp_in_inventory_order(stack):
    upstreams = stack.uwsgi_upstreams(["app2", "app1"], HOSTVARS, "web1", "/run/uwsgi/notes.sock", 3031)
    assert upstreams == ["10.0.0.12:3031", "10.0.0.11:3031"]


def test_uwsgi_upstreams_of_a_host_that_is_its_only_app_host_is_its_socket_alone(stack):
    # The single host: its facts are not even needed.
    assert stack.uwsgi_upstreams(["app1"], {}, "app1", "/run/uwsgi/notes.sock", 3031) == ["unix:/run/uwsgi/notes.sock"]


def test_uwsgi_upstreams_reads_a_port_given_as_a_string(stack):
    assert stack.uwsgi_upstreams(["app1"], HOSTVARS, "web1", "/s.sock", "3032") == ["10.0.0.11:3032"]


def test_uwsgi_upstreams_without_an_app_hosts_address_fails_naming_that_host(stack):
    with pytest.raises(ValueError, match="no IPv4 address is known for app9"):
        stack.uwsgi_upstreams(["app1", "app9"], {**HOSTVARS, "app9": host()}, "web1", "/s.sock", 3031)


# web_hosts_of ---------------------------------------------------------------------------------


def test_web_hosts_of_lists_every_web_host_when_they_send_to_every_app_host(stack):
    assert stack.web_hosts_of(["web1", "web2"], HOSTVARS, "app1", ["app1", "app2"]) == ["10.0.0.21", "10.0.0.22"]


def test_web_hosts_of_leaves_out_web_hosts_whose_upstream_app_hosts_exclude_the_app_host(stack):
    hostvars = {**HOSTVARS, "web2": host("10.0.0.22", upstream_app_hosts=["app2"])}
    assert stack.web_hosts_of(["web1", "web2"], hostvars, "app1", ["app1", "app2"]) == ["10.0.0.21"]


def test_web_hosts_of_includes_a_web_host_whose_upstream_app_hosts_name_the_app_host(stack):
    hostvars = {**HOSTVARS, "web2": host("10.0.0.22", upstream_app_hosts=["app3"])}
    assert stack.web_hosts_of(["web1", "web2"], hostvars, "app3", ["app1"]) == ["10.0.0.22"]


def test_web_hosts_of_leaves_out_the_app_host_itself(stack):
    # A host that is web and app host reaches its own app over the unix socket, not the port.
    assert stack.web_hosts_of(["app1", "web1"], HOSTVARS, "app1", ["app1"]) == ["10.0.0.21"]


def test_web_hosts_of_an_app_host_no_web_host_sends_to_is_empty(stack):
    assert stack.web_hosts_of(["web1", "web2"], HOSTVARS, "app3", ["app1", "app2"]) == []


# wheelhouses ----------------------------------------------------------------------------------


def test_wheelhouses_gives_one_per_python_minor_version_and_cpu_in_host_order(stack):
    hostvars = {
        "a": host(python="3.11.2"), "b": host(python="3.11.9"), "c": host(python="3.12.1"),
        "d": host(python="3.11.2", arch="aarch64"), "e": host(python="3.12.0"),
    }
    assert stack.wheelhouses(["a", "b", "c", "d", "e"], hostvars, "/cache", "k1") == [
        {"dir": "/cache/k1/cp3.11-x86_64", "python": "3.11", "arch": "x86_64"},
        {"dir": "/cache/k1/cp3.12-x86_64", "python": "3.12", "arch": "x86_64"},
        {"dir": "/cache/k1/cp3.11-aarch64", "python": "3.11", "arch": "aarch64"},
    ]


def test_wheelhouses_of_no_hosts_is_empty(stack):
    assert stack.wheelhouses([], HOSTVARS, "/cache", "k1") == []


# venv_name, unused_venvs ------------------------------------------------------------------------

LOCK_A = "a" * 64
LOCK_B = "b" * 64


def test_venv_name_is_the_same_for_the_same_lock_and_python(stack):
    assert stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11") == stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11")


def test_venv_name_says_the_python_minor_version_and_sixteen_hex_digits(stack):
    assert re.fullmatch(r"py3\.11-[0-9a-f]{16}", stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11.2"))


def test_venv_name_ignores_the_python_micro_version(stack):
    # A point release of Debian's Python keeps its site-packages: the virtualenv stays valid.
    assert stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11.2") == stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11.9")


@pytest.mark.parametrize("other", [
    pytest.param((LOCK_B, "/usr/bin/python3", "3.11"), id="another-lock"),
    pytest.param((LOCK_A, "/usr/local/bin/python3", "3.11"), id="another-python-path"),
    pytest.param((LOCK_A, "/usr/bin/python3", "3.13"), id="another-python-minor-version"),
])
def test_venv_name_changes_with_the_lock_the_python_path_or_its_minor_version(stack, other):
    assert stack.venv_name(LOCK_A, "/usr/bin/python3", "3.11") != stack.venv_name(*other)


@pytest.mark.parametrize(("lock", "path", "version", "says"), [
    ("abc", "/usr/bin/python3", "3.11", "the lock's digest must be a sha256"),
    (LOCK_A, "python3", "3.11", "the Python must be an absolute path"),
    (LOCK_A, "/usr/bin/python3", "three", "the Python version must be major.minor"),
])
def test_venv_name_refuses_what_names_no_virtualenv(stack, lock, path, version, says):
    with pytest.raises(AnsibleFilterError, match=says):
        stack.venv_name(lock, path, version)


def test_unused_venvs_are_the_ones_no_kept_release_links_to(stack):
    venv_of = {"r1": "v-old", "r2": "v-a", "r3": "v-a", "r4": "v-b"}
    assert stack.unused_venvs(["v-a", "v-b", "v-old"], venv_of, ["r2", "r3", "r4"], []) == ["v-old"]


def test_unused_venvs_keep_the_one_in_use_though_no_release_links_to_it_yet(stack):
    # The virtualenv this run built for its release, which it links only after the build.
    assert stack.unused_venvs(["v-a", "v-new"], {"r1": "v-a"}, ["r1"], ["v-new"]) == []


def test_unused_venvs_include_a_build_cut_short_that_no_release_uses(stack):
    assert stack.unused_venvs(["v-a", "v-partial"], {"r1": "v-a"}, ["r1"], []) == ["v-partial"]


def test_unused_venvs_leave_releases_with_their_own_virtualenv_alone(stack):
    # r0 was built before virtualenvs were shared (venv_of leaves it out): it names none of them.
    assert stack.unused_venvs(["v-a"], {"r1": "v-a"}, ["r0", "r1"], []) == []


def test_unused_venvs_of_no_venvs_is_empty(stack):
    assert stack.unused_venvs([], {"r1": "v-a"}, ["r1"], []) == []


# apps: the one app of python_app_* and notes_* ------------------------------------------------


def test_one_app_takes_python_apps_defaults_from_its_argument_spec(stack):
    [app] = stack.apps(None, {"notes_server_names": ["notes.example.org"]}, "/pb")
    assert app == {
        "name": spec_default("python_app_name"),
        "state": spec_default("python_app_state"),
        "purge": spec_default("python_app_purge"),
        "server_names": ["notes.example.org"],
        "acme": False,
        "src_dir": spec_default("python_app_src_dir").replace("{{ playbook_dir }}", "/pb"),
        "package": spec_default("python_app_package"),
        "wsgi_module": spec_default("python_app_wsgi_module"),
        "env_prefix": spec_default("python_app_env_prefix"),
        "uwsgi_port": spec_default("python_app_uwsgi_port"),
        "harakiri": spec_default("python_app_harakiri"),
        "max_body_mb": spec_default("python_app_max_body_mb"),
        "processes": spec_default("python_app_processes"),
        "worker_max_rss_mb": spec_default("python_app_worker_max_rss_mb"),
        "cpu_nice": spec_default("python_app_cpu_nice"),
        "cpu_idle": spec_default("python_app_cpu_idle"),
        "env": spec_default("python_app_env"),
        "static_dir": f"{spec_default('python_app_package')}/static",
        "health_url": "https://notes.example.org/healthz",
        "database": None,
        "one_app": True,
    }


def test_role_defaults_are_every_option_of_the_spec(stack):
    # Generated from the spec by scripts/role-docs (make test checks it is up to date): no filter
    # opens the role's files, and no task's fork parses YAML for them (#29, #33).
    assert stack._role_defaults() == {name: option.get("default") for name, option in _spec_options().items()}


def test_app_paths_lay_an_app_out_under_its_root_and_socket_directory(stack):
    paths = stack.app_paths("shop", "/opt/shop", "/run/apps", "shop/static")

    assert paths == {
        "root": "/opt/shop", "releases": "/opt/shop/releases", "current": "/opt/shop/current",
        "live_code": "/opt/shop/current/app", "static": "/opt/shop/current/app/shop/static",
        "static_versions": "/opt/shop/static", "venvs": "/opt/shop/venvs", "wheelhouse": "/opt/shop/wheelhouse",
        "socket": "/run/apps/shop.sock", "run_dir": "/run/apps/shop", "stats_socket": "/run/apps/shop/stats.sock",
    }


@pytest.mark.parametrize("unset", [None, ""])
def test_app_paths_default_to_python_apps_root_and_socket_directory(stack, unset):
    paths = stack.app_paths("shop", unset, unset)

    assert (paths["root"], paths["socket"]) == ("/srv/shop", "/run/uwsgi/shop.sock")
    assert spec_default("python_app_root") == "/srv/{{ python_app_name }}"
    assert spec_default("python_app_socket_dir") == "/run/uwsgi"


def test_app_paths_of_an_app_without_static_files_has_none_to_serve(stack):
    assert stack.app_paths("shop")["static"] == ""


def test_one_app_source_directory_defaults_to_the_playbook_directorys_app(stack):
    [app] = stack.apps(None, {}, "/home/me/flask-deploy/playbooks")
    assert app["src_dir"] == "/home/me/flask-deploy/playbooks/app"


def test_one_app_takes_the_inventorys_python_app_values_as_given(stack):
    inventory = {
        "python_app_name": "shop", "python_app_state": "absent", "python_app_purge": True,
        "python_app_src_dir": "/src/shop", "python_app_package": "shop", "python_app_wsgi_module": "shop.wsgi:app",
        "python_app_env_prefix": "SHOP", "python_app_uwsgi_port": "3040", "python_app_harakiri": 60,
        "python_app_max_body_mb": 10, "python_app_processes": 4, "python_app_env": {"SHOP_MODE": "live"},
        "python_app_worker_max_rss_mb": 256, "python_app_cpu_nice": 5, "python_app_cpu_idle": True,
        "notes_server_names": ["shop.example.org", "www.shop.example.org"], "notes_acme": True,
    }
    [app] = stack.apps(None, inventory, "/pb")
    assert app == {
        "name": "shop", "state": "absent", "purge": True, "server_names": ["shop.example.org", "www.shop.example.org"],
        "acme": True, "src_dir": "/src/shop", "package": "shop", "wsgi_module": "shop.wsgi:app",
        "env_prefix": "SHOP", "uwsgi_port": "3040", "harakiri": 60, "max_body_mb": 10, "processes": 4,
        "worker_max_rss_mb": 256, "cpu_nice": 5, "cpu_idle": True, "env": {"SHOP_MODE": "live"}, "static_dir": "shop/static", "health_url": "https://shop.example.org/healthz",
        "database": None, "one_app": True,
    }


@pytest.mark.parametrize("names", [None, [], "notes.example.org"])
def test_one_app_without_a_list_of_server_names_has_no_health_url(stack, names):
    inventory = {} if names is None else {"notes_server_names": names}
    [app] = stack.apps(None, inventory, "/pb")
    assert app["health_url"] == ""
    assert app["server_names"] == names


# apps: flask_apps entries ---------------------------------------------------------------------


def test_apps_completes_an_entry_of_a_name_and_server_names_from_python_apps_defaults(stack):
    [app] = stack.apps([entry("blog")], {}, "/pb")
    assert app == {
        "name": "blog", "state": "present", "purge": False, "server_names": ["blog.example.org"], "acme": False,
        "src_dir": spec_default("python_app_src_dir").replace("{{ playbook_dir }}", "/pb"),
        "package": spec_default("python_app_package"),
        "wsgi_module": spec_default("python_app_wsgi_module"),
        "env_prefix": spec_default("python_app_env_prefix"),
        "env": {},
        "static_dir": f"{spec_default('python_app_package')}/static",
        "health_url": "https://blog.example.org/healthz",
        "database": None,
        "one_app": False,
        "uwsgi_port": spec_default("python_app_uwsgi_port"),
        "harakiri": spec_default("python_app_harakiri"),
        "max_body_mb": spec_default("python_app_max_body_mb"),
        "processes": spec_default("python_app_processes"),
        "worker_max_rss_mb": spec_default("python_app_worker_max_rss_mb"),
        "cpu_nice": spec_default("python_app_cpu_nice"),
        "cpu_idle": spec_default("python_app_cpu_idle"),
    }


def test_apps_takes_an_entrys_own_code_state_and_environment(stack):
    given = entry("shop", state="present", purge=True, acme=True, src_dir="/src/shop", package="shop.web",
                  wsgi_module="shop.web.wsgi:application", env_prefix="SHOP", env={"SHOP_MODE": "live"},
                  static_dir="shop/web/assets", health_path="/-/health")
    [app] = stack.apps([given], {}, "/pb")
    assert {k: app[k] for k in ("purge", "acme", "src_dir", "package", "wsgi_module", "env_prefix", "env",
                                "static_dir", "health_url")} == {
        "purge": True, "acme": True, "src_dir": "/src/shop", "package": "shop.web",
        "wsgi_module": "shop.web.wsgi:application", "env_prefix": "SHOP", "env": {"SHOP_MODE": "live"},
        "static_dir": "shop/web/assets", "health_url": "https://shop.example.org/-/health",
    }


def test_apps_static_dir_defaults_to_the_entrys_package_static(stack):
    [app] = stack.apps([entry("shop", package="shop")], {}, "/pb")
    assert app["static_dir"] == "shop/static"


def test_apps_health_url_asks_the_first_server_name(stack):
    [app] = stack.apps([entry("blog", server_names=["www.blog.org", "blog.org"])], {}, "/pb")
    assert app["health_url"] == "https://www.blog.org/healthz"


def test_apps_limits_default_to_the_inventorys_python_app_values(stack):
    inventory = {"python_app_uwsgi_port": 4000, "python_app_harakiri": 90, "python_app_max_body_mb": 8,
                 "python_app_processes": 3}
    [app] = stack.apps([entry("blog")], inventory, "/pb")
    assert (app["uwsgi_port"], app["harakiri"], app["max_body_mb"], app["processes"]) == (4000, 90, 8, 3)


def test_apps_memory_ceiling_and_cpu_nice_come_from_the_entry_else_the_inventory(stack):
    inventory = {"python_app_worker_max_rss_mb": 256, "python_app_cpu_nice": 2}
    shop, blog = stack.apps([entry("shop", worker_max_rss_mb=96, cpu_nice=10), entry("blog", uwsgi_port=3032)],
                            inventory, "/pb")
    assert (shop["worker_max_rss_mb"], shop["cpu_nice"]) == (96, 10)
    assert (blog["worker_max_rss_mb"], blog["cpu_nice"]) == (256, 2)


def test_apps_cpu_idle_comes_from_the_entry_else_the_inventory(stack):
    shop, blog = stack.apps([entry("shop", cpu_idle=True), entry("blog", uwsgi_port=3032)], {}, "/pb")
    assert (shop["cpu_idle"], blog["cpu_idle"]) == (True, False)
    shop, blog = stack.apps([entry("shop", cpu_idle=False), entry("blog", uwsgi_port=3032)],
                            {"python_app_cpu_idle": True}, "/pb")
    assert (shop["cpu_idle"], blog["cpu_idle"]) == (False, True)


@pytest.mark.parametrize("value", ["yes", 1, None])
def test_apps_refuses_a_cpu_idle_that_is_not_true_or_false(stack, value):
    with pytest.raises(AnsibleFilterError, match=r"flask_apps\[0\] \(shop\): cpu_idle \(.*\) must be true or false"):
        stack.apps([entry("shop", cpu_idle=value)], {}, "/pb")


def test_apps_entrys_own_limits_win_over_the_inventorys(stack):
    inventory = {"python_app_uwsgi_port": 4000, "python_app_harakiri": 90}
    [app] = stack.apps([entry("blog", uwsgi_port=4001, harakiri=10)], inventory, "/pb")
    assert (app["uwsgi_port"], app["harakiri"]) == (4001, 10)


def test_apps_limits_given_as_digit_strings_become_numbers(stack):
    [app] = stack.apps([entry("blog", uwsgi_port="4001", max_body_mb="16")], {"python_app_processes": "2"}, "/pb")
    assert (app["uwsgi_port"], app["max_body_mb"], app["processes"]) == (4001, 16, 2)


def test_apps_carries_the_site_options_an_entry_gives_and_no_others(stack):
    site = {"tls_certificate": "/etc/ssl/blog.pem", "tls_key": "/etc/ssl/blog.key", "tls_certificate_content": "CERT",
            "tls_key_content": "KEY", "hsts": True, "content_security_policy": "default-src 'self'"}
    [with_site, without] = stack.apps([entry("blog", **site), entry("shop", uwsgi_port=3032)], {}, "/pb")
    assert {k: with_site[k] for k in site} == site
    assert not set(site) & set(without)


def test_apps_absent_entry_needs_no_server_names_and_has_no_health_url(stack):
    [app] = stack.apps([{"name": "old", "state": "absent"}], {}, "/pb")
    assert (app["state"], app["server_names"], app["health_url"]) == ("absent", [], "")


def test_apps_keeps_the_entries_in_the_given_order(stack):
    apps = stack.apps([entry("zeta", uwsgi_port=3033), entry("alpha", uwsgi_port=3032), entry("mid")], {}, "/pb")
    assert [a["name"] for a in apps] == ["zeta", "alpha", "mid"]


def test_apps_accepts_limits_in_the_inventory_with_flask_apps(stack):
    inventory = {f"python_app_{k}": 5 for k in ("harakiri", "max_body_mb", "processes")}
    assert stack.apps([entry("blog")], inventory, "/pb")[0]["harakiri"] == 5


@pytest.mark.parametrize("name", ["a", "notes", "my-app_2", "a" + "b" * 30])
def test_apps_accepts_a_safe_user_and_file_name(stack, name):
    assert stack.apps([entry(name)], {}, "/pb")[0]["name"] == name


def test_apps_absent_entries_may_share_a_port_and_server_names_with_a_present_one(stack):
    apps = stack.apps([entry("new"), {"name": "old", "state": "absent", "server_names": ["new.example.org"]}],
                      {}, "/pb")
    assert [(a["name"], a["uwsgi_port"]) for a in apps] == [("new", 3031), ("old", 3031)]


# apps: what bad input says --------------------------------------------------------------------


@pytest.mark.parametrize("flask_apps", [[], {}, "notes", {"name": "notes"}])
def test_apps_flask_apps_that_is_not_a_list_of_apps_fails_naming_flask_apps(stack, flask_apps):
    with fails("flask_apps: must be a list of apps, each a dict with at least a name"):
        stack.apps(flask_apps, {}, "/pb")


@pytest.mark.parametrize("option", ["user", "root", "data_dir", "config_dir", "backup_dir", "state", "purge", "env",
                                    "migrate_command", "src_dir", "package", "wsgi_module", "env_prefix"])
def test_apps_with_flask_apps_rejects_a_per_app_option_in_the_inventory_naming_it(stack, option):
    with fails(f"flask_apps: python_app_{option} would apply to every app"):
        stack.apps([entry()], {f"python_app_{option}": "x"}, "/pb")


def test_apps_with_flask_apps_names_every_per_app_option_set_in_the_inventory(stack):
    with fails("flask_apps: python_app_user, python_app_root would apply to every app"):
        stack.apps([entry()], {"python_app_root": "/srv/x", "python_app_user": "x"}, "/pb")


def test_apps_with_flask_apps_refuses_notes_database_left_in_the_inventory(stack):
    # The one-app inventory's database, not moved into the entry: the app would go back to SQLite.
    with fails("flask_apps: notes_database is not read with flask_apps: give the app's database in its entry"):
        stack.apps([entry()], {"notes_database": {"password": "pw"}}, "/pb")


def test_apps_with_flask_apps_takes_notes_database_unset_as_absent(stack):
    # -e '{"notes_database": null}' is how a run takes the one app back to SQLite.
    [app] = stack.apps([entry()], {"notes_database": None}, "/pb")
    assert app["database"] is None


@pytest.mark.parametrize("bad, message", [
    pytest.param("notes", "flask_apps[1]: must be a dict with at least a name", id="not-a-dict"),
    pytest.param({"name": "shop", "server_names": ["s.org"], "port": 1, "colour": "red"},
                 "flask_apps[1]: unknown key(s) colour, port; allowed: name, state, purge", id="unknown-keys"),
    pytest.param({"server_names": ["s.org"]}, "flask_apps[1]: name (None) must start with a lower case letter",
                 id="no-name"),
    pytest.param(entry("Shop"), "flask_apps[1]: name ('Shop') must start", id="upper-case-name"),
    pytest.param(entry("1shop"), "flask_apps[1]: name ('1shop') must start", id="digit-first"),
    pytest.param(entry("my shop"), "flask_apps[1]: name ('my shop') must start", id="space-in-name"),
    pytest.param(entry("s" * 32), f"flask_apps[1]: name ('{'s' * 32}') must start", id="name-too-long"),
    pytest.param({"name": 7, "server_names": ["s.org"]}, "flask_apps[1]: name (7) must start", id="name-not-str"),
    pytest.param(entry("shop", state="running"), "flask_apps[1] (shop): state ('running') must be present or absent",
                 id="state"),
    pytest.param(entry("shop", purge="yes"), "flask_apps[1] (shop): purge ('yes') must be true or false", id="purge"),
    pytest.param(entry("shop", acme=1), "flask_apps[1] (shop): acme (1) must be true or false", id="acme"),
    pytest.param(entry("shop", hsts="on"), "flask_apps[1] (shop): hsts ('on') must be true or false", id="hsts"),
    pytest.param({"name": "shop"}, "flask_apps[1] (shop): server_names must be a non-empty list", id="no-names"),
    pytest.param(entry("shop", server_names=[]), "flask_apps[1] (shop): server_names must be a non-empty list",
                 id="empty-names"),
    pytest.param(entry("shop", server_names="shop.org"), "flask_apps[1] (shop): server_names must be a non-empty list",
                 id="names-a-string"),
    pytest.param(entry("shop", server_names=["shop.org", ""]),
                 "flask_apps[1] (shop): server_names must be a non-empty list", id="empty-name"),
    pytest.param(entry("shop", server_names=["shop.org", None]),
                 "flask_apps[1] (shop): server_names must be a non-empty list", id="name-not-str"),
    pytest.param({"name": "shop", "state": "absent", "server_names": "shop.org"},
                 "flask_apps[1] (shop): server_names must be a non-empty list", id="absent-names-a-string"),
    pytest.param(entry("shop", package="my-shop"), "flask_apps[1] (shop): package ('my-shop') must be a Python package",
                 id="package-dash"),
    pytest.param(entry("shop", package="shop."), "flask_apps[1] (shop): package ('shop.') must be", id="package-dot"),
    pytest.param(entry("shop", package=""), "flask_apps[1] (shop): package ('') must be", id="package-empty"),
    pytest.param(entry("shop", package=None), "flask_apps[1] (shop): package (None) must be", id="package-none"),
    pytest.param(entry("shop", static_dir="/srv/static"),
                 "flask_apps[1] (shop): static_dir ('/srv/static') must be a path inside the app's source directory",
                 id="static-absolute"),
    pytest.param(entry("shop", static_dir="../static"), "flask_apps[1] (shop): static_dir ('../static') must be",
                 id="static-parent"),
    pytest.param(entry("shop", static_dir="shop/../../x"), "flask_apps[1] (shop): static_dir ('shop/../../x') must be",
                 id="static-parent-inside"),
    pytest.param(entry("shop", static_dir=["shop"]), "flask_apps[1] (shop): static_dir (['shop']) must be",
                 id="static-not-str"),
    pytest.param(entry("shop", health_path="healthz"),
                 "flask_apps[1] (shop): health_path ('healthz') must be a URL path starting with /", id="health-path"),
    pytest.param(entry("shop", health_path=None), "flask_apps[1] (shop): health_path (None) must be",
                 id="health-path-none"),
    pytest.param(entry("shop", env=["A=1"]), "flask_apps[1] (shop): env must map variable names to values", id="env"),
    pytest.param(entry("shop", uwsgi_port="30a"), "flask_apps[1] (shop): uwsgi_port ('30a') must be a whole number",
                 id="port-not-digits"),
    pytest.param(entry("shop", uwsgi_port="-1"), "flask_apps[1] (shop): uwsgi_port ('-1') must be a whole number",
                 id="port-negative-string"),
    pytest.param(entry("shop", harakiri=True), "flask_apps[1] (shop): harakiri (True) must be a whole number",
                 id="harakiri-bool"),
    pytest.param(entry("shop", max_body_mb=1.5), "flask_apps[1] (shop): max_body_mb (1.5) must be a whole number",
                 id="body-float"),
    pytest.param(entry("shop", processes=None), "flask_apps[1] (shop): processes (None) must be a whole number",
                 id="processes-none"),
    pytest.param(entry("shop", uwsgi_port="\u00b2"), "flask_apps[1] (shop): uwsgi_port ('\u00b2') must be a whole number",
                 id="port-superscript-digit"),
    pytest.param(entry("shop\n"), "flask_apps[1]: name ('shop\\n') must start", id="name-trailing-newline"),
    pytest.param(entry("shop", package="shop\n"), "flask_apps[1] (shop): package ('shop\\n') must be",
                 id="package-trailing-newline"),
])
def test_apps_bad_entry_fails_naming_its_index_name_and_key(stack, bad, message):
    with fails(message):
        stack.apps([entry("notes"), bad], {}, "/pb")


@pytest.mark.parametrize("limit", ["uwsgi_port", "harakiri", "max_body_mb", "processes"])
def test_apps_bad_inherited_limit_fails_naming_the_entry_and_key(stack, limit):
    with fails(f"flask_apps[0] (blog): {limit} ('many') must be a whole number"):
        stack.apps([entry("blog")], {f"python_app_{limit}": "many"}, "/pb")


def test_apps_same_name_twice_fails_saying_it_is_listed_twice(stack):
    with fails("flask_apps: blog is listed twice"):
        stack.apps([entry("blog"), entry("blog", uwsgi_port=3032)], {}, "/pb")


def test_apps_names_equal_but_for_dash_and_underscore_fail_naming_both(stack):
    with fails("flask_apps: my-blog and my_blog both use name (with - read as _) 'my_blog'; each app needs its own"):
        stack.apps([entry("my-blog"), entry("my_blog", uwsgi_port=3032)], {}, "/pb")


def test_apps_present_apps_on_one_uwsgi_port_fail_naming_both(stack):
    with fails("flask_apps: blog and shop both use uwsgi_port 3031; each app needs its own"):
        stack.apps([entry("blog"), entry("shop")], {}, "/pb")


def test_apps_present_apps_sharing_a_server_name_in_any_case_fail_naming_both(stack):
    with fails("flask_apps: blog and shop both use server name 'www.example.org'"):
        stack.apps([entry("blog", server_names=["blog.org", "www.example.org"]),
                    entry("shop", server_names=["WWW.Example.org"], uwsgi_port=3032)], {}, "/pb")


def test_apps_an_app_naming_a_server_name_twice_is_accepted(stack):
    [app] = stack.apps([entry("blog", server_names=["blog.org", "BLOG.org"])], {}, "/pb")
    assert app["server_names"] == ["blog.org", "BLOG.org"]


def test_apps_do_not_change_the_defaults_later_calls_see(stack):
    stack.apps([entry("blog", src_dir="/src/blog")], {}, "/first")
    assert stack.apps([entry("blog")], {}, "/second")[0]["src_dir"] == "/second/app"


def test_filters_fail_with_value_error_without_ansible(load_file, monkeypatch):
    monkeypatch.setitem(sys.modules, "ansible.errors", None)  # import ansible.errors fails
    monkeypatch.setitem(sys.modules, "unit_stack_without_ansible", None)  # removed again afterwards
    plain = load_file(STACK, "unit_stack_without_ansible")
    with pytest.raises(ValueError, match=re.escape("flask_apps: must be a list")):
        plain.apps([], {}, "/pb")


# apps: an app's shared database ---------------------------------------------------------------

IDENTIFIER_RULE = ("must be a lower-case letter or _, then up to 62 lower-case letters, digits or _, "
                   "not starting with pg_ and not one of postgres, public, template0, template1")


def test_apps_entry_without_a_database_keeps_its_data_in_sqlite(stack):
    [app] = stack.apps([entry("blog")], {}, "/pb")
    assert app["database"] is None


def test_apps_entry_with_a_database_of_null_keeps_its_data_in_sqlite(stack):
    [app] = stack.apps([entry("blog", database=None)], {}, "/pb")
    assert app["database"] is None


def test_apps_database_name_and_user_default_to_the_apps_name(stack):
    [app] = stack.apps([entry("blog", database={"password": "s3cret"})], {}, "/pb")
    assert app["database"] == {"password": "s3cret", "name": "blog", "user": "blog"}


def test_apps_database_name_and_user_default_to_the_apps_name_with_dash_read_as_underscore(stack):
    [app] = stack.apps([entry("my-blog", database={"password": "s3cret"})], {}, "/pb")
    assert (app["database"]["name"], app["database"]["user"]) == ("my_blog", "my_blog")


def test_apps_database_takes_its_own_name_and_user(stack):
    [app] = stack.apps([entry("blog", database={"password": "pw", "name": "blog_db", "user": "_blog1"})], {}, "/pb")
    assert app["database"] == {"password": "pw", "name": "blog_db", "user": "_blog1"}


def test_apps_database_name_may_be_as_long_as_postgresql_allows(stack):
    name = "d" * 63
    [app] = stack.apps([entry("blog", database={"password": "pw", "name": name, "user": name})], {}, "/pb")
    assert (app["database"]["name"], app["database"]["user"]) == (name, name)


def test_apps_database_password_keeps_its_spaces_and_symbols(stack):
    [app] = stack.apps([entry("blog", database={"password": " p@ss w:rd/'\" "})], {}, "/pb")
    assert app["database"]["password"] == " p@ss w:rd/'\" "


def test_apps_database_entry_is_not_changed(stack):
    database = {"password": "pw"}
    stack.apps([entry("blog", database=database)], {}, "/pb")
    assert database == {"password": "pw"}


def test_apps_absent_entry_may_keep_its_database(stack):
    [app] = stack.apps([{"name": "old", "state": "absent", "database": {"password": "pw"}}], {}, "/pb")
    assert app["database"] == {"password": "pw", "name": "old", "user": "old"}


@pytest.mark.parametrize("database, message", [
    pytest.param("s3cret", "database: must be a dict with at least the database role's password (from Ansible Vault)",
                 id="a-string"),
    pytest.param(["s3cret"], "database: must be a dict with at least", id="a-list"),
    pytest.param(True, "database: must be a dict with at least", id="true"),
    pytest.param({"password": "pw", "port": 5432, "host": "db1"},
                 "database: unknown key(s) host, port; allowed: password, name, user", id="unknown-keys"),
    pytest.param({}, "database: password must be the database role's password, one line, not empty "
                     "(keep it in Ansible Vault)", id="no-password"),
    pytest.param({"password": ""}, "database: password must be", id="empty-password"),
    pytest.param({"password": None}, "database: password must be", id="password-none"),
    pytest.param({"password": 1234}, "database: password must be", id="password-a-number"),
    pytest.param({"password": "pass\nword"}, "database: password must be", id="password-two-lines"),
    pytest.param({"password": "password\r"}, "database: password must be", id="password-carriage-return"),
    pytest.param({"password": "pass\x00word"}, "database: password must be", id="password-nul"),
    pytest.param({"password": "pw", "name": "Shop"}, f"database: name ('Shop') {IDENTIFIER_RULE}", id="name-upper"),
    pytest.param({"password": "pw", "name": "1shop"}, "database: name ('1shop') must be", id="name-digit-first"),
    pytest.param({"password": "pw", "name": "my-shop"}, "database: name ('my-shop') must be", id="name-dash"),
    pytest.param({"password": "pw", "name": "shop db"}, "database: name ('shop db') must be", id="name-space"),
    pytest.param({"password": "pw", "name": "shop\n"}, "database: name ('shop\\n') must be", id="name-newline"),
    pytest.param({"password": "pw", "name": "d" * 64}, f"database: name ('{'d' * 64}') must be", id="name-too-long"),
    pytest.param({"password": "pw", "name": ""}, "database: name ('') must be", id="name-empty"),
    pytest.param({"password": "pw", "name": None}, "database: name (None) must be", id="name-none"),
    pytest.param({"password": "pw", "name": 7}, "database: name (7) must be", id="name-a-number"),
    pytest.param({"password": "pw", "name": "postgres"}, "database: name ('postgres') must be", id="name-postgres"),
    pytest.param({"password": "pw", "name": "public"}, "database: name ('public') must be", id="name-public"),
    pytest.param({"password": "pw", "user": "Shop"}, f"database: user ('Shop') {IDENTIFIER_RULE}", id="user-upper"),
    pytest.param({"password": "pw", "user": "shop-owner"}, "database: user ('shop-owner') must be", id="user-dash"),
    pytest.param({"password": "pw", "user": "u" * 64}, f"database: user ('{'u' * 64}') must be", id="user-too-long"),
    pytest.param({"password": "pw", "user": None}, "database: user (None) must be", id="user-none"),
    pytest.param({"password": "pw", "user": "postgres"}, "database: user ('postgres') must be", id="user-postgres"),
    pytest.param({"password": "pw", "user": "pg_monitor"}, "database: user ('pg_monitor') must be", id="user-pg-prefix"),
    pytest.param({"password": "pw", "name": "template1"}, "database: name ('template1') must be", id="name-template1"),
    pytest.param({"password": "pw", "user": "public"}, "database: user ('public') must be", id="user-public"),
])
def test_apps_bad_database_fails_naming_the_entrys_index_name_and_database(stack, database, message):
    with fails(f"flask_apps[1] (shop): {message}"):
        stack.apps([entry("notes"), entry("shop", uwsgi_port=3032, database=database)], {}, "/pb")


@pytest.mark.parametrize("name", ["postgres", "public"])
def test_apps_app_named_as_postgresqls_own_name_fails_without_its_own_database_name(stack, name):
    with fails(f"flask_apps[0] ({name}): database: name ('{name}') must be"):
        stack.apps([entry(name, database={"password": "pw"})], {}, "/pb")


@pytest.mark.parametrize("name", ["postgres", "public"])
def test_apps_app_named_as_postgresqls_own_name_may_give_its_database_other_names(stack, name):
    [app] = stack.apps([entry(name, database={"password": "pw", "name": "app", "user": "app"})], {}, "/pb")
    assert app["database"] == {"password": "pw", "name": "app", "user": "app"}


def test_one_app_without_notes_database_keeps_its_data_in_sqlite(stack):
    [app] = stack.apps(None, {"notes_server_names": ["n.org"]}, "/pb")
    assert app["database"] is None


def test_one_app_notes_database_names_default_to_python_app_name(stack):
    [app] = stack.apps(None, {"notes_database": {"password": "pw"}}, "/pb")
    default = spec_default("python_app_name")
    assert app["database"] == {"password": "pw", "name": default, "user": default}


def test_one_app_notes_database_names_default_to_the_inventorys_app_name_with_dash_read_as_underscore(stack):
    [app] = stack.apps(None, {"python_app_name": "my-notes", "notes_database": {"password": "pw"}}, "/pb")
    assert app["database"] == {"password": "pw", "name": "my_notes", "user": "my_notes"}


def test_one_app_notes_database_takes_its_own_name_and_user(stack):
    inventory = {"notes_database": {"password": "pw", "name": "notes_db", "user": "notes_app"}}
    [app] = stack.apps(None, inventory, "/pb")
    assert app["database"] == {"password": "pw", "name": "notes_db", "user": "notes_app"}


@pytest.mark.parametrize("database, message", [
    pytest.param("pw", "notes_database: must be a dict with at least the database role's password", id="a-string"),
    pytest.param({"password": "pw", "host": "db1"},
                 "notes_database: unknown key(s) host; allowed: password, name, user", id="unknown-key"),
    pytest.param({"password": ""}, "notes_database: password must be the database role's password", id="no-password"),
    pytest.param({"password": "pw", "user": "postgres"}, f"notes_database: user ('postgres') {IDENTIFIER_RULE}",
                 id="user-postgres"),
])
def test_one_app_bad_notes_database_fails_naming_notes_database(stack, database, message):
    with fails(message):
        stack.apps(None, {"notes_database": database}, "/pb")


# loop_items and app_env -----------------------------------------------------------------------


def test_loop_items_leave_out_each_apps_environment_and_tls_key_content(stack):
    apps = [{"name": "blog", "env": {"SECRET": "s"}, "tls_key_content": "KEY", "tls_key": "/k", "uwsgi_port": 3031},
            {"name": "shop", "env": {}, "state": "absent"}]
    assert stack.loop_items(apps) == [{"name": "blog", "tls_key": "/k", "uwsgi_port": 3031},
                                      {"name": "shop", "state": "absent"}]


def test_loop_items_leave_the_apps_themselves_as_they_are(stack):
    apps = [{"name": "blog", "env": {"SECRET": "s"}, "tls_key_content": "KEY"}]
    stack.loop_items(apps)
    assert apps == [{"name": "blog", "env": {"SECRET": "s"}, "tls_key_content": "KEY"}]


def test_loop_items_leave_out_the_database_password_but_keep_its_name_and_user(stack):
    [app] = stack.apps([entry("blog", database={"password": "s3cret", "user": "blog_app"})], {}, "/pb")
    [item] = stack.loop_items([app])
    assert item["database"] == {"name": "blog", "user": "blog_app"}
    assert "s3cret" not in repr(item)


def test_loop_items_keep_a_database_of_none_as_none(stack):
    [app] = stack.apps([entry("blog")], {}, "/pb")
    assert stack.loop_items([app])[0]["database"] is None


def test_loop_items_leave_the_apps_database_as_it_is(stack):
    apps = [{"name": "blog", "env": {}, "database": {"password": "pw", "name": "blog", "user": "blog"}}]
    stack.loop_items(apps)
    assert apps[0]["database"] == {"password": "pw", "name": "blog", "user": "blog"}


def test_app_env_is_the_named_apps_environment(stack):
    apps = [{"name": "blog", "env": {"A": "1"}}, {"name": "shop", "env": {"B": "2"}}]
    assert stack.app_env(apps, "shop") == {"B": "2"}


# sites ----------------------------------------------------------------------------------------


def site_of(stack, app, **kwargs):
    args = {"hostvars": HOSTVARS, "this_host": "app1", "app_hosts": ["app1", "app2"], "serves_code": True,
            "socket_dir": "/run/uwsgi", **kwargs}
    [site] = stack.sites([app], **args)
    return site


def test_sites_of_an_app_host_serve_static_files_from_the_apps_current_release(stack):
    [app] = stack.apps([entry("blog", static_dir="blog/assets")], {}, "/pb")
    assert site_of(stack, app) == {
        "name": "blog",
        "server_names": ["blog.example.org"],
        "acme": False,
        "upstreams": ["unix:/run/uwsgi/blog.sock", "10.0.0.12:3031"],
        "static_url": "/static/",
        "static_root": "/srv/blog/current/app/blog/assets",
        "static_versions_root": "/srv/blog/static",
        "client_max_body_size_mb": 1,
        "read_timeout": 35,
    }


def test_sites_of_a_web_only_host_pass_static_files_to_the_app(stack):
    [app] = stack.apps([entry("blog")], {}, "/pb")
    site = site_of(stack, app, this_host="web1", serves_code=False)
    assert (site["static_root"], site["static_versions_root"]) == ("", "")
    assert site["upstreams"] == ["10.0.0.11:3031", "10.0.0.12:3031"]


def test_sites_send_to_each_apps_own_socket_and_port(stack):
    apps = stack.apps([entry("blog"), entry("shop", uwsgi_port=3032)], {}, "/pb")
    sites = stack.sites(apps, HOSTVARS, "app2", ["app1", "app2"], True, "/run/apps")
    assert [s["upstreams"] for s in sites] == [["unix:/run/apps/blog.sock", "10.0.0.11:3031"],
                                               ["unix:/run/apps/shop.sock", "10.0.0.11:3032"]]


def test_sites_give_nginx_a_read_timeout_above_uwsgis_harakiri(stack):
    [app] = stack.apps([entry("blog", harakiri=120, max_body_mb=25)], {}, "/pb")
    site = site_of(stack, app)
    assert (site["read_timeout"], site["client_max_body_size_mb"]) == (125, 25)


def test_sites_give_an_absent_app_only_its_name_and_state(stack):
    apps = stack.apps([{"name": "old", "state": "absent"}, entry("new")], {}, "/pb")
    sites = stack.sites(apps, HOSTVARS, "app1", ["app1"], True, "/run/uwsgi")
    assert sites[0] == {"name": "old", "state": "absent"}
    assert sites[1]["name"] == "new"


def test_sites_carry_the_apps_site_options(stack):
    options = {"tls_certificate": "/c.pem", "tls_key": "/k.pem", "tls_certificate_content": "C", "tls_key_content": "K",
               "hsts": False, "content_security_policy": "default-src 'none'"}
    [app] = stack.apps([entry("blog", **options)], {}, "/pb")
    site = site_of(stack, app)
    assert {k: site[k] for k in options} == options


def test_sites_put_the_one_app_under_python_app_root_when_it_is_set(stack):
    [app] = stack.apps(None, {"notes_server_names": ["n.org"]}, "/pb")
    site = site_of(stack, app, app_root="/opt/notes")
    assert (site["static_root"], site["static_versions_root"]) == ("/opt/notes/current/app/notes/static",
                                                                   "/opt/notes/static")


def test_sites_put_the_one_app_under_srv_and_its_name_without_python_app_root(stack):
    [app] = stack.apps(None, {"notes_server_names": ["n.org"], "python_app_name": "wiki"}, "/pb")
    assert site_of(stack, app, app_root=None)["static_root"] == "/srv/wiki/current/app/notes/static"


def test_sites_put_a_flask_apps_entry_under_srv_and_its_name_whatever_python_app_root(stack):
    [app] = stack.apps([entry("blog")], {}, "/pb")
    assert site_of(stack, app, app_root="/opt/notes")["static_versions_root"] == "/srv/blog/static"


def test_sites_read_the_one_apps_limits_given_as_digit_strings(stack):
    inventory = {"notes_server_names": ["n.org"], "python_app_uwsgi_port": "4000", "python_app_harakiri": "10",
                 "python_app_max_body_mb": "2"}
    [app] = stack.apps(None, inventory, "/pb")
    site = site_of(stack, app)
    assert (site["upstreams"][1], site["read_timeout"], site["client_max_body_size_mb"]) == ("10.0.0.12:4000", 15, 2)


@pytest.mark.parametrize("limit", ["uwsgi_port", "harakiri", "max_body_mb"])
@pytest.mark.parametrize("value", ["ten", True, None, 2.5])
def test_sites_fail_naming_the_python_app_variable_of_a_one_apps_bad_limit(stack, limit, value):
    [app] = stack.apps(None, {"notes_server_names": ["n.org"], f"python_app_{limit}": value}, "/pb")
    with fails(f"python_app_{limit}: {value!r} must be a whole number"):
        site_of(stack, app)


# maintenance ----------------------------------------------------------------------------------

APPS = [{"name": "blog", "state": "present"}, {"name": "old", "state": "absent"}, {"name": "shop", "state": "present"}]


def test_maintenance_without_a_switch_leaves_every_site_as_it_is(stack):
    assert stack.maintenance(APPS) == {}


@pytest.mark.parametrize("switch, value", [("on", True), ("ON", True), ("On", True), (True, True),
                                           ("off", False), ("OFF", False), (False, False)])
def test_maintenance_switches_every_present_apps_site(stack, switch, value):
    assert stack.maintenance(APPS, switch) == {"blog": value, "shop": value}


@pytest.mark.parametrize("switch, value", [("on", True), ("off", False)])
def test_maintenance_app_switches_that_apps_site_alone(stack, switch, value):
    assert stack.maintenance(APPS, switch, "shop") == {"shop": value}


@pytest.mark.parametrize("app", ["wiki", "old", ""])
def test_maintenance_app_that_is_not_deployed_here_fails_naming_maintenance_app_and_the_apps(stack, app):
    with fails(f"maintenance_app: {app!r} must name one of the apps deployed here: blog, shop"):
        stack.maintenance(APPS, "on", app)


def test_maintenance_app_without_a_switch_fails_naming_maintenance(stack):
    with fails("maintenance: must be given (on or off) with maintenance_app"):
        stack.maintenance(APPS, None, "blog")


@pytest.mark.parametrize("switch", ["yes", "true", "", "onn", "enabled", 1, 0, 0.0, ["on"], {"on": 1}])
def test_maintenance_switch_other_than_on_or_off_fails_naming_maintenance(stack, switch):
    with fails(f"maintenance: {switch!r} must be on or off"):
        stack.maintenance(APPS, switch)


def test_app_env_of_an_app_not_listed_fails_naming_it(stack):
    with fails("app_env: no app is named 'wiki'"):
        stack.app_env(APPS, "wiki")


# app_database_password and databases ----------------------------------------------------------

DB_APPS = [
    {"name": "blog", "state": "present", "processes": 4,
     "database": {"password": "blog-pw", "name": "blog", "user": "blog"}},
    {"name": "shop", "state": "present", "processes": 2, "database": None},
    {"name": "old", "state": "absent", "processes": 8,
     "database": {"password": "old-pw", "name": "old", "user": "old"}},
    {"name": "wiki", "state": "present", "processes": 0,
     "database": {"password": "wiki-pw", "name": "wiki_db", "user": "wiki_app"}},
]


def test_app_database_password_is_the_named_apps(stack):
    assert stack.app_database_password(DB_APPS, "wiki") == "wiki-pw"


def test_app_database_password_of_an_app_in_sqlite_is_empty(stack):
    assert stack.app_database_password(DB_APPS, "shop") == ""


def test_app_database_password_of_an_app_without_a_database_key_is_empty(stack):
    assert stack.app_database_password([{"name": "blog", "state": "present"}], "blog") == ""


def test_app_database_password_of_an_app_not_listed_fails_naming_it(stack):
    with fails("app_database_password: no app is named 'forum'"):
        stack.app_database_password(DB_APPS, "forum")


def test_databases_are_the_present_apps_databases_in_order(stack):
    assert stack.databases(DB_APPS) == [
        {"password": "blog-pw", "name": "blog", "user": "blog"},
        {"password": "wiki-pw", "name": "wiki_db", "user": "wiki_app"},
    ]


def test_databases_of_apps_all_in_sqlite_are_none(stack):
    apps = stack.apps([entry("blog"), {"name": "old", "state": "absent"}], {}, "/pb")
    assert stack.databases(apps) == []


def test_databases_are_copies_that_leave_the_apps_as_they_are(stack):
    [app] = stack.apps([entry("blog", database={"password": "pw"})], {}, "/pb")
    stack.databases([app])[0]["password"] = "changed"
    assert app["database"]["password"] == "pw"


# database_connections -------------------------------------------------------------------------


def cpus(count: int | None) -> dict:
    return {"ansible_facts": {} if count is None else {"processor_vcpus": count}}


CPU_HOSTVARS = {"app1": cpus(2), "app2": cpus(8)}


def test_database_connections_are_each_database_apps_processes_on_every_app_host_and_headroom(stack):
    blog = {"name": "blog", "state": "present", "processes": 4, "database": {"password": "pw"}}
    shop = {"name": "shop", "state": "present", "processes": 3, "database": {"password": "pw"}}
    assert stack.database_connections([blog, shop], CPU_HOSTVARS, ["app1", "app2"]) == (4 + 3) * 2 + 20


def test_database_connections_count_processes_0_as_two_per_cpu_of_each_app_host(stack):
    app = {"name": "wiki", "state": "present", "processes": 0, "database": {"password": "pw"}}
    assert stack.database_connections([app], CPU_HOSTVARS, ["app1", "app2"]) == 2 * 2 + 2 * 8 + 20


@pytest.mark.parametrize("hostvars", [
    pytest.param({"app1": cpus(None)}, id="cpus-unknown"),
    pytest.param({"app1": cpus(0)}, id="cpus-zero"),
])
def test_database_connections_count_a_host_of_unknown_cpus_as_one_cpu(stack, hostvars):
    app = {"name": "wiki", "state": "present", "processes": 0, "database": {"password": "pw"}}
    assert stack.database_connections([app], hostvars, ["app1"]) == 2 + 20


def test_database_connections_leave_out_absent_apps_and_apps_in_sqlite(stack):
    assert stack.database_connections(DB_APPS[:3], CPU_HOSTVARS, ["app1", "app2"]) == 4 * 2 + 20


def test_database_connections_without_database_apps_are_the_headroom(stack):
    assert stack.database_connections([DB_APPS[1]], CPU_HOSTVARS, ["app1", "app2"]) == 20


def test_database_connections_take_the_headroom_given(stack):
    assert stack.database_connections(DB_APPS[:1], CPU_HOSTVARS, ["app1"], headroom=5) == 4 + 5


def test_database_connections_read_the_one_apps_processes_given_as_a_digit_string(stack):
    inventory = {"python_app_processes": "3", "notes_database": {"password": "pw"}}
    apps = stack.apps(None, inventory, "/pb")
    assert stack.database_connections(apps, CPU_HOSTVARS, ["app1", "app2"], "10") == 3 * 2 + 10


def test_database_connections_without_app_hosts_are_the_headroom(stack):
    assert stack.database_connections(DB_APPS, {}, []) == 20


# shared_data ----------------------------------------------------------------------------------

SQLITE_APP = {"name": "blog", "state": "present", "database": None}
POSTGRES_APP = {"name": "shop", "state": "present", "database": {"password": "pw", "name": "shop", "user": "shop"}}


def web(**hostvars) -> dict:
    return {"ansible_facts": {}, **hostvars}


def test_shared_data_of_a_single_app_host_holds_for_an_app_in_sqlite(stack):
    assert stack.shared_data([SQLITE_APP], {"web1": web()}, ["web1"], ["app1"], []) is True


def test_shared_data_holds_when_each_web_host_sends_only_to_itself(stack):
    hostvars = {"app1": web(upstream_app_hosts=["app1"]), "app2": web(upstream_app_hosts=["app2"])}
    assert stack.shared_data([SQLITE_APP], hostvars, ["app1", "app2"], ["app1", "app2"], []) is True


def test_shared_data_holds_when_every_present_app_has_a_database_and_there_is_a_database_host(stack):
    hostvars = {"web1": web(), "web2": web()}
    assert stack.shared_data([POSTGRES_APP], hostvars, ["web1", "web2"], ["app1", "app2"], ["db1"]) is True


def test_shared_data_holds_without_web_hosts(stack):
    assert stack.shared_data([SQLITE_APP], {}, [], ["app1", "app2"], []) is True


def test_shared_data_ignores_an_absent_app_in_sqlite(stack):
    old = {"name": "old", "state": "absent", "database": None}
    assert stack.shared_data([old, POSTGRES_APP], {"web1": web()}, ["web1"], ["app1", "app2"], ["db1"]) is True


def test_shared_data_ignores_an_absent_apps_database_without_a_database_host(stack):
    old = {**POSTGRES_APP, "state": "absent"}
    assert stack.shared_data([old], {"web1": web()}, ["web1"], ["app1", "app2"], []) is True


def test_shared_data_counts_an_app_host_named_twice_once(stack):
    hostvars = {"web1": web(upstream_app_hosts=["app1", "app1"])}
    assert stack.shared_data([SQLITE_APP], hostvars, ["web1"], ["app1", "app2"], []) is True


def test_shared_data_fails_when_a_web_host_sends_an_app_in_sqlite_to_every_app_host(stack):
    with fails("blog: web host web1 sends its requests to app hosts app1, app2, and each would keep the app's data "
               "in its own SQLite file"):
        stack.shared_data([SQLITE_APP], {"web1": web()}, ["web1"], ["app1", "app2"], [])


def test_shared_data_failure_says_how_to_fix_it(stack):
    with fails("Give the app a shared database (database: {password: ...} in its flask_apps entry, or notes_database "
               "in a one-app inventory, and a host in the `db` group), or set upstream_app_hosts so that each web "
               "host sends to one app host (docs/databases.md)"):
        stack.shared_data([SQLITE_APP], {"web1": web()}, ["web1"], ["app1", "app2"], [])


def test_shared_data_fails_naming_the_web_host_whose_upstream_app_hosts_are_several_sorted(stack):
    hostvars = {"web1": web(upstream_app_hosts=["app1"]), "web2": web(upstream_app_hosts=["app3", "app1"])}
    with fails("blog: web host web2 sends its requests to app hosts app1, app3,"):
        stack.shared_data([SQLITE_APP], hostvars, ["web1", "web2"], ["app1"], [])


def test_shared_data_fails_naming_the_app_in_sqlite_among_apps_with_a_database(stack):
    with fails("blog: web host web1 sends its requests to app hosts app1, app2,"):
        stack.shared_data([POSTGRES_APP, SQLITE_APP], {"web1": web()}, ["web1"], ["app1", "app2"], ["db1"])


def test_shared_data_fails_for_the_one_app_in_sqlite_behind_several_app_hosts(stack):
    [app] = stack.apps(None, {"notes_server_names": ["n.org"], "python_app_name": "notes"}, "/pb")
    with fails("notes: web host web1 sends its requests to app hosts app1, app2,"):
        stack.shared_data([app], {"web1": web()}, ["web1"], ["app1", "app2"], [])


def test_shared_data_fails_when_an_app_has_a_database_and_there_is_no_database_host(stack):
    with fails("shop: database: the app's data is to be in PostgreSQL, but the inventory has no database host: "
               "put one in the `db` group"):
        stack.shared_data([POSTGRES_APP], {"web1": web()}, ["web1"], ["app1"], [])


# FilterModule ---------------------------------------------------------------------------------


def test_filter_module_offers_each_filter_under_its_function_name(stack):
    filters = stack.FilterModule().filters()
    assert filters == {name: getattr(stack, name) for name in (
        "addresses", "app_database_password", "app_env", "app_paths", "apps", "database_connections", "databases", "loop_items",
        "maintenance", "named_addresses", "shared_data", "sites", "unused_venvs", "uwsgi_upstreams", "venv_name",
        "web_hosts_of", "wheelhouses",
        "without_facts")}


def test_apps_refuse_two_apps_in_one_database(stack):
    entries = [{"name": "notes", "server_names": ["a.example"], "database": {"password": "a", "name": "shared"}},
               {"name": "shop", "server_names": ["b.example"], "uwsgi_port": 3032,
                "database": {"password": "b", "name": "shared"}}]
    with fails("flask_apps: notes and shop both use database 'shared'; each app needs its own"):
        stack.apps(entries, {}, "/pb")


def test_apps_refuse_two_apps_with_one_database_user(stack):
    entries = [{"name": "notes", "server_names": ["a.example"], "database": {"password": "a", "user": "shared"}},
               {"name": "shop", "server_names": ["b.example"], "uwsgi_port": 3032,
                "database": {"password": "b", "user": "shared"}}]
    with fails("flask_apps: notes and shop both use database user 'shared'; each app needs its own"):
        stack.apps(entries, {}, "/pb")


@pytest.mark.parametrize("names", [
    ["shop.example.org", "www.shop.example.org"], ["localhost", "127.0.0.1"], ["shop.localhost", "*.shop.localhost"],
    ["Shop.Example.org"], ["::1"], ["xn--bcher-kva.example"],
])
def test_apps_accepts_host_names_wildcards_after_the_first_and_ip_addresses(stack, names):
    [app] = stack.apps([entry("shop", server_names=names)], {}, "/pb")
    assert app["server_names"] == names


@pytest.mark.parametrize(("names", "shown"), [
    pytest.param(["shop.example.org", "www shop.example.org"], "'www shop.example.org'", id="space"),
    pytest.param(["shop.example.org;"], "'shop.example.org;'", id="semicolon"),
    pytest.param(["shop.example.org\n"], "'shop.example.org\\n'", id="newline"),
    pytest.param(["~^shop\\.(.+)$"], "'~^shop\\\\.(.+)$'", id="regex"),
    pytest.param(["-shop.example.org"], "'-shop.example.org'", id="leading-dash"),
    pytest.param(["shop..example.org"], "'shop..example.org'", id="empty-label"),
    pytest.param(["*.example.org", "example.org"], "'*.example.org'", id="wildcard-first"),
    pytest.param(["a" * 64 + ".org"], "'" + "a" * 64 + ".org'", id="label-too-long"),
])
def test_apps_bad_server_name_fails_naming_the_app_the_field_what_is_allowed_and_the_name(stack, names, shown):
    with fails(f"flask_apps[1] (shop): server_names must be host names (letters, digits, -, _ and ., such as "
               f"shop.example.org or localhost, the first one without a *. wildcard) or IP addresses; not {shown}"):
        stack.apps([entry("notes"), entry("shop", server_names=names)], {}, "/pb")


@pytest.mark.parametrize("name", ["localhost", "*.shop.example.org", "Shop.example.org", "127.0.0.1"])
def test_apps_acme_site_needs_lower_case_dns_names(stack, name):
    with fails(f"flask_apps[0] (shop): server_names must be DNS names the CA can validate over HTTP, as acme is "
               f"true (lower case, with a dot, no wildcard or IP address); not {name!r}"):
        stack.apps([entry("shop", server_names=["shop.example.org", name], acme=True)], {}, "/pb")


def test_apps_acme_site_with_a_certificate_of_its_own_fails_naming_it(stack):
    with fails("flask_apps[0] (shop): server_names: acme is true, so the site must not set tls_certificate"):
        stack.apps([entry("shop", acme=True, tls_certificate="/c.crt", tls_key="/c.key")], {}, "/pb")


def test_apps_acme_site_of_dns_names_passes(stack):
    [app] = stack.apps([entry("shop", server_names=["shop.example.org", "www.shop.example.org"], acme=True)], {}, "/pb")
    assert app["acme"] is True


def test_one_app_bad_server_name_fails_naming_notes_server_names(stack):
    with fails("notes_server_names must be host names"):
        stack.apps(None, {"notes_server_names": ["notes example.org"]}, "/pb")


def test_one_app_acme_server_name_must_be_a_dns_name(stack):
    with fails("notes_server_names must be DNS names the CA can validate"):
        stack.apps(None, {"notes_server_names": ["localhost"], "notes_acme": True}, "/pb")


def test_without_facts_names_the_hosts_whose_facts_were_not_gathered_in_order(stack):
    hostvars = {
        "web": {"ansible_facts": {"module_setup": True, "hostname": "web"}},
        "lost": {"ansible_facts": {}},
        "gone": {"ansible_facts": {"discovered_interpreter_python": "/usr/bin/python3"}},
        "bare": {},
    }
    hosts = ["lost", "web", "gone", "bare", "absent"]
    assert stack.without_facts(hosts, hostvars) == ["lost", "gone", "bare", "absent"]


def test_without_facts_of_hosts_that_all_answered_is_empty(stack):
    assert stack.without_facts(["a"], {"a": {"ansible_facts": {"module_setup": True}}}) == []
