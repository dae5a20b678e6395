"""roles/python_app/files/sqlite_to_postgresql.py: copies an app's SQLite database into its
PostgreSQL database, in one transaction, and proves the copy row by row before it commits.

tasks/move-to-postgresql.yml runs `sqlite_to_postgresql.py SQLITE ENVIRONMENT PREFIX [--replace]`
as the app's user, after the app's migration has made its tables in PostgreSQL; it prints one JSON
line, {"copied": true, "tables": {...}, "seconds": ...} or {"copied": false, "error": ...} (exit 1).

Everything here is real: the unit tests' one PostgreSQL server for the session
(tests/unit/postgresql.py: Debian's binaries, a throwaway cluster, on 127.0.0.1 and a port of its
own, password authentication for the app's role as on a database server), one new database per
test migrated by the bundled app's own migrations (app/notes/migrate.py), SQLite databases with the
schema those migrations make there, and environment files as the role writes them
(templates/environment.j2).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from postgresql import Cluster

SCRIPT = Path(__file__).resolve().parents[5] / "roles/python_app/files/sqlite_to_postgresql.py"
PREFIX = "NOTES"
ROLE = "notes_app"
# What the app's role has on a database server; "=" and spaces in it, as a generated one may have.
PASSWORD = "s3cret=with spaces & 'quotes' ünï"
# libpq's variables that would point a connection elsewhere, or give it a password of their own.
LIBPQ_VARIABLES = ("PGHOST", "PGHOSTADDR", "PGPORT", "PGUSER", "PGDATABASE", "PGPASSWORD", "PGPASSFILE",
                   "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS", "PGSSLMODE", "PGCONNECT_TIMEOUT",
                   "PGTARGETSESSIONATTRS", "PGAPPNAME")

# Notes as an app's SQLite database may hold them: (id, text, created, pinned), ids with gaps,
# the highest past 32 bits (the PostgreSQL identity is a BIGINT), text that COPY's format escapes.
NOTES = [
    (1, "first note", "2024-01-02 03:04:05", 0),
    (2, "", "2024-01-02 03:04:06", 1),
    (3, "ünïcødé ✓ 中文 🎉 e\u0301 \u200b", "2024-01-02 03:04:07", 0),
    (7, "quotes ' \" ` and a backslash \\ and \\N and \\.", "2024-02-29 23:59:59", 1),
    (8, "lines\nand\r\nCRLF\rand\ttabs\n\\.\n", "2024-03-01 00:00:00", 0),
    (42, "long " + "x" * 200_000 + " end", "2024-03-02 12:00:00", 0),
    (1000, "NULL", "2024-03-03 12:00:00", 1),
    (2**33, " padded ", "2024-03-04 12:00:00", 0),
]
HIGHEST = 2**33


# --- the tests' PostgreSQL server, with the app's role ----------------------------------------------


def _admin(server: Cluster) -> psycopg.Connection:
    """A connection as the server's superuser (on its unix socket, trusted, as postgres on a host)."""
    return psycopg.connect(host=str(server.socket_dir), port=server.port, user="postgres", dbname="postgres",
                           autocommit=True)


@pytest.fixture(scope="module")
def server(postgresql_cluster: Cluster) -> Iterator[Cluster]:
    """The unit tests' PostgreSQL server (tests/unit/postgresql.py) with the app's role, for this
    module's tests: on 127.0.0.1 the role must give its password (scram-sha-256), as on a database
    server."""
    with _admin(postgresql_cluster) as admin:
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD {}")
                      .format(sql.Identifier(ROLE), sql.Literal(PASSWORD)))
    # The role stays until the session's cluster is thrown away: no other module uses it, and a
    # drop here could race the last test's database going (it once failed a run at teardown).
    yield postgresql_cluster


@pytest.fixture(autouse=True)
def libpq_environment(monkeypatch, tmp_path) -> None:
    """No libpq variable of the outer environment (or of other tests) reaches the program; the
    PGPASSWORD the program sets from the environment file is taken back after every test."""
    for name in LIBPQ_VARIABLES:
        monkeypatch.setenv(name, "")  # recorded, so that whatever the test leaves is put back as it was
        monkeypatch.delenv(name)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "no-pgpass"))  # no ~/.pgpass answers for a missing password


