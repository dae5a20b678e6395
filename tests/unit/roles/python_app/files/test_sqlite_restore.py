"""roles/python_app/files/sqlite_restore.py: puts a backup in place of an app's SQLite database.

tasks/restore.yml runs `check STAGED` (exit 3 and a reason on stdout: refused, nothing replaced),
then `swap STAGED DATABASE VASSAL USER` (stdout {"replaced": path or null}) and, when the app then
fails its health check, `undo DATABASE REPLACED VASSAL USER`; tasks/migrate.yml runs `schema
DATABASE USER` before and after a migration and `online DATABASE BACKUP USER` after one that failed
half-way. The databases, vassal files and app processes here are real.

Root: on a host the restore runs as root, gives the copied database to the app's user (fchown) and
drops to that user (setuid) for schema and online. The tests of those steps take the `root`
fixture: they need root, as CI runs them (.ci/run). The others run as any user.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[5] / "roles/python_app/files/sqlite_restore.py"
LIVE = ["live note 1", "live note 2"]
RESTORED = ["restored note"]
REFUSED = 3


@pytest.fixture
def staged(tmp_path, make_notes_db) -> Path:
    """A backup staged where root alone may look: one self-contained file, 0600."""
    path = make_notes_db(tmp_path / "staging" / "notes.sqlite3", RESTORED, wal=False)
    path.chmod(0o600)
    return path


@pytest.fixture
def database(tmp_path, make_notes_db) -> Path:
    """The app's database: WAL, 0600 (not the 0640 a restore gives a new one)."""
    path = make_notes_db(tmp_path / "data" / "notes.sqlite3", LIVE)
    path.chmod(0o600)
    return path


@pytest.fixture
def killed_app_database(tmp_path, make_notes_db) -> Path:
    """The app's database as an app killed mid-flight leaves it: a note committed to its -wal alone."""
    work = make_notes_db(tmp_path / "work" / "notes.sqlite3", LIVE)
    app = sqlite3.connect(work)
    app.execute("PRAGMA synchronous=OFF")
    app.execute("PRAGMA wal_autocheckpoint=0")
    app.execute("INSERT INTO notes (text) VALUES ('only in the wal')")
    app.commit()
    path = tmp_path / "data" / "notes.sqlite3"
    path.parent.mkdir()
    shutil.copy(work, path)
    shutil.copy(f"{work}-wal", f"{path}-wal")
    app.close()
    return path


@pytest.fixture
def vassal(tmp_path) -> Path:
    path = tmp_path / "vassals" / "notes.ini"
    path.parent.mkdir()
    path.write_text("[uwsgi]\nmodule = notes.wsgi:app\n")
    return path


@pytest.fixture
def swapped(sqlite_restore, capsys):
    """swapped(staged, database, vassal, account): runs swap; returns what it printed, as JSON."""

    def run(staged: Path, database: Path, vassal: Path, account) -> dict:
        capsys.readouterr()
        assert sqlite_restore.swap(str(staged), str(database), str(vassal), account.pw_name) == 0
        return json.loads(capsys.readouterr().out)

    return run


def header_journal(path: Path) -> tuple[int, int]:
    """Bytes 18 and 19 of a database's header: (1, 1) rollback journal, (2, 2) WAL."""
    data = path.read_bytes()
    return data[18], data[19]


def user_version(path: Path) -> int:
    with closing(sqlite3.connect(path)) as conn:
        return conn.execute("PRAGMA user_version").fetchone()[0]


