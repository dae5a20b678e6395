"""Shared fixtures of the tests of the programs the postgresql_server role ships to hosts
(roles/postgresql_server/files): pg_backup.py and pg_restore.py.

Everything here is real: the unit tests' one PostgreSQL server for the session
(tests/unit/postgresql.py: Debian's binaries, a throwaway cluster, reached here on its unix socket,
where the superuser is trusted), the client programs the role's programs call (pg_dump, pg_restore,
createdb, dropdb, psql: that version's, first on PATH) and databases with the schema the bundled
app's own migrations make (app/notes/migrate.py). The programs find the server as on a host, by
libpq's environment: PGHOST, PGPORT and PGUSER=postgres (the superuser they run as).

Every test names its databases and roles with a token of its own (`pg`), so tests share the server
and nothing else; what a test made is dropped after it. A run of a program that several tests look
at from different sides (each asserting one thing of it, changing nothing) is made once per module,
with a token of its own: every backup and restore creates databases, which takes a while.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from postgresql import Cluster
from programs import Run, run_as_main

ROOT = Path(__file__).resolve().parents[5]
FILES = ROOT / "roles/postgresql_server/files"
# libpq's variables that would point the programs elsewhere than the tests' server.
LIBPQ_VARIABLES = ("PGDATABASE", "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE", "PGOPTIONS",
                   "PGSSLMODE", "PGHOSTADDR", "PGCONNECT_TIMEOUT", "PGTARGETSESSIONATTRS", "PGAPPNAME")


# --- the server -----------------------------------------------------------------------------------------


@pytest.fixture(scope="session", autouse=True)
def postgres_environment(postgresql_cluster: Cluster) -> Iterator[Cluster]:
    """The environment the backup service and the restore give the programs on a host: they are
    postgres, on the local server (its unix socket); that version's client programs come first on PATH."""
    with pytest.MonkeyPatch.context() as env:
        for name in LIBPQ_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("PGHOST", str(postgresql_cluster.socket_dir))
        env.setenv("PGPORT", str(postgresql_cluster.port))
        env.setenv("PGUSER", "postgres")
        env.setenv("PATH", f"{postgresql_cluster.bindir}{os.pathsep}{os.environ.get('PATH', '')}")
        yield postgresql_cluster


@pytest.fixture(autouse=True)
def umask_restored():
    """The backup sets a umask for the rest of its process: here that is pytest's, so it is put back."""
    umask = os.umask(0o022)
    os.umask(umask)
    yield
    os.umask(umask)


# --- SQL, as the tests' superuser, and a test's own databases and roles --------------------------------------


def _load(path: Path, name: str):
    """A Python file imported as a fresh module (as tests/unit/conftest.py's load does), for the
    fixtures made once per module, which cannot use its function-scoped load_file."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


_MIGRATIONS: list[str] = []  # the app's PostgreSQL ones, read once


def _migrations() -> list[str]:
    if not _MIGRATIONS:
        migrate = _load(ROOT / "app/notes/migrate.py", "unit_pg_notes_migrate")
        _MIGRATIONS.extend(sql["postgresql"] for _, sql in migrate.MIGRATIONS)
    return _MIGRATIONS


def psql(statement: str, database: str = "postgres") -> str:
    """What psql prints for a statement (unaligned, tuples only); fails the test when it fails."""
    proc = subprocess.run(["psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def psql_script(lines: list[str], database: str = "postgres") -> None:
    """psql reading statements (and its meta-commands), one a line, stopping at the first error."""
    proc = subprocess.run(["psql", "-qAtX", "-v", "ON_ERROR_STOP=1", "-d", database], input="\n".join(lines),
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


@dataclass
class Postgres:
    """The server, as the tests' superuser sees it, and the databases and roles of one test (or of
    one module's shared run), named with its token."""

    token: str

    psql = staticmethod(psql)
    script = staticmethod(psql_script)

    @classmethod
    def new(cls) -> Postgres:
        return cls(uuid.uuid4().hex[:10])

    # the server's answers

    def value(self, statement: str, database: str = "postgres") -> str:
        """The one value a query returns, as text."""
        return psql(statement, database).strip()

    def column(self, statement: str, database: str = "postgres") -> list[str]:
        """The values of a one-column query, as text."""
        return psql(statement, database).splitlines()

    def note_texts(self, database: str) -> list[str]:
        return self.column("SELECT text FROM notes ORDER BY id", database)

    def allows_connections(self, database: str) -> bool:
        return self.value(f"SELECT datallowconn FROM pg_database WHERE datname = '{database}'") == "t"

    @staticmethod
    def connect(database: str, user: str) -> subprocess.CompletedProcess:
        """A connection of a role to a database, as an app makes one (trust: no password asked)."""
        return subprocess.run(["psql", "-AtX", "-U", user, "-d", database, "-c", "SELECT count(*) FROM notes"],
                              capture_output=True, text=True, check=False)

    # this test's own

    def name(self, label: str = "notes") -> str:
        return f"{label}_{self.token}"

    def databases(self) -> list[str]:
        """The server's databases whose name holds this token, sorted."""
        return sorted(self.column(f"SELECT datname FROM pg_database WHERE datname LIKE '%{self.token}%'"))

    def role(self, label: str = "app") -> str:
        """A login role like an app's (no superuser, no createdb), named with this token."""
        role = self.name(label)
        psql(f'CREATE ROLE "{role}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE')
        return role

    def notes(self, name: str, texts=("first note", "second note"), *, owner: str = "postgres") -> str:
        """A database like an app's, as the role makes it (owned by owner, template0, UTF8, PUBLIC
        not let in) with the schema the app's migrations make (notes_schema at the latest version,
        notes), made as owner; one note per text."""
        migrations = _migrations()
        script = [f'CREATE DATABASE "{name}" OWNER "{owner}" TEMPLATE template0 ENCODING UTF8;',
                  f'REVOKE CONNECT, TEMPORARY ON DATABASE "{name}" FROM PUBLIC;',
                  f'\\connect "{name}"',
                  f'SET ROLE "{owner}";',
                  "CREATE TABLE notes_schema (version INTEGER NOT NULL);",
                  *[f"{sql};" for sql in migrations],
                  f"INSERT INTO notes_schema (version) VALUES ({len(migrations)});"]
        script += [f"INSERT INTO notes (text) VALUES ('{text}');" for text in texts]
        psql_script(script)
        return name

    def drop_all(self) -> None:
        """Drops the databases (their sessions ended) and then the roles named with this token."""
        pattern = f"%\\_{self.token}%"
        script = (f"SELECT format('DROP DATABASE %I WITH (FORCE)', datname) FROM pg_database "
                  f"WHERE datname LIKE '{pattern}' \\gexec\n"
                  f"SELECT format('DROP ROLE %I', rolname) FROM pg_roles WHERE rolname LIKE '{pattern}' \\gexec\n")
        subprocess.run(["psql", "-qAtX", "-d", "postgres"], input=script, capture_output=True, text=True, check=False)