_MIGRATIONS: list = []  # app/notes/migrate.py, loaded once


@dataclass
class Database:
    """A new database of the server, owned by the app's role and migrated by the app's migrations."""

    server: Cluster
    name: str

    @property
    def url(self) -> str:
        """The URL as the role writes it into the environment file: no password in it."""
        return f"postgresql://{ROLE}@127.0.0.1:{self.server.port}/{self.name}?connect_timeout=5"

    def connect(self) -> psycopg.Connection:
        return psycopg.connect(self.url, password=PASSWORD, autocommit=True)

    def execute(self, statement: str, params: tuple = ()) -> list[tuple]:
        with self.connect() as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []

    def notes(self) -> list[tuple]:
        return self.execute("SELECT id, text, created, pinned FROM notes ORDER BY id")

    def insert(self, rows: list[tuple]) -> None:
        with self.connect() as conn:
            conn.cursor().executemany("INSERT INTO notes (id, text, created, pinned) VALUES (%s, %s, %s, %s)", rows)


@pytest.fixture
def pg(server, load_file) -> Iterator[Database]:
    """The app's PostgreSQL database, as the move finds it: its tables made by the app's migration
    (run as the app's role), and empty."""
    if not _MIGRATIONS:
        _MIGRATIONS.append(load_file("app/notes/migrate.py"))
    name = f"notes_{uuid.uuid4().hex[:12]}"
    with _admin(server) as admin:
        admin.execute(f"CREATE DATABASE {name} OWNER {ROLE}")
    database = Database(server, name)
    _MIGRATIONS[0].migrate_postgresql(make_conninfo(database.url, password=PASSWORD))
    yield database
    with _admin(server) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


# --- the app's SQLite database and its environment file -------------------------------------------------


