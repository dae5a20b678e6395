"""HTML page, health check and the JSON notes API."""

from __future__ import annotations

import os
import socket
import sqlite3
from typing import Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.exceptions import HTTPException, NotFound

from . import __version__
from . import csrf
from .db import get_db, schema_version
from .migrate import LATEST

pages = Blueprint("pages", __name__)
api = Blueprint("api", __name__, url_prefix="/api")

INDEX_LIMIT = 50
TEXT_REQUIRED = "field 'text' is required and must be a non-empty string"
# SQLite's rowids are signed 64-bit: a larger id names no note (404), never an overflow (500).
MAX_NOTE_ID = 2**63 - 1


def _note(row: sqlite3.Row) -> dict[str, Any]:
    return {"id": row["id"], "text": row["text"], "created": row["created"]}


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message), status


def _latest_notes(limit: int | None = None) -> list[dict[str, Any]]:
    sql = "SELECT id, text, created FROM notes ORDER BY id DESC"
    params: tuple[int, ...] = ()
    if limit is not None:
        sql += " LIMIT ?"
        params = (limit,)
    return [_note(row) for row in get_db().execute(sql, params).fetchall()]


def _text_error(text: Any) -> str | None:
    """Why text cannot be a note, or None."""
    if not isinstance(text, str) or not text.strip():
        return TEXT_REQUIRED
    limit = int(current_app.config["MAX_NOTE_LENGTH"])
    if len(text) > limit:
        return f"field 'text' must be at most {limit} characters"
    return None


def _insert_note(text: str) -> sqlite3.Row:
    db = get_db()
    with db:
        cur = db.execute("INSERT INTO notes (text) VALUES (?)", (text,))
    row = db.execute(
        "SELECT id, text, created FROM notes WHERE id = ?", (cur.lastrowid,)
    ).fetchone()
    current_app.logger.info("note %d created", row["id"])
    return row


def _index(error: str | None = None, text: str = "") -> str:
    return render_template(
        "index.html", version=__version__, notes=_latest_notes(INDEX_LIMIT), error=error, text=text,
        limit=int(current_app.config["MAX_NOTE_LENGTH"]),
    )


@pages.get("/")
def index() -> str:
    return _index()


@pages.post("/")
def add_note() -> Any:
    """The page's form: a note, then back to the page (303), so a reload posts nothing again."""
    csrf.check()
    text = request.form.get("text")
    error = _text_error(text)
    if error:
        return _index(error, text or ""), 400
    _insert_note(str(text))
    return redirect(url_for("pages.index"), 303)


@pages.get("/livez")
def livez() -> Response:
    """Liveness: the process answers. Checks nothing else (no database), so it stays
    cheap enough for a load balancer to poll often; /healthz is the full check."""
    return jsonify(status="ok")


@pages.get("/healthz")
def healthz() -> tuple[Response, int]:
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "release": str(current_app.config["RELEASE"]),
        "hostname": socket.gethostname(),
        "pid": os.getpid(),
    }
    try:
        body["schema"] = schema_version()
    except sqlite3.Error as exc:
        current_app.logger.error("health check: database unreachable: %s", exc)
        body.update(status="error", error="database unreachable")
        return jsonify(body), 503
    if body["schema"] < LATEST:
        # The release's migration has not run: this code needs columns the database lacks.
        body.update(status="error", error=f"database schema {body['schema']}, this release needs {LATEST}")
        return jsonify(body), 503
    return jsonify(body), 200


@api.get("/notes")
def list_notes() -> Response:
    return jsonify(notes=_latest_notes())


@api.get(f"/notes/<int(max={MAX_NOTE_ID}):note_id>")
def get_note(note_id: int) -> Response:
    row = (
        get_db()
        .execute("SELECT id, text, created FROM notes WHERE id = ?", (note_id,))
        .fetchone()
    )
    if row is None:
        raise NotFound(f"note {note_id} not found")
    return jsonify(_note(row))


@api.post("/notes")
def create_note() -> tuple[Response, int] | tuple[Response, int, dict[str, str]]:
    if not request.is_json:
        return _error("content type must be application/json", 415)
    payload = request.get_json(silent=True)
    if payload is None:
        return _error("request body must be valid JSON", 400)
    if not isinstance(payload, dict):
        return _error("request body must be a JSON object", 400)
    text = payload.get("text")
    error = _text_error(text)
    if error:
        return _error(error, 400)
    row = _insert_note(text)
    location = url_for("api.get_note", note_id=row["id"])
    return jsonify(_note(row)), 201, {"Location": location}


def _handle_http_error(exc: HTTPException) -> Any:
    if request.path.startswith("/api/"):
        return _error(exc.description or exc.name, exc.code or 500)
    return exc


def register(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api)
    # Flask logs unhandled exceptions and passes them to the 500 handler
    # as InternalServerError.
    for code in (404, 405, 413, 500):
        app.register_error_handler(code, _handle_http_error)
