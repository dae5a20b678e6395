#!/usr/bin/python3
"""Online backup of one app's SQLite database, run by its systemd service as the app's user.

Copies the database with SQLite's backup API in one step: a read transaction, so the copy is
the database as of one moment, while the app keeps writing (in WAL mode a reader never blocks
the writer). The copy is made a single self-contained file (journal_mode DELETE), checked with
PRAGMA integrity_check, synced, and only then renamed to NAME-YYYYmmddTHHMMSSZ.sqlite3 in the
backup directory, so a backup file that exists is complete and checked. Backups older than KEEP_DAYS
are removed, never the newest one. Prints one JSON line; exits non-zero when the copy fails its
check (and keeps nothing of it), or when the copy would leave less than a tenth of the backup
directory's file system free (it is not started: a backup never fills the disk).

usage: sqlite_backup.py DATABASE BACKUP_DIR NAME KEEP_DAYS
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

STAMP = "%Y%m%dT%H%M%SZ"
# What share of the backup directory's file system a backup leaves free, at least.
KEEP_FREE = 0.10


def space_problem(database: Path, directory: Path) -> str | None:
    """Why the copy must not start, or None: it would leave less than KEEP_FREE of the file system
    free. The copy is at most the database and its WAL together."""
    need = sum(path.stat().st_size for path in (database, Path(f"{database}-wal")) if path.exists())
    fs = os.statvfs(directory)
    free, keep = fs.f_bavail * fs.f_frsize, int(fs.f_blocks * fs.f_frsize * KEEP_FREE)
    if free - need >= keep:
        return None
    return (f"not enough free space in {directory}: the copy needs up to {need} bytes, {free} are free, "
            f"and {keep} ({KEEP_FREE:.0%} of the file system) stay free")


def backups(directory: Path, name: str) -> list[tuple[datetime, Path]]:
    """This app's backups in the directory, oldest first, by the time in their names."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d{{8}}T\d{{6}}Z)\.sqlite3$")
    found = []
    for path in directory.iterdir():
        match = pattern.match(path.name)
        if match:
            found.append((datetime.strptime(match.group(1), STAMP).replace(tzinfo=timezone.utc), path))
    return sorted(found)


def copy(database: Path, partial: Path) -> None:
    # Only read; not mode=ro, which a WAL database refuses when its -shm must be created.
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(partial)
    try:
        source.backup(target)  # every page in one step: one consistent snapshot
        target.execute("PRAGMA journal_mode=DELETE")  # one file, no -wal beside it
        result = [row[0] for row in target.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            raise RuntimeError(f"integrity check of the copy failed: {'; '.join(result[:5])}")
    finally:
        target.close()
        source.close()
    fd = os.open(partial, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main(database: str, backup_dir: str, name: str, keep_days: str) -> int:
    os.umask(0o077)  # the copies are the app user's alone, whoever started this (the timer, a deploy)
    db, directory = Path(database), Path(backup_dir)
    if not db.exists():
        print(json.dumps({"database": str(db), "backup": None, "reason": "no database yet"}))
        return 0
    now = datetime.now(timezone.utc)
    final = directory / f"{name}-{now.strftime(STAMP)}.sqlite3"
    partial = directory / f".{final.name}.partial"
    leftovers = f".{name}-*.sqlite3.partial*"  # the copy, and SQLite's -journal, -wal, -shm beside it
    for stale in directory.glob(leftovers):  # an interrupted earlier run
        stale.unlink()
    started = time.monotonic()
    try:
        problem = space_problem(db, directory)
        if problem:
            raise RuntimeError(problem)
        copy(db, partial)
        os.replace(partial, final)
        dir_fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (sqlite3.Error, RuntimeError, OSError) as exc:
        print(json.dumps({"database": str(db), "backup": None, "error": str(exc)}))
        return 1
    finally:
        for stale in directory.glob(leftovers):
            stale.unlink()
    cutoff = now - timedelta(days=int(keep_days))
    kept = backups(directory, name)
    pruned = [str(path) for stamp, path in kept[:-1] if stamp < cutoff]
    for path in pruned:
        os.unlink(path)
    print(json.dumps({"database": str(db), "backup": str(final), "bytes": final.stat().st_size,
                      "integrity": "ok", "seconds": round(time.monotonic() - started, 3), "pruned": pruned}))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