def poll(condition, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


# --- check: a staged backup must be a sound SQLite database -----------------------------------------


def test_check_accepts_a_sound_database(sqlite_restore, staged, capsys):
    assert sqlite_restore.check(str(staged)) == 0
    assert capsys.readouterr().out == "ok\n"


NOT_SQLITE = "it is not a SQLite database (its first bytes are not SQLite's header)\n"
FAILS_CHECK = "it fails SQLite's integrity check: "


@pytest.mark.parametrize(("content", "reason"), [
    (b"", NOT_SQLITE),
    (b"id,text\n1,a note exported as CSV\n", NOT_SQLITE),
    (b"SQLite format 2\x00" + b"\x00" * 100, NOT_SQLITE),
    (b"SQLite format 3\x00" + b"\x07" * 200, FAILS_CHECK + "file is not a database\n"),
])
def test_check_refuses_a_file_that_is_not_a_database(sqlite_restore, tmp_path, capsys, content, reason):
    staged = tmp_path / "staged"
    staged.write_bytes(content)

    assert sqlite_restore.check(str(staged)) == REFUSED
    assert capsys.readouterr().out == reason


@pytest.mark.parametrize(("damage", "reason"), [
    ("cells", FAILS_CHECK + "*** in database main *** On tree page"),
    ("root", FAILS_CHECK + "database disk image is malformed"),
])
def test_check_refuses_a_corrupt_database(sqlite_restore, make_corrupt_db, tmp_path, capsys, damage, reason):
    staged = make_corrupt_db(tmp_path / "staged", damage)

    assert sqlite_restore.check(str(staged)) == REFUSED
    assert capsys.readouterr().out.startswith(reason)


def test_check_refuses_a_truncated_database(sqlite_restore, make_notes_db, tmp_path, capsys):
    whole = make_notes_db(tmp_path / "whole", [f"note {i}: " + "x" * 60 for i in range(200)], wal=False)
    staged = tmp_path / "staged"
    staged.write_bytes(whole.read_bytes()[:5000])

    assert sqlite_restore.check(str(staged)) == REFUSED
    assert capsys.readouterr().out.startswith(FAILS_CHECK)


def test_check_says_why_in_one_line(sqlite_restore, make_corrupt_db, tmp_path, capsys):
    sqlite_restore.check(str(make_corrupt_db(tmp_path / "staged", "cells")))

    out = capsys.readouterr().out
    assert out.endswith("\n") and "\n" not in out[:-1]


def test_check_makes_a_wal_database_one_self_contained_file(sqlite_restore, make_notes_db, tmp_path):
    staged = make_notes_db(tmp_path / "staging" / "notes.sqlite3", RESTORED, wal=True)
    assert header_journal(staged) == (2, 2)

    sqlite_restore.check(str(staged))

    assert header_journal(staged) == (1, 1)
    assert sorted(p.name for p in staged.parent.iterdir()) == ["notes.sqlite3"]


def test_check_keeps_the_staged_notes(sqlite_restore, staged, note_texts):
    sqlite_restore.check(str(staged))

    assert note_texts(staged) == RESTORED


def test_check_program_exits_3_with_the_reason_on_stdout(tmp_path):
    staged = tmp_path / "staged"
    staged.write_text("not a database\n")

    run = subprocess.run([sys.executable, str(SCRIPT), "check", str(staged)],
                         capture_output=True, text=True, check=False)

    assert (run.returncode, run.stdout) == (REFUSED, NOT_SQLITE)


def test_check_program_exits_0_for_a_sound_database(run_program, staged):
    run = run_program("sqlite_restore.py", "check", staged)

    assert (run.code, run.stdout) == (0, "ok\n")


@pytest.mark.parametrize("argv", [[], ["restore"], ["check"], ["check", "a", "b"], ["swap", "a", "b", "c"],
                                  ["undo", "a", "b", "c", "d", "e"], ["schema", "db"], ["online", "db", "backup"]])
def test_program_with_wrong_arguments_prints_usage_and_exits_1(run_program, argv):
    run = run_program("sqlite_restore.py", *argv)

    assert run.code == 1
    assert "usage: sqlite_restore.py check STAGED" in run.stderr


# --- the app's processes, and the stop --------------------------------------------------------------


def test_processes_of_finds_this_process(sqlite_restore):
    assert os.getpid() in sqlite_restore.processes_of(os.geteuid())


def test_processes_of_an_account_without_processes_is_empty(sqlite_restore, idle_account):
    assert sqlite_restore.processes_of(idle_account.pw_uid) == []


def test_stopped_takes_the_vassal_out_of_the_emperors_sight_during_the_action(sqlite_restore, vassal, idle_account):
    seen = []

    sqlite_restore.stopped(str(vassal), idle_account.pw_name,
                           lambda uid, gid: seen.append(sorted(p.name for p in vassal.parent.iterdir())))

    assert seen == [["notes.ini.restoring"]]


def test_stopped_brings_the_vassal_back_unchanged(sqlite_restore, vassal, idle_account):
    before = vassal.read_text()

    sqlite_restore.stopped(str(vassal), idle_account.pw_name, lambda uid, gid: None)

    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]
    assert vassal.read_text() == before