@pytest.fixture
def pg() -> Iterator[Postgres]:
    """The server, and this test's own databases and roles, dropped after it."""
    made = Postgres.new()
    yield made
    made.drop_all()


@pytest.fixture(scope="module")
def new_pg() -> Iterator:
    """new_pg(): a Postgres of a token of its own, for a run shared by a module's tests; its
    databases and roles are dropped after the module's last test."""
    made: list[Postgres] = []

    def new() -> Postgres:
        made.append(Postgres.new())
        return made[-1]

    yield new
    for each in made:
        each.drop_all()


def pg_dump(database: str, path: Path) -> Path:
    """A dump of a database as pg_backup.py makes one (pg_dump's custom format)."""
    proc = subprocess.run(["pg_dump", "--format=custom", "--file", str(path), "--dbname", database],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    return path


@pytest.fixture
def dump(tmp_path):
    """dump(database): a dump of a database, as pg_backup.py makes one, in tmp_path; its path."""
    return lambda database: pg_dump(database, tmp_path / f"{database}.dump")


@pytest.fixture(scope="session")
def make_dump():
    """make_dump(database, path): the module-scoped fixtures' dump (see `dump`)."""
    return pg_dump


# --- the programs under test --------------------------------------------------------------------------------


@pytest.fixture
def pg_backup(load_file):
    return load_file("roles/postgresql_server/files/pg_backup.py")


@pytest.fixture
def pg_restore(load_file, monkeypatch):
    """pg_restore.py, which imports pg_backup from its own directory, where the role installs both."""
    monkeypatch.syspath_prepend(str(FILES))
    monkeypatch.delitem(sys.modules, "pg_backup", raising=False)
    return load_file("roles/postgresql_server/files/pg_restore.py")


@pytest.fixture(scope="module")
def load_program():
    """load_program(file): a program of the role as a fresh module, for fixtures made once per module;
    pg_restore.py finds pg_backup in its own directory."""
    sys.path.insert(0, str(FILES))
    yield lambda name: _load(FILES / name, f"unit_module_{Path(name).stem}")
    sys.path.remove(str(FILES))
    sys.modules.pop("pg_backup", None)


@pytest.fixture
def run_program(monkeypatch, capsys):
    """Runs a program's file as `python3 FILE ARGS...` would, in this process (so coverage sees it).

    Returns its exit status as the interpreter would make it (sys.exit("message") is 1, with the
    message on stderr) and what it printed."""

    def run(name: str, *argv: object) -> Run:
        path = FILES / name
        monkeypatch.syspath_prepend(str(FILES))  # `python3 FILE` puts the file's directory first
        monkeypatch.delitem(sys.modules, "pg_backup", raising=False)
        return run_as_main(path, argv, monkeypatch, capsys)

    return run
