from __future__ import annotations

import importlib
import sqlite3
import sys
from pathlib import Path

import pytest
from flask import Flask

from notes import create_app


def test_factory_reads_database_and_secret_key_file_from_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db_path = tmp_path / "data" / "notes.sqlite3"
    db_path.parent.mkdir()
    secret = tmp_path / "secret_key"
    secret.write_text("  s3cret-value\n", encoding="utf-8")
    monkeypatch.setenv("NOTES_DATABASE", str(db_path))
    monkeypatch.setenv("NOTES_SECRET_KEY_FILE", str(secret))

    app = create_app()

    assert app.config["DATABASE"] == str(db_path)
    assert app.config["SECRET_KEY"] == "s3cret-value"
    assert db_path.is_file()


def test_secret_key_from_env_wins_over_the_hosts_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A key every app host shares (from the inventory's vault) beats each host's own.
    secret = tmp_path / "secret_key"
    secret.write_text("host-key\n", encoding="utf-8")
    monkeypatch.setenv("NOTES_DATABASE", str(tmp_path / "notes.sqlite3"))
    monkeypatch.setenv("NOTES_SECRET_KEY_FILE", str(secret))
    monkeypatch.setenv("NOTES_SECRET_KEY", "shared-key")

    assert create_app().config["SECRET_KEY"] == "shared-key"


def test_factory_without_secret_outside_testing_raises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTES_DATABASE", str(tmp_path / "notes.sqlite3"))
    with pytest.raises(RuntimeError, match="NOTES_SECRET_KEY_FILE"):
        create_app()


def test_factory_does_not_create_instance_path_for_outside_database(
    tmp_path: Path,
) -> None:
    app = create_app({"TESTING": True, "DATABASE": str(tmp_path / "notes.sqlite3")})
    if Path(app.instance_path).exists():
        pytest.skip("instance path already exists in this checkout")
    assert Path(app.config["DATABASE"]).is_file()
    assert not Path(app.instance_path).exists()


def test_wsgi_module_exposes_a_flask_app(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "secret_key"
    secret.write_text("wsgi-secret", encoding="utf-8")
    monkeypatch.setenv("NOTES_DATABASE", str(tmp_path / "notes.sqlite3"))
    monkeypatch.setenv("NOTES_SECRET_KEY_FILE", str(secret))
    monkeypatch.delitem(sys.modules, "notes.wsgi", raising=False)

    wsgi = importlib.import_module("notes.wsgi")

    assert isinstance(wsgi.app, Flask)
    assert wsgi.app.config["SECRET_KEY"] == "wsgi-secret"
    monkeypatch.delitem(sys.modules, "notes.wsgi", raising=False)


def test_factory_leaves_the_database_in_wal_mode(tmp_path: Path) -> None:
    database = tmp_path / "notes.sqlite3"
    create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(database)})
    conn = sqlite3.connect(database)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
