#!/usr/bin/python3
"""Backups of the apps' PostgreSQL databases, each proven by a restore, run as postgres.

For each database: pg_dump in its custom format (one consistent snapshot while the apps keep
writing; compressed; pg_restore can restore it into a later PostgreSQL, such as the next Debian
release's), into a hidden partial file; then the dump is restored into a scratch database that no
app can reach, every table of it is counted there, and the scratch database is dropped. Only a
dump that restored is synced and renamed to NAME-YYYYmmddTHHMMSSZ.dump, so a backup file that
exists is complete and was restored once. Backups older than KEEP_DAYS are removed, never a
database's newest. Prints one JSON line per database; exits non-zero when any backup failed (and
keeps nothing of that one).

On a standby (a hot standby of a cluster), the dump is taken from its snapshot once it has replayed
all the WAL it had received when the run began (so a synchronous standby's dump holds every commit
acknowledged before then), and is restored into a throwaway server of its own, started for the run
beside the backups and removed after it: the standby takes no write, and the primary does no work.
A dump cancelled by a conflict with recovery (a replayed lock, such as a migration's) is taken again,
once.

With --cluster, every member of a Patroni cluster runs it at the same moment and exactly one backs up:
each asks its own Patroni (URL, its REST API) for the cluster, and all choose the same member: the
synchronous standby that streams, else the streaming replica least behind, else (no replica healthy)
the leader, which says so. The others print whom and exit 0.

usage: pg_backup.py [--cluster PATRONI_URL MEMBER] BACKUP_DIR KEEP_DAYS DATABASE...
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
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


# What pg_dump says when a standby's replay cancelled its transaction (SQLSTATE 40001 on a standby).
RECOVERY_CONFLICT = "conflict with recovery"
# Seconds a standby may take to replay what it had received when the run began.
REPLAY_WAIT = 120
# Patroni's roles of a member that follows the leader, and of the leader.
STANDBY_ROLES = ("sync_standby", "quorum_standby", "replica")
LEADER_ROLES = ("leader", "standby_leader")


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    """A PostgreSQL client program's output; its error message when it fails. env: libpq's variables
    that point it at another server than the environment's."""
    proc = subprocess.run(argv, capture_output=True, text=True, check=False,
                          env={**os.environ, **env} if env else None)
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[0]}: {proc.stderr.strip() or f'exit {proc.returncode}'}")
    return proc.stdout


def scratch_name(name: str) -> str:
    return f"{name[:50]}__verify"


def restored_tables(dump: Path, name: str, server: dict[str, str] | None = None) -> dict[str, int]:
    """The dump restored into a scratch database (of the server given, else the environment's): its
    tables and their rows. Dropped after."""
    scratch = scratch_name(name)
    run("dropdb", "--if-exists", scratch, env=server)
    run("createdb", "--template=template0", scratch, env=server)
    try:
        run("pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", "--dbname", scratch, str(dump),
            env=server)
        return json.loads(run("psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", scratch, "-c", COUNT_TABLES, env=server))
    finally:
        run("dropdb", "--if-exists", scratch, env=server)


SCRATCH_SERVER = ".scratch-server-"


def server_user(*paths: Path) -> list[str]:
    """The prefix that runs a throwaway server's programs: none as postgres; run by hand as root
    (the server refuses root), runuser, and paths made postgres's."""
    if os.geteuid() != 0:
        return []
    for path in paths:
        shutil.chown(path, "postgres", "postgres")
    return ["runuser", "-u", "postgres", "--"]


@contextlib.contextmanager
def scratch_server(directory: Path) -> Iterator[dict[str, str]]:
    """A throwaway PostgreSQL server (this PATH's initdb and pg_ctl) for the restores that prove a
    standby's dumps: its data in DIRECTORY (beside the backups, not in memory), its socket in a
    private temporary directory, no TCP; stopped and removed when the block ends. libpq's variables
    that reach it."""
    for stale in directory.glob(f"{SCRATCH_SERVER}*"):  # an interrupted earlier run's
        shutil.rmtree(stale, ignore_errors=True)
    data = Path(tempfile.mkdtemp(prefix=SCRATCH_SERVER, dir=directory))
    sockets = Path(tempfile.mkdtemp(prefix="pg-backup-"))
    as_server = server_user(data, sockets)
    try:
        run(*as_server, "initdb", "--no-sync", "--no-instructions", "--auth=trust", "--username=postgres",
            "--encoding=UTF8", "--locale=C", "--pgdata", str(data / "data"))
        options = (f"-c listen_addresses='' -k {sockets} -c port=5432 -c fsync=off -c jit=off -c max_connections=10"
                   " -c shared_buffers=16MB -c dynamic_shared_memory_type=mmap")
        run(*as_server, "pg_ctl", "--pgdata", str(data / "data"), "--wait", "--log", str(data / "log"),
            "--options", options, "start")
        try:
            yield {"PGHOST": str(sockets), "PGPORT": "5432", "PGUSER": "postgres"}
        finally:
            run(*as_server, "pg_ctl", "--pgdata", str(data / "data"), "--mode=immediate", "stop")
    finally:
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(sockets, ignore_errors=True)


