"""What an app holds: its SQLite database, read on its host as root and read-only, and its notes as
the API lists them, page after page."""

from __future__ import annotations

import json
from typing import Any

from testlib.http import http

# Its notes (id: text), integrity check and journal mode.
READ = """
import json, sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(json.dumps({
    "notes": {str(i): t for i, t in db.execute("SELECT id, text FROM notes")},
    "integrity": [r[0] for r in db.execute("PRAGMA integrity_check")],
    "journal_mode": db.execute("PRAGMA journal_mode").fetchone()[0],
}))
"""


def read_database(host: Any, path: str) -> dict[str, Any]:
    return json.loads(host.check_output(f"python3 -c '{READ}' {path}"))


def acknowledged(host: Any, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The notes a load run with post_notes had acknowledged: id, text and the host's time."""
    lines = host.file(summary["acks"]).content_string.splitlines()
    return [json.loads(line) for line in lines if line]


def listed_notes(host: Any, **where: Any) -> list[dict[str, Any]]:
    """Every note the API lists, newest first, following each page's "next" to the last page."""
    notes: list[dict[str, Any]] = []
    url: str | None = "/api/notes?limit=200"
    while url:
        response = http(host, url, **where)
        assert response.status == 200, f"GET {url}: {response.status} {response.body[:200]}"
        page = json.loads(response.body)
        notes += page["notes"]
        url = page["next"]
    return notes
