"""roles/python_app/files/sqlite_backup.py: online backup of an app's SQLite database.

Run as `sqlite_backup.py DATABASE BACKUP_DIR NAME KEEP_DAYS` by the backup service (as the app's
user) and by tasks/migrate.yml before a migration, which reads one JSON line: "backup" is the new
file's path, or null. The databases here are real, made by the bundled app's migrations.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import stat
from contextlib import closing
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

STAMP = "%Y%m%dT%H%M%SZ"


@pytest.fixture
def database(tmp_path, make_notes_db) -> Path:
    return make_notes_db(tmp_path / "data" / "notes.sqlite3", ["first note", "second note"])


@pytest.fixture
def backup_dir(tmp_path) -> Path:
    directory = tmp_path / "backups"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def back_up(sqlite_backup, capsys):
    """back_up(database, backup_dir, name='notes', keep_days='14'): main's exit status and its JSON line."""

    def run(database: Path, backup_dir: Path, name: str = "notes", keep_days: str = "14") -> tuple[int, dict]:
        capsys.readouterr()
        code = sqlite_backup.main(str(database), str(backup_dir), name, keep_days)
        out = capsys.readouterr().out
        assert out.count("\n") == 1, out
        return code, json.loads(out)

    return run


def backup_name(name: str, days_ago: float) -> str:
    return f"{name}-{(datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime(STAMP)}.sqlite3"


# --- a backup ------------------------------------------------------------------------------------------


def test_backup_is_named_by_the_utc_time_in_backup_dir(back_up, database, backup_dir):
    before = datetime.now(timezone.utc).replace(microsecond=0)

    code, out = back_up(database, backup_dir)

    assert code == 0
    backup = Path(out["backup"])
    assert backup.parent == backup_dir
    made = datetime.strptime(re.fullmatch(r"notes-(\d{8}T\d{6}Z)\.sqlite3", backup.name)[1], STAMP)
    assert before <= made.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)


def test_backup_holds_the_databases_notes(back_up, database, backup_dir, note_texts):
    _, out = back_up(database, backup_dir)

    assert note_texts(out["backup"]) == ["first note", "second note"]


def test_backup_keeps_the_schema_version(back_up, database, backup_dir):
    _, out = back_up(database, backup_dir)

    with closing(sqlite3.connect(out["backup"])) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 2


def test_backup_reports_its_size_and_integrity(back_up, database, backup_dir):
    _, out = back_up(database, backup_dir)

    assert out["bytes"] == Path(out["backup"]).stat().st_size
    assert (out["database"], out["integrity"], out["pruned"]) == (str(database), "ok", [])


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000])
def test_backup_is_readable_by_its_owner_alone_whatever_the_umask(back_up, database, backup_dir, umask):
    os.umask(umask)

    _, out = back_up(database, backup_dir)

    assert stat.S_IMODE(os.stat(out["backup"]).st_mode) == 0o600


def test_backup_is_one_self_contained_file(back_up, database, backup_dir, journal_mode):
    _, out = back_up(database, backup_dir)

    assert journal_mode(out["backup"]) == "delete"
    assert sorted(p.name for p in backup_dir.iterdir()) == [Path(out["backup"]).name]


def test_backup_of_a_wal_database_holds_what_is_committed_in_its_wal(back_up, database, backup_dir, note_texts):
    app = sqlite3.connect(database)  # the app, still running: its commits are in -wal, not yet in the file
    app.execute("PRAGMA wal_autocheckpoint=0")
    app.execute("INSERT INTO notes (text) VALUES ('written a moment ago')")
    app.commit()
    try:
        assert Path(f"{database}-wal").stat().st_size > 0
        _, out = back_up(database, backup_dir)
    finally:
        app.close()

    assert note_texts(out["backup"])[-1] == "written a moment ago"


def test_backup_runs_while_the_app_writes_and_leaves_out_what_it_has_not_committed(
        back_up, database, backup_dir, note_texts):
    app = sqlite3.connect(database, isolation_level=None)
    app.execute("BEGIN IMMEDIATE")
    app.execute("INSERT INTO notes (text) VALUES ('not committed')")
    try:
        code, out = back_up(database, backup_dir)
    finally:
        app.execute("ROLLBACK")
        app.close()

    assert code == 0
    assert note_texts(out["backup"]) == ["first note", "second note"]


def test_backup_leaves_the_database_as_it_was(back_up, database, backup_dir, note_texts, journal_mode):
    back_up(database, backup_dir)

    assert (note_texts(database), journal_mode(database)) == (["first note", "second note"], "wal")


