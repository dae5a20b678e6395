#!/usr/bin/python3
"""Point-in-time recovery of a cluster member's databases, run as postgres: a WAL archive, base
backups, and a database as it was at a given moment.

  pg_pitr.py archive WAL_PATH ARCHIVE_DIR FILE
      PostgreSQL's archive_command (%p ARCHIVE_DIR %f): copies one finished WAL segment (or timeline
      history file) into ARCHIVE_DIR, synced, under its name only once complete. A file already
      archived with the same bytes is success; one with other bytes (the tail of a primary's timeline
      that a failover cut off, archived again after pg_rewind) is replaced. Every member archives
      (archive_mode=always): its own copy of the cluster's WAL, whichever member leads.
  pg_pitr.py base [--cluster PATRONI_URL MEMBER] BACKUP_DIR ARCHIVE_DIR KEEP_DAYS
      A base backup (pg_basebackup, compressed tar, with the WAL it needs) into
      BACKUP_DIR/base/STAMP, taken on the member that pg_backup.py's choice names (a streaming
      standby, else the leader); base backups older than KEEP_DAYS are removed, never the newest,
      then the archived WAL older than the oldest one kept. Every member prunes its archive: one
      that keeps no base backup, of what is older than KEEP_DAYS.
  pg_pitr.py list BACKUP_DIR [TARGET]
      The base backups, newest last, each with the moment its copy was consistent; with TARGET, only
      those consistent before it (where a restore to TARGET may start).
  pg_pitr.py restore BACKUP_DIR ARCHIVE_DIR TARGET DATABASE [WAIT_FOR]
      DATABASE as it was at TARGET (an ISO 8601 time with its offset, e.g. 2026-12-08T01:02:03+00:00):
      the newest base backup consistent before TARGET is unpacked beside the backups and started as a
      throwaway server of its own (a socket in a private directory, no TCP, archiving off), which
      replays ARCHIVE_DIR's WAL up to TARGET and pauses there; DATABASE is dumped from it (pg_dump's
      custom format) to BACKUP_DIR/pitr/DATABASE-at-STAMP.dump, and the server removed. WAIT_FOR is
      a WAL file the leader has just switched away from (pg_walfile_name(pg_switch_wal())): the
      archive is waited for until it holds it, so the WAL of TARGET's moment is there. The running
      cluster is not touched: playbooks/restore.yml puts the dump in place of the database.

Prints one JSON line; exits non-zero on failure.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from pg_backup import COUNT_TABLES, STAMP, backer, cluster_members, fsync, run, server_user

WAL_FILE = re.compile(r"^[0-9A-F]{24}$")
# How long a restore waits for the archive to hold WAIT_FOR, and for the replay to reach TARGET.
ARCHIVE_WAIT = 120
REPLAY_WAIT = 600
BASE = "base"
PITR = "pitr"
MANIFEST = "backup.json"  # ours, beside pg_basebackup's files: the copy's start WAL and consistent moment
PARTIAL = ".partial-"
SIDE_SERVER = ".pitr-server-"


# --- archive_command -----------------------------------------------------------------------------------


def archive(wal_path: str, archive_dir: str, name: str) -> dict[str, object]:
    """One file archived: copied to a hidden name, synced, renamed, the directory synced."""
    source, directory = Path(wal_path), Path(archive_dir)
    final = directory / name
    if final.exists() and filecmp.cmp(source, final, shallow=False):
        return {"archived": name, "already": True}
    replaced = final.exists()
    partial = directory / f".{name}.partial"
    shutil.copyfile(source, partial)
    fsync(partial)
    os.replace(partial, final)
    fsync(directory)
    return {"archived": name, "replaced": replaced}


# --- base backups -------------------------------------------------------------------------------------


def wal_file_name(timeline: int, lsn: str, segment_bytes: int) -> str:
    """The name of the WAL segment that holds LSN (PostgreSQL's XLogFileName)."""
    high, low = (int(part, 16) for part in lsn.split("/"))
    position = (high << 32) + low
    per_id = 0x100000000 // segment_bytes
    segment = position // segment_bytes
    return f"{timeline:08X}{segment // per_id:08X}{segment % per_id:08X}"


def segment_bytes() -> int:
    return int(run("psql", "-XAtc", "SELECT setting FROM pg_settings WHERE name = 'wal_segment_size'", "postgres"))


def base_backups(backup_dir: Path) -> list[dict[str, object]]:
    """The complete base backups, oldest first, each its backup.json with its path."""
    found = []
    for manifest in sorted((backup_dir / BASE).glob(f"*/{MANIFEST}")):
        found.append({**json.loads(manifest.read_text()), "path": str(manifest.parent)})
    return sorted(found, key=lambda backup: str(backup["consistent_at"]))


def take_base_backup(backup_dir: Path, now: datetime) -> dict[str, object]:
    """pg_basebackup of the local server, as postgres on its socket: base.tar.gz and pg_wal.tar.gz
    (the WAL it streamed while copying), then backup.json from its manifest; complete once renamed."""
    base = backup_dir / BASE
    base.mkdir(mode=0o700, exist_ok=True)
    for stale in base.glob(f"{PARTIAL}*"):  # an interrupted earlier run's
        shutil.rmtree(stale, ignore_errors=True)
    partial = base / f"{PARTIAL}{now.strftime(STAMP)}"
    started = time.monotonic()
    run("pg_basebackup", "--pgdata", str(partial), "--format=tar", "--gzip", "--wal-method=stream",
        "--checkpoint=fast", "--label", f"flask-deploy {now.strftime(STAMP)}")
    consistent_at = datetime.now(timezone.utc)  # the copy is consistent at its end, which is before now
    ranges = json.loads((partial / "backup_manifest").read_text())["WAL-Ranges"]
    first = min(ranges, key=lambda wal: int(wal["Timeline"]))
    manifest = {"stamp": now.strftime(STAMP), "consistent_at": consistent_at.isoformat(),
                "timeline": int(first["Timeline"]), "start_lsn": first["Start-LSN"],
                "start_wal": wal_file_name(int(first["Timeline"]), first["Start-LSN"], segment_bytes())}
    (partial / MANIFEST).write_text(json.dumps(manifest) + "\n")
    for path in partial.iterdir():
        fsync(path)
    final = base / now.strftime(STAMP)
    os.replace(partial, final)
    fsync(base)
    return {**manifest, "path": str(final), "seconds": round(time.monotonic() - started, 3),
            "bytes": sum(path.stat().st_size for path in final.iterdir())}


def prune_base_backups(backup_dir: Path, keep_days: int, now: datetime) -> list[str]:
    """Base backups older than keep_days removed, never the newest."""
    cutoff = now - timedelta(days=keep_days)
    pruned = [str(b["path"]) for b in base_backups(backup_dir)[:-1]
              if datetime.fromisoformat(str(b["consistent_at"])) < cutoff]
    for path in pruned:
        shutil.rmtree(path)
    return pruned


def prune_archive(archive_dir: Path, backup_dir: Path, keep_days: int, now: datetime) -> dict[str, object]:
    """The archived WAL no kept base backup needs: older than the oldest one's start (pg_archivecleanup),
    or, on a member that keeps none, last changed more than keep_days ago. Timeline history files stay."""
    kept = base_backups(backup_dir)
    before = {path.name for path in archive_dir.iterdir()}
    if kept:
        oldest = str(kept[0]["start_wal"])
        run("pg_archivecleanup", str(archive_dir), oldest)
        rule = f"older than {oldest}, the oldest base backup's start"
    else:
        cutoff = (now - timedelta(days=keep_days)).timestamp()
        for path in archive_dir.iterdir():
            if WAL_FILE.match(path.name) and path.stat().st_mtime < cutoff:
                path.unlink()
        rule = f"archived more than {keep_days} days ago (no base backup here)"
    removed = before - {path.name for path in archive_dir.iterdir()}
    return {"archive_pruned": len(removed), "rule": rule}


def base(backup_dir: str, archive_dir: str, keep_days: str, members: list[dict[str, object]] | None = None,
         me: str = "") -> dict[str, object]:
    """A base backup taken here (unless members name another member) and the archive pruned: what was done,
    and "ok"."""
    os.umask(0o077)
    directory, archive_path, days = Path(backup_dir), Path(archive_dir), int(keep_days)
    now = datetime.now(timezone.utc)
    said: dict[str, object] = {"member": me} if me else {}
    status = 0
    if members is not None:
        chosen, why = backer(members)
        said["base_backup_by"] = chosen
        status = 1 if not chosen else 0
    if members is None or said.get("base_backup_by") == me:
        try:
            said["base_backup"] = take_base_backup(directory, now)
            said["pruned"] = prune_base_backups(directory, days, now)
        except (RuntimeError, OSError, ValueError, KeyError) as exc:
            said["base_backup"], said["error"] = None, str(exc)
            status = 1
    said.update(prune_archive(archive_path, directory, days, now))
    return {**said, "ok": status == 0}


# --- a database as it was at a moment -------------------------------------------------------------------


def parse_target(target: str) -> datetime:
    try:
        moment = datetime.fromisoformat(target.replace("Z", "+00:00"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ValueError(f"TARGET ('{target}') must be an ISO 8601 time with its offset, such as "
                         "2026-12-08T01:02:03+00:00")
    return moment.astimezone(timezone.utc)


def chosen_base_backup(backup_dir: Path, target: datetime) -> dict[str, object]:
    """The newest base backup whose copy was consistent before target."""
    kept = base_backups(backup_dir)
    before = [b for b in kept if datetime.fromisoformat(str(b["consistent_at"])) < target]
    if not before:
        oldest = kept[0]["consistent_at"] if kept else "none is kept here"
        raise ValueError(f"no base backup in {backup_dir / BASE} was consistent before {target.isoformat()} "
                         f"(the oldest: {oldest})")
    return before[-1]


def wait_for_archive(archive_dir: Path, name: str) -> None:
    seconds = ARCHIVE_WAIT
    if not name:
        return
    if not WAL_FILE.match(name):
        raise ValueError(f"WAIT_FOR ('{name}') must be a WAL file's name (24 hexadecimal digits)")
    deadline = time.monotonic() + seconds
    while not (archive_dir / name).exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the archive {archive_dir} has not received {name} within {seconds} s: "
                               "is this member streaming, and its archive_command working (its log says)?")
        time.sleep(0.2)


def unpack(backup: dict[str, object], data: Path, server: list[str]) -> None:
    """The base backup, unpacked as the throwaway server's user, to be recovered (not to follow a leader)."""
    run(*server, "tar", "-xzf", str(Path(str(backup["path"])) / "base.tar.gz"), "-C", str(data))
    run(*server, "tar", "-xzf", str(Path(str(backup["path"])) / "pg_wal.tar.gz"), "-C", str(data / "pg_wal"))
    (data / "standby.signal").unlink(missing_ok=True)
    run(*server, "touch", str(data / "recovery.signal"))


def side_settings(data: Path, sockets: Path, archive_dir: Path, target: datetime) -> dict[str, str]:
    """The throwaway server's settings over those its copy brings (the member's, written by Patroni):
    no TCP, no archiving, no streaming, its own hba files, little memory; replay to target, then pause."""
    return {
        "listen_addresses": "", "port": "5432", "unix_socket_directories": str(sockets), "ssl": "off",
        "archive_mode": "off", "primary_conninfo": "", "primary_slot_name": "", "hot_standby": "on",
        "hba_file": str(data / "pg_hba.conf"), "ident_file": str(data / "pg_ident.conf"),
        "shared_buffers": "64MB", "logging_collector": "off", "synchronous_standby_names": "", "cluster_name": "pitr",
        "restore_command": f"cp {archive_dir}/%f %p", "recovery_target_time": target.isoformat(),
        "recovery_target_action": "pause", "recovery_target_timeline": "latest",
    }


def configure(data: Path, settings: dict[str, str]) -> None:
    """The settings, last in postgresql.auto.conf, which the server reads after postgresql.conf. Not on its
    command line: Patroni's postgresql.conf sets every recovery target to '', and the server refuses a
    target given on the command line beside those ("multiple recovery targets specified")."""
    auto = data / "postgresql.auto.conf"
    lines = [f"{name} = '{value.replace(chr(39), chr(39) * 2)}'" for name, value in settings.items()]
    with auto.open("a", encoding="utf-8") as conf:
        conf.write("\n# pg_pitr.py: a throwaway server that replays to a moment\n" + "\n".join(lines) + "\n")


def replay_paused(server: dict[str, str], log: Path) -> str:
    """Waits until the throwaway server paused at the target; the time of the last commit it replayed."""
    deadline = time.monotonic() + REPLAY_WAIT
    while True:
        try:
            state = run("psql", "-XAtc", "SELECT pg_get_wal_replay_pause_state()", "postgres", env=server).strip()
        except RuntimeError:
            state = "down"
        if state == "paused":
            return run("psql", "-XAtc", "SELECT pg_last_xact_replay_timestamp()", "postgres", env=server).strip()
        if state == "down" or time.monotonic() > deadline:
            raise RuntimeError(f"the replay did not pause at the target ({state}): {log_tail(log)}")
        time.sleep(0.2)


def log_tail(log: Path, lines: int = 5) -> str:
    """The throwaway server's last words (why it stopped: a target after the archive's end, a missing file)."""
    return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:]) if log.exists() else "no log"


