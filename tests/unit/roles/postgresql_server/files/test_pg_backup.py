"""roles/postgresql_server/files/pg_backup.py: the apps' PostgreSQL databases backed up, each proven by a restore.

The backup service runs `pg_backup.py BACKUP_DIR KEEP_DAYS DATABASE...` as postgres (UMask=0077)
and reads one JSON line per database: "backup" is the new dump's path, or null with an "error".
The server, its databases (the bundled app's schema) and the dumps here are real.
"""

from __future__ import annotations

import io
import json
import os
import re
import stat
import subprocess
from contextlib import redirect_stdout
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

STAMP = "%Y%m%dT%H%M%SZ"


@pytest.fixture
def backup_dir(tmp_path) -> Path:
    directory = tmp_path / "backups"
    directory.mkdir(mode=0o700)
    return directory


@pytest.fixture
def database(pg) -> str:
    return pg.notes(pg.name("notes"), ["first note", "second note"])


@pytest.fixture
def back_up(pg_backup, capsys):
    """back_up(backup_dir, keep_days, *databases): main's exit status and its JSON lines."""

    def run(backup_dir: Path, keep_days: str, *databases: str) -> tuple[int, list[dict]]:
        capsys.readouterr()
        code = pg_backup.main(str(backup_dir), keep_days, *databases)
        return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    return run


@pytest.fixture
def back_up_one(back_up):
    """back_up_one(backup_dir, database, keep_days='14'): main's exit status and its one JSON line."""

    def run(backup_dir: Path, database: str, keep_days: str = "14") -> tuple[int, dict]:
        code, lines = back_up(backup_dir, keep_days, database)
        assert len(lines) == 1, lines
        return code, lines[0]

    return run


def backup_name(database: str, days_ago: float) -> str:
    return f"{database}-{(datetime.now(timezone.utc) - timedelta(days=days_ago)).strftime(STAMP)}.dump"


