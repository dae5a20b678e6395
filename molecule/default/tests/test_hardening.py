"""The emperor's systemd sandbox, and what it means for the workers it runs."""

import re

import pytest

from testlib.layout import APP_USER, CODE_ROOT, DATA_DIR, EMPEROR_SERVICE

# The exposure systemd-analyze gave the unit before hardening was 9.8 ("UNSAFE").
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


def test_emperor_exposure_is_low(host):
    out = host.check_output(f"systemd-analyze security {EMPEROR_SERVICE} --no-pager")
    exposure = float(re.search(r"Overall exposure level for \S+: ([0-9.]+)", out).group(1))
    assert exposure <= MAX_EXPOSURE, out[-500:]


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
    result = as_worker(host, f"touch {CODE_ROOT}/.probe", user)
    assert result.rc != 0
    assert "Read-only file system" in result.stderr


def test_app_user_can_write_its_data_dir_inside_the_sandbox(host):
    # The control of the test above: the sandbox does let the app write its data.
    result = as_worker(host, f"sh -c 'touch {DATA_DIR}/.probe && rm {DATA_DIR}/.probe'", APP_USER)
    assert result.rc == 0, result.stderr