def test_stopped_gives_the_action_the_apps_uid_and_gid_and_returns_its_result(sqlite_restore, vassal, idle_account):
    result = sqlite_restore.stopped(str(vassal), idle_account.pw_name, lambda uid, gid: (uid, gid))

    assert result == (idle_account.pw_uid, idle_account.pw_gid)


def test_stopped_brings_the_vassal_back_when_the_action_fails(sqlite_restore, vassal, idle_account):
    def action(uid: int, gid: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(OSError, match="Input/output error"):
        sqlite_restore.stopped(str(vassal), idle_account.pw_name, action)

    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_stopped_outlasts_a_signal_until_the_vassal_is_back(sqlite_restore, vassal, idle_account, signum):
    received = []
    signal.signal(signum, lambda s, frame: received.append(s))  # what runs instead of dying, if not ignored

    def action(uid: int, gid: int) -> str:
        os.kill(os.getpid(), signum)
        return "done"

    assert sqlite_restore.stopped(str(vassal), idle_account.pw_name, action) == "done"
    assert received == []
    assert vassal.is_file()


def test_stopped_gives_up_on_an_app_that_does_not_stop_naming_its_processes(
        sqlite_restore, vassal, this_account, monkeypatch):
    monkeypatch.setattr(sqlite_restore, "STOP_TIMEOUT", 0)
    called = []

    with pytest.raises(RuntimeError, match=rf"the app did not stop within 0 s \(processes \[.*\b{os.getpid()}\b"):
        sqlite_restore.stopped(str(vassal), this_account.pw_name, lambda uid, gid: called.append(uid))

    assert called == []
    assert vassal.is_file()


def test_stopped_for_an_unknown_user_leaves_the_vassal_alone(sqlite_restore, vassal):
    with pytest.raises(KeyError):
        sqlite_restore.stopped(str(vassal), "no-such-user-flask-deploy", lambda uid, gid: None)

    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]


# --- the steps of a swap -------------------------------------------------------------------------------


@pytest.mark.parametrize("beside", [(), ("-wal",), ("-wal", "-shm"), ("-wal", "-shm", "-journal")])
def test_set_aside_moves_the_database_with_its_sqlite_files(sqlite_restore, tmp_path, beside):
    database = tmp_path / "notes.sqlite3"
    for suffix in ("", *beside):
        Path(f"{database}{suffix}").write_text(f"database{suffix}")

    sqlite_restore.set_aside(str(database), str(tmp_path / "aside"))

    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {
        f"aside{suffix}": f"database{suffix}" for suffix in ("", *beside)}


def test_set_aside_leaves_other_files_alone(sqlite_restore, tmp_path):
    database = tmp_path / "notes.sqlite3"
    for name in ("notes.sqlite3", "notes.sqlite3.replaced-20250101T000000Z", "notes.sqlite3-wal.bak", "other.sqlite3"):
        (tmp_path / name).write_text(name)

    sqlite_restore.set_aside(str(database), str(tmp_path / "aside"))

    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "aside", "notes.sqlite3-wal.bak", "notes.sqlite3.replaced-20250101T000000Z", "other.sqlite3"]


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o660])
def test_copy_in_makes_a_copy_with_the_mode_asked_for(sqlite_restore, staged, tmp_path, mode):
    target = tmp_path / "data" / ".notes.sqlite3.restoring"
    target.parent.mkdir()

    sqlite_restore.copy_in(str(staged), str(target), os.geteuid(), os.getegid(), mode)

    assert target.read_bytes() == staged.read_bytes()
    assert stat.S_IMODE(target.stat().st_mode) == mode


def test_copy_in_copies_a_file_larger_than_its_chunk_whole(sqlite_restore, tmp_path):
    source = tmp_path / "big"
    source.write_bytes(os.urandom((1 << 20) * 2 + 12345))

    sqlite_restore.copy_in(str(source), str(tmp_path / "copy"), os.geteuid(), os.getegid(), 0o600)

    assert (tmp_path / "copy").read_bytes() == source.read_bytes()