def sqlite_notes(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        return conn.execute("SELECT id, text, created, pinned FROM notes ORDER BY id").fetchall()


@pytest.fixture
def sqlite_db(tmp_path, make_notes_db) -> Path:
    """The app's SQLite database (the schema of the app's migrations, WAL) holding NOTES."""
    path = make_notes_db(tmp_path / "data" / "notes.sqlite3", ())
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO notes (id, text, created, pinned) VALUES (?, ?, ?, ?)", NOTES)
    return path


@pytest.fixture
def env_file(tmp_path, pg) -> Path:
    """The environment file the role stages for the move (templates/environment.j2)."""
    path = tmp_path / "environment"
    path.write_text(f"FLASK_SECRET=not-this-one\n{PREFIX}_DATABASE_URL={pg.url}\nPGPASSWORD={PASSWORD}\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def program(load_file):
    return load_file("roles/python_app/files/sqlite_to_postgresql.py")


@dataclass
class Moved:
    code: int
    report: dict
    stdout: str


@pytest.fixture
def move(program, capsys):
    """move(sqlite, environment, *more): runs the program's main() as the role does; its exit status
    and the one JSON line it printed."""

    def run(sqlite: Path, environment: Path, *more: str, prefix: str = PREFIX) -> Moved:
        capsys.readouterr()
        code = program.main([str(sqlite), str(environment), prefix, *more])
        out = capsys.readouterr().out
        return Moved(code, json.loads(out), out)

    return run


def digest_of(rows: list[tuple]) -> str:
    """The report's digest of a table, as its docstring defines it, computed here on its own: a
    SHA-256 of each row's values (each typed and length-prefixed), and a SHA-256 of those in order."""
    whole = hashlib.sha256()
    for row in rows:
        h = hashlib.sha256()
        for value in row:
            data = (b"n" if value is None else b"i" + str(value).encode() if isinstance(value, int)
                    else b"s" + value.encode())
            h.update(len(data).to_bytes(8, "big") + data)
        whole.update(h.digest())
    return whole.hexdigest()


# --- a copy ----------------------------------------------------------------------------------------------


def test_copies_every_note_byte_for_byte(move, sqlite_db, env_file, pg):
    moved = move(sqlite_db, env_file)

    assert moved.code == 0
    assert pg.notes() == NOTES == sqlite_notes(sqlite_db)
    assert [text.encode() for _, text, _, _ in pg.notes()] == [text.encode() for _, text, _, _ in NOTES]


def test_reports_each_tables_rows_and_digest_in_one_json_line(move, sqlite_db, env_file, pg):
    moved = move(sqlite_db, env_file)

    assert moved.stdout.count("\n") == 1 and moved.stdout.endswith("\n")
    assert moved.report["copied"] is True
    assert moved.report["tables"] == {"notes": {"rows": len(NOTES), "sha256": digest_of(NOTES)}}
    assert isinstance(moved.report["seconds"], float) and 0 <= moved.report["seconds"] < 60


def test_reported_digest_is_that_of_the_rows_postgresql_holds(move, program, sqlite_db, env_file, pg):
    moved = move(sqlite_db, env_file)

    rows, digest, _ = program.table_digest(pg.notes())
    assert moved.report["tables"]["notes"] == {"rows": rows, "sha256": digest}


def test_leaves_the_sqlite_database_as_it_was(move, sqlite_db, env_file, pg):
    before = sqlite_db.read_bytes()

    move(sqlite_db, env_file)

    assert sqlite_db.read_bytes() == before
    assert sqlite_notes(sqlite_db) == NOTES


def test_identity_continues_after_the_highest_copied_id(move, sqlite_db, env_file, pg):
    move(sqlite_db, env_file)

    assert pg.execute("INSERT INTO notes (text) VALUES ('written on PostgreSQL') RETURNING id") == [(HIGHEST + 1,)]


def test_copies_an_empty_table_and_leaves_its_identity_at_one(move, make_notes_db, tmp_path, env_file, pg):
    empty = make_notes_db(tmp_path / "empty.sqlite3", ())

    moved = move(empty, env_file)

    assert moved.report["tables"] == {"notes": {"rows": 0, "sha256": hashlib.sha256().hexdigest()}}
    assert pg.execute("INSERT INTO notes (text) VALUES ('first') RETURNING id") == [(1,)]


def test_copies_a_database_the_app_wrote_as_it_does(move, make_notes_db, tmp_path, env_file, pg):
    written = make_notes_db(tmp_path / "app.sqlite3", ["one", "two", "three"])

    moved = move(written, env_file)

    assert moved.code == 0
    assert pg.notes() == sqlite_notes(written)
    assert [text for _, text, _, _ in pg.notes()] == ["one", "two", "three"]


def test_reads_the_password_from_the_environment_file_alone(move, sqlite_db, tmp_path, pg):
    no_password = tmp_path / "no-password"
    no_password.write_text(f"{PREFIX}_DATABASE_URL={pg.url}\n", encoding="utf-8")

    moved = move(sqlite_db, no_password)

    assert moved.code == 1
    assert moved.report["copied"] is False
    assert "password" in moved.report["error"]
    assert pg.notes() == []


# --- refusals: nothing is copied ----------------------------------------------------------------------


def test_refuses_a_table_that_has_rows_and_leaves_it_as_it_was(move, sqlite_db, env_file, pg):
    there = [(5, "already in PostgreSQL", "2025-01-01 00:00:00", 1)]
    pg.insert(there)

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"] == ("ValueError: table notes in PostgreSQL has rows already: a copy never "
                                     "overwrites (move_replace=true empties it first)")
    assert pg.notes() == there


def test_replace_empties_the_table_and_copies(move, sqlite_db, env_file, pg):
    pg.insert([(5, "already in PostgreSQL", "2025-01-01 00:00:00", 1), (1, "clashes with SQLite's 1", "x", 0)])

    moved = move(sqlite_db, env_file, "--replace")

    assert (moved.code, moved.report["copied"]) == (0, True)
    assert moved.report["tables"]["notes"] == {"rows": len(NOTES), "sha256": digest_of(NOTES)}
    assert pg.notes() == NOTES


def test_replace_continues_the_identity_after_the_copied_ids_not_the_replaced_ones(
        move, make_notes_db, tmp_path, env_file, pg):
    small = make_notes_db(tmp_path / "small.sqlite3", ["a", "b"])
    pg.insert([(9000, "replaced", "2025-01-01 00:00:00", 0)])

    move(small, env_file, "--replace")

    assert pg.execute("INSERT INTO notes (text) VALUES ('next') RETURNING id") == [(3,)]


def test_refuses_a_table_missing_in_postgresql_naming_it_and_copies_nothing(move, sqlite_db, env_file, pg):
    with closing(sqlite3.connect(sqlite_db)) as conn, conn:
        conn.execute("CREATE TABLE tags (note_id INTEGER NOT NULL, label TEXT NOT NULL)")

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"] == ("ValueError: table tags is not in PostgreSQL: run the app's migration there "
                                     "first")
    assert pg.notes() == []  # copied before tags was looked at, and rolled back