def dump_at(directory: Path, database: str, moment: datetime, server: dict[str, str]) -> tuple[str, int]:
    """DATABASE of the throwaway server, dumped to BACKUP_DIR/pitr/DATABASE-at-STAMP.dump; complete once renamed."""
    out = directory / PITR
    out.mkdir(mode=0o700, exist_ok=True)
    final = out / f"{database}-at-{moment.strftime(STAMP)}.dump"
    partial = out / f".{final.name}.partial"
    run("pg_dump", "--format=custom", "--file", str(partial), "--dbname", database, env=server)
    fsync(partial)
    os.replace(partial, final)
    fsync(out)
    return str(final), final.stat().st_size


def restore(backup_dir: str, archive_dir: str, target: str, database: str, wait_for: str = "") -> dict[str, object]:
    """DATABASE at TARGET dumped (the module's docstring): the dump's path ("dump", None on failure), the base
    backup, the time of the last commit replayed, the tables' rows; or the error."""
    os.umask(0o077)
    directory, archive_path = Path(backup_dir), Path(archive_dir)
    result: dict[str, object] = {"database": database, "target": target, "dump": None}
    try:
        moment = parse_target(target)
        backup = chosen_base_backup(directory, moment)
        result["base_backup"] = backup["path"]
        wait_for_archive(archive_path, wait_for)
        for stale in directory.glob(f"{SIDE_SERVER}*"):
            shutil.rmtree(stale, ignore_errors=True)
        side = Path(tempfile.mkdtemp(prefix=SIDE_SERVER, dir=directory))
        sockets = Path(tempfile.mkdtemp(prefix="pg-pitr-"))
        data, log = side / "data", side / "log"
        data.mkdir(mode=0o700)
        prefix = server_user(side, data, sockets)
        try:
            unpack(backup, data, prefix)
            try:
                try:
                    configure(data, side_settings(data, sockets, archive_path, moment))
                    run(*prefix, "pg_ctl", "--pgdata", str(data), "--wait", "--timeout", str(REPLAY_WAIT), "--log",
                        str(log), "start")
                except RuntimeError as exc:
                    raise RuntimeError(f"{exc}: {log_tail(log)}") from exc
                server = {"PGHOST": str(sockets), "PGPORT": "5432", "PGUSER": "postgres"}
                result["replayed_to"] = replay_paused(server, log)
                result["tables"] = json.loads(run("psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", database, "-c",
                                                  COUNT_TABLES, env=server))
                result["dump"], result["bytes"] = dump_at(directory, database, moment, server)
            finally:
                subprocess.run([*prefix, "pg_ctl", "--pgdata", str(data), "--mode=immediate", "stop"],
                               capture_output=True, check=False)
        finally:
            shutil.rmtree(side, ignore_errors=True)
            shutil.rmtree(sockets, ignore_errors=True)
    except (RuntimeError, OSError, ValueError) as exc:
        result["error"] = str(exc)
    return result