def test_copy_in_never_writes_through_a_link_left_at_its_target(sqlite_restore, staged, tmp_path):
    victim = tmp_path / "etc-shadow"
    victim.write_text("root:*:19000:0:99999:7:::\n")
    target = tmp_path / ".notes.sqlite3.restoring"
    target.symlink_to(victim)

    sqlite_restore.copy_in(str(staged), str(target), os.geteuid(), os.getegid(), 0o600)

    assert victim.read_text() == "root:*:19000:0:99999:7:::\n"
    assert not target.is_symlink()
    assert target.read_bytes() == staged.read_bytes()


def test_copy_in_replaces_a_leftover_of_an_interrupted_restore(sqlite_restore, staged, tmp_path):
    target = tmp_path / ".notes.sqlite3.restoring"
    target.write_bytes(b"half a copy")

    sqlite_restore.copy_in(str(staged), str(target), os.geteuid(), os.getegid(), 0o600)

    assert target.read_bytes() == staged.read_bytes()


# --- swap ---------------------------------------------------------------------------------------------------


def test_swap_puts_the_staged_backup_in_place(root, swapped, staged, database, vassal, idle_account, note_texts):
    swapped(staged, database, vassal, idle_account)

    assert note_texts(database) == RESTORED


def test_swap_prints_where_the_replaced_database_is(root, swapped, staged, database, vassal, idle_account, note_texts):
    out = swapped(staged, database, vassal, idle_account)

    assert out["replaced"].startswith(f"{database}.replaced-")
    assert note_texts(out["replaced"]) == LIVE


def test_swap_gives_the_database_to_the_apps_user(root, swapped, staged, database, vassal, idle_account):
    swapped(staged, database, vassal, idle_account)

    assert (database.stat().st_uid, database.stat().st_gid) == (idle_account.pw_uid, idle_account.pw_gid)


def test_swap_keeps_the_databases_mode(root, swapped, staged, database, vassal, idle_account):
    swapped(staged, database, vassal, idle_account)

    assert stat.S_IMODE(database.stat().st_mode) == 0o600


def test_swap_takes_the_old_databases_wal_aside_with_it(
        root, swapped, staged, killed_app_database, vassal, idle_account, note_texts):
    out = swapped(staged, killed_app_database, vassal, idle_account)

    assert Path(f"{out['replaced']}-wal").is_file()
    assert note_texts(out["replaced"]) == [*LIVE, "only in the wal"]
    assert note_texts(killed_app_database) == RESTORED


def test_swap_without_a_database_replaces_nothing(root, swapped, staged, tmp_path, vassal, idle_account, note_texts):
    database = tmp_path / "data" / "notes.sqlite3"
    database.parent.mkdir()

    assert swapped(staged, database, vassal, idle_account) == {"replaced": None}
    assert note_texts(database) == RESTORED


def test_swap_without_a_database_makes_it_0640(root, swapped, staged, tmp_path, vassal, idle_account):
    database = tmp_path / "data" / "notes.sqlite3"
    database.parent.mkdir()

    swapped(staged, database, vassal, idle_account)

    assert stat.S_IMODE(database.stat().st_mode) == 0o640


def test_swap_removes_the_staged_file(root, swapped, staged, database, vassal, idle_account):
    swapped(staged, database, vassal, idle_account)

    assert not staged.exists()


def test_swap_leaves_no_copy_in_progress(root, swapped, staged, database, vassal, idle_account):
    out = swapped(staged, database, vassal, idle_account)

    assert sorted(p.name for p in database.parent.iterdir()) == sorted([database.name, Path(out["replaced"]).name])


def test_swap_brings_the_vassal_back(root, swapped, staged, database, vassal, idle_account):
    swapped(staged, database, vassal, idle_account)

    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]


def test_swap_replaces_the_database_only_once_the_app_has_stopped(
        root, swapped, staged, database, vassal, idle_account, note_texts):
    """The emperor here is a thread: it stops the app (a process of the app's user) once the vassal
    file is gone, and notes which database was in place at that moment."""
    app = subprocess.Popen([shutil.which("sleep"), "60"], user=idle_account.pw_uid, group=idle_account.pw_gid,
                           extra_groups=[])
    seen = {}

    def emperor() -> None:
        if poll(lambda: not vassal.exists()):
            seen["inode when the app stopped"] = database.stat().st_ino
        app.terminate()
        app.wait()

    original = database.stat().st_ino
    thread = threading.Thread(target=emperor)
    thread.start()
    try:
        swapped(staged, database, vassal, idle_account)
    finally:
        app.kill()
        thread.join()

    assert seen == {"inode when the app stopped": original}
    assert app.returncode == -signal.SIGTERM
    assert note_texts(database) == RESTORED


