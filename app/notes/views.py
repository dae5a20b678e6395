"""HTML page, health check and the JSON notes API."""

from __future__ import annotations

import functools
import os
import re
import socket
from collections.abc import Mapping
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
from .db import BROKEN, ERRORS, NOT_BROKEN, UNAVAILABLE, discard, get_db, kind, schema_version
from .migrate import LATEST

pages = Blueprint("pages", __name__)
api = Blueprint("api", __name__, url_prefix="/api")

# A page of notes, on the HTML page and in the API: its cost is one index range scan of at most
# PAGE_MAX + 1 rows, whatever the table holds (a cursor, never an OFFSET that reads every row
# before it).
PAGE_DEFAULT = 50
PAGE_MAX = 200
TEXT_REQUIRED = "field 'text' is required and must be a non-empty string"
# What JSON (and a form) can carry but no database can store: a lone surrogate (\ud800) has no
# UTF-8 form, and PostgreSQL's text refuses NUL. Refused alike on SQLite, so moving the data never
# meets a note the other database cannot hold.
TEXT_UNSTORABLE = "field 'text' must be Unicode text without NUL characters or lone surrogates"
# SQLite's rowids are signed 64-bit: a larger id names no note (404), never an overflow (500).
MAX_NOTE_ID = 2**63 - 1


def _note(row: Any) -> dict[str, Any]:
    return {"id": row["id"], "text": row["text"], "created": row["created"]}


def _error(message: str, status: int) -> tuple[Response, int]:
    return jsonify(error=message), status


class PageError(ValueError):
    """A query parameter that names no page; its message names the parameter."""


def _whole_number(raw: str | None, least: int, most: int) -> int | None:
    if raw is None or not re.fullmatch(r"[0-9]{1,19}", raw) or not least <= int(raw) <= most:
        return None
    return int(raw)


def limit_arg(args: Mapping[str, str]) -> int:
    """The page size ?limit= asks for (PAGE_DEFAULT without it)."""
    limit = _whole_number(args.get("limit", str(PAGE_DEFAULT)), 1, PAGE_MAX)
    if limit is None:
        raise PageError(f"query parameter 'limit' must be a whole number from 1 to {PAGE_MAX}")
    return limit


def before_arg(args: Mapping[str, str]) -> int | None:
    """The cursor ?before=<id> (notes older than that id), None for the newest notes."""
    if "before" not in args:
        return None
    before = _whole_number(args["before"], 1, MAX_NOTE_ID)
    if before is None:
        raise PageError("query parameter 'before' must be a note id (a whole number from 1)")
    return before


