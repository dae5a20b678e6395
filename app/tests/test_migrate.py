"""Schema migrations (notes.migrate): numbered, each in one transaction with its version."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from notes import create_app, migrate

# The schema the first releases created at startup, before there were migrations (version 0).
UNVERSIONED = """CREATE TABLE notes (id INTEGER PRIMARY KEY AUTOINCREMENT, text TEXT NOT NULL,
                 created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"""


def columns(path: Path) -> list[str]:
    with sqlite3.connect(path) as db:
        return [row[1] for row in db.execute("PRAGMA table_info(notes)")]


@pytest.fixture
def old_database(tmp_path: Path) -> Path:
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute(UNVERSIONED)
        db.execute("INSERT INTO notes (text) VALUES ('written before migrations')")
    return path


def test_a_new_database_gets_the_latest_schema_when_the_app_starts(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["schema"] == migrate.LATEST


def test_migrating_an_unversioned_database_adds_the_column_and_keeps_every_row(old_database: Path) -> None:
    assert migrate.migrate(str(old_database)) == (0, migrate.LATEST)
    assert columns(old_database) == ["id", "text", "created", "pinned"]
    with sqlite3.connect(old_database) as db:
        assert db.execute("SELECT text, pinned FROM notes").fetchall() == [("written before migrations", 0)]


def test_migrating_twice_changes_nothing(old_database: Path) -> None:
    migrate.migrate(str(old_database))
    assert migrate.migrate(str(old_database)) == (migrate.LATEST, migrate.LATEST)


def test_a_failing_migration_leaves_the_database_as_it_was(old_database: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(migrate, "MIGRATIONS", (*migrate.MIGRATIONS, (9, {"sqlite": "ALTER TABLE nowhere ADD COLUMN x"})))
    with pytest.raises(sqlite3.OperationalError):
        migrate.migrate(str(old_database))
    with sqlite3.connect(old_database) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == migrate.LATEST  # the ones before 9 applied


def test_the_app_does_not_migrate_a_database_that_has_tables_and_reports_it_unhealthy(old_database: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(old_database)})
    resp = app.test_client().get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["schema"] == 0
    assert "pinned" not in columns(old_database)


def test_module_run_migrates_the_database_it_is_given(old_database: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "notes.migrate"], capture_output=True, text=True, check=True,
                         env={"NOTES_DATABASE": str(old_database)}, cwd=Path(__file__).parents[1])
    assert json.loads(run.stdout) == {"database": str(old_database), "schema_before": 0, "schema": migrate.LATEST}
