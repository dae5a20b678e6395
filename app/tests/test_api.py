from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from notes.db import get_db
from notes.views import PAGE_DEFAULT, PAGE_MAX, TEXT_UNSTORABLE

TEXT_REQUIRED = "field 'text' is required and must be a non-empty string"


def test_post_then_get_round_trips_a_note(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json={"text": "hello"})
    assert resp.status_code == 201
    note = resp.get_json()
    assert note["text"] == "hello"
    assert isinstance(note["id"], int)
    assert note["created"]
    assert resp.headers["Location"] == f"/api/notes/{note['id']}"
    assert client.get(resp.headers["Location"]).get_json() == note

    listed = client.get("/api/notes")
    assert listed.status_code == 200
    assert listed.get_json() == {"notes": [note], "next": None}


def test_notes_are_listed_newest_first(client: FlaskClient) -> None:
    for text in ("first", "second", "third"):
        client.post("/api/notes", json={"text": text})
    notes = client.get("/api/notes").get_json()["notes"]
    assert [n["text"] for n in notes] == ["third", "second", "first"]


def test_unparseable_json_is_400_with_json_error(client: FlaskClient) -> None:
    resp = client.post(
        "/api/notes", data="{not json", content_type="application/json"
    )
    assert resp.status_code == 400
    assert resp.is_json
    assert "error" in resp.get_json()


def test_json_that_is_not_an_object_is_400(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json=["text", "hello"])
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "request body must be a JSON object"}


def test_missing_text_is_400(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json={"body": "hello"})
    assert resp.status_code == 400
    assert resp.get_json() == {"error": TEXT_REQUIRED}


def test_empty_text_is_400(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json={"text": "   "})
    assert resp.status_code == 400
    assert resp.get_json() == {"error": TEXT_REQUIRED}


def test_non_string_text_is_400(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json={"text": 42})
    assert resp.status_code == 400
    assert resp.get_json() == {"error": TEXT_REQUIRED}


def test_text_longer_than_limit_is_400_naming_the_limit(client: FlaskClient) -> None:
    resp = client.post("/api/notes", json={"text": "x" * 2001})
    assert resp.status_code == 400
    assert "2000" in resp.get_json()["error"]
    assert client.post("/api/notes", json={"text": "x" * 2000}).status_code == 201


def test_wrong_content_type_is_415_with_json_error(client: FlaskClient) -> None:
    resp = client.post("/api/notes", data="text=hello", content_type="text/plain")
    assert resp.status_code == 415
    assert resp.is_json
    assert "error" in resp.get_json()


def test_unknown_api_path_is_404_json(client: FlaskClient) -> None:
    resp = client.get("/api/nope")
    assert resp.status_code == 404
    assert resp.is_json
    assert "error" in resp.get_json()


@pytest.mark.parametrize("note_id", ["9223372036854775807", "9223372036854775808", "99999999999999999999999"])
def test_note_id_at_or_past_sqlites_64_bit_range_is_404_json(client: FlaskClient, note_id: str) -> None:
    resp = client.get(f"/api/notes/{note_id}")
    assert resp.status_code == 404
    assert resp.is_json
    assert "error" in resp.get_json()


def test_wrong_method_on_api_is_405_json(client: FlaskClient) -> None:
    resp = client.delete("/api/notes")
    assert resp.status_code == 405
    assert resp.is_json
    assert "error" in resp.get_json()


def test_a_created_note_is_logged_as_a_json_line_with_the_requests_id(
    client: FlaskClient, capsys: pytest.CaptureFixture[str]
) -> None:
    resp = client.post("/api/notes", json={"text": "logged"}, headers={"X-Request-ID": "req-1234abcd"})
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["request_id"] == "req-1234abcd"
    assert line["message"] == f"note {resp.get_json()['id']} created"
    assert (line["level"], line["method"], line["path"]) == ("info", "POST", "/api/notes")


