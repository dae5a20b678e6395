"""The notes database's schema, as numbered migrations; ``python -m notes.migrate`` applies the
pending ones to ``NOTES_DATABASE`` and prints the schema version before and after.

The deploy runs it before it switches to a release (python_app_migrate_command), after a backup.
Each migration runs in one transaction together with the version it brings (``PRAGMA
user_version``), so one that fails changes nothing. Migrations only add (expand now, contract in a
later release once no release in use reads what goes): the release before a migration keeps
working on the schema after it, so a rollback of the code needs no rollback of the data.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys

MIGRATIONS: tuple[tuple[int, str], ...] = (
    (1, """CREATE TABLE IF NOT EXISTS notes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        text TEXT NOT NULL,
        created TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
    )"""),
    # A note can be pinned; every note there is stays unpinned.
    (2, "ALTER TABLE notes ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0"),
)
LATEST = MIGRATIONS[-1][0]


def version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(path: str) -> tuple[int, int]:
    """Applies the pending migrations; returns the schema version before and after."""
    conn = sqlite3.connect(path, timeout=30, isolation_level=None)  # transactions are explicit
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        before = version(conn)
        for number, sql in MIGRATIONS:
            if number <= version(conn):
                continue
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(sql)
                conn.execute(f"PRAGMA user_version = {number}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return before, version(conn)
    finally:
        conn.close()


def main() -> int:
    path = os.environ.get("NOTES_DATABASE")
    if not path:
        sys.exit("NOTES_DATABASE is not set: it names the database to migrate")
    before, after = migrate(path)
    print(json.dumps({"database": path, "schema_before": before, "schema": after}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