def test_swap_with_the_staged_file_gone_changes_nothing(sqlite_restore, staged, database, vassal, idle_account,
                                                        note_texts):
    staged.unlink()

    with pytest.raises(FileNotFoundError):
        sqlite_restore.swap(str(staged), str(database), str(vassal), idle_account.pw_name)

    assert note_texts(database) == LIVE
    assert not list(database.parent.glob("notes.sqlite3.replaced-*"))
    assert vassal.is_file()


def test_swap_when_the_app_does_not_stop_changes_nothing(sqlite_restore, staged, database, vassal, this_account,
                                                         note_texts, monkeypatch, capsys):
    monkeypatch.setattr(sqlite_restore, "STOP_TIMEOUT", 0)

    with pytest.raises(RuntimeError, match="the app did not stop"):
        sqlite_restore.swap(str(staged), str(database), str(vassal), this_account.pw_name)

    assert capsys.readouterr().out == ""  # restore.yml: "Nothing was replaced."
    assert sorted(p.name for p in database.parent.iterdir()) == ["notes.sqlite3"]
    assert (note_texts(database), note_texts(staged)) == (LIVE, RESTORED)
    assert vassal.is_file()


def test_swap_puts_the_database_back_when_the_swap_cannot_be_made_durable(
        root, sqlite_restore, staged, killed_app_database, vassal, idle_account, note_texts, monkeypatch, capsys):
    """The one injected fault: a failing fsync of the directory cannot be had from a healthy disk."""
    def failing_sync(path: str) -> None:
        raise OSError(errno.EIO, "Input/output error", os.path.dirname(path))

    monkeypatch.setattr(sqlite_restore, "sync_dir", failing_sync)

    with pytest.raises(OSError, match="Input/output error"):
        sqlite_restore.swap(str(staged), str(killed_app_database), str(vassal), idle_account.pw_name)

    assert capsys.readouterr().out == ""
    assert note_texts(killed_app_database) == [*LIVE, "only in the wal"]
    assert sorted(p.name for p in killed_app_database.parent.iterdir() if not p.name.endswith("-shm")) == [
        "notes.sqlite3", "notes.sqlite3-wal"]
    assert vassal.is_file()


def test_swap_that_cannot_set_the_wal_aside_puts_the_database_back(
        root, sqlite_restore, staged, killed_app_database, vassal, idle_account, note_texts, capsys, monkeypatch):
    # A directory where the -wal would go aside: the database is renamed first, its -wal cannot be.
    (killed_app_database.parent / "notes.sqlite3.replaced-STAMP-wal").mkdir()

    class Stamped(sqlite_restore.datetime):
        def strftime(self, fmt: str) -> str:
            return "STAMP"

    monkeypatch.setattr(sqlite_restore, "datetime", Stamped)

    with pytest.raises(OSError):
        sqlite_restore.swap(str(staged), str(killed_app_database), str(vassal), idle_account.pw_name)

    assert capsys.readouterr().out == ""  # restore.yml: "Nothing was replaced." and it is so
    assert note_texts(killed_app_database) == [*LIVE, "only in the wal"]
    assert (killed_app_database.parent / "notes.sqlite3-wal").is_file()
    assert not (killed_app_database.parent / "notes.sqlite3.replaced-STAMP").exists()
    assert vassal.is_file()


def test_swap_through_a_link_keeps_the_mode_of_the_file_it_points_at(
        root, swapped, staged, database, vassal, idle_account):
    real = database.with_name("real.sqlite3")
    database.rename(real)
    database.symlink_to(real.name)

    swapped(staged, database, vassal, idle_account)

    assert stat.S_IMODE(database.lstat().st_mode) == 0o600


# --- undo ---------------------------------------------------------------------------------------------------


@pytest.fixture
def restored(tmp_path, make_notes_db, database) -> Path:
    """What a swap leaves: DATABASE is the restored backup, REPLACED the database it had."""
    replaced = Path(f"{database}.replaced-20250101T030000Z")
    database.rename(replaced)
    make_notes_db(database, RESTORED)
    return replaced


def test_undo_puts_the_replaced_database_back(sqlite_restore, restored, database, vassal, idle_account, note_texts):
    assert sqlite_restore.undo(str(database), str(restored), str(vassal), idle_account.pw_name) == 0

    assert note_texts(database) == LIVE
    assert not restored.exists()


