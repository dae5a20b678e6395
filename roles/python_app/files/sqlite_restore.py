#!/usr/bin/python3
"""Puts a backup in place of one app's SQLite database, run as root by playbooks/restore.yml.

usage: sqlite_restore.py check STAGED
       sqlite_restore.py swap STAGED DATABASE VASSAL USER
       sqlite_restore.py undo DATABASE REPLACED VASSAL USER
       sqlite_restore.py schema DATABASE USER
       sqlite_restore.py online DATABASE BACKUP USER

check: the staged file (in a directory only root may open: nothing the app user controls) must
be a SQLite database that passes PRAGMA integrity_check; it is made one self-contained file
(journal_mode DELETE). Prints why it is refused and exits 3 otherwise: nothing has been replaced.

swap: the app is stopped only for the swap. Its vassal file is renamed out of the emperor's
sight (the emperor stops the vassal), and once no process of USER is left the staged file is
copied into the database's directory (a new file, created without following links), owned by
USER with the database's mode, and synced; then the database (with its -wal and -shm) is renamed
aside to DATABASE.replaced-STAMP, never deleted, and the copy renamed into its place. If any step
fails, what was set aside is put back. The vassal file comes back whatever happens (SIGTERM and
SIGHUP wait until it has), so the emperor starts the app again. Prints {"replaced": path or null}.

undo: the same stop, then the replaced database is put back (a restore that fails its health
check).

schema, as USER: the database's schema version (PRAGMA user_version) and the SQL of every table
and index, as JSON (null when there is no database), to tell whether a migration changed it.

online, as USER: the database becomes BACKUP's content through SQLite's backup API, while the app
runs (its requests wait for the lock, up to their busy timeout): after a migration that failed half-way.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import sqlite3
import stat
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

HEADER = b"SQLite format 3\x00"
BESIDE = ("-wal", "-shm", "-journal")  # SQLite's files that belong to a database by name
STOP_TIMEOUT = 90
REFUSED = 3


def drop_to(user: str) -> None:
    account = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)


def check(staged: str) -> int:
    with open(staged, "rb") as fh:
        if fh.read(len(HEADER)) != HEADER:
            print("it is not a SQLite database (its first bytes are not SQLite's header)")
            return REFUSED
    try:
        db = sqlite3.connect(staged)
        try:
            result = [row[0] for row in db.execute("PRAGMA integrity_check")]
            if result != ["ok"]:
                print(f"it fails SQLite's integrity check: {'; '.join(' '.join(r.split()) for r in result[:3])}")
                return REFUSED
            db.execute("PRAGMA journal_mode=DELETE")  # a copy of a WAL database: one file again
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        print(f"it fails SQLite's integrity check: {exc}")
        return REFUSED
    print("ok")
    return 0


def processes_of(uid: int) -> list[int]:
    found = []
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    found.append(int(entry.name))
            except FileNotFoundError:  # it ended meanwhile
                pass
    return found


def stopped(vassal: str, user: str, action: Callable[[int, int], str | None]) -> str | None:
    """Runs action(uid, gid) while the app is stopped; the vassal file comes back in any case."""
    account = pwd.getpwnam(user)
    paused = f"{vassal}.restoring"  # no config extension: the emperor stops the vassal
    for signum in (signal.SIGTERM, signal.SIGHUP):  # a dropped connection must not leave the app stopped
        signal.signal(signum, signal.SIG_IGN)
    os.replace(vassal, paused)
    try:
        deadline = time.monotonic() + STOP_TIMEOUT
        while left := processes_of(account.pw_uid):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not stop within {STOP_TIMEOUT} s (processes {left})")
            time.sleep(0.2)
        return action(account.pw_uid, account.pw_gid)
    finally:
        os.replace(paused, vassal)


def set_aside(database: str, target: str) -> None:
    """database and its -wal, -shm and -journal renamed to target's names, all or none: a rename
    that fails puts the ones already made back before the error goes on."""
    moved: list[str] = []
    try:
        for suffix in ("", *BESIDE):
            if os.path.exists(database + suffix):
                os.replace(database + suffix, target + suffix)
                moved.append(suffix)
    except BaseException:
        for suffix in reversed(moved):
            os.replace(target + suffix, database + suffix)
        raise


def sync_dir(path: str) -> None:
    fd = os.open(os.path.dirname(path), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def copy_in(staged: str, target: str, uid: int, gid: int, mode: int) -> None:
    """staged, copied to target as a new file (never through a link), owned uid:gid, synced."""
    if os.path.lexists(target):  # a leftover of an interrupted restore: unlinking never follows a link
        os.unlink(target)
    out = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        with open(staged, "rb") as source:
            while chunk := source.read(1 << 20):
                os.write(out, chunk)
        os.fchown(out, uid, gid)
        os.fchmod(out, mode)
        os.fsync(out)
    finally:
        os.close(out)


def swap(staged: str, database: str, vassal: str, user: str) -> int:
    def action(uid: int, gid: int) -> str | None:
        # The mode of the file the database is (through a link, too: a link's own is always 0777).
        mode = stat.S_IMODE(os.stat(database).st_mode) if os.path.isfile(database) else 0o640
        incoming = os.path.join(os.path.dirname(database), f".{os.path.basename(database)}.restoring")
        copy_in(staged, incoming, uid, gid, mode)
        replaced = None
        try:
            if os.path.lexists(database):
                aside = f"{database}.replaced-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%SZ')}"
                set_aside(database, aside)  # all or none
                replaced = aside
            os.replace(incoming, database)
            sync_dir(database)
        except BaseException:
            if replaced:
                set_aside(replaced, database)
            raise
        try:
            os.unlink(staged)
        except OSError:
            pass  # the restore is done; the staged copy is root's alone, and the next restore replaces it
        return replaced

    print(json.dumps({"replaced": stopped(vassal, user, action)}))
    return 0


def undo(database: str, replaced: str, vassal: str, user: str) -> int:
    if not Path(replaced).is_file():
        print(f"{replaced} is not there to put back")
        return 1

    def action(uid: int, gid: int) -> None:
        for suffix in ("", *BESIDE):
            if os.path.exists(database + suffix):
                os.unlink(database + suffix)
        set_aside(replaced, database)
        sync_dir(database)

    stopped(vassal, user, action)
    print(json.dumps({"restored": database, "from": replaced}))
    return 0


def schema(database: str, user: str) -> int:
    drop_to(user)
    if not os.path.exists(database):
        print("null")
        return 0
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = sorted(row[0] for row in db.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        db.close()
    print(json.dumps({"version": version, "sql": tables}))
    return 0


def online(database: str, backup: str, user: str) -> int:
    drop_to(user)
    source = sqlite3.connect(f"file:{backup}?mode=ro", uri=True)
    target = sqlite3.connect(database, timeout=30)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()
    print(json.dumps({"restored": database, "from": backup}))
    return 0


COMMANDS = {"check": (check, 1), "swap": (swap, 4), "undo": (undo, 4), "schema": (schema, 2), "online": (online, 3)}

if __name__ == "__main__":
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command not in COMMANDS or len(args) != COMMANDS[command][1]:
        sys.exit(__doc__)
    sys.exit(COMMANDS[command][0](*args))