def test_no_database_yet_is_no_backup_and_no_failure(back_up, tmp_path, backup_dir):
    code, out = back_up(tmp_path / "data" / "notes.sqlite3", backup_dir)

    assert code == 0
    assert out == {"database": str(tmp_path / "data" / "notes.sqlite3"), "backup": None, "reason": "no database yet"}
    assert list(backup_dir.iterdir()) == []


# --- a copy that fails keeps nothing of it --------------------------------------------------------------


@pytest.mark.parametrize(("damage", "error"), [
    ("cells", r"^integrity check of the copy failed: \*\*\* in database main \*\*\*"),
    ("root", r"^database disk image is malformed$"),
])
def test_corrupt_database_is_not_backed_up(back_up, make_corrupt_db, tmp_path, backup_dir, damage, error):
    database = make_corrupt_db(tmp_path / "data" / "notes.sqlite3", damage)

    code, out = back_up(database, backup_dir)

    assert code == 1
    assert (out["database"], out["backup"]) == (str(database), None)
    assert re.search(error, out["error"])


@pytest.mark.parametrize("damage", ["cells", "root"])
def test_failed_backup_leaves_nothing_in_backup_dir(back_up, make_corrupt_db, tmp_path, backup_dir, damage):
    back_up(make_corrupt_db(tmp_path / "data" / "notes.sqlite3", damage), backup_dir)

    assert list(backup_dir.iterdir()) == []


def test_failed_backup_keeps_every_earlier_backup(back_up, make_corrupt_db, tmp_path, backup_dir):
    earlier = [backup_dir / backup_name("notes", days) for days in (400, 30, 1)]
    for path in earlier:
        path.write_bytes(b"an earlier backup")

    back_up(make_corrupt_db(tmp_path / "data" / "notes.sqlite3", "cells"), backup_dir, keep_days="7")

    assert sorted(backup_dir.iterdir()) == sorted(earlier)


def test_missing_backup_dir_fails_naming_the_database(back_up, database, tmp_path):
    code, out = back_up(database, tmp_path / "no-such-dir")

    assert code == 1
    assert (out["database"], out["backup"]) == (str(database), None)
    assert out["error"]


class FileSystem:
    """What os.statvfs says of a file system of `size` bytes with `free` of them free."""

    def __init__(self, size: int, free: int) -> None:
        self.f_frsize, self.f_blocks, self.f_bavail = 1, size, free


def test_backup_that_would_leave_under_a_tenth_of_the_disk_free_is_not_started(
        back_up, sqlite_backup, database, backup_dir, monkeypatch):
    need = database.stat().st_size
    monkeypatch.setattr(sqlite_backup.os, "statvfs", lambda path: FileSystem(size=100 * need, free=10 * need + need - 1))

    code, out = back_up(database, backup_dir)

    assert code == 1
    assert (out["database"], out["backup"]) == (str(database), None)
    assert out["error"].startswith(f"not enough free space in {backup_dir}: the copy needs up to {need} bytes")
    assert list(backup_dir.iterdir()) == []


def test_backup_that_leaves_a_tenth_of_the_disk_free_is_taken(back_up, sqlite_backup, database, backup_dir, monkeypatch):
    need = database.stat().st_size
    monkeypatch.setattr(sqlite_backup.os, "statvfs", lambda path: FileSystem(size=100 * need, free=10 * need + need))

    code, out = back_up(database, backup_dir)

    assert (code, out["integrity"]) == (0, "ok")


def test_free_space_a_backup_needs_counts_the_databases_wal(sqlite_backup, database, backup_dir, monkeypatch):
    wal = Path(f"{database}-wal")
    wal.write_bytes(b"\0" * 4096)
    need = database.stat().st_size + 4096
    monkeypatch.setattr(sqlite_backup.os, "statvfs", lambda path: FileSystem(size=10 * need, free=need + need - 1))

    assert sqlite_backup.space_problem(database, backup_dir) is not None
    wal.unlink()
    assert sqlite_backup.space_problem(database, backup_dir) is None


def test_leftovers_of_an_interrupted_run_are_removed(back_up, database, backup_dir):
    for leftover in (".notes-20250101T030000Z.sqlite3.partial", ".notes-20250101T030000Z.sqlite3.partial-journal",
                     ".notes-20250101T030000Z.sqlite3.partial-wal", ".notes-20250101T030000Z.sqlite3.partial-shm"):
        (backup_dir / leftover).write_bytes(b"half a copy")

    _, out = back_up(database, backup_dir)

    assert sorted(p.name for p in backup_dir.iterdir()) == [Path(out["backup"]).name]


