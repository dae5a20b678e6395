#!/usr/bin/python3
"""Backups of the apps' PostgreSQL databases, each proven by a restore, run as postgres.

For each database: pg_dump in its custom format (one consistent snapshot while the apps keep
writing; compressed; pg_restore can restore it into a later PostgreSQL, such as the next Debian
release's), into a hidden partial file; then the dump is restored into a scratch database that no
app can reach, every table of it is counted there, and the scratch database is dropped. Only a
dump that restored is synced and renamed to NAME-YYYYmmddTHHMMSSZ.dump, so a backup file that
exists is complete and was restored once. Backups older than KEEP_DAYS are removed, never a
database's newest. Prints one JSON line per database; exits non-zero when any backup failed (and
keeps nothing of that one). On a cluster's standby it backs up nothing and says so: the primary
does.

usage: pg_backup.py BACKUP_DIR KEEP_DAYS DATABASE...
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

STAMP = "%Y%m%dT%H%M%SZ"
# Every table of the public schema with its row count, in one query.
COUNT_TABLES = """
SELECT coalesce(json_object_agg(table_name, (xpath('/row/n/text()', query_to_xml(
         format('SELECT count(*) AS n FROM %I.%I', table_schema, table_name), false, true, '')))[1]::text::bigint), '{}')
  FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
"""


def backups(directory: Path, name: str) -> list[tuple[datetime, Path]]:
    """This database's backups in the directory, oldest first, by the time in their names."""
    pattern = re.compile(rf"^{re.escape(name)}-(\d{{8}}T\d{{6}}Z)\.dump$")
    found = []
    for path in directory.iterdir():
        match = pattern.match(path.name)
        if match:
            found.append((datetime.strptime(match.group(1), STAMP).replace(tzinfo=timezone.utc), path))
    return sorted(found)


def run(*argv: str) -> str:
    """A PostgreSQL client program's output; its error message when it fails."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc.stdout


def scratch_name(name: str) -> str:
    return f"{name[:50]}__verify"


def restored_tables(dump: Path, name: str) -> dict[str, int]:
    """The dump restored into a scratch database: its tables and their rows. Dropped after."""
    scratch = scratch_name(name)
    run("dropdb", "--if-exists", scratch)
    run("createdb", "--template=template0", scratch)
    try:
        run("pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", "--dbname", scratch, str(dump))
        return json.loads(run("psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", scratch, "-c", COUNT_TABLES))
    finally:
        run("dropdb", "--if-exists", scratch)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def back_up(directory: Path, name: str, keep_days: int, now: datetime) -> dict[str, object]:
    final = directory / f"{name}-{now.strftime(STAMP)}.dump"
    partial = directory / f".{final.name}.partial"
    for stale in directory.glob(f".{name}-*.dump.partial"):  # an interrupted earlier run
        stale.unlink()
    started = time.monotonic()
    try:
        run("pg_dump", "--format=custom", "--file", str(partial), "--dbname", name)
        tables = restored_tables(partial, name)
        fsync(partial)
        os.replace(partial, final)
        fsync(directory)
    except (RuntimeError, OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        return {"database": name, "backup": None, "error": str(exc)}
    cutoff = now - timedelta(days=keep_days)
    pruned = [str(path) for stamp, path in backups(directory, name)[:-1] if stamp < cutoff]
    for path in pruned:
        os.unlink(path)
    return {"database": name, "backup": str(final), "bytes": final.stat().st_size, "restored": tables,
            "seconds": round(time.monotonic() - started, 3), "pruned": pruned}


def is_standby() -> bool:
    """Whether this server is a cluster's standby, which the primary's backups cover."""
    return run("psql", "-XAtc", "SELECT pg_is_in_recovery()", "postgres").strip() == "t"


def main(backup_dir: str, keep_days: str, *databases: str) -> int:
    os.umask(0o077)  # the dumps are postgres's alone
    if is_standby():
        # A standby cannot make the scratch database that proves each dump.
        print(json.dumps({"skipped": "a standby: the cluster's primary backs up"}), flush=True)
        return 0
    directory = Path(backup_dir)
    now = datetime.now(timezone.utc)
    failed = 0
    for name in databases:
        result = back_up(directory, name, int(keep_days), now)
        print(json.dumps(result), flush=True)
        failed += result["backup"] is None
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    sys.exit(main(*sys.argv[1:]))
