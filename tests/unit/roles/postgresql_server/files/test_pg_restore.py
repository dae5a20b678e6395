"""roles/postgresql_server/files/pg_restore.py: a backup put in place of an app's PostgreSQL database.

tasks/restore.yml runs, as postgres, `check DUMP` (the dump's tables; nothing is touched) and then
`restore NAME OWNER DUMP STAMP`, and shows the one JSON line it prints; exit 1 with {"error": ...}
when a step fails. The server, the app's databases, roles and sessions, and the dumps are real.
"""

from __future__ import annotations

import io
import json
import subprocess
import time
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

STAMP = "20250101T030000Z"
LIVE = ["live note 1", "live note 2"]
RESTORED = ["restored note"]


@pytest.fixture
def owner(pg) -> str:
    """The app's role, which owns its database."""
    return pg.role("app")


@pytest.fixture
def live(pg, owner) -> str:
    """The app's database, as it is before the restore."""
    return pg.notes(pg.name("notes"), LIVE, owner=owner)


@pytest.fixture
def backup(pg, dump) -> Path:
    """A dump of the app's database as it was when it held RESTORED alone."""
    return dump(pg.notes(pg.name("then"), RESTORED))


@pytest.fixture
def restored(pg_restore, capsys):
    """restored(name, owner, dump, stamp=STAMP): main's exit status and its JSON line."""

    def run(name: str, owner: str, dump: Path, stamp: str = STAMP) -> tuple[int, dict]:
        capsys.readouterr()
        code = pg_restore.main(["restore", name, owner, str(dump), stamp])
        out = capsys.readouterr().out
        assert out.count("\n") == 1, out
        return code, json.loads(out)

    return run