def test_refuses_a_table_lacking_a_column_naming_it(move, sqlite_db, env_file, pg):
    with closing(sqlite3.connect(sqlite_db)) as conn, conn:
        conn.execute("ALTER TABLE notes ADD COLUMN colour TEXT")
        conn.execute("ALTER TABLE notes ADD COLUMN due TEXT")

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"] == "ValueError: table notes in PostgreSQL lacks column(s) colour, due"
    assert pg.notes() == []


def test_copies_into_a_table_with_more_columns_than_sqlite_has(move, sqlite_db, env_file, pg):
    pg.execute("ALTER TABLE notes ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false")

    moved = move(sqlite_db, env_file)

    assert moved.code == 0
    assert pg.execute("SELECT count(*) FROM notes WHERE NOT archived") == [(len(NOTES),)]


def test_refuses_an_environment_file_without_the_database_url(move, sqlite_db, tmp_path, pg):
    sqlite_env = tmp_path / "environment"
    sqlite_env.write_text(f"{PREFIX}_DATABASE=/srv/notes/data/notes.sqlite3\nPGPASSWORD={PASSWORD}\n",
                          encoding="utf-8")

    moved = move(sqlite_db, sqlite_env)

    assert (moved.code, moved.report) == (1, {"copied": False, "error": f"ValueError: {sqlite_env} names no "
                                                                         f"{PREFIX}_DATABASE_URL"})
    assert pg.notes() == []


def test_reads_the_url_of_the_prefix_given(move, sqlite_db, env_file, pg):
    moved = move(sqlite_db, env_file, prefix="OTHER")

    assert moved.report["error"] == f"ValueError: {env_file} names no OTHER_DATABASE_URL"


def test_a_wrong_password_fails_with_a_json_error(move, sqlite_db, tmp_path, pg):
    wrong = tmp_path / "environment"
    wrong.write_text(f"{PREFIX}_DATABASE_URL={pg.url}\nPGPASSWORD=not-the-password\n", encoding="utf-8")

    moved = move(sqlite_db, wrong)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"].startswith("OperationalError: ")
    assert "password authentication failed" in moved.report["error"]
    assert PASSWORD not in moved.stdout and "not-the-password" not in moved.stdout
    assert pg.notes() == []


def test_refuses_a_sqlite_database_without_tables(move, tmp_path, env_file, pg):
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()

    moved = move(empty, env_file)

    assert moved.report == {"copied": False, "error": f"ValueError: {empty} has no tables to copy"}


def test_a_missing_sqlite_database_fails_and_is_not_created(move, tmp_path, env_file, pg):
    missing = tmp_path / "data" / "notes.sqlite3"

    moved = move(missing, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"] == "OperationalError: unable to open database file"
    assert not missing.exists()


def test_a_text_postgresql_cannot_hold_fails_with_nothing_committed(move, sqlite_db, env_file, pg):
    with closing(sqlite3.connect(sqlite_db)) as conn, conn:
        conn.execute("INSERT INTO notes (id, text) VALUES (9, ?)", ("a NUL \x00 inside",))

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert "0x00" in moved.report["error"]
    assert pg.notes() == []


# --- the proof: a copy that differs is not committed ---------------------------------------------------


def test_a_row_changed_on_its_way_in_aborts_with_nothing_committed(move, sqlite_db, env_file, pg):
    pg.execute("""CREATE FUNCTION alter_note() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN IF NEW.id = 7 THEN NEW.text := NEW.text || ' (altered)'; END IF; RETURN NEW; END $$""")
    pg.execute("CREATE TRIGGER alter_note BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION alter_note()")

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"] == (f"ValueError: table notes differs after the copy: {len(NOTES)} rows in SQLite, "
                                     f"{len(NOTES)} in PostgreSQL, first difference at row 4 in id order")
    assert pg.notes() == []