def test_undo_prints_what_it_put_back(sqlite_restore, restored, database, vassal, idle_account, capsys):
    sqlite_restore.undo(str(database), str(restored), str(vassal), idle_account.pw_name)

    assert json.loads(capsys.readouterr().out) == {"restored": str(database), "from": str(restored)}


def test_undo_drops_the_failed_databases_wal_and_shm(sqlite_restore, restored, database, vassal, idle_account):
    for suffix in ("-wal", "-shm", "-journal"):
        Path(f"{database}{suffix}").write_bytes(b"of the restored database")

    sqlite_restore.undo(str(database), str(restored), str(vassal), idle_account.pw_name)

    assert sorted(p.name for p in database.parent.iterdir()) == ["notes.sqlite3"]


def test_undo_brings_the_replaced_databases_wal_back_with_it(sqlite_restore, restored, database, vassal,
                                                             idle_account):
    Path(f"{restored}-wal").write_bytes(b"the replaced database's wal")

    sqlite_restore.undo(str(database), str(restored), str(vassal), idle_account.pw_name)

    assert Path(f"{database}-wal").read_bytes() == b"the replaced database's wal"


def test_undo_brings_the_vassal_back(sqlite_restore, restored, database, vassal, idle_account):
    sqlite_restore.undo(str(database), str(restored), str(vassal), idle_account.pw_name)

    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]


def test_undo_without_the_replaced_file_exits_1_naming_it(sqlite_restore, database, vassal, idle_account, capsys,
                                                          note_texts):
    missing = f"{database}.replaced-20250101T030000Z"

    assert sqlite_restore.undo(str(database), missing, str(vassal), idle_account.pw_name) == 1

    assert capsys.readouterr().out == f"{missing} is not there to put back\n"
    assert note_texts(database) == LIVE
    assert sorted(p.name for p in vassal.parent.iterdir()) == ["notes.ini"]


def test_undo_program_exits_0_and_prints_json(run_program, restored, database, vassal, idle_account):
    run = run_program("sqlite_restore.py", "undo", database, restored, vassal, idle_account.pw_name)

    assert run.code == 0
    assert json.loads(run.stdout) == {"restored": str(database), "from": str(restored)}


# --- schema and online, as the app's user --------------------------------------------------------------------


@pytest.fixture
def schema_of(root, sqlite_restore, this_account, capsys):
    """schema_of(database): what `schema DATABASE root` prints, as JSON (root drops to root: this
    process stays what it was; a drop to another user is tested in a process of its own)."""

    def run(database: Path):
        capsys.readouterr()
        assert sqlite_restore.schema(str(database), this_account.pw_name) == 0
        return json.loads(capsys.readouterr().out)

    return run


def test_schema_prints_the_schema_version_and_sql(schema_of, database):
    out = schema_of(database)

    assert out["version"] == 2
    assert [sql.split("(")[0].strip() for sql in out["sql"]] == [
        "CREATE TABLE notes", "CREATE TABLE sqlite_sequence"]


def test_schema_of_no_database_is_null(schema_of, tmp_path):
    assert schema_of(tmp_path / "data" / "notes.sqlite3") is None


def test_schema_is_the_same_whatever_the_notes(schema_of, database, make_notes_db, tmp_path):
    other = make_notes_db(tmp_path / "other" / "notes.sqlite3", ["a", "b", "c", "d"])

    assert schema_of(database) == schema_of(other)


@pytest.mark.parametrize("migration", [
    "CREATE INDEX notes_created ON notes (created)",
    "ALTER TABLE notes ADD COLUMN tags TEXT",
    "PRAGMA user_version = 3",
])
def test_schema_tells_a_migrated_database_apart(schema_of, database, migration):
    before = schema_of(database)
    with closing(sqlite3.connect(database)) as conn:
        conn.execute(migration)
        conn.commit()

    assert schema_of(database) != before


def test_schema_is_the_same_whatever_order_it_was_made_in(schema_of, make_notes_db, tmp_path):
    statements = ["CREATE TABLE tags (note INTEGER, tag TEXT)", "CREATE INDEX notes_created ON notes (created)"]
    databases = []
    for name, order in (("a", statements), ("b", statements[::-1])):
        database = make_notes_db(tmp_path / name / "notes.sqlite3")
        with closing(sqlite3.connect(database)) as conn:
            for sql in order:
                conn.execute(sql)
            conn.commit()
        databases.append(database)

    assert schema_of(databases[0]) == schema_of(databases[1])


