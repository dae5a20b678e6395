"""The systemd sandboxes of the emperor and of nginx, and what they mean for what runs in them."""

import re

import pytest

from testlib.layout import APP_USER, CODE_ROOT, DATA_DIR, EMPEROR_SERVICE, NGINX_SERVICE

# The exposure systemd-analyze gave the units before hardening: emperor 9.8, nginx 9.6 ("UNSAFE").
MAX_EXPOSURE = 3.5


@pytest.mark.parametrize(
    ("prop", "value"),
    [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("UMask", "0077"),
    ],
)
def test_emperor_unit_is_sandboxed(host, prop, value):
    assert host.check_output(f"systemctl show -p {prop} --value {EMPEROR_SERVICE}") == value


def test_emperor_keeps_only_the_capabilities_it_needs(host):
    caps = set(host.check_output(f"systemctl show -p CapabilityBoundingSet --value {EMPEROR_SERVICE}").split())
    assert caps == {"cap_chown", "cap_fowner", "cap_kill", "cap_setgid", "cap_setuid"}


@pytest.mark.parametrize("service", [EMPEROR_SERVICE, NGINX_SERVICE])
def test_service_exposure_is_low(host, service):
    out = host.check_output(f"systemd-analyze security {service} --no-pager")
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert exposure <= MAX_EXPOSURE, out[-500:]


@pytest.mark.parametrize(("prop", "value"), [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("PrivateTmp", "yes")])
def test_nginx_unit_is_sandboxed(host, prop, value):
    assert host.check_output(f"systemctl show -p {prop} --value {NGINX_SERVICE}") == value


def test_nginx_keeps_only_the_capabilities_it_needs(host):
    caps = set(host.check_output(f"systemctl show -p CapabilityBoundingSet --value {NGINX_SERVICE}").split())
    assert caps == {"cap_chown", "cap_dac_override", "cap_kill", "cap_net_bind_service", "cap_setgid", "cap_setuid"}


def probe(directory: str) -> str:
    """A command that tries to create a file in directory and removes it whatever happened (a
    failing test leaves nothing behind); its exit code and errors are the create's."""
    return f"""sh -c 'p={directory}/.probe-$$; touch "$p"; rc=$?; rm -f "$p" 2>/dev/null; exit $rc'"""


def in_nginx_sandbox(host, command, user="root"):
    """Run command in nginx's mount namespace, as user."""
    pid = host.check_output(f"systemctl show -p MainPID --value {NGINX_SERVICE}")
    ids = f"-S {host.user(user).uid} -G {host.user(user).gid}"
    return host.run(f"nsenter --target {pid} --mount {ids} -- {command}")


@pytest.mark.parametrize("path", ["/etc/nginx", "/var/www/acme", CODE_ROOT])
def test_nginx_cannot_write_its_configuration_webroot_or_code(host, path):
    result = in_nginx_sandbox(host, probe(path))
    assert result.rc != 0
    assert "Read-only file system" in result.stderr


def test_nginx_writes_its_logs_inside_the_sandbox(host):
    # The control of the test above; reloads, renewals and log rotation work under the sandbox
    # (tests of the releases and production scenarios).
    result = in_nginx_sandbox(host, probe("/var/log/nginx"))
    assert result.rc == 0, result.stderr


def emperor_pid(host) -> int:
    return int(host.check_output(f"systemctl show -p MainPID --value {EMPEROR_SERVICE}"))


def test_workers_run_inside_the_emperors_unit(host):
    # So they share its sandbox; the tests below enter it through the emperor
    # (root, like the tester: no ptrace capability needed, unlike for a worker).
    workers = host.process.filter(comm="uwsgi-core", user=APP_USER)
    assert workers, "no worker is running"
    emperor_cgroup = host.check_output(f"cat /proc/{emperor_pid(host)}/cgroup")
    assert {host.check_output(f"cat /proc/{w.pid}/cgroup") for w in workers} == {emperor_cgroup}


def as_worker(host, command, user="root"):
    """Run command in the sandbox's mount namespace, as user."""
    ids = f"-S {host.user(user).uid} -G {host.user(user).gid}"
    return host.run(f"nsenter --target {emperor_pid(host)} --mount {ids} -- {command}")


@pytest.mark.parametrize("user", ["root", APP_USER])
def test_code_tree_is_read_only_inside_the_sandbox(host, user):
    result = as_worker(host, probe(CODE_ROOT), user)
    assert result.rc != 0
    assert "Read-only file system" in result.stderr


def test_app_user_can_write_its_data_dir_inside_the_sandbox(host):
    # The control of the test above: the sandbox does let the app write its data.
    result = as_worker(host, probe(DATA_DIR), APP_USER)
    assert result.rc == 0, result.stderr