def cli(argv: list[str]) -> int:
    command, args = (argv[0], argv[1:]) if argv else ("", [])
    if command == "archive" and len(args) == 3:
        archive(*args)  # silent: the server's log would get a line per segment
        return 0
    if command == "base":
        members, me = None, ""
        if args[:1] == ["--cluster"] and len(args) >= 3:
            url, me, args = args[1], args[2], args[3:]
            try:
                members = cluster_members(url)
            except (OSError, ValueError, KeyError) as exc:
                print(json.dumps({"base_backup": None, "error": f"the cluster's members, from {url}: {exc}"}),
                      flush=True)
                return 1
        if len(args) == 3:
            done = base(*args, members=members, me=me)
            print(json.dumps(done), flush=True)
            return 0 if done["ok"] else 1
    if command == "list" and len(args) in (1, 2):
        kept = base_backups(Path(args[0]))
        if len(args) == 2:
            moment = parse_target(args[1])
            kept = [b for b in kept if datetime.fromisoformat(str(b["consistent_at"])) < moment]
        print(json.dumps(kept), flush=True)
        return 0
    if command == "restore" and len(args) in (4, 5):
        restored = restore(*args)
        print(json.dumps(restored), flush=True)
        return 0 if restored["dump"] else 1
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(cli(sys.argv[1:]))