def test_schema_leaves_the_notes_as_they_were(schema_of, database, note_texts):
    schema_of(database)

    assert note_texts(database) == LIVE


@pytest.fixture
def half_migrated(database) -> Path:
    """The database after a migration that committed half-way: a new table, a new version, a note."""
    with closing(sqlite3.connect(database)) as conn:
        conn.execute("CREATE TABLE tags (note INTEGER, tag TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('written after the backup')")
        conn.execute("PRAGMA user_version = 3")
        conn.commit()
    return database


@pytest.fixture
def backup_before(tmp_path, make_notes_db) -> Path:
    return make_notes_db(tmp_path / "backups" / "notes-20250101T030000Z.sqlite3", LIVE, wal=False)


def test_online_makes_the_database_the_backup_again(root, sqlite_restore, half_migrated, backup_before,
                                                    this_account, note_texts):
    assert sqlite_restore.online(str(half_migrated), str(backup_before), this_account.pw_name) == 0

    assert note_texts(half_migrated) == LIVE
    assert user_version(half_migrated) == 2
    with closing(sqlite3.connect(half_migrated)) as conn:
        assert conn.execute("SELECT name FROM sqlite_master WHERE name = 'tags'").fetchall() == []


def test_online_reaches_the_running_apps_open_connection(root, sqlite_restore, half_migrated, backup_before,
                                                         this_account):
    app = sqlite3.connect(half_migrated)
    try:
        assert app.execute("SELECT count(*) FROM notes").fetchone()[0] == 3

        sqlite_restore.online(str(half_migrated), str(backup_before), this_account.pw_name)

        assert [row[0] for row in app.execute("SELECT text FROM notes ORDER BY id")] == LIVE
    finally:
        app.close()


def test_online_leaves_the_backup_untouched(root, sqlite_restore, half_migrated, backup_before, this_account):
    before = backup_before.read_bytes()

    sqlite_restore.online(str(half_migrated), str(backup_before), this_account.pw_name)

    assert backup_before.read_bytes() == before


def test_online_prints_what_it_restored_from(root, sqlite_restore, half_migrated, backup_before, this_account,
                                             capsys):
    sqlite_restore.online(str(half_migrated), str(backup_before), this_account.pw_name)

    assert json.loads(capsys.readouterr().out) == {"restored": str(half_migrated), "from": str(backup_before)}


def test_drop_to_an_unknown_user_changes_nothing(sqlite_restore):
    uid, groups = os.geteuid(), os.getgroups()

    with pytest.raises(KeyError):
        sqlite_restore.drop_to("no-such-user-flask-deploy")

    assert (os.geteuid(), os.getgroups()) == (uid, groups)


@pytest.fixture
def shared_dir(root, make_notes_db, idle_account):
    """A directory the app's user may write in (tmp_path's parents are root's alone)."""
    path = Path(tempfile.mkdtemp(prefix="flask-deploy-restore-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def test_online_program_works_as_the_apps_user(shared_dir, make_notes_db, idle_account, note_texts):
    backup = make_notes_db(shared_dir / "backup.sqlite3", LIVE, wal=False)
    backup.chmod(0o644)
    database = shared_dir / "notes.sqlite3"

    run = subprocess.run([sys.executable, str(SCRIPT), "online", str(database), str(backup), idle_account.pw_name],
                         capture_output=True, text=True, check=False)

    assert run.returncode == 0, run.stderr
    assert (database.stat().st_uid, database.stat().st_gid) == (idle_account.pw_uid, idle_account.pw_gid)
    assert note_texts(database) == LIVE


def test_schema_program_reads_as_the_apps_user(shared_dir, make_notes_db, idle_account):
    database = make_notes_db(shared_dir / "notes.sqlite3", LIVE)
    database.chmod(0o600)  # root's: the app's user may not read it

    run = subprocess.run([sys.executable, str(SCRIPT), "schema", str(database), idle_account.pw_name],
                         capture_output=True, text=True, check=False)

    assert run.returncode == 1
    assert "unable to open database file" in run.stderr
