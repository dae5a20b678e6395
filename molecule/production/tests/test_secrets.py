"""The secret kept in Ansible Vault reaches the app's workers and nobody else."""

from __future__ import annotations

import hashlib

from testlib.hosts import node
from testlib.layout import APP_GROUP, ENV_FILE, VASSAL_INI
from testlib.run import SCENARIO, run_playbook
from testlib.uwsgi import worker_pids
from testlib.wait import wait_until

SECRET_NAME = "NOTES_SECRET_KEY"
# Patterns come from the root-only file through a pipe: the value is never on a command line.
PATTERN = f"sed -n 's/^{SECRET_NAME}=//p' {ENV_FILE}"
SEARCH = "grep -rlsF --devices=skip --exclude-dir=proc --exclude-dir=sys -f - /"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def reloaded(host) -> list[int]:
    """Worker pids after a graceful reload of the vassal, as every release switch does.

    uWSGI sets the file's variables with setenv(), which /proc/PID/environ shows only in a
    process exec'd after it: the master re-execs itself on a reload, so from then on it does."""
    before = set(worker_pids(host))
    host.check_output(f"touch --no-dereference {VASSAL_INI}")
    wait_until(lambda: (now := set(worker_pids(host))) and not now & before and len(now) == len(before), 30)
    return worker_pids(host)


def test_the_hosts_copy_of_the_secret_is_the_vaults(app, vault_secret) -> None:
    stored = node(app, sudo=True).check_output(f"{PATTERN} | sha256sum | cut -d' ' -f1")
    assert stored == sha256(vault_secret + "\n")


def test_every_worker_has_the_secret_in_its_environment(app, vault_secret) -> None:
    host = node(app, sudo=True)
    pids = reloaded(host)
    assert pids
    for pid in pids:
        environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ | sed -n 's/^{SECRET_NAME}=//p' | sha256sum")
        assert environ.split()[0] == sha256(vault_secret + "\n"), pid


def test_the_secret_is_in_no_file_that_other_users_can_read(app) -> None:
    host = node(app, sudo=True)
    files = host.check_output(f"{PATTERN} | {SEARCH}").split()
    assert ENV_FILE in files
    modes = {f: host.file(f).mode for f in files}
    assert {f: m for f, m in modes.items() if m & 0o004} == {}
    env_file = host.file(ENV_FILE)
    assert (env_file.user, env_file.group, env_file.mode) == ("root", APP_GROUP, 0o640)


def test_another_local_user_finds_the_secret_nowhere(app) -> None:
    host = node(app, sudo=True)
    found = host.run(f"{PATTERN} | runuser -u nobody -- {SEARCH}")
    assert found.stdout.split() == []
    pids = worker_pids(host)
    assert pids
    for pid in pids:
        assert host.run(f"runuser -u nobody -- cat /proc/{pid}/environ").rc != 0


def test_a_check_run_with_diff_never_shows_the_secret(vault_secret) -> None:
    run = run_playbook(SCENARIO / "converge.yml", "--check", "--diff", "-v")
    assert run.rc == 0, run
    assert vault_secret not in run.text
    assert run.changed and set(run.changed.values()) == {0}, run.changed
