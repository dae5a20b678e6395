from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient

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
    assert listed.get_json() == {"notes": [note]}


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