def cut_short(path: Path, pg, tmp_path: Path) -> Path:
    """A dump whose end is lost, as an interrupted copy leaves it: its table of contents, at its
    start, is whole; the rows after its middle are not there. Of a database of many notes that do
    not compress much, so that the rows take most of the file."""
    many = pg.notes(pg.name("many"), [])
    pg.psql("INSERT INTO notes (text) SELECT md5(i::text) || md5((-i)::text) FROM generate_series(1, 2000) i", many)
    data = pg_dump_bytes(many, tmp_path / "whole.dump")
    path.write_bytes(data[:len(data) // 2])
    return path


def pg_dump_bytes(database: str, path: Path) -> bytes:
    subprocess.run(["pg_dump", "--format=custom", "--file", str(path), "--dbname", database], check=True)
    return path.read_bytes()


def open_again(pg, database: str) -> str:
    """A replaced database opened again, as the way back begins: its owner may connect once more."""
    pg.psql(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
    return database


def owner_of_database(pg, database: str) -> str:
    return pg.value(f"SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{database}'")


# --- check: the dump's tables, from its table of contents -------------------------------------------------


def test_check_lists_the_dumps_tables(pg_restore, pg, dump, capsys):
    path = dump(pg.notes(pg.name("notes")))

    assert pg_restore.main(["check", str(path)]) == 0
    assert json.loads(capsys.readouterr().out) == {"dump": str(path), "tables": ["notes", "notes_schema"]}


def test_check_of_a_dump_without_tables_lists_none(pg_restore, pg, dump, capsys):
    empty = pg.name("empty")
    pg.psql(f'CREATE DATABASE "{empty}" TEMPLATE template0')

    assert pg_restore.main(["check", str(dump(empty))]) == 0
    assert json.loads(capsys.readouterr().out)["tables"] == []


@pytest.mark.parametrize("content", [b"", b"id,text\n1,a note exported as CSV\n", b"PGDMP" + b"\x00" * 64])
def test_check_of_a_file_that_is_not_a_dump_fails_with_pg_restores_error(pg_restore, tmp_path, capsys, content):
    path = tmp_path / "staged.dump"
    path.write_bytes(content)

    assert pg_restore.main(["check", str(path)]) == 1
    assert json.loads(capsys.readouterr().out)["error"].startswith("pg_restore: pg_restore: error: ")


def test_check_of_a_missing_file_fails(pg_restore, tmp_path, capsys):
    assert pg_restore.main(["check", str(tmp_path / "no-such.dump")]) == 1
    assert "no-such.dump" in json.loads(capsys.readouterr().out)["error"]


def test_check_reads_the_table_of_contents_only_so_a_dump_cut_short_passes(pg_restore, pg, tmp_path, capsys):
    path = cut_short(tmp_path / "cut.dump", pg, tmp_path)

    assert pg_restore.main(["check", str(path)]) == 0  # the restore is what reads the rows: see below
    assert json.loads(capsys.readouterr().out)["tables"] == ["notes", "notes_schema"]


# --- restore: one swap, looked at from each side ------------------------------------------------------------


@dataclass
class Swap:
    pg: Any  # conftest.py's Postgres, of this run's own token
    name: str
    owner: str
    dump: Path
    code: int
    out: dict


@pytest.fixture(scope="module")
def swap(new_pg, load_program, make_dump, tmp_path_factory) -> Swap:
    """The app's database (LIVE, owned by its role) replaced by a dump of it as it was (RESTORED)."""
    pg = new_pg()
    owner = pg.role("app")
    name = pg.notes(pg.name("notes"), LIVE, owner=owner)
    dump = make_dump(pg.notes(pg.name("then"), RESTORED), tmp_path_factory.mktemp("swap") / "staged.dump")
    pg.psql(f'DROP DATABASE "{pg.name("then")}"')
    with redirect_stdout(io.StringIO()) as stdout:
        code = load_program("pg_restore.py").main(["restore", name, owner, str(dump), STAMP])
    return Swap(pg, name, owner, dump, code, json.loads(stdout.getvalue()))


def test_restore_puts_the_dumps_notes_in_place_of_the_databases(swap):
    assert swap.code == 0
    assert swap.pg.note_texts(swap.name) == RESTORED


def test_restore_reports_the_database_the_dump_the_replaced_one_and_the_rows_of_each_table(swap):
    assert swap.out == {"restored": swap.name, "from": str(swap.dump), "replaced": f"{swap.name}__replaced_{STAMP}",
                        "tables": {"notes": 1, "notes_schema": 1}}


def test_replaced_database_is_kept_beside_the_restored_one(swap):
    assert swap.pg.databases() == sorted([swap.name, f"{swap.name}__replaced_{STAMP}"])


def test_replaced_database_is_closed_to_connections(swap):
    assert not swap.pg.allows_connections(f"{swap.name}__replaced_{STAMP}")
    refused = swap.pg.connect(f"{swap.name}__replaced_{STAMP}", swap.owner)
    assert refused.returncode != 0 and "is not currently accepting connections" in refused.stderr


def test_restored_database_and_its_tables_are_owned_by_the_owner(swap):
    assert owner_of_database(swap.pg, swap.name) == swap.owner
    assert swap.pg.column("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = 'public'", swap.name) == [
        swap.owner]


def test_restored_database_is_open_to_its_owner(swap):
    assert swap.pg.allows_connections(swap.name)
    assert swap.pg.connect(swap.name, swap.owner).stdout == "1\n"


def test_restored_database_may_be_written_by_its_owner(swap):
    wrote = subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-U", swap.owner, "-d", swap.name,
                            "-c", "BEGIN", "-c", "INSERT INTO notes (text) VALUES ('after the restore') RETURNING id",
                            "-c", "ROLLBACK"],  # the other tests look at the same restore
                           capture_output=True, text=True, check=False)

    assert wrote.returncode == 0, wrote.stderr
    assert int(wrote.stdout.split()[0]) > len(RESTORED)  # its identity goes on after the dump's rows


def test_public_may_neither_connect_to_the_restored_database_nor_make_temporary_tables_there(swap):
    # No ACL at all (NULL) is PostgreSQL's default, which lets PUBLIC connect and make temporary tables.
    public = swap.pg.column("SELECT privilege_type FROM pg_database, "
                            "aclexplode(coalesce(datacl, acldefault('d', datdba))) "
                            f"WHERE datname = '{swap.name}' AND grantee = 0")
    assert public == []


def test_another_role_may_not_connect_to_the_restored_database(swap, pg):
    refused = pg.connect(swap.name, pg.role("other_app"))

    assert refused.returncode != 0 and "permission denied for database" in refused.stderr


# --- restore, in other cases ---------------------------------------------------------------------------------


def test_restore_of_a_database_that_does_not_exist_yet_makes_it(restored, pg, owner, backup):
    name = pg.name("new")

    code, out = restored(name, owner, backup)

    assert (code, out["restored"], out["replaced"]) == (0, name, None)
    assert pg.note_texts(name) == RESTORED
    assert owner_of_database(pg, name) == owner
    assert pg.databases() == sorted([name, pg.name("then")])


def test_sessions_of_the_app_on_its_database_are_ended_by_the_swap(restored, pg, owner, live, backup):
    session = subprocess.Popen(["psql", "-AtX", "-U", owner, "-d", live, "-c", "SELECT pg_sleep(60)"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 10
        while pg.value(f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{live}'") != "1":
            assert time.monotonic() < deadline, "the app's session never began"
            time.sleep(0.01)

        code, _ = restored(live, owner, backup)

        _, stderr = session.communicate(timeout=10)
    finally:
        session.kill()
        session.wait()
    assert code == 0
    assert session.returncode != 0 and "terminating connection due to administrator command" in stderr


def test_staging_database_left_by_an_earlier_run_is_replaced(restored, pg, owner, live, backup):
    pg.psql(f'CREATE DATABASE "{live}__restoring"')
    pg.psql("CREATE TABLE left_over (n int)", f"{live}__restoring")

    code, out = restored(live, owner, backup)

    assert (code, out["tables"]) == (0, {"notes": 1, "notes_schema": 1})


def test_each_restore_keeps_the_database_it_replaced_under_its_stamp(restored, pg, owner, live, backup):
    restored(live, owner, backup, "20250101T030000Z")
    restored(live, owner, backup, "20250102T030000Z")

    assert pg.note_texts(open_again(pg, f"{live}__replaced_20250101T030000Z")) == LIVE
    assert pg.note_texts(open_again(pg, f"{live}__replaced_20250102T030000Z")) == RESTORED


def test_replaced_name_of_the_longest_database_name_is_the_one_reported(restored, pg, owner, backup):
    name = pg.notes(pg.name("notes").ljust(63, "x"), LIVE, owner=owner)  # the longest name the role allows

    _, out = restored(name, owner, backup)

    assert out["replaced"] in pg.databases()
    assert out["replaced"].endswith(f"__replaced_{STAMP}") and len(out["replaced"]) <= 63
    assert pg.note_texts(open_again(pg, out["replaced"])) == LIVE


# --- a restore that fails leaves the database as it was ------------------------------------------------------


@dataclass
class Failed:
    pg: Any  # conftest.py's Postgres, of this run's own token
    name: str
    code: int
    out: dict


@pytest.fixture(scope="module")
def cut_short_restore(new_pg, load_program, tmp_path_factory) -> Failed:
    """A restore of a dump cut short (see cut_short): its check passes, pg_restore fails half-way."""
    pg = new_pg()
    owner = pg.role("app")
    name = pg.notes(pg.name("notes"), LIVE, owner=owner)
    directory = tmp_path_factory.mktemp("cut-short")
    dump = cut_short(directory / "staged.dump", pg, directory)
    with redirect_stdout(io.StringIO()) as stdout:
        code = load_program("pg_restore.py").main(["restore", name, owner, str(dump), STAMP])
    return Failed(pg, name, code, json.loads(stdout.getvalue()))


def test_restore_of_a_dump_cut_short_fails_with_pg_restores_error(cut_short_restore):
    assert cut_short_restore.code == 1
    assert cut_short_restore.out == {
        "error": "pg_restore: pg_restore: error: could not read from input file: end of file"}


def test_restore_of_a_dump_cut_short_leaves_the_database_with_its_notes_and_open(cut_short_restore):
    assert cut_short_restore.pg.note_texts(cut_short_restore.name) == LIVE
    assert cut_short_restore.pg.allows_connections(cut_short_restore.name)


def test_restore_of_a_dump_cut_short_leaves_no_staging_database(cut_short_restore):
    assert cut_short_restore.pg.databases() == sorted([cut_short_restore.name, cut_short_restore.pg.name("many")])


def test_restore_of_a_file_that_is_not_a_dump_leaves_the_database_as_it_was(restored, pg, owner, live, tmp_path):
    path = tmp_path / "staged.dump"
    path.write_bytes(b"id,text\n1,a note exported as CSV\n")

    code, out = restored(live, owner, path)

    assert (code, list(out)) == (1, ["error"])
    assert pg.note_texts(live) == LIVE
    assert pg.databases() == [live]


def test_restore_for_an_owner_that_does_not_exist_leaves_the_database_as_it_was(restored, pg, owner, live, backup):
    code, out = restored(live, pg.name("nobody"), backup)

    assert code == 1
    assert out["error"].startswith("createdb: ") and "does not exist" in out["error"]
    assert (pg.note_texts(live), owner_of_database(pg, live)) == (LIVE, owner)
    assert pg.databases() == sorted([live, pg.name("then")])


@pytest.fixture(scope="module")
def replaced_name_taken(new_pg, load_program, make_dump, tmp_path_factory) -> Failed:
    """A restore whose replaced name is a database already: an earlier restore's, of the same stamp."""
    pg = new_pg()
    owner = pg.role("app")
    name = pg.notes(pg.name("notes"), LIVE, owner=owner)
    dump = make_dump(pg.notes(pg.name("then"), RESTORED), tmp_path_factory.mktemp("taken") / "staged.dump")
    pg.psql(f'CREATE DATABASE "{name}__replaced_{STAMP}"')
    with redirect_stdout(io.StringIO()) as stdout:
        code = load_program("pg_restore.py").main(["restore", name, owner, str(dump), STAMP])
    return Failed(pg, name, code, json.loads(stdout.getvalue()))


def test_restore_whose_replaced_name_is_taken_fails(replaced_name_taken):
    assert replaced_name_taken.code == 1
    assert "already exists" in replaced_name_taken.out["error"]


def test_restore_whose_replaced_name_is_taken_leaves_the_database_with_its_notes_and_open(replaced_name_taken):
    assert replaced_name_taken.pg.note_texts(replaced_name_taken.name) == LIVE
    assert replaced_name_taken.pg.allows_connections(replaced_name_taken.name)


def test_restore_whose_replaced_name_is_taken_leaves_no_staging_database(replaced_name_taken):
    pg, name = replaced_name_taken.pg, replaced_name_taken.name
    assert pg.databases() == sorted([name, f"{name}__replaced_{STAMP}", pg.name("then")])


def test_failure_to_rename_the_restored_one_puts_the_replaced_one_back_open(
        restored, pg_restore, pg, owner, live, backup, monkeypatch):
    # The one step of the swap the server cannot be made to refuse from outside: a failure injected
    # into the very statement, every other statement the real one.
    real_sql = pg_restore.sql

    def sql(statement: str, database: str = "postgres") -> str:
        if statement == f'ALTER DATABASE "{live}__restoring" RENAME TO "{live}"':
            raise RuntimeError("psql: ERROR:  injected failure")
        return real_sql(statement, database)

    monkeypatch.setattr(pg_restore, "sql", sql)

    code, out = restored(live, owner, backup)

    assert (code, out) == (1, {"error": "psql: ERROR:  injected failure"})
    assert pg.note_texts(live) == LIVE
    assert pg.allows_connections(live)
    assert pg.databases() == sorted([live, pg.name("then")])


# --- the program, as tasks/restore.yml runs it ---------------------------------------------------------------


def test_check_program_prints_the_tables_and_exits_0(run_program, pg, dump):
    run = run_program("pg_restore.py", "check", dump(pg.notes(pg.name("notes"))))

    assert run.code == 0
    assert json.loads(run.stdout)["tables"] == ["notes", "notes_schema"]


def test_restore_program_exits_1_with_the_error(run_program, pg, owner, live, tmp_path):
    run = run_program("pg_restore.py", "restore", live, owner, tmp_path / "no-such.dump", STAMP)

    assert run.code == 1
    assert list(json.loads(run.stdout)) == ["error"]


@pytest.mark.parametrize("argv", [[], ["check"], ["check", "a.dump", "b.dump"], ["restore", "notes", "app", "a.dump"],
                                  ["restore", "notes", "app", "a.dump", STAMP, "extra"], ["swap", "notes"]])
def test_program_with_wrong_arguments_prints_usage_and_exits_1(run_program, argv):
    run = run_program("pg_restore.py", *argv)

    assert run.code == 1
    assert "pg_restore.py check DUMP" in run.stderr and "pg_restore.py restore NAME OWNER DUMP STAMP" in run.stderr
    assert run.stdout == ""
