"""What an app's SQLite database holds, read on its host as root and read-only."""

from __future__ import annotations

import json
from typing import Any

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