def replayed_received(seconds: float = REPLAY_WAIT) -> str:
    """On a standby: waits until it has replayed the WAL it had received (and flushed) now, so that
    a snapshot taken after holds every commit it had then; that position. A synchronous standby has
    flushed every commit the primary acknowledged."""
    target = run("psql", "-XAtc", "SELECT pg_last_wal_receive_lsn()", "postgres").strip()
    if not target:  # a standby that restores from an archive only, without streaming: nothing to wait for
        return ""
    caught_up = f"SELECT pg_last_wal_replay_lsn() >= '{target}'::pg_lsn"
    deadline = time.monotonic() + seconds
    while run("psql", "-XAtc", caught_up, "postgres").strip() != "t":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby has not replayed up to {target} (received) within {seconds} s")
        time.sleep(0.2)
    return target


def dump(name: str, path: Path) -> None:
    """pg_dump's custom format; on a standby, taken again once if replay cancelled it."""
    argv = ("pg_dump", "--format=custom", "--file", str(path), "--dbname", name)
    try:
        run(*argv)
    except RuntimeError as exc:
        if RECOVERY_CONFLICT not in str(exc):
            raise
        run(*argv)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def back_up(directory: Path, name: str, keep_days: int, now: datetime,
            server: dict[str, str] | None = None) -> dict[str, object]:
    """One database's backup; its dump proven by a restore into a scratch database of server (a
    throwaway one, on a standby), else of the database's own server."""
    final = directory / f"{name}-{now.strftime(STAMP)}.dump"
    partial = directory / f".{final.name}.partial"
    for stale in directory.glob(f".{name}-*.dump.partial"):  # an interrupted earlier run
        stale.unlink()
    started = time.monotonic()
    try:
        dump(name, partial)
        tables = restored_tables(partial, name, server)
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
    """Whether this server is a standby (in recovery), where no database can be made."""
    return run("psql", "-XAtc", "SELECT pg_is_in_recovery()", "postgres").strip() == "t"


def backer(members: list[dict[str, object]]) -> tuple[str, str]:
    """The member of a cluster (Patroni's GET /cluster "members") that backs up, and why: the
    synchronous standby that streams (the first by name, should there be several), else the
    streaming replica least behind, else the running leader. ("", why) when none may."""
    streaming = [m for m in members if m.get("role") in STANDBY_ROLES and m.get("state") == "streaming"]
    in_sync = sorted(str(m["name"]) for m in streaming if m["role"] == "sync_standby")
    if in_sync:
        return in_sync[0], "the synchronous standby"
    if streaming:
        def behind(member: dict[str, object]) -> float:
            lag = member.get("lag")
            return float(lag) if isinstance(lag, (int, float)) else float("inf")

        best = min(streaming, key=lambda m: (behind(m), str(m["name"])))
        return str(best["name"]), "a streaming replica (no synchronous standby streams)"
    leaders = sorted(str(m["name"]) for m in members if m.get("role") in LEADER_ROLES and m.get("state") == "running")
    if leaders:
        return leaders[0], "the leader: no replica streams (fallback)"
    return "", "no member runs"


def cluster_members(url: str) -> list[dict[str, object]]:
    """The cluster's members as this member's Patroni sees them (GET URL/cluster)."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/cluster", timeout=10) as answer:  # noqa: S310 (the role's URL)
        return json.load(answer)["members"]


def main(backup_dir: str, keep_days: str, *databases: str, members: list[dict[str, object]] | None = None,
         me: str = "") -> int:
    """Backs every database up; with members (a cluster's, and me, this member's name), only on the
    member that backer chooses."""
    os.umask(0o077)  # the dumps are postgres's alone
    said: dict[str, object] = {}
    if members is not None:
        chosen, why = backer(members)
        role = next((str(m.get("role")) for m in members if m.get("name") == me), "not a member")
        if chosen != me:
            print(json.dumps({"skipped": f"{chosen or 'no member'} backs up ({why})", "member": me, "role": role,
                              "backed_up_by": chosen}), flush=True)
            return 1 if not chosen else 0
        said = {"member": me, "role": role, "chosen_as": why}
    directory = Path(backup_dir)
    failed = 0
    with contextlib.ExitStack() as stack:
        server = None
        if is_standby():
            said["replayed_up_to"] = replayed_received()
            server = stack.enter_context(scratch_server(directory))
        now = datetime.now(timezone.utc)
        for name in databases:
            result = {**back_up(directory, name, int(keep_days), now, server), **said}
            print(json.dumps(result), flush=True)
            failed += result["backup"] is None
    return 1 if failed else 0


def cli(argv: list[str]) -> int:
    members, me = None, ""
    if argv[:1] == ["--cluster"] and len(argv) >= 3:
        url, me, argv = argv[1], argv[2], argv[3:]
        try:
            members = cluster_members(url)
        except (OSError, ValueError, KeyError) as exc:
            print(json.dumps({"backup": None, "error": f"the cluster's members, from {url}: {exc}"}), flush=True)
            return 1
    if len(argv) < 3 or argv[0].startswith("-"):
        sys.exit(__doc__)
    return main(*argv, members=members, me=me)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
