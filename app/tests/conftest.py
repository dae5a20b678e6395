from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notes import create_app


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep NOTES_* variables from the outer environment out of the tests."""
    for name in list(os.environ):
        if name.startswith("NOTES_"):
            monkeypatch.delenv(name)


def _postgresql_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        pytest.fail("no PostgreSQL server found (/usr/lib/postgresql/*/bin/initdb): scripts/bootstrap installs "
                    "Debian's postgresql package")
    return found[-1].parent


@pytest.fixture(scope="session")
def postgresql_server() -> Iterator[str]:
    """A real PostgreSQL server of the tests' own (Debian's binaries, a cluster in a temporary
    directory, reached on a unix socket there only); its URL, without a database name."""
    bindir = _postgresql_bin()
    # Not under pytest's own temporary directory, which only its owner may enter.
    base = Path(tempfile.mkdtemp(prefix="notes-postgresql-"))
    data, socket_dir = base / "data", base / "socket"
    socket_dir.mkdir()
    as_server: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: it runs as Debian's postgres user
        shutil.chown(base, "postgres")
        shutil.chown(socket_dir, "postgres")
        as_server = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_server, str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--no-sync", "-E", "UTF8"], check=True, capture_output=True)
    port = "5439"
    subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                    f"-k {socket_dir} -p {port} -c listen_addresses='' -c fsync=off", "start"],
                   check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/?host={socket_dir}&port={port}"
    finally:
        subprocess.run([*as_server, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       check=False, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def postgresql_url(postgresql_server: str) -> Iterator[str]:
    """A new, empty database of the tests' server, dropped afterwards."""
    import psycopg

    name = f"notes_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgresql_server.replace("/?", "/postgres?"), autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    url = postgresql_server.replace("/?", f"/{name}?")
    yield url
    with psycopg.connect(postgresql_server.replace("/?", "/postgres?"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """The app on each database it speaks: SQLite in its data directory, and PostgreSQL (a new
    database, migrated as the deploy does) when DATABASE_URL names one."""
    config = {"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "notes.sqlite3")}
    if request.param == "postgresql":
        from notes import migrate

        url = request.getfixturevalue("postgresql_url")
        migrate.migrate_postgresql(url)
        config["DATABASE_URL"] = url
    yield create_app(config)


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[Flask]:
    """The app on SQLite alone, for what only SQLite has (its query plans, its page limit)."""
    yield create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "notes.sqlite3")})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def unreachable_db_client(tmp_path: Path) -> FlaskClient:
    """A client of an app whose database lives in a directory that does not exist."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE": str(tmp_path / "missing-dir" / "notes.sqlite3"),
        }
    )
    return app.test_client()