def test_a_row_lost_on_its_way_in_aborts_with_nothing_committed(move, sqlite_db, env_file, pg):
    pg.execute(f"""CREATE FUNCTION drop_note() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN IF NEW.id = {HIGHEST} THEN RETURN NULL; END IF; RETURN NEW; END $$""")
    pg.execute("CREATE TRIGGER drop_note BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION drop_note()")

    moved = move(sqlite_db, env_file)

    assert moved.code == 1
    assert moved.report["error"] == (f"ValueError: table notes differs after the copy: {len(NOTES)} rows in SQLite, "
                                     f"{len(NOTES) - 1} in PostgreSQL, first difference at row {len(NOTES)} in id "
                                     "order")
    assert pg.notes() == []


def test_a_digest_that_differs_aborts_a_replace_and_keeps_the_rows_postgresql_had(
        move, program, monkeypatch, sqlite_db, env_file, pg):
    there = [(5, "already in PostgreSQL", "2025-01-01 00:00:00", 1)]
    pg.insert(there)
    digests = iter(["sqlite", "postgresql"])
    real = program.table_digest

    def one_differs(rows):
        count, digest, each = real(rows)
        return count, digest + next(digests), each

    monkeypatch.setattr(program, "table_digest", one_differs)

    moved = move(sqlite_db, env_file, "--replace")

    assert (moved.code, moved.report["copied"]) == (1, False)
    assert moved.report["error"].startswith("ValueError: table notes differs after the copy")
    assert pg.notes() == there


# --- the order both databases are read in, for the comparison -------------------------------------------


def sqlite_table(path: Path, create: str, rows: list[tuple]) -> None:
    with closing(sqlite3.connect(path)) as conn, conn:
        conn.execute(create)
        conn.executemany(f"INSERT INTO {create.split()[2]} VALUES ({', '.join('?' * len(rows[0]))})", rows)


def test_compares_a_table_without_primary_key_holding_nulls_in_the_same_order(move, sqlite_db, env_file, pg):
    # Ordered by all its columns: SQLite puts NULLs first, PostgreSQL last unless told.
    rows = [(1, None), (1, "b"), (None, "a"), (None, None)]
    sqlite_table(sqlite_db, "CREATE TABLE tags (note_id INTEGER, label TEXT)", rows)
    pg.execute("CREATE TABLE tags (note_id INTEGER, label TEXT)")

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (0, True)
    assert moved.report["tables"]["tags"] == {"rows": 4, "sha256": digest_of([(None, None), (None, "a"), (1, None),
                                                                             (1, "b")])}
    assert sorted(pg.execute("SELECT note_id, label FROM tags"), key=repr) == sorted(rows, key=repr)


def test_compares_text_keys_in_byte_order_whatever_postgresqls_collation(move, sqlite_db, env_file, pg):
    # A database server's default collation is often a language's (en_US.UTF-8): "a" before "B" there.
    rows = [("B", "1"), ("a", "2"), ("é", "3"), ("_x", "4"), ("Z", "5")]
    sqlite_table(sqlite_db, "CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)", rows)
    pg.execute('CREATE TABLE settings (name TEXT COLLATE "und-x-icu" PRIMARY KEY, value TEXT NOT NULL)')

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (0, True)
    assert moved.report["tables"]["settings"]["sha256"] == digest_of(sorted(rows, key=lambda r: r[0].encode()))
    assert sorted(pg.execute("SELECT name, value FROM settings")) == sorted(rows)