def _post(client: FlaskClient, count: int) -> list[int]:
    return [client.post("/api/notes", json={"text": f"note {i}"}).get_json()["id"] for i in range(count)]


def test_list_is_one_page_of_the_default_size_with_a_link_to_the_next(client: FlaskClient) -> None:
    ids = _post(client, PAGE_DEFAULT + 3)
    resp = client.get("/api/notes")
    body = resp.get_json()
    assert [n["id"] for n in body["notes"]] == ids[::-1][:PAGE_DEFAULT]
    following = f"/api/notes?before={ids[3]}&limit={PAGE_DEFAULT}"
    assert body["next"] == following
    assert resp.headers["Link"] == f'<{following}>; rel="next"'


def test_following_next_reads_every_note_once_newest_first(client: FlaskClient) -> None:
    ids = _post(client, 7)
    seen, url = [], "/api/notes?limit=3"
    while url:
        body = client.get(url).get_json()
        seen += [n["id"] for n in body["notes"]]
        url = body["next"]
    assert seen == ids[::-1]


def test_last_page_has_no_next_and_no_link(client: FlaskClient) -> None:
    _post(client, 2)
    resp = client.get("/api/notes?limit=2")
    assert resp.get_json()["next"] is None
    assert "Link" not in resp.headers


def test_before_lists_only_older_notes(client: FlaskClient) -> None:
    ids = _post(client, 4)
    body = client.get(f"/api/notes?before={ids[2]}").get_json()
    assert [n["id"] for n in body["notes"]] == [ids[1], ids[0]]


def test_a_page_holds_at_most_the_maximum(client: FlaskClient) -> None:
    _post(client, PAGE_MAX + 1)
    assert len(client.get(f"/api/notes?limit={PAGE_MAX}").get_json()["notes"]) == PAGE_MAX


@pytest.mark.parametrize("query", ["limit=0", f"limit={PAGE_MAX + 1}", "limit=ten", "limit=-1", "limit=",
                                   "limit=%C2%B2", "limit=1e3"])
def test_a_limit_outside_the_allowed_range_is_400_naming_it(client: FlaskClient, query: str) -> None:
    resp = client.get(f"/api/notes?{query}")
    assert resp.status_code == 400
    assert resp.get_json() == {"error": f"query parameter 'limit' must be a whole number from 1 to {PAGE_MAX}"}


@pytest.mark.parametrize("before", ["0", "x", "-5", "", "9223372036854775808", "99999999999999999999"])
def test_a_before_that_is_no_note_id_is_400_naming_it(client: FlaskClient, before: str) -> None:
    resp = client.get(f"/api/notes?before={before}")
    assert resp.status_code == 400
    assert resp.get_json() == {"error": "query parameter 'before' must be a note id (a whole number from 1)"}


def test_a_page_is_read_through_the_primary_key_not_the_whole_table(sqlite_app: Flask) -> None:
    """A page costs the same at 10 notes and at 100,000: SQLite walks the rowid from the cursor
    and stops after limit + 1 rows (no scan, no sort of the table)."""
    with sqlite_app.app_context():
        plan = get_db().execute(
            "EXPLAIN QUERY PLAN SELECT id, text, created FROM notes WHERE id < ? ORDER BY id DESC LIMIT ?",
            (10, 51),
        ).fetchall()
    details = " ".join(row["detail"] for row in plan)
    assert "USING INTEGER PRIMARY KEY (rowid<?)" in details
    assert "TEMP B-TREE" not in details


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "nul\x00byte"])
def test_text_no_database_can_store_is_400_naming_the_field(client: FlaskClient, text: str) -> None:
    body = json.dumps({"text": text})  # ASCII-escaped: valid JSON carrying the lone surrogate or NUL
    resp = client.post("/api/notes", data=body, content_type="application/json")
    assert resp.status_code == 400
    assert resp.get_json() == {"error": TEXT_UNSTORABLE}
    assert "'text'" in TEXT_UNSTORABLE


