"""The secret kept in Ansible Vault reaches the app's workers and nobody else."""

from __future__ import annotations

import json

import pytest
from conftest import APPS, ENV_FILE, PROJECT, SCENARIO, SECRET_NAME, node, sha256
from harness import changed_counts, run_playbook, wait_until

# Patterns come from the root-only file through a pipe: the value is never on a command line.
PATTERN = f"sed -n 's/^{SECRET_NAME}=//p' {ENV_FILE}"
SEARCH = "grep -rlsF --devices=skip --exclude-dir=proc --exclude-dir=sys -f - /"


def worker_pids(host) -> list[int]:
    """The app's workers, as its vassal's stats socket lists them (read as root)."""
    stats = host.check_output(
        "python3 -c \"import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/uwsgi/notes/stats.sock'); "
        "print(b''.join(iter(lambda: s.recv(65536), b'')).decode())\""
    )
    return sorted(worker["pid"] for worker in json.loads(stats)["workers"] if worker["pid"] > 0)


def reloaded(host) -> list[int]:
    """Worker pids after a graceful reload of the vassal, as every release switch does.

    uWSGI sets the file's variables with setenv(), which /proc/PID/environ shows only in a
    process exec'd after it: the master re-execs itself on a reload, so from then on it does."""
    before = set(worker_pids(host))
    host.check_output("touch --no-dereference /etc/uwsgi/vassals/notes.ini")
    wait_until(lambda: (now := set(worker_pids(host))) and not now & before and len(now) == len(before), 30)
    return worker_pids(host)


@pytest.mark.parametrize("app", APPS)
def test_every_worker_has_the_secret_in_its_environment(app: str, vault_secret: str) -> None:
    host = node(app)
    pids = reloaded(host)
    assert pids
    for pid in pids:
        environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ | sed -n 's/^{SECRET_NAME}=//p' | sha256sum")
        assert environ.split()[0] == sha256(vault_secret + "\n"), pid


@pytest.mark.parametrize("app", APPS)
def test_the_secret_is_in_no_file_that_other_users_can_read(app: str) -> None:
    host = node(app)
    files = host.check_output(f"{PATTERN} | {SEARCH}").split()
    assert ENV_FILE in files
    modes = {f: host.file(f).mode for f in files}
    assert {f: m for f, m in modes.items() if m & 0o004} == {}
    env_file = host.file(ENV_FILE)
    assert (env_file.user, env_file.group, env_file.mode) == ("root", "notes", 0o640)


@pytest.mark.parametrize("app", APPS)
def test_another_local_user_finds_the_secret_nowhere(app: str) -> None:
    host = node(app)
    found = host.run(f"{PATTERN} | runuser -u nobody -- {SEARCH}")
    assert found.stdout.split() == []
    pids = worker_pids(host)
    assert pids
    for pid in pids:
        assert host.run(f"runuser -u nobody -- cat /proc/{pid}/environ").rc != 0


def test_a_check_run_with_diff_never_shows_the_secret(vault_secret: str) -> None:
    rc, output = run_playbook(SCENARIO / "converge.yml", "--check", "--diff", "-v")
    assert rc == 0, output[-3000:]
    assert vault_secret not in output
    assert json.dumps(vault_secret)[1:-1] not in output
    changed = changed_counts(output)
    assert changed and set(changed.values()) == {0}, changed
