"""roles/postgresql_server/files/pg_backup.py: the apps' PostgreSQL databases backed up, each proven by a restore.

The backup service runs `pg_backup.py BACKUP_DIR KEEP_DAYS DATABASE...` as postgres (UMask=0077)
and reads one JSON line per database: "backup" is the new dump's path, or null with an "error".
The server, its databases (the bundled app's schema) and the dumps here are real.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
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
    assert "usage: pg_backup.py [--cluster PATRONI_URL MEMBER] BACKUP_DIR KEEP_DAYS DATABASE..." in run.stderr
    assert run.stdout == ""


def test_a_server_that_is_no_standby_is_known_as_none(pg_backup, pg):
    assert pg_backup.is_standby() is False


def test_program_fails_naming_the_url_when_patroni_does_not_answer(run_program, database, backup_dir):
    with socket.socket() as closed:  # a port of 127.0.0.1 that nothing listens on
        closed.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{closed.getsockname()[1]}"

    run = run_program("pg_backup.py", "--cluster", url, "db2", backup_dir, "14", database)

    assert run.code == 1
    out = json.loads(run.stdout)
    assert out["backup"] is None and out["error"].startswith(f"the cluster's members, from {url}: ")
    assert list(backup_dir.iterdir()) == []


# --- which member of a cluster backs up (Patroni's GET /cluster members) ----------------------------------------


def member(name: str, role: str, state: str = "streaming", lag: object = 0) -> dict[str, object]:
    return {"name": name, "role": role, "state": state, "lag": lag}


LEADER = member("db1", "leader", "running")


@pytest.mark.parametrize(("members", "chosen", "why"), [
    ([LEADER, member("db2", "sync_standby"), member("db3", "replica")], "db2", "the synchronous standby"),
    ([member("db3", "replica"), member("db2", "sync_standby"), LEADER], "db2", "the synchronous standby"),
    ([LEADER, member("db3", "sync_standby"), member("db2", "sync_standby")], "db2", "the synchronous standby"),
    ([LEADER, member("db2", "sync_standby", "starting"), member("db3", "replica", lag=70)], "db3",
     "a streaming replica (no synchronous standby streams)"),
    ([LEADER, member("db2", "replica", lag=900), member("db3", "replica", lag=70)], "db3",
     "a streaming replica (no synchronous standby streams)"),
    ([LEADER, member("db2", "replica", lag="unknown"), member("db3", "replica", lag=70)], "db3",
     "a streaming replica (no synchronous standby streams)"),
    ([LEADER, member("db3", "replica"), member("db2", "replica")], "db2",
     "a streaming replica (no synchronous standby streams)"),
    ([LEADER, member("db2", "replica", "stopped"), member("db3", "sync_standby", "starting")], "db1",
     "the leader: no replica streams (fallback)"),
    ([LEADER], "db1", "the leader: no replica streams (fallback)"),
    ([member("db1", "leader", "stopped"), member("db2", "replica", "stopped")], "", "no member runs"),
    ([], "", "no member runs"),
])
def test_the_member_that_backs_up_is_a_streaming_standby_in_sync_else_a_replica_else_the_leader(
        pg_backup, members, chosen, why):
    assert pg_backup.backer(members) == (chosen, why)


def test_every_member_chooses_the_same_one_whatever_the_order_patroni_lists_them_in(pg_backup):
    members = [LEADER, member("db2", "replica", lag=5), member("db3", "replica", lag=5)]

    assert {pg_backup.backer(order)[0] for order in (members, members[::-1], members[1:] + members[:1])} == {"db2"}


def test_a_member_that_is_not_chosen_backs_up_nothing_and_says_who_does(back_up_one, pg_backup, database, backup_dir,
                                                                          capsys):
    members = [LEADER, member("db2", "sync_standby"), member("db3", "replica")]

    code = pg_backup.main(str(backup_dir), "14", database, members=members, me="db3")

    assert code == 0
    assert json.loads(capsys.readouterr().out) == {
        "skipped": "db2 backs up (the synchronous standby)", "member": "db3", "role": "replica", "backed_up_by": "db2"}
    assert list(backup_dir.iterdir()) == []


def test_a_cluster_where_no_member_may_back_up_fails(pg_backup, database, backup_dir, capsys):
    code = pg_backup.main(str(backup_dir), "14", database, members=[member("db1", "leader", "stopped")], me="db1")

    assert code == 1
    assert json.loads(capsys.readouterr().out)["skipped"] == "no member backs up (no member runs)"


def test_the_leader_backs_up_when_no_replica_streams_and_says_it_is_the_fallback(pg_backup, database, backup_dir,
                                                                                capsys):
    members = [LEADER, member("db2", "replica", "stopped")]

    code = pg_backup.main(str(backup_dir), "14", database, members=members, me="db1")

    out = json.loads(capsys.readouterr().out)
    assert code == 0 and Path(out["backup"]).is_file()
    assert (out["member"], out["role"], out["chosen_as"]) == ("db1", "leader", "the leader: no replica streams (fallback)")
    assert out["restored"] == {"notes": 2, "notes_schema": 1}


# --- a backup on a hot standby -----------------------------------------------------------------------------


@contextlib.contextmanager
def on_standby(standby) -> Iterator[None]:
    """The programs reach the standby (libpq's environment), as on a member that is one."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("PGHOST", str(standby.socket_dir))
        env.setenv("PGPORT", str(standby.port))
        yield


def standby_value(standby, statement: str) -> str:
    proc = subprocess.run(["psql", "-AtX", "-h", str(standby.socket_dir), "-p", str(standby.port), "-d", "postgres",
                           "-c", statement], capture_output=True, text=True, check=True)
    return proc.stdout.strip()


def received_all(pg, standby) -> None:
    """Waits (polls) until the standby has received every WAL record the primary has written."""
    lsn = pg.value("SELECT pg_current_wal_insert_lsn()")
    deadline = time.monotonic() + 30
    while standby_value(standby, f"SELECT pg_last_wal_receive_lsn() >= '{lsn}'") != "t":
        assert time.monotonic() < deadline, f"the standby did not receive {lsn} within 30 s"
        time.sleep(0.05)


@contextlib.contextmanager
def server_reachable_dir(tmp: Path) -> Iterator[Path]:
    """A backup directory as on a host (0700) where the throwaway server's files go: when the tests
    run as root, postgres's, in a directory that Debian's postgres user may enter (pytest's own
    temporary directories are root's alone), removed when the block ends."""
    if os.geteuid() != 0:
        directory = tmp / "backups"
        directory.mkdir(mode=0o700)
        yield directory
        return
    outer = Path(tempfile.mkdtemp(prefix="unit-backups-", dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None))
    try:
        outer.chmod(0o755)
        directory = outer / "backups"
        directory.mkdir(mode=0o700)
        shutil.chown(directory, "postgres", "postgres")
        yield directory
    finally:
        shutil.rmtree(outer, ignore_errors=True)


@dataclass
class StandbyRun:
    pg: Any
    database: str
    backup_dir: Path
    code: int
    out: dict


@pytest.fixture(scope="module")
def standby_run(new_pg, load_program, tmp_path_factory, postgresql_standby) -> Iterator[StandbyRun]:
    """A database of two notes, its third note written on the primary while the standby's replay was
    paused (received, not replayed); then the backup service's run, on the standby, as a cluster's
    synchronous standby; replay resumed a moment after the run began."""
    pg = new_pg()
    database = pg.notes(pg.name("notes"), ["first note", "second note"])
    stack = contextlib.ExitStack()
    backup_dir = stack.enter_context(server_reachable_dir(tmp_path_factory.mktemp("standby-run")))
    (backup_dir / ".scratch-server-left0ver").mkdir()  # an interrupted earlier run's
    received_all(pg, postgresql_standby)
    standby_value(postgresql_standby, "SELECT pg_wal_replay_pause()")
    try:
        pg.psql("INSERT INTO notes (text) VALUES ('acknowledged before the backup')", database)
        received_all(pg, postgresql_standby)
        resumer = threading.Timer(1.0, standby_value, (postgresql_standby, "SELECT pg_wal_replay_resume()"))
        resumer.start()
        members = [LEADER, member("db2", "sync_standby"), member("db3", "replica")]
        with on_standby(postgresql_standby), redirect_stdout(io.StringIO()) as stdout:
            code = load_program("pg_backup.py").main(str(backup_dir), "14", database, members=members, me="db2")
        resumer.join()
    finally:
        standby_value(postgresql_standby, "SELECT pg_wal_replay_resume()")
    lines = stdout.getvalue().splitlines()
    assert len(lines) == 1, lines
    yield StandbyRun(pg, database, backup_dir, code, json.loads(lines[0]))
    stack.close()


def test_a_standby_backs_up_and_says_it_was_chosen_as_the_synchronous_standby(standby_run):
    assert standby_run.code == 0
    assert (standby_run.out["member"], standby_run.out["role"], standby_run.out["chosen_as"]) == (
        "db2", "sync_standby", "the synchronous standby")


def test_a_standbys_backup_holds_what_it_had_received_when_the_run_began(standby_run, pg):
    copy = restore_into(pg, Path(standby_run.out["backup"]), pg.name("copy"))

    assert pg.note_texts(copy) == ["first note", "second note", "acknowledged before the backup"]
    assert standby_run.out["replayed_up_to"]


def test_a_standbys_backup_was_restored_once_in_a_throwaway_server_not_the_primary(standby_run):
    assert standby_run.out["restored"] == {"notes": 3, "notes_schema": 1}
    assert standby_run.pg.databases() == [standby_run.database]


def test_a_standbys_backup_leaves_its_dump_alone_in_backup_dir_its_throwaway_server_gone(standby_run):
    assert [p.name for p in standby_run.backup_dir.iterdir()] == [Path(standby_run.out["backup"]).name]
    assert stat.S_IMODE(os.stat(standby_run.out["backup"]).st_mode) == 0o600


def test_a_standby_that_replays_nothing_fails_after_its_wait_naming_the_position(pg_backup, pg, database,
                                                                                 postgresql_standby):
    received_all(pg, postgresql_standby)
    standby_value(postgresql_standby, "SELECT pg_wal_replay_pause()")
    try:
        pg.psql("INSERT INTO notes (text) VALUES ('not replayed')", database)
        received_all(pg, postgresql_standby)
        with on_standby(postgresql_standby), pytest.raises(RuntimeError, match=r"has not replayed up to \S+ \(received\)"):
            pg_backup.replayed_received(0.5)
    finally:
        standby_value(postgresql_standby, "SELECT pg_wal_replay_resume()")


def test_a_standby_is_known_as_one(pg_backup, postgresql_standby):
    with on_standby(postgresql_standby):
        assert pg_backup.is_standby() is True