def test_text_with_characters_outside_the_bmp_is_stored(client: FlaskClient) -> None:
    resp = client.post("/api/notes", data=json.dumps({"text": "\ud83d\ude00 ok"}), content_type="application/json")
    assert resp.status_code == 201
    assert resp.get_json()["text"] == "\U0001F600 ok"


@pytest.fixture
def full_disk_client(sqlite_app: Flask, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    """A client of an app whose database can grow no more: every connection the app opens gets
    SQLite's own 'database or disk is full' (SQLITE_FULL), as on a full filesystem, once the
    database has grown a few pages past its size now. monkeypatch.undo() frees the space."""
    from notes import db as notes_db

    client = sqlite_app.test_client()
    _post(client, 3)
    notes_db.release_anchor()  # leaving WAL mode needs the database to itself
    with sqlite_app.app_context():
        db = get_db()
        notes_db.release_anchor()
        db.execute("PRAGMA journal_mode=DELETE")  # WAL would take writes into a log file of its own
        limit = db.execute("PRAGMA page_count").fetchone()[0] + 2
    connect = notes_db.connect

    def limited(path: str):
        conn = connect(path)
        conn.execute(f"PRAGMA max_page_count = {limit}")
        return conn

    monkeypatch.setattr(notes_db, "connect", limited)
    return client


def test_the_wal_and_shm_files_outlive_every_requests_connection(sqlite_app: Flask, tmp_path: Path) -> None:
    # A worker keeps them (its anchor): on a full disk they could not be made again, and reads would fail.
    client = sqlite_app.test_client()
    _post(client, 1)
    assert client.get("/api/notes").status_code == 200
    assert sorted(p.name for p in tmp_path.glob("notes.sqlite3-*")) == ["notes.sqlite3-shm", "notes.sqlite3-wal"]


def _post_until_refused(client: FlaskClient, path: str, **kwargs: object) -> list[int]:
    codes: list[int] = []
    while not codes or codes[-1] in (201, 303):
        assert len(codes) < 50, codes
        codes.append(client.post(path, **kwargs).status_code)
    return codes


def test_a_write_on_a_full_disk_is_503_with_retry_after(full_disk_client: FlaskClient) -> None:
    codes = _post_until_refused(full_disk_client, "/api/notes", json={"text": "y" * 2000})
    assert codes[-1] == 503, codes
    resp = full_disk_client.post("/api/notes", json={"text": "y" * 2000})
    assert (resp.status_code, resp.headers["Retry-After"]) == (503, "5")
    assert resp.get_json() == {"error": "the database cannot take this request now; try again shortly"}


def test_reads_go_on_while_the_disk_is_full(full_disk_client: FlaskClient) -> None:
    stored = len(_post_until_refused(full_disk_client, "/api/notes", json={"text": "y" * 2000})) - 1
    listed = full_disk_client.get("/api/notes?limit=200")
    assert listed.status_code == 200
    assert len(listed.get_json()["notes"]) == 3 + stored
    assert full_disk_client.get("/").status_code == 200


def test_after_a_full_disk_the_database_is_sound_and_writes_succeed_by_themselves(
        sqlite_app: Flask, full_disk_client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    _post_until_refused(full_disk_client, "/api/notes", json={"text": "y" * 2000})
    monkeypatch.undo()  # space is freed
    with sqlite_app.app_context():
        assert get_db().execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert full_disk_client.post("/api/notes", json={"text": "after"}).status_code == 201


def test_the_page_form_on_a_full_disk_is_503_in_plain_text(full_disk_client: FlaskClient) -> None:
    with full_disk_client.session_transaction() as session:
        session["csrf_token"] = "t"
    codes = _post_until_refused(full_disk_client, "/", data={"text": "z" * 2000, "csrf_token": "t"})
    resp = full_disk_client.post("/", data={"text": "z" * 2000, "csrf_token": "t"})
    assert codes[-1] == 503, codes
    assert (resp.status_code, resp.headers["Retry-After"], resp.mimetype) == (503, "5", "text/plain")