def test_compares_text_keys_in_byte_order_whatever_sqlites_collation(move, sqlite_db, env_file, pg):
    rows = [("B", "1"), ("a", "2"), ("c", "3")]
    sqlite_table(sqlite_db, "CREATE TABLE settings (name TEXT COLLATE NOCASE PRIMARY KEY, value TEXT)", rows)
    pg.execute("CREATE TABLE settings (name TEXT PRIMARY KEY, value TEXT)")

    moved = move(sqlite_db, env_file)

    assert (moved.code, moved.report["copied"]) == (0, True)
    assert moved.report["tables"]["settings"]["sha256"] == digest_of([("B", "1"), ("a", "2"), ("c", "3")])


# --- typed digests ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("one", "other"), [
    (42, "42"),
    (None, ""),
    (None, "None"),
    (1, 1.0),
    (b"x", "x"),
    (0, None),
    (Decimal("1.5"), 1.5),
], ids=["int-text", "null-empty", "null-text", "int-real", "blob-text", "zero-null", "unknown-real"])
def test_typed_values_of_different_types_differ(program, one, other):
    assert program.typed(one) != program.typed(other)
    assert program.row_digest([one]) != program.row_digest([other])


def test_a_blob_is_the_same_value_whatever_buffer_holds_it(program):
    # SQLite gives bytes, PostgreSQL's bytea may come as bytes or memoryview.
    assert program.typed(b"\x00\xff") == program.typed(bytearray(b"\x00\xff")) == program.typed(memoryview(b"\x00\xff"))


def test_a_boolean_is_the_integer_sqlite_stores_for_it(program):
    assert program.typed(True) == program.typed(1)
    assert program.typed(False) == program.typed(0)


def test_row_digest_keeps_values_apart(program):
    assert program.row_digest(["ab", "c"]) != program.row_digest(["a", "bc"])
    assert program.row_digest(["a", ""]) != program.row_digest(["a"])


def test_table_digest_counts_rows_and_depends_on_their_order(program):
    count, whole, each = program.table_digest([(1, "a"), (2, "b")])

    assert count == 2 and each == [program.row_digest((1, "a")), program.row_digest((2, "b"))]
    assert whole != program.table_digest([(2, "b"), (1, "a")])[1]
    assert whole == digest_of([(1, "a"), (2, "b")])


# --- the program ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("argv", [[], ["notes.sqlite3"], ["notes.sqlite3", "environment"],
                                  ["notes.sqlite3", "environment", "NOTES", "--force"],
                                  ["notes.sqlite3", "environment", "NOTES", "--replace", "--replace"]])
def test_bad_usage_exits_1_with_the_docstring(run_program, program, argv):
    run = run_program("sqlite_to_postgresql.py", *argv)

    assert (run.code, run.stdout) == (1, "")
    assert run.stderr == program.__doc__ + "\n"


def test_program_run_in_process_copies(run_program, sqlite_db, env_file, pg):
    run = run_program("sqlite_to_postgresql.py", sqlite_db, env_file, PREFIX)

    assert run.code == 0
    assert json.loads(run.stdout)["tables"]["notes"]["rows"] == len(NOTES)


def test_program_run_by_the_apps_python_copies_and_exits_0(sqlite_db, env_file, pg):
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}
    env["PGPASSFILE"] = os.environ["PGPASSFILE"]

    run = subprocess.run([sys.executable, str(SCRIPT), str(sqlite_db), str(env_file), PREFIX],
                         capture_output=True, text=True, env=env, check=False, timeout=60)

    assert (run.returncode, run.stderr) == (0, "")
    assert json.loads(run.stdout) | {"seconds": 0} == {
        "copied": True, "tables": {"notes": {"rows": len(NOTES), "sha256": digest_of(NOTES)}}, "seconds": 0}
    assert pg.notes() == NOTES


def test_program_run_by_the_apps_python_exits_1_when_refused(sqlite_db, env_file, pg):
    pg.insert([(5, "already in PostgreSQL", "2025-01-01 00:00:00", 1)])
    env = {name: value for name, value in os.environ.items() if not name.startswith("PG")}

    run = subprocess.run([sys.executable, str(SCRIPT), str(sqlite_db), str(env_file), PREFIX],
                         capture_output=True, text=True, env=env, check=False, timeout=60)

    assert run.returncode == 1
    assert json.loads(run.stdout)["copied"] is False
