"""CSRF protection for the HTML form: a random token kept in the session (a cookie signed with
the app's secret key) and repeated in the form; a POST whose field does not match is refused."""

from __future__ import annotations

import hmac
import secrets

from flask import Flask, request, session
from werkzeug.exceptions import BadRequest

FIELD = "csrf_token"


class CSRFError(BadRequest):
    description = "The form's CSRF token is missing or does not match: reload the page and try again."


def token() -> str:
    if FIELD not in session:
        session[FIELD] = secrets.token_urlsafe(32)
    return str(session[FIELD])


def check() -> None:
    expected = session.get(FIELD)
    sent = request.form.get(FIELD, "")
    # Bytes: compare_digest refuses str that is not ASCII, and anyone may send any token.
    if not expected or not hmac.compare_digest(str(expected).encode(), sent.encode()):
        raise CSRFError()


def init_app(app: Flask) -> None:
    app.jinja_env.globals["csrf_token"] = token
