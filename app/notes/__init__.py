"""Notes: a tiny Flask application deployed behind uWSGI and nginx."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask

__version__ = "1.6.2"


def _read_secret(path: str) -> str:
    with open(path, encoding="utf-8") as fh:
        return fh.read().strip()


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Application factory.

    Configuration order: defaults, ``NOTES_*`` environment variables,
    ``SECRET_KEY_FILE`` (read into ``SECRET_KEY`` unless ``NOTES_SECRET_KEY``
    gave one: a key shared by every app host wins over the host's own), then
    ``test_config``.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_mapping(
        DATABASE=os.path.join(app.instance_path, "notes.sqlite3"),
        SECRET_KEY=None,
        MAX_NOTE_LENGTH=2000,
        # Set by the deployment (NOTES_RELEASE) to the release directory's name.
        RELEASE="unreleased",
        # Set by the deployment (NOTES_STATIC_VERSION) to the release's code digest; else a digest
        # of the static files (notes.assets).
        STATIC_VERSION=None,
        # The form's CSRF token lives in the session cookie: HTTPS only, never read by scripts,
        # not sent with another site's POST.
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.from_prefixed_env("NOTES")
    # A digest of hex digits is a string, never the number JSON would make of 123456789012 or 1e5.
    if "NOTES_STATIC_VERSION" in os.environ:
        app.config["STATIC_VERSION"] = os.environ["NOTES_STATIC_VERSION"]

    secret_key_file = app.config.get("SECRET_KEY_FILE")
    if secret_key_file and not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _read_secret(str(secret_key_file))

    if test_config is not None:
        app.config.from_mapping(test_config)

    if not app.config.get("SECRET_KEY") and not app.testing:
        raise RuntimeError(
            "SECRET_KEY is not set: point NOTES_SECRET_KEY_FILE at a file "
            "containing the secret key (or set NOTES_SECRET_KEY)."
        )

    database = os.path.abspath(str(app.config["DATABASE"]))
    instance = os.path.abspath(app.instance_path)
    if not app.config.get("DATABASE_URL") and os.path.commonpath([database, instance]) == instance:
        # Only create the instance folder when the database lives in it (SQLite);
        # the deployed code directory is read-only.
        os.makedirs(instance, exist_ok=True)

    from . import assets, csrf, db, log, views

    log.configure(app)
    db.init_app(app)
    assets.init_app(app)
    csrf.init_app(app)
    views.register(app)
    return app
