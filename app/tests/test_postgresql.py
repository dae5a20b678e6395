"""The app on PostgreSQL: what differs from SQLite (every API and page test runs on both)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from flask import Flask

from notes import create_app, migrate


def test_a_new_note_looks_as_on_sqlite(app: Flask) -> None:
    note = app.test_client().post("/api/notes", json={"text": "hello"}).get_json()
    assert isinstance(note["id"], int)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", note["created"]), note


def test_healthz_fails_when_the_notes_cannot_be_read(app: Flask) -> None:
    client = app.test_client()
    assert client.get("/healthz").status_code == 200
    with app.app_context():
        from notes.db import get_db

        get_db().execute("DROP TABLE notes")
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["error"] == "database unreachable"


def test_a_database_without_the_apps_tables_gets_503_with_retry_after_until_it_has_them(postgresql_url: str) -> None:
    # A new database server before its restore or the app's migration: not ready, never 500.
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    for resp in (client.post("/api/notes", json={"text": "too early"}), client.get("/api/notes")):
        assert (resp.status_code, resp.headers.get("Retry-After")) == (503, "5")
    assert client.get("/healthz").status_code == 503
    migrate.migrate_postgresql(postgresql_url)
    assert client.post("/api/notes", json={"text": "in time"}).status_code == 201


@pytest.fixture
def unreachable_postgresql_app(postgresql_server: str) -> Flask:
    """An app whose PostgreSQL server does not answer (nothing listens on its port)."""
    url = postgresql_server.replace("port=5439", "port=5438").replace("/?", "/notes?")
    return create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": url})


def test_writes_to_an_unreachable_server_get_503_with_retry_after(unreachable_postgresql_app: Flask) -> None:
    resp = unreachable_postgresql_app.test_client().post("/api/notes", json={"text": "lost?"})
    assert (resp.status_code, resp.headers["Retry-After"]) == (503, "5")
    assert "error" in resp.get_json()


def test_health_of_an_unreachable_server_is_503_and_liveness_200(unreachable_postgresql_app: Flask) -> None:
    client = unreachable_postgresql_app.test_client()
    health = client.get("/healthz")
    assert (health.status_code, health.get_json()["database"]) == (503, "postgresql")
    assert client.get("/livez").status_code == 200


def test_the_next_request_after_the_servers_connections_were_cut_is_served(postgresql_url: str) -> None:
    migrate.migrate_postgresql(postgresql_url)
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    assert client.post("/api/notes", json={"text": "before"}).status_code == 201
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    assert client.post("/api/notes", json={"text": "after"}).status_code == 201


def _server_ends_the_connection_once(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    """The request's first query of that Database method meets its connection ended by the server (a
    stopping or demoted server's "terminating connection due to administrator command"), after the
    kept connection passed its check."""
    from notes import db as notes_db

    real = getattr(notes_db.Database, method)
    cut: list[bool] = []

    def query(self, *args, **kwargs):
        if not cut:
            cut.append(True)
            self.conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(notes_db.Database, method, query)


def test_a_read_whose_connection_the_server_ends_under_it_is_served_on_a_new_one(postgresql_url, monkeypatch):
    migrate.migrate_postgresql(postgresql_url)
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    note = client.post("/api/notes", json={"text": "kept"}).get_json()
    _server_ends_the_connection_once(monkeypatch, "one")
    resp = client.get(f"/api/notes/{note['id']}")
    assert (resp.status_code, resp.get_json()["text"]) == (200, "kept")


def test_a_write_whose_connection_the_server_ends_under_it_gets_503_and_is_not_sent_again(postgresql_url, monkeypatch):
    migrate.migrate_postgresql(postgresql_url)
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    assert client.get("/api/notes").status_code == 200  # the worker's connection is kept
    _server_ends_the_connection_once(monkeypatch, "one")
    resp = client.post("/api/notes", json={"text": "outcome unknown"})
    assert (resp.status_code, resp.headers.get("Retry-After")) == (503, "5")
    with psycopg.connect(postgresql_url) as check:
        assert check.execute("SELECT count(*) FROM notes WHERE text = 'outcome unknown'").fetchone()[0] == 0


def test_the_module_migrates_the_database_the_url_names_and_prints_no_url(postgresql_url: str) -> None:
    def run() -> dict:
        out = subprocess.run([sys.executable, "-m", "notes.migrate"], capture_output=True, text=True, check=True,
                             env={"NOTES_DATABASE_URL": postgresql_url}, cwd=Path(__file__).parents[1])
        assert postgresql_url not in out.stdout + out.stderr
        return json.loads(out.stdout)

    assert run() == {"database": "postgresql", "schema_before": 0, "schema": migrate.LATEST}
    assert run() == {"database": "postgresql", "schema_before": migrate.LATEST, "schema": migrate.LATEST}


def test_app_hosts_that_migrate_at_once_take_turns(postgresql_url: str) -> None:
    results: list[tuple[int, int]] = []
    threads = [threading.Thread(target=lambda: results.append(migrate.migrate_postgresql(postgresql_url)))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(after for _, after in results) == [migrate.LATEST] * 4
    with psycopg.connect(postgresql_url) as conn:
        assert conn.execute("SELECT version FROM notes_schema").fetchall() == [(migrate.LATEST,)]


def test_a_failing_migration_changes_nothing(postgresql_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    migrate.migrate_postgresql(postgresql_url)
    monkeypatch.setattr(migrate, "MIGRATIONS", (*migrate.MIGRATIONS, (
        9, {"postgresql": "ALTER TABLE notes ADD COLUMN tag TEXT; ALTER TABLE nowhere ADD COLUMN x INT"})))
    with pytest.raises(psycopg.errors.UndefinedTable):
        migrate.migrate_postgresql(postgresql_url)
    with psycopg.connect(postgresql_url) as conn:
        assert conn.execute("SELECT version FROM notes_schema").fetchone()[0] == migrate.LATEST
        columns = [r[0] for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'notes'")]
    assert "tag" not in columns


def test_an_app_on_postgresql_makes_no_folder_for_a_sqlite_file(postgresql_url: str) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url})
    assert not Path(app.instance_path).exists()


def test_a_worker_keeps_its_connection_for_its_next_requests(postgresql_url: str) -> None:
    migrate.migrate_postgresql(postgresql_url)
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()

    def backends() -> set[int]:
        with psycopg.connect(postgresql_url, autocommit=True) as admin:
            return {r[0] for r in admin.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                                " AND pid <> pg_backend_pid()")}

    assert client.post("/api/notes", json={"text": "one"}).status_code == 201
    first = backends()
    for text in ("two", "three"):
        assert client.post("/api/notes", json={"text": text}).status_code == 201
    assert client.get("/api/notes").status_code == 200
    assert backends() == first and len(first) == 1


def test_an_app_on_another_database_in_the_same_process_gets_its_own_connection(
        postgresql_url: str, postgresql_server: str) -> None:
    migrate.migrate_postgresql(postgresql_url)
    first = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    assert first.post("/api/notes", json={"text": "in the first"}).status_code == 201
    other = postgresql_server.replace("/?", "/postgres?")
    second = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": other}).test_client()
    assert second.get("/healthz").get_json()["status"] == "error"  # postgres has no notes table
    assert first.get("/api/notes").get_json()["notes"][0]["text"] == "in the first"


def _set_database(url: str, setting: str) -> None:
    """ALTER DATABASE ... SET or RESET, for the sessions that start after it."""
    name = url.split("/")[3].split("?")[0]
    with psycopg.connect(url.replace(f"/{name}?", "/postgres?"), autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} {setting}")


def test_a_write_to_a_server_that_is_a_standby_now_gets_503_and_the_next_connects_anew(postgresql_url: str) -> None:
    # A demoted primary refuses writes (25006) as a server whose sessions are read-only does.
    migrate.migrate_postgresql(postgresql_url)
    _set_database(postgresql_url, "SET default_transaction_read_only = on")
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    resp = client.post("/api/notes", json={"text": "to a standby"})
    assert (resp.status_code, resp.headers.get("Retry-After")) == (503, "5")
    _set_database(postgresql_url, "RESET default_transaction_read_only")
    # The read-only session was not kept: the next request's is new, and writable.
    assert client.post("/api/notes", json={"text": "to the primary"}).status_code == 201


def test_reads_go_on_when_no_server_takes_writes_and_writes_get_503(postgresql_url: str) -> None:
    # During a failover no server is the primary for a while: reads are served by any server.
    migrate.migrate_postgresql(postgresql_url)
    client = create_app({"TESTING": True, "SECRET_KEY": "test",
                         "DATABASE_URL": postgresql_url + "&target_session_attrs=read-write"}).test_client()
    note = client.post("/api/notes", json={"text": "before the failover"}).get_json()
    _set_database(postgresql_url, "SET default_transaction_read_only = on")
    with psycopg.connect(postgresql_url, autocommit=True) as admin:  # the primary's sessions end
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                      "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        assert client.get(f"/api/notes/{note['id']}").get_json()["text"] == "before the failover"
        resp = client.post("/api/notes", json={"text": "during the failover"})
        assert (resp.status_code, resp.headers.get("Retry-After")) == (503, "5")
    finally:
        _set_database(postgresql_url, "RESET default_transaction_read_only")
    assert client.post("/api/notes", json={"text": "after the failover"}).status_code == 201


def test_a_write_whose_wait_for_a_standby_was_cut_gets_503_never_201(postgresql_url: str, monkeypatch) -> None:
    # Synchronous replication with no standby: the commit waits, the statement timeout cuts the wait,
    # and PostgreSQL only warns (the commit stands on the primary alone): the client must not hear 201.
    from notes import db

    migrate.migrate_postgresql(postgresql_url)
    monkeypatch.setattr(db, "STATEMENT_TIMEOUT", 1)
    client = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE_URL": postgresql_url}).test_client()
    with psycopg.connect(postgresql_url, autocommit=True) as admin:
        admin.execute("ALTER SYSTEM SET synchronous_standby_names = 'a_standby_that_never_comes'")
        admin.execute("SELECT pg_reload_conf()")
        try:
            resp = client.post("/api/notes", json={"text": "on one server only"})
        finally:
            admin.execute("ALTER SYSTEM RESET synchronous_standby_names")
            admin.execute("SELECT pg_reload_conf()")
    assert (resp.status_code, resp.headers.get("Retry-After")) == (503, "5")
    assert client.post("/api/notes", json={"text": "confirmed"}).status_code == 201