def notes_page(limit: int, before: int | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Up to limit notes, newest first, older than the note before (if given); and the cursor of
    the next page (the last note's id), None when no older note is left."""
    sql = "SELECT id, text, created FROM notes"
    params: tuple[int, ...] = ()
    if before is not None:
        sql += " WHERE id < ?"
        params = (before,)
    sql += " ORDER BY id DESC LIMIT ?"
    rows = get_db().all(sql, (*params, limit + 1))
    notes = [_note(row) for row in rows[:limit]]
    return notes, (notes[-1]["id"] if len(rows) > limit else None)


def _text_error(text: Any) -> str | None:
    """Why text cannot be a note, or None."""
    if not isinstance(text, str) or not text.strip():
        return TEXT_REQUIRED
    limit = int(current_app.config["MAX_NOTE_LENGTH"])
    if len(text) > limit:
        return f"field 'text' must be at most {limit} characters"
    if "\x00" in text:
        return TEXT_UNSTORABLE
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return TEXT_UNSTORABLE
    return None


def _insert_note(text: str) -> Any:
    db = get_db()
    with db.transaction():
        row = db.one("INSERT INTO notes (text) VALUES (?) RETURNING id, text, created", (text,))
    current_app.logger.info("note %d created", row["id"])
    return row


def _index(error: str | None = None, text: str = "", before: int | None = None) -> str:
    notes, older = notes_page(PAGE_DEFAULT, before)
    return render_template(
        "index.html", version=__version__, notes=notes, error=error, text=text,
        limit=int(current_app.config["MAX_NOTE_LENGTH"]),
        older=url_for("pages.index", before=older) if older else None, older_than=before,
    )


@pages.get("/")
def index() -> Any:
    try:
        before = before_arg(request.args)
    except PageError as exc:
        return str(exc), 400, {"Content-Type": "text/plain; charset=utf-8"}
    return _index(before=before)


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
    body["database"] = kind()
    try:
        body["schema"] = schema_version()
        # The notes themselves can be read, not only the schema's version.
        get_db().one("SELECT id FROM notes ORDER BY id DESC LIMIT 1")
    except ERRORS as exc:
        current_app.logger.error("health check: database unreachable: %s", exc)
        body.update(status="error", error="database unreachable")
        return jsonify(body), 503
    if body["schema"] < LATEST:
        # The release's migration has not run: this code needs columns the database lacks.
        body.update(status="error", error=f"database schema {body['schema']}, this release needs {LATEST}")
        return jsonify(body), 503
    return jsonify(body), 200


@api.get("/notes")
def list_notes() -> Any:
    """A page of notes, newest first: ?limit= (1 to PAGE_MAX, default PAGE_DEFAULT) and the cursor
    ?before=<id>. The body's "next" (and a Link header, rel="next") is the next page's URL, null
    on the last page."""
    try:
        limit, before = limit_arg(request.args), before_arg(request.args)
    except PageError as exc:
        return _error(str(exc), 400)
    notes, older = notes_page(limit, before)
    if older is None:
        return jsonify(notes=notes, next=None)
    following = url_for("api.list_notes", before=older, limit=limit)
    return jsonify(notes=notes, next=following), 200, {"Link": f'<{following}>; rel="next"'}


@api.get(f"/notes/<int(max={MAX_NOTE_ID}):note_id>")
def get_note(note_id: int) -> Response:
    row = get_db().one("SELECT id, text, created FROM notes WHERE id = ?", (note_id,))
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


# Seconds a client is asked to wait before it tries again when the database cannot serve.
RETRY_AFTER = 5


def _database_unavailable(exc: Exception) -> Any:
    """The database cannot serve this request now (its disk is full, it is locked past the busy
    timeout, its file cannot be opened): 503 with Retry-After, never 500. Nothing was stored, so
    the client may send the request again. Reads need no space: they go on while writes get this."""
    current_app.logger.error("database unavailable: %s", exc)
    discard()
    message = "the database cannot take this request now; try again shortly"
    headers = {"Retry-After": str(RETRY_AFTER)}
    if request.path.startswith("/api/"):
        return jsonify(error=message), 503, headers
    return message + "\n", 503, {**headers, "Content-Type": "text/plain; charset=utf-8"}


def _read_retried(view: Any) -> Any:
    """A read (GET or HEAD) whose PostgreSQL connection broke under it, its server stopped or cut off
    by a failover or a switchover, is served once more on a new connection: to the primary, else to
    any server that answers. A read changes nothing, so it is safe to send again; a write never is
    (its outcome is unknown: 503)."""

    @functools.wraps(view)
    def read(*args: Any, **kwargs: Any) -> Any:
        try:
            return view(*args, **kwargs)
        except BROKEN as exc:
            if request.method not in ("GET", "HEAD") or isinstance(exc, NOT_BROKEN):
                raise
            current_app.logger.warning("read retried on a new connection: %s", exc)
            discard()
            return view(*args, **kwargs)

    return read


def register(app: Flask) -> None:
    app.register_blueprint(pages)
    app.register_blueprint(api)
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static":
            app.view_functions[endpoint] = _read_retried(view)
    for unavailable in UNAVAILABLE:
        app.register_error_handler(unavailable, _database_unavailable)
    # Flask logs unhandled exceptions and passes them to the 500 handler
    # as InternalServerError.
    for code in (404, 405, 413, 500):
        app.register_error_handler(code, _handle_http_error)
