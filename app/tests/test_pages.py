from __future__ import annotations

import os
import re
import socket
from pathlib import Path

import pytest
from flask.testing import FlaskClient

from notes import __version__, create_app
from notes.migrate import LATEST


def test_index_renders_html_and_links_stylesheet(client: FlaskClient) -> None:
    client.post("/api/notes", json={"text": "<b>shown escaped</b>"})
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    assert "<title>Notes</title>" in body
    assert re.search(r'href="/static/[0-9a-f]{12}/style\.css"', body)
    assert __version__ in body
    assert "&lt;b&gt;shown escaped&lt;/b&gt;" in body
    assert client.get("/static/style.css").status_code == 200


def test_livez_answers_ok(client: FlaskClient) -> None:
    resp = client.get("/livez")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_livez_answers_ok_even_when_database_unreachable(unreachable_db_client: FlaskClient) -> None:
    resp = unreachable_db_client.get("/livez")
    assert resp.status_code == 200
    assert resp.get_json() == {"status": "ok"}


def test_healthz_reports_status_version_hostname_pid_and_the_database_it_checked(app, client: FlaskClient) -> None:
    resp = client.get("/healthz")
    assert resp.status_code == 200
    assert resp.get_json() == {
        "status": "ok",
        "version": __version__,
        "release": "unreleased",
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
        "database": "postgresql" if app.config.get("DATABASE_URL") else "sqlite",
        "schema": LATEST,
    }


def test_healthz_reports_the_release_the_deployment_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("NOTES_RELEASE", "20261125T000000Z-1.0.0-0123456789")
    app = create_app({"TESTING": True, "SECRET_KEY": "test", "DATABASE": str(tmp_path / "n.db")})
    assert app.test_client().get("/healthz").get_json()["release"] == "20261125T000000Z-1.0.0-0123456789"


def test_healthz_returns_503_when_database_unreachable(unreachable_db_client: FlaskClient) -> None:
    resp = unreachable_db_client.get("/healthz")
    assert resp.status_code == 503
    data = resp.get_json()
    assert data["status"] == "error"
    assert data["version"] == __version__


def test_page_shows_the_newest_page_of_notes_and_a_link_to_older_ones(client: FlaskClient) -> None:
    from notes.views import PAGE_DEFAULT

    ids = [client.post("/api/notes", json={"text": f"page note {i}"}).get_json()["id"] for i in range(PAGE_DEFAULT + 1)]
    body = client.get("/").get_data(as_text=True)
    assert f"page note {PAGE_DEFAULT}" in body and "page note 0<" not in body
    assert f'<a href="/?before={ids[1]}" rel="next">Older notes</a>' in body
    older = client.get(f"/?before={ids[1]}").get_data(as_text=True)
    assert "page note 0<" in older and "Older notes" not in older


def test_page_past_the_oldest_note_says_so(client: FlaskClient) -> None:
    client.post("/api/notes", json={"text": "only"})
    assert "No older notes." in client.get("/?before=1").get_data(as_text=True)


def test_page_with_a_cursor_that_is_no_note_id_is_400_naming_it(client: FlaskClient) -> None:
    resp = client.get("/?before=abc")
    assert resp.status_code == 400
    assert "'before'" in resp.get_data(as_text=True)
