"""The secrets kept in Ansible Vault (the app's key, its database password) reach the app's
workers and nobody else; the database host keeps only a SCRAM verifier of the password."""

from __future__ import annotations

import hashlib
import subprocess

import pytest
from testlib.hosts import node
from testlib.layout import APP_GROUP, ENV_FILE, VASSAL_INI
from testlib.run import SCENARIO, run_playbook
from testlib.uwsgi import worker_pids
from testlib.wait import wait_until

# Each secret's variable in the app's environment, and its name in the vault.
SECRETS = {"NOTES_SECRET_KEY": "vault_notes_secret_key", "PGPASSWORD": "vault_notes_database_password"}
SEARCH = "grep -rlsF --devices=skip --exclude-dir=proc --exclude-dir=sys -f - /"


@pytest.fixture(params=SECRETS)
def secret(request, vault) -> tuple[str, str]:
    """A secret's variable name and its value in the vault."""
    return request.param, vault[SECRETS[request.param]]


def pattern(name: str) -> str:
    """The secret's value, from the root-only file through a pipe: never on a command line."""
    return f"sed -n 's/^{name}=//p' {ENV_FILE}"


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


def test_the_hosts_copy_of_the_secret_is_the_vaults(app, secret) -> None:
    name, value = secret
    stored = node(app, sudo=True).check_output(f"{pattern(name)} | sha256sum | cut -d' ' -f1")
    assert stored == sha256(value + "\n")


def test_every_worker_has_the_secret_in_its_environment(app, secret) -> None:
    name, value = secret
    host = node(app, sudo=True)
    pids = reloaded(host)
    assert pids
    for pid in pids:
        environ = host.check_output(f"tr '\\0' '\\n' < /proc/{pid}/environ | sed -n 's/^{name}=//p' | sha256sum")
        assert environ.split()[0] == sha256(value + "\n"), pid


def test_the_secret_is_in_no_file_that_other_users_can_read(app, secret) -> None:
    host = node(app, sudo=True)
    files = host.check_output(f"{pattern(secret[0])} | {SEARCH}").split()
    assert ENV_FILE in files
    modes = {f: host.file(f).mode for f in files}
    assert {f: m for f, m in modes.items() if m & 0o004} == {}
    env_file = host.file(ENV_FILE)
    assert (env_file.user, env_file.group, env_file.mode) == ("root", APP_GROUP, 0o640)


def test_another_local_user_finds_the_secret_nowhere(app, secret) -> None:
    host = node(app, sudo=True)
    found = host.run(f"{pattern(secret[0])} | runuser -u nobody -- {SEARCH}")
    assert found.stdout.split() == []
    pids = worker_pids(host)
    assert pids
    for pid in pids:
        assert host.run(f"runuser -u nobody -- cat /proc/{pid}/environ").rc != 0


def test_the_database_host_keeps_only_a_scram_verifier_of_the_password(vault) -> None:
    db = node("prod-db", sudo=True)
    stored = db.check_output("runuser -u postgres -- psql -AtX -c \"SELECT rolpassword FROM pg_authid WHERE rolname = 'notes'\"")
    assert stored.startswith("SCRAM-SHA-256$4096:"), stored[:20]
    # Nowhere on the host in the clear: the pattern goes in on stdin, never on a command line.
    found = subprocess.run(["docker", "exec", "-i", "prod-db", "sh", "-c", SEARCH],
                           input=vault["vault_notes_database_password"] + "\n", capture_output=True, text=True)
    assert found.stdout.split() == []


def test_a_check_run_with_diff_never_shows_a_secret(vault) -> None:
    run = run_playbook(SCENARIO / "converge.yml", "--check", "--diff", "-v")
    assert run.rc == 0, run
    assert vault["vault_notes_secret_key"] not in run.text
    assert vault["vault_notes_database_password"] not in run.text
    assert run.changed and set(run.changed.values()) == {0}, run.changed