def restore_into(pg, path: Path, database: str) -> str:
    """A dump restored by hand into a new database, as an operator would to look into it."""
    pg.psql(f'CREATE DATABASE "{database}" TEMPLATE template0')
    proc = subprocess.run(["pg_restore", "--exit-on-error", "--no-owner", "--dbname", database, str(path)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return database


def unrestorable(pg, name: str) -> str:
    """A database that pg_dump dumps but whose dump does not restore, as happens: a CHECK constraint
    calls a function that reads another table by an unqualified name, which the empty search_path
    of a restore does not find when the rows are loaded."""
    pg.psql(f'CREATE DATABASE "{name}" TEMPLATE template0')
    pg.script(["CREATE TABLE limits (n int);",
               "INSERT INTO limits VALUES (10);",
               "CREATE FUNCTION under_limit(v int) RETURNS bool LANGUAGE sql AS 'SELECT v < (SELECT n FROM limits)';",
               "CREATE TABLE notes (v int CHECK (under_limit(v)));",
               "INSERT INTO notes VALUES (1);"], name)
    return name


# --- a backup: one run of the service, looked at from each side ------------------------------------------------


@dataclass
class ServiceRun:
    pg: Any  # conftest.py's Postgres, of this run's own token
    database: str
    backup_dir: Path
    code: int
    out: dict
    started: datetime


@pytest.fixture(scope="module")
def service_run(new_pg, load_program, tmp_path_factory) -> ServiceRun:
    """A database of two notes backed up once by main, as the backup service runs it, but in a
    process whose umask lets everyone read and write (main sets its own)."""
    pg = new_pg()
    database = pg.notes(pg.name("notes"), ["first note", "second note"])
    backup_dir = tmp_path_factory.mktemp("service-run") / "backups"
    backup_dir.mkdir(mode=0o700)
    pg_backup = load_program("pg_backup.py")
    started = datetime.now(timezone.utc).replace(microsecond=0)
    umask = os.umask(0o000)
    try:
        with redirect_stdout(io.StringIO()) as stdout:
            code = pg_backup.main(str(backup_dir), "14", database)
    finally:
        os.umask(umask)
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1, lines
    return ServiceRun(pg, database, backup_dir, code, json.loads(lines[0]), started)


def test_backup_is_named_by_the_database_and_the_utc_time_in_backup_dir(service_run):
    assert service_run.code == 0
    backup = Path(service_run.out["backup"])
    assert backup.parent == service_run.backup_dir
    made = datetime.strptime(re.fullmatch(rf"{service_run.database}-(\d{{8}}T\d{{6}}Z)\.dump", backup.name)[1], STAMP)
    assert service_run.started <= made.replace(tzinfo=timezone.utc) <= datetime.now(timezone.utc)


def test_backup_was_restored_once_and_reports_the_rows_of_each_table(service_run):
    assert service_run.out["restored"] == {"notes": 2, "notes_schema": 1}


def test_backup_reports_its_database_size_and_time(service_run):
    out = service_run.out

    assert (out["database"], out["bytes"], out["pruned"]) == (
        service_run.database, Path(out["backup"]).stat().st_size, [])
    assert 0 < out["seconds"] < 60


def test_backup_holds_the_databases_rows(service_run, pg):
    copy = restore_into(pg, Path(service_run.out["backup"]), pg.name("copy"))

    assert pg.note_texts(copy) == ["first note", "second note"]
    assert pg.value("SELECT version FROM notes_schema", copy) == "2"


def test_backup_is_a_dump_in_pg_dumps_custom_format(service_run):
    assert Path(service_run.out["backup"]).read_bytes()[:5] == b"PGDMP"


def test_backup_is_readable_by_its_owner_alone_whatever_the_umask(service_run):
    assert stat.S_IMODE(os.stat(service_run.out["backup"]).st_mode) == 0o600


def test_backup_leaves_its_dump_alone_in_backup_dir(service_run):
    assert [p.name for p in service_run.backup_dir.iterdir()] == [Path(service_run.out["backup"]).name]


def test_scratch_database_is_gone_after_a_backup(service_run):
    assert service_run.pg.databases() == [service_run.database]


def test_backup_leaves_the_database_as_it_was(service_run):
    assert service_run.pg.note_texts(service_run.database) == ["first note", "second note"]
    assert service_run.pg.allows_connections(service_run.database)


# --- a backup, in other cases ----------------------------------------------------------------------------------


def test_notes_written_after_the_dump_are_not_in_it(back_up_one, database, backup_dir, pg):
    _, out = back_up_one(backup_dir, database)
    pg.psql("INSERT INTO notes (text) VALUES ('written after the backup')", database)

    copy = restore_into(pg, Path(out["backup"]), pg.name("copy"))
    assert pg.note_texts(copy) == ["first note", "second note"]


def test_backup_of_a_database_without_tables_restores_to_none(back_up_one, pg, backup_dir):
    database = pg.name("empty")
    pg.psql(f'CREATE DATABASE "{database}" TEMPLATE template0')

    code, out = back_up_one(backup_dir, database)

    assert (code, out["restored"]) == (0, {})
    assert Path(out["backup"]).is_file()


def test_scratch_database_left_by_an_interrupted_run_is_replaced(back_up_one, database, backup_dir, pg):
    scratch = f"{database}__verify"
    pg.psql(f'CREATE DATABASE "{scratch}"')
    pg.psql("CREATE TABLE left_over (n int)", scratch)

    code, out = back_up_one(backup_dir, database)

    assert (code, out["restored"]) == (0, {"notes": 2, "notes_schema": 1})
    assert pg.databases() == [database]


def test_scratch_database_of_a_long_name_stays_within_postgresqls_63_bytes(pg_backup):
    assert pg_backup.scratch_name("n" * 63) == "n" * 50 + "__verify"


def test_leftover_partial_of_an_interrupted_run_is_removed(back_up_one, database, backup_dir):
    (backup_dir / f".{database}-20250101T030000Z.dump.partial").write_bytes(b"half a dump")

    _, out = back_up_one(backup_dir, database)

    assert [p.name for p in backup_dir.iterdir()] == [Path(out["backup"]).name]


def test_another_databases_files_in_backup_dir_are_left_alone(back_up_one, database, backup_dir):
    others = [backup_dir / name for name in (
        ".other-20250101T030000Z.dump.partial", "other-20000101T000000Z.dump", f"{database}.dump.bak", "README",
        # a database whose name begins alike: neither its partial nor its old backups are this one's
        f".{database}_v2-20250101T030000Z.dump.partial", f"{database}_v2-20000101T000000Z.dump")]
    for path in others:
        path.write_bytes(b"not this backup's")

    _, out = back_up_one(backup_dir, database, keep_days="1")

    assert sorted(backup_dir.iterdir()) == sorted([*others, Path(out["backup"])])


# --- a backup that fails keeps nothing of it ----------------------------------------------------------------


@dataclass
class FailedRun:
    pg: Any  # conftest.py's Postgres, of this run's own token
    database: str
    backup_dir: Path
    earlier: list[Path]
    code: int
    out: dict


@pytest.fixture(scope="module")
def unrestorable_run(new_pg, load_program, tmp_path_factory) -> FailedRun:
    """A backup whose dump does not restore (see `unrestorable`), in a directory that holds the
    database's earlier backups, some older than KEEP_DAYS."""
    pg = new_pg()
    database = unrestorable(pg, pg.name("broken"))
    backup_dir = tmp_path_factory.mktemp("unrestorable-run") / "backups"
    backup_dir.mkdir(mode=0o700)
    earlier = [backup_dir / backup_name(database, days) for days in (400, 30, 1)]
    for path in earlier:
        path.write_bytes(b"an earlier backup")
    with redirect_stdout(io.StringIO()) as stdout:
        code = load_program("pg_backup.py").main(str(backup_dir), "7", database)
    return FailedRun(pg, database, backup_dir, earlier, code, json.loads(stdout.getvalue()))


def test_dump_that_does_not_restore_is_no_backup_and_an_error(unrestorable_run):
    assert (unrestorable_run.code, unrestorable_run.out["backup"]) == (1, None)
    error = unrestorable_run.out["error"]
    assert error.startswith("pg_restore: ") and 'relation "limits" does not exist' in error


def test_dump_that_does_not_restore_is_not_kept_nor_are_earlier_backups_pruned(unrestorable_run):
    assert sorted(unrestorable_run.backup_dir.iterdir()) == sorted(unrestorable_run.earlier)


def test_scratch_database_is_gone_after_a_failed_restore_of_it(unrestorable_run):
    assert unrestorable_run.pg.databases() == [unrestorable_run.database]


def test_database_that_does_not_exist_is_no_backup_and_an_error(back_up_one, pg, backup_dir):
    missing = pg.name("missing")

    code, out = back_up_one(backup_dir, missing)

    assert code == 1
    assert (out["database"], out["backup"]) == (missing, None)
    assert out["error"].startswith("pg_dump: ") and f'database "{missing}" does not exist' in out["error"]


def test_database_that_does_not_exist_leaves_no_partial_file(back_up_one, pg, backup_dir):
    back_up_one(backup_dir, pg.name("missing"))

    assert list(backup_dir.iterdir()) == []


def test_missing_backup_dir_fails_naming_the_database(back_up_one, database, tmp_path):
    code, out = back_up_one(tmp_path / "no-such-dir", database)

    assert code == 1
    assert (out["database"], out["backup"]) == (database, None)
    assert out["error"].startswith("pg_dump: ")


def test_every_database_is_backed_up_though_one_fails_and_the_run_fails(back_up, pg, backup_dir):
    first, second = pg.notes(pg.name("first")), pg.notes(pg.name("second"), ["only note"])
    missing = pg.name("missing")

    code, lines = back_up(backup_dir, "14", first, missing, second)

    assert code == 1
    assert [(line["database"], line["backup"] is None) for line in lines] == [
        (first, False), (missing, True), (second, False)]
    assert lines[2]["restored"] == {"notes": 1, "notes_schema": 1}
    assert sorted(p.name for p in backup_dir.iterdir()) == sorted(Path(lines[i]["backup"]).name for i in (0, 2))


# --- backups older than KEEP_DAYS go, never the newest ------------------------------------------------------


def test_backups_older_than_keep_days_are_pruned(back_up_one, database, backup_dir):
    old = [backup_dir / backup_name(database, days) for days in (400, 30, 7 + 1 / 24)]
    recent = [backup_dir / backup_name(database, days) for days in (7 - 1 / 24, 1)]
    for path in old + recent:
        path.write_bytes(b"an earlier backup")

    _, out = back_up_one(backup_dir, database, keep_days="7")

    assert sorted(out["pruned"]) == sorted(map(str, old))
    assert sorted(backup_dir.iterdir()) == sorted([*recent, Path(out["backup"])])


def test_newest_backup_is_kept_even_when_older_than_keep_days(pg_backup, database, backup_dir):
    earlier = backup_dir / backup_name(database, 1)
    earlier.write_bytes(b"an earlier backup")
    now = datetime.now(timezone.utc).replace(microsecond=500_000)  # its stamp, to the second, is half a second older

    out = pg_backup.back_up(backup_dir, database, 0, now)

    assert out["pruned"] == [str(earlier)]
    assert [p.name for p in backup_dir.iterdir()] == [Path(out["backup"]).name]


def test_failed_backup_prunes_nothing(back_up_one, pg, backup_dir):
    earlier = backup_dir / backup_name(pg.name("missing"), 30)
    earlier.write_bytes(b"an earlier backup")

    back_up_one(backup_dir, pg.name("missing"), keep_days="1")

    assert earlier.is_file()


@pytest.mark.parametrize(("name", "found"), [
    ("notes-20250101T030000Z.dump", True),
    (".notes-20250101T030000Z.dump.partial", False),
    ("notes-20250101T030000Z.dump.partial", False),
    ("notes_v2-20250101T030000Z.dump", False),
    ("notes-2025-01-01.dump", False),
    ("xnotes-20250101T030000Z.dump", False),
    ("notes-20250101T030000Z.sqlite3", False),
])
def test_backups_are_this_databases_files_named_by_a_stamp(pg_backup, backup_dir, name, found):
    (backup_dir / name).write_bytes(b"")

    assert [path.name for _, path in pg_backup.backups(backup_dir, "notes")] == ([name] if found else [])


def test_backups_are_listed_oldest_first_by_their_stamp(pg_backup, backup_dir):
    names = ["notes-20250301T000000Z.dump", "notes-20241231T235959Z.dump", "notes-20250101T000000Z.dump"]
    for name in names:
        (backup_dir / name).write_bytes(b"")

    assert [path.name for _, path in pg_backup.backups(backup_dir, "notes")] == sorted(names)


# --- the program, as the backup service runs it ---------------------------------------------------------------


def test_program_exits_0_and_prints_the_backup(run_program, database, backup_dir):
    run = run_program("pg_backup.py", backup_dir, "14", database)

    assert run.code == 0
    assert Path(json.loads(run.stdout)["backup"]).is_file()


def test_program_exits_1_when_a_backup_fails(run_program, pg, backup_dir):
    run = run_program("pg_backup.py", backup_dir, "14", pg.name("missing"))

    assert run.code == 1
    assert json.loads(run.stdout)["backup"] is None


@pytest.mark.parametrize("argv", [[], ["/var/backups/postgresql"], ["/var/backups/postgresql", "14"]])
def test_program_with_too_few_arguments_prints_usage_and_exits_1(run_program, argv):
    run = run_program("pg_backup.py", *argv)

    assert run.code == 1
    assert "usage: pg_backup.py BACKUP_DIR KEEP_DAYS DATABASE..." in run.stderr
    assert run.stdout == ""


def test_a_server_that_is_no_standby_backs_up(pg_backup, pg):
    assert pg_backup.is_standby() is False
