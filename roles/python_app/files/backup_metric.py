#!/usr/bin/python3
"""The time of one app's newest good backup, as a Prometheus textfile for the node exporter.

Run as root by NAME-backup-metric.service, which the backup service starts when it succeeds (and
a deploy once): a backup file that exists is complete and checked (sqlite_backup.py renames it
into place only then), so the newest NAME-YYYYmmddTHHMMSSZ.sqlite3 in the backup directory is the
last good backup, whoever made it. Writes flask_deploy_backup_last_success_timestamp_seconds{app=NAME}
(seconds since the epoch; its age is time() minus it) to TEXTFILE, atomically (a temporary file
renamed over it), so the exporter never reads half a file. With no backup yet, the file holds no
sample.

usage: backup_metric.py BACKUP_DIR NAME TEXTFILE
"""

from __future__ import annotations

import os
import re
import sys
from datetime import datetime, timezone
from pathlib import Path

METRIC = "flask_deploy_backup_last_success_timestamp_seconds"
STAMP = "%Y%m%dT%H%M%SZ"


def newest(directory: Path, name: str) -> datetime | None:
    """The time in the name of the app's newest backup in the directory, or None."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d{{8}}T\d{{6}}Z)\.sqlite3$")
    stamps = []
    for path in directory.iterdir():
        match = pattern.match(path.name)
        if match and path.is_file():
            stamps.append(datetime.strptime(match.group(1), STAMP).replace(tzinfo=timezone.utc))
    return max(stamps, default=None)


def exposition(name: str, when: datetime | None) -> str:
    app = name.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    lines = [f"# HELP {METRIC} Time of the app's newest good (integrity-checked) backup.",
             f"# TYPE {METRIC} gauge"]
    if when is not None:
        lines.append(f'{METRIC}{{app="{app}"}} {int(when.timestamp())}')
    return "\n".join(lines) + "\n"


def write_atomically(path: Path, text: str) -> None:
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(partial, 0o644)
    os.replace(partial, path)


def main(backup_dir: str, name: str, textfile: str) -> int:
    when = newest(Path(backup_dir), name)
    write_atomically(Path(textfile), exposition(name, when))
    print(f"{name}: newest good backup {when.strftime(STAMP) if when else 'none yet'}, written to {textfile}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