def test_another_apps_files_in_backup_dir_are_left_alone(back_up, database, backup_dir):
    others = [backup_dir / name for name in (
        ".other-20250101T030000Z.sqlite3.partial", "other-20000101T000000Z.sqlite3", "notes.sqlite3.bak", "README")]
    for path in others:
        path.write_bytes(b"not this backup's")

    _, out = back_up(database, backup_dir, keep_days="1")

    assert sorted(backup_dir.iterdir()) == sorted([*others, Path(out["backup"])])


# --- backups older than KEEP_DAYS go, never the newest ---------------------------------------------------


def test_backups_older_than_keep_days_are_pruned(back_up, database, backup_dir):
    old = [backup_dir / backup_name("notes", days) for days in (30, 8)]
    recent = [backup_dir / backup_name("notes", days) for days in (6, 1)]
    for path in old + recent:
        path.write_bytes(b"an earlier backup")

    _, out = back_up(database, backup_dir, keep_days="7")

    assert sorted(out["pruned"]) == sorted(map(str, old))
    assert sorted(backup_dir.iterdir()) == sorted([*recent, Path(out["backup"])])


@pytest.mark.parametrize(("days_ago", "pruned"), [(7 + 1 / 24, True), (7 - 1 / 24, False)])
def test_keep_days_is_the_age_at_which_a_backup_goes(back_up, database, backup_dir, days_ago, pruned):
    earlier = backup_dir / backup_name("notes", days_ago)
    earlier.write_bytes(b"an earlier backup")

    _, out = back_up(database, backup_dir, keep_days="7")

    assert (out["pruned"] == [str(earlier)], earlier.exists()) == (pruned, not pruned)


def test_newest_backup_is_kept_even_when_older_than_keep_days(back_up, database, backup_dir):
    _, out = back_up(database, backup_dir, keep_days="0")

    assert out["pruned"] == []
    assert Path(out["backup"]).is_file()


def test_pruning_spares_backups_of_an_app_whose_name_begins_alike(back_up, database, backup_dir):
    other = backup_dir / backup_name("notes-v2", 400)
    other.write_bytes(b"notes-v2's backup")

    back_up(database, backup_dir, keep_days="1")

    assert other.is_file()


@pytest.mark.parametrize(("name", "found"), [
    ("notes-20250101T030000Z.sqlite3", True),
    ("notes-20250101T030000Z.sqlite3.partial", False),
    (".notes-20250101T030000Z.sqlite3.partial", False),
    ("notes-v2-20250101T030000Z.sqlite3", False),
    ("notes-2025-01-01.sqlite3", False),
    ("xnotes-20250101T030000Z.sqlite3", False),
    ("notes.sqlite3", False),
])
def test_backups_are_this_apps_files_named_by_a_stamp(sqlite_backup, backup_dir, name, found):
    (backup_dir / name).write_bytes(b"")

    assert [path.name for _, path in sqlite_backup.backups(backup_dir, "notes")] == ([name] if found else [])


def test_backups_are_listed_oldest_first_by_their_stamp(sqlite_backup, backup_dir):
    names = ["notes-20250301T000000Z.sqlite3", "notes-20241231T235959Z.sqlite3", "notes-20250101T000000Z.sqlite3"]
    for name in names:
        (backup_dir / name).write_bytes(b"")

    assert [path.name for _, path in sqlite_backup.backups(backup_dir, "notes")] == sorted(names)


# --- the program, as the backup service runs it -----------------------------------------------------------


def test_program_exits_0_and_prints_the_backup(run_program, database, backup_dir):
    run = run_program("sqlite_backup.py", database, backup_dir, "notes", "14")

    assert run.code == 0
    assert Path(json.loads(run.stdout)["backup"]).is_file()


def test_program_exits_1_when_the_copy_fails_its_check(run_program, make_corrupt_db, tmp_path, backup_dir):
    database = make_corrupt_db(tmp_path / "notes.sqlite3", "cells")

    run = run_program("sqlite_backup.py", database, backup_dir, "notes", "14")

    assert run.code == 1
    assert json.loads(run.stdout)["backup"] is None


@pytest.mark.parametrize("argv", [[], ["db"], ["db", "dir", "notes"], ["db", "dir", "notes", "14", "extra"]])
def test_program_with_wrong_arguments_prints_usage_and_exits_1(run_program, argv):
    run = run_program("sqlite_backup.py", *argv)

    assert run.code == 1
    assert "usage: sqlite_backup.py DATABASE BACKUP_DIR NAME KEEP_DAYS" in run.stderr
