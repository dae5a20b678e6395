"""Online backups (python_app_backup): the app's database is copied on a schedule by a systemd
timer, as the app's user, while the app keeps writing; every copy is one consistent, checked
SQLite file that holds every note acknowledged before it began, readable by the app user only;
old copies go, the newest stays."""

from __future__ import annotations

import json
from typing import Any

import pytest
from testlib.layout import APP, APP_USER, BACKUP_DIR, BACKUP_SERVICE, BACKUP_TIMER
from testlib.load import load

OLD = f"{BACKUP_DIR}/{APP}-20000101T000000Z.sqlite3"  # far beyond python_app_backup_keep_days
LEFTOVER = f"{BACKUP_DIR}/.{APP}-20000101T000001Z.sqlite3.partial"  # a run that was cut short

# Reads a backup as root, read-only: its notes, integrity check and journal mode.
READ_BACKUP = """
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(json.dumps({
    "notes": {str(i): t for i, t in db.execute("SELECT id, text FROM notes")},
    "integrity": [r[0] for r in db.execute("PRAGMA integrity_check")],
    "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
}))
"""


@pytest.fixture(scope="module")
def backup(host: Any) -> dict[str, Any]:
    """A backup started by hand (the timer's service) while notes are being added, with an expired
    backup and a leftover of an interrupted one planted first."""
    for path in (OLD, LEFTOVER):
        planted = host.run(f"install -o {APP_USER} -g {APP_USER} -m 0600 /dev/null {path}")
        assert planted.rc == 0, planted.stderr
    out: dict[str, Any] = {}
    with load(host, post_notes=True) as summary:
        # Notes are acknowledged before the backup starts, by the host's own clock.
        host.run("sleep 2")
        out["started_at"] = float(host.check_output("date +%s.%N"))
        out["run"] = host.run(f"systemctl start {BACKUP_SERVICE}")
    out["load"] = summary
    acks = host.file(summary["acks"]).content_string.splitlines()
    out["acked"] = [json.loads(line) for line in acks if line]
    newest = host.check_output(f"ls -1 {BACKUP_DIR}/{APP}-*.sqlite3 | tail -n 1")
    out["path"] = newest
    out["content"] = json.loads(host.check_output(f"python3 -c '{READ_BACKUP}' {newest}"))
    out["listing"] = host.check_output(f"ls -1A {BACKUP_DIR}").splitlines()
    return out


def test_backup_timer_is_enabled_and_scheduled(host: Any) -> None:
    timer = host.service(BACKUP_TIMER)
    assert timer.is_enabled
    assert timer.is_running
    assert host.check_output(f"systemctl show {BACKUP_TIMER} -p NextElapseUSecRealtime --value") != ""


def test_backup_service_runs_as_the_app_user_without_network_or_privileges(host: Any) -> None:
    show = dict(line.split("=", 1) for line in host.check_output(
        f"systemctl show {BACKUP_SERVICE} -p User -p NoNewPrivileges -p PrivateNetwork -p ProtectSystem"
    ).splitlines())
    assert show == {"User": APP_USER, "NoNewPrivileges": "yes", "PrivateNetwork": "yes", "ProtectSystem": "strict"}


def test_backup_under_load_succeeds_and_fails_no_request(backup: dict[str, Any]) -> None:
    assert backup["run"].rc == 0, backup["run"].stderr
    assert backup["load"]["failed"] == 0, backup["load"]
    assert len(backup["acked"]) > 0, backup["load"]


def test_backup_holds_every_note_acknowledged_before_it_began(backup: dict[str, Any]) -> None:
    before = [a for a in backup["acked"] if a["at"] < backup["started_at"]]
    assert before, "no note was acknowledged before the backup began"
    notes = backup["content"]["notes"]
    missing = [a for a in before if notes.get(str(a["id"])) != a["text"]]
    assert missing == [], f"{len(missing)} of {len(before)} acknowledged notes are not in the backup"


def test_backup_is_one_checked_sqlite_file(backup: dict[str, Any]) -> None:
    assert backup["content"]["integrity"] == ["ok"]
    assert backup["content"]["journal_mode"] == "delete"
    name = backup["path"].rsplit("/", 1)[1]
    for beside in ("-wal", "-shm", "-journal"):
        assert f"{name}{beside}" not in backup["listing"], beside


def test_backups_are_readable_by_the_app_user_only(host: Any, backup: dict[str, Any]) -> None:
    directory, copy = host.file(BACKUP_DIR), host.file(backup["path"])
    assert (directory.user, directory.group, directory.mode) == (APP_USER, APP_USER, 0o700)
    assert (copy.user, copy.group, copy.mode) == (APP_USER, APP_USER, 0o600)


def test_old_backups_and_leftovers_are_removed_and_the_newest_kept(backup: dict[str, Any]) -> None:
    listing = backup["listing"]
    assert OLD.rsplit("/", 1)[1] not in listing
    assert LEFTOVER.rsplit("/", 1)[1] not in listing
    assert backup["path"].rsplit("/", 1)[1] in listing
