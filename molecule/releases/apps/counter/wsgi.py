"""counter.wsgi:app: counts POST /hits in its own SQLite database."""

from __future__ import annotations

import os
import sqlite3
from typing import Any

from flask import Flask, jsonify

from counter import __version__

app = Flask(__name__)
# COUNTER_DATABASE, COUNTER_SECRET_KEY_FILE and COUNTER_RELEASE, set by the deployment.
app.config.from_prefixed_env("COUNTER")


def _db() -> sqlite3.Connection:
    db = sqlite3.connect(app.config["DATABASE"], timeout=10)
    db.execute("CREATE TABLE IF NOT EXISTS hits (id INTEGER PRIMARY KEY)")
    return db


@app.get("/healthz")
def healthz() -> Any:
    with _db() as db:
        db.execute("SELECT 1").fetchone()
    return jsonify(status="ok", app="counter", version=__version__,
                   release=str(app.config.get("RELEASE", "unreleased")), pid=os.getpid())


@app.get("/hits")
def hits() -> Any:
    with _db() as db:
        return jsonify(hits=db.execute("SELECT count(*) FROM hits").fetchone()[0])


@app.post("/hits")
def hit() -> Any:
    with _db() as db:
        db.execute("INSERT INTO hits DEFAULT VALUES")
        return jsonify(hits=db.execute("SELECT count(*) FROM hits").fetchone()[0]), 201
