"""Online backups (python_app_backup): the app's database is copied on a schedule by a systemd
timer, as the app's user, while the app keeps writing; every copy is one consistent, checked
SQLite file that holds every note acknowledged before it began, readable by the app user only;
old copies go, the newest stays. playbooks/backup.yml takes one now, by the timer's service,
and brings it to the controller; playbooks/restore.yml puts it back, refusing a file that is
not a sound SQLite database before anything is replaced."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from testlib.http import curl, http
from testlib.layout import APP, APP_USER, BACKUP_DIR, BACKUP_SERVICE, BACKUP_TIMER, DATABASE
from testlib.load import load
from testlib.notes import acknowledged, read_database
from testlib.run import PROJECT, PlaybookRun, run_playbook
from testlib.wait import wait_until

OLD = f"{BACKUP_DIR}/{APP}-20000101T000000Z.sqlite3"  # far beyond python_app_backup_keep_days
LEFTOVER = f"{BACKUP_DIR}/.{APP}-20000101T000001Z.sqlite3.partial"  # a run that was cut short


def restore(host: Any, backup_file: Path) -> PlaybookRun:
    return run_playbook(PROJECT / "playbooks" / "restore.yml", "--limit", host.backend.get_hostname(),
                        "-e", f"restore_app={APP}", "-e", f"python_app_restore_from={backup_file}")


@pytest.fixture(scope="module")
def backup(host: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """playbooks/backup.yml, run while notes are being added, with an expired backup and a leftover
    of an interrupted one planted first: the timer's service takes the backup."""
    for path in (OLD, LEFTOVER):
        planted = host.run(f"install -o {APP_USER} -g {APP_USER} -m 0600 /dev/null {path}")
        assert planted.rc == 0, planted.stderr
    dest = tmp_path_factory.mktemp("backups")
    out: dict[str, Any] = {"dest": dest}
    with load(host, post_notes=True) as summary:
        # Notes are acknowledged before the backup starts, by the host's own clock.
        acks = host.file(summary["acks"])
        wait_until(lambda: acks.exists and len(acks.content_string.splitlines()) >= 20, 60)
        out["started_at"] = float(host.check_output("date +%s.%N"))
        out["run"] = run_playbook(PROJECT / "playbooks" / "backup.yml", "--limit", host.backend.get_hostname(),
                                  "-e", f"backup_dest={dest}")
    out["load"] = summary
    out["acked"] = acknowledged(host, summary)
    newest = host.check_output(f"ls -1 {BACKUP_DIR}/{APP}-*.sqlite3 | tail -n 1")
    out["path"] = newest
    out["content"] = read_database(host, newest)
    out["listing"] = host.check_output(f"ls -1A {BACKUP_DIR}").splitlines()
    out["fetched"] = sorted(dest.glob(f"{host.backend.get_hostname()}/{APP}/*"))
    return out


@pytest.fixture(scope="module")
def restored(host: Any, backup: dict[str, Any]) -> dict[str, Any]:
    """playbooks/restore.yml with the backup brought to the controller, notes having been added
    since it was taken (by the load, and one more now)."""
    added = curl(host, "/api/notes", "-XPOST", "-H", "Content-Type: application/json",
                 "-d", json.dumps({"text": "written after the backup"}), "-w", "%{http_code}")
    assert added.stdout == "201", added.stdout + added.stderr
    before = read_database(host, DATABASE)
    run = restore(host, backup["fetched"][0])
    replaced = host.check_output(f"ls -1 {DATABASE}.replaced-*Z | tail -n 1")  # not its -wal or -shm
    return {"run": run, "fetched_from": backup["fetched"][0], "before": before, "after": read_database(host, DATABASE),
            "replaced_path": replaced, "replaced": read_database(host, replaced)}


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


def test_backup_playbook_brings_the_newest_backup_to_the_controller(host: Any, backup: dict[str, Any]) -> None:
    assert backup["run"].rc == 0, backup["run"]
    assert [p.name for p in backup["fetched"]] == [backup["path"].rsplit("/", 1)[1]]
    fetched = backup["fetched"][0]
    assert hashlib.sha256(fetched.read_bytes()).hexdigest() == host.file(backup["path"]).sha256sum


def test_backups_on_the_controller_are_readable_by_its_user_only(backup: dict[str, Any]) -> None:
    fetched = backup["fetched"][0]
    assert fetched.stat().st_mode & 0o777 == 0o600
    for directory in (fetched.parent, fetched.parent.parent, backup["dest"]):
        assert directory.stat().st_mode & 0o777 == 0o700, directory


def test_restore_puts_back_exactly_the_backup_and_every_note_acknowledged_before_it(
    backup: dict[str, Any], restored: dict[str, Any]
) -> None:
    assert restored["run"].rc == 0, restored["run"]
    assert restored["after"]["notes"] == backup["content"]["notes"]
    before = [a for a in backup["acked"] if a["at"] < backup["started_at"]]
    assert before and all(restored["after"]["notes"].get(str(a["id"])) == a["text"] for a in before)
    assert "written after the backup" not in restored["after"]["notes"].values()


def test_restore_keeps_the_replaced_database_beside_the_new_one(host: Any, restored: dict[str, Any]) -> None:
    assert restored["replaced"]["notes"] == restored["before"]["notes"]
    replaced = host.file(restored["replaced_path"])
    assert (replaced.user, replaced.mode) == (APP_USER, host.file(DATABASE).mode)


def test_restored_app_serves_as_its_user_with_a_checked_database(host: Any, restored: dict[str, Any]) -> None:
    database = host.file(DATABASE)
    assert (database.user, database.group, database.mode) == (APP_USER, APP_USER, 0o640)
    assert restored["after"]["integrity"] == ["ok"]
    health = http(host, "/healthz")
    assert health.status == 200 and json.loads(health.body)["status"] == "ok", health


def not_sqlite(good: Path, bad: Path) -> None:
    bad.write_bytes(b"id,text\n1,a note kept as CSV\n" * 200)


def corrupt(good: Path, bad: Path) -> None:
    shutil.copy(good, bad)
    data = bytearray(bad.read_bytes())
    page = 4096  # the notes table's first page: the header stays, so SQLite opens the file
    data[page + 8:page + 200] = b"\xaa" * 192
    bad.write_bytes(bytes(data))


@pytest.mark.parametrize(("damage", "reason"), [(not_sqlite, "it is not a SQLite database"),
                                                (corrupt, "it fails SQLite's integrity check")],
                         ids=["not-sqlite", "corrupt"])
def test_restore_of_an_unsound_file_is_refused_before_anything_is_replaced(
    host: Any, restored: dict[str, Any], tmp_path: Path, damage: Any, reason: str
) -> None:
    bad = tmp_path / f"{APP}-bad.sqlite3"
    damage(restored["fetched_from"], bad)
    checksum = host.file(DATABASE).sha256sum
    run = restore(host, bad)
    assert run.rc != 0, run
    message = "\n".join(run.messages)
    assert "python_app_restore_from" in message and reason in message and "Nothing was replaced" in message, run
    assert host.file(DATABASE).sha256sum == checksum
    assert not host.file(f"/var/lib/flask-deploy-restore/{APP}.sqlite3").exists
