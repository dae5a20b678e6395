"""The page's form: adds a note, guarded by a CSRF token tied to the session."""

from __future__ import annotations

import re

from flask.testing import FlaskClient


def form_token(client: FlaskClient) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/").get_data(as_text=True))
    assert match
    return match.group(1)


def test_form_adds_a_note_and_redirects_to_the_page(client: FlaskClient) -> None:
    resp = client.post("/", data={"text": "from the form", "csrf_token": form_token(client)})
    assert resp.status_code == 303
    assert resp.headers["Location"] == "/"
    assert "from the form" in client.get("/").get_data(as_text=True)


def test_post_without_the_token_is_refused_and_adds_nothing(client: FlaskClient) -> None:
    form_token(client)
    resp = client.post("/", data={"text": "forged"})
    assert resp.status_code == 400
    assert "forged" not in client.get("/").get_data(as_text=True)


def test_post_with_another_sessions_token_is_refused(client: FlaskClient, app) -> None:
    stolen = form_token(app.test_client())
    form_token(client)
    assert client.post("/", data={"text": "forged", "csrf_token": stolen}).status_code == 400


def test_post_with_a_token_that_is_not_ascii_is_refused_not_an_error(client: FlaskClient) -> None:
    form_token(client)
    assert client.post("/", data={"text": "forged", "csrf_token": "é" * 43}).status_code == 400


def test_post_without_a_session_is_refused(client: FlaskClient) -> None:
    assert client.post("/", data={"text": "forged", "csrf_token": "x" * 43}).status_code == 400


def test_empty_note_gets_400_with_the_page_and_its_error(client: FlaskClient) -> None:
    resp = client.post("/", data={"text": "  ", "csrf_token": form_token(client)})
    assert resp.status_code == 400
    assert "field &#39;text&#39; is required" in resp.get_data(as_text=True)


def test_session_cookie_is_secure_httponly_and_samesite_lax(client: FlaskClient) -> None:
    cookie = client.get("/").headers["Set-Cookie"]
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
