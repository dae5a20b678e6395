"""pg_pitr.py: the WAL archive, base backups, and a database as it was at a moment.

A server of the module's own (tests/unit/postgresql.py, archive_mode on, its archive_command this
program, as a member's is) takes notes, a base backup, more notes; then a mistaken DELETE and notes
after it. The restore to the moment before the DELETE is the run the module's tests look at."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import postgresql
from conftest import FILES, psql

PROGRAM = FILES / "pg_pitr.py"


def postgres_owned(*paths: Path) -> None:
    """As on a host, where postgres makes the archive and the backups."""
    if os.geteuid() == 0:
        for path in paths:
            subprocess.run(["chown", "-R", "postgres:postgres", str(path)], check=True)


@pytest.fixture(scope="module")
def pitr_program(load_program):
    return load_program("pg_pitr.py")


@pytest.fixture(scope="module")
def archived_server():
    """A server of its own whose every finished WAL file this program archives; the directories the
    program uses: backups (BACKUP_DIR) and archive (ARCHIVE_DIR), postgres's (not under pytest's own
    temporary directory, which only its owner may enter)."""
    base = Path(tempfile.mkdtemp(prefix="unit-pitr-"))
    backups, archive = base / "backups", base / "archive"
    for path in (backups, archive):
        path.mkdir()
    os.chmod(base, 0o755)
    postgres_owned(backups, archive)
    try:
        yield from _archived(backups, archive)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _archived(backups: Path, archive: Path):
    command = f"/usr/bin/python3 {PROGRAM} archive %p {archive} %f"
    with postgresql.started(f"-c wal_level=replica -c archive_mode=on -c archive_command='{command}'") as cluster:
        # As Patroni writes a member's postgresql.conf (which a base backup copies): every recovery target ''.
        with (cluster.socket_dir.parent / "data" / "postgresql.conf").open("a") as conf:
            conf.write("".join(f"recovery_target{kind} = ''\n" for kind in ("", "_lsn", "_name", "_time", "_xid")))
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PGHOST", str(cluster.socket_dir))
            env.setenv("PGPORT", str(cluster.port))
            yield {"backups": backups, "archive": archive}


def sql(statement: str, database: str = "postgres") -> str:
    return psql(statement, database).strip()


def switched_wal() -> str:
    """The WAL file the server just finished (a commit first, so that there is one after any moment)."""
    sql("SELECT pg_current_xact_id()")
    return sql("SELECT pg_walfile_name(pg_switch_wal())")


@pytest.fixture(scope="module")
def story(archived_server, pitr_program):
    """Notes 1-3, a base backup, notes 4-5, the moment, DELETE FROM notes, note 6; then the restore
    to the moment: what it returned, and the moment."""
    backups, archive = archived_server["backups"], archived_server["archive"]
    sql("CREATE DATABASE pitr_notes")
    sql("CREATE TABLE notes (id serial PRIMARY KEY, text text NOT NULL)", "pitr_notes")
    for n in (1, 2, 3):
        sql(f"INSERT INTO notes (text) VALUES ('note {n}')", "pitr_notes")
    base = pitr_program.take_base_backup(backups, datetime.now(timezone.utc))
    postgres_owned(backups)
    for n in (4, 5):
        sql(f"INSERT INTO notes (text) VALUES ('note {n}')", "pitr_notes")
    time.sleep(0.2)
    moment = datetime.now(timezone.utc)
    time.sleep(0.2)
    sql("DELETE FROM notes", "pitr_notes")
    sql("INSERT INTO notes (text) VALUES ('note 6')", "pitr_notes")
    wait_for = switched_wal()
    restored = pitr_program.restore(str(backups), str(archive), moment.isoformat(), "pitr_notes", wait_for)
    return {"base": base, "moment": moment, "restored": restored, "backups": backups, "archive": archive,
            "wait_for": wait_for}


def restored_notes(dump: str) -> list[str]:
    """The notes of a dump, restored into a scratch database of the tests' server."""
    sql("DROP DATABASE IF EXISTS pitr_check")
    sql("CREATE DATABASE pitr_check")
    try:
        proc = subprocess.run(["pg_restore", "--exit-on-error", "--dbname", "pitr_check", dump],
                              capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr
        return psql("SELECT text FROM notes ORDER BY id", "pitr_check").splitlines()
    finally:
        sql("DROP DATABASE IF EXISTS pitr_check")


# --- the restore ---------------------------------------------------------------------------------------


def test_restore_dumps_the_database_as_it_was_at_the_moment_before_the_delete(story):
    assert story["restored"].get("error") is None
    assert restored_notes(story["restored"]["dump"]) == [f"note {n}" for n in (1, 2, 3, 4, 5)]


def test_restore_reports_the_rows_of_each_table_at_the_moment(story):
    assert story["restored"]["tables"] == {"notes": 5}


def test_restore_replays_no_commit_after_the_moment(story):
    replayed = datetime.fromisoformat(story["restored"]["replayed_to"].replace(" ", "T"))
    assert replayed <= story["moment"]


def test_restore_starts_from_the_base_backup_taken_before_the_moment(story):
    assert story["restored"]["base_backup"] == story["base"]["path"]


def test_restore_names_its_dump_by_the_database_and_the_moment(story):
    dump = Path(story["restored"]["dump"])
    assert dump == story["backups"] / "pitr" / f"pitr_notes-at-{story['moment'].strftime('%Y%m%dT%H%M%SZ')}.dump"
    assert dump.stat().st_mode & 0o077 == 0


def test_restore_leaves_no_server_nor_its_files_behind(story):
    assert [p.name for p in story["backups"].iterdir() if p.name.startswith(".")] == []
    ps = subprocess.run(["pgrep", "-f", "cluster_name=pitr"], capture_output=True, text=True, check=False)
    assert ps.stdout == ""


def test_live_database_is_untouched_by_a_restore(story):
    assert psql("SELECT text FROM notes ORDER BY id", "pitr_notes").splitlines() == ["note 6"]


def test_moment_before_every_base_backup_is_an_error_naming_the_oldest(story, pitr_program):
    early = story["base"]["consistent_at"]
    before = (datetime.fromisoformat(early) - timedelta(hours=1)).isoformat()
    failed = pitr_program.restore(str(story["backups"]), str(story["archive"]), before, "pitr_notes")
    assert failed["dump"] is None
    assert "no base backup" in failed["error"] and early in failed["error"]


@pytest.mark.parametrize("target", ["yesterday", "2026-12-08T01:02:03", ""])
def test_moment_without_an_offset_is_an_error_naming_target(story, pitr_program, target):
    failed = pitr_program.restore(str(story["backups"]), str(story["archive"]), target, "pitr_notes")
    assert failed["dump"] is None and failed["error"].startswith(f"TARGET ('{target}')")


def test_moment_after_the_archives_end_fails_with_the_servers_reason(story, pitr_program):
    later = (datetime.now(timezone.utc) + timedelta(hours=1)).isoformat()
    failed = pitr_program.restore(str(story["backups"]), str(story["archive"]), later, "pitr_notes")
    assert failed["dump"] is None
    assert "recovery ended before configured recovery target was reached" in failed["error"]


def test_wal_file_never_archived_fails_after_the_wait_naming_it(story, pitr_program, monkeypatch):
    monkeypatch.setattr(pitr_program, "ARCHIVE_WAIT", 0.3)
    failed = pitr_program.restore(str(story["backups"]), str(story["archive"]), story["moment"].isoformat(),
                                  "pitr_notes", "00000009000000FF000000FF")
    assert "has not received 00000009000000FF000000FF" in failed["error"]


def test_wait_for_that_is_no_wal_file_name_is_an_error_naming_it(story, pitr_program):
    failed = pitr_program.restore(str(story["backups"]), str(story["archive"]), story["moment"].isoformat(),
                                  "pitr_notes", "../etc/passwd")
    assert failed["error"].startswith("WAIT_FOR ('../etc/passwd')")


# --- the archive ---------------------------------------------------------------------------------------


def test_server_archives_every_finished_wal_file(story):
    assert (story["archive"] / story["wait_for"]).is_file()


def test_archived_file_is_complete_under_its_name_only(story):
    assert [p.name for p in story["archive"].iterdir() if p.name.startswith(".")] == []


def test_archiving_the_same_bytes_again_succeeds_and_keeps_the_file(pitr_program, tmp_path):
    wal = tmp_path / "000000010000000000000001"
    wal.write_bytes(b"x" * 64)
    (tmp_path / "archive").mkdir()
    assert pitr_program.archive(str(wal), str(tmp_path / "archive"), wal.name) == {"archived": wal.name,
                                                                                     "replaced": False}
    assert pitr_program.archive(str(wal), str(tmp_path / "archive"), wal.name) == {"archived": wal.name,
                                                                                     "already": True}


def test_archiving_other_bytes_under_a_name_replaces_the_file(pitr_program, tmp_path):
    wal = tmp_path / "000000010000000000000001"
    (tmp_path / "archive").mkdir()
    (tmp_path / "archive" / wal.name).write_bytes(b"old tail")
    wal.write_bytes(b"new")
    assert pitr_program.archive(str(wal), str(tmp_path / "archive"), wal.name)["replaced"] is True
    assert (tmp_path / "archive" / wal.name).read_bytes() == b"new"


def test_missing_wal_file_fails_the_archive_command(pitr_program, tmp_path):
    with pytest.raises(OSError):
        pitr_program.archive(str(tmp_path / "gone"), str(tmp_path), "000000010000000000000001")


# --- base backups and pruning --------------------------------------------------------------------------


def test_base_backup_records_its_start_wal_file_and_consistent_moment(story):
    base = story["base"]
    assert set(base) >= {"stamp", "consistent_at", "timeline", "start_lsn", "start_wal", "path", "bytes"}
    assert base["start_wal"].startswith(f"{base['timeline']:08X}")
    assert sorted(p.name for p in Path(base["path"]).iterdir()) == [
        "backup.json", "backup_manifest", "base.tar.gz", "pg_wal.tar.gz"]


@pytest.mark.parametrize(("timeline", "lsn", "name"), [
    (1, "0/2000028", "000000010000000000000002"),
    (3, "1/FF000000", "0000000300000001000000FF"),
    (2, "0/0", "000000020000000000000000"),
])
def test_wal_file_name_is_postgresqls(pitr_program, timeline, lsn, name):
    assert pitr_program.wal_file_name(timeline, lsn, 16 * 1024 * 1024) == name


def fake_base(directory: Path, stamp: str, consistent_at: datetime, start_wal: str) -> None:
    path = directory / "base" / stamp
    path.mkdir(parents=True)
    (path / "backup.json").write_text(json.dumps({"stamp": stamp, "consistent_at": consistent_at.isoformat(),
                                                  "start_wal": start_wal}))


def test_base_backups_older_than_keep_days_are_pruned_never_the_newest(pitr_program, tmp_path):
    now = datetime(2026, 12, 8, tzinfo=timezone.utc)
    fake_base(tmp_path, "a", now - timedelta(days=20), "000000010000000000000001")
    fake_base(tmp_path, "b", now - timedelta(days=16), "000000010000000000000005")
    assert pitr_program.prune_base_backups(tmp_path, 14, now) == [str(tmp_path / "base" / "a")]
    assert [b["stamp"] for b in pitr_program.base_backups(tmp_path)] == ["b"]


def test_archive_keeps_what_the_oldest_base_backup_needs_and_history_files(pitr_program, tmp_path):
    now = datetime(2026, 12, 8, tzinfo=timezone.utc)
    archive = tmp_path / "archive"
    archive.mkdir()
    for name in ("000000010000000000000003", "000000010000000000000004", "000000020000000000000005",
                 "00000002.history"):
        (archive / name).write_bytes(b"")
    fake_base(tmp_path, "b", now, "000000010000000000000004")
    pruned = pitr_program.prune_archive(archive, tmp_path, 14, now)
    assert pruned["archive_pruned"] == 1
    assert sorted(p.name for p in archive.iterdir()) == [
        "000000010000000000000004", "00000002.history", "000000020000000000000005"]


def test_member_without_base_backups_keeps_keep_days_of_archive(pitr_program, tmp_path):
    now = datetime.now(timezone.utc)
    old, new = tmp_path / "000000010000000000000003", tmp_path / "000000010000000000000004"
    for path in (old, new, tmp_path / "00000002.history"):
        path.write_bytes(b"")
    stale = (now - timedelta(days=15)).timestamp()
    os.utime(old, (stale, stale))
    os.utime(tmp_path / "00000002.history", (stale, stale))
    assert pitr_program.prune_archive(tmp_path, tmp_path / "backups", 14, now)["archive_pruned"] == 1
    assert not old.exists() and new.exists() and (tmp_path / "00000002.history").exists()


def members(chosen_role: str = "sync_standby") -> list[dict[str, object]]:
    return [{"name": "db1", "role": "leader", "state": "running"},
            {"name": "db2", "role": chosen_role, "state": "streaming"}]


def test_member_not_chosen_takes_no_base_backup_and_prunes_its_archive(pitr_program, tmp_path):
    (tmp_path / "archive").mkdir()
    done = pitr_program.base(str(tmp_path), str(tmp_path / "archive"), "14", members=members(), me="db1")
    assert done["ok"] and done["base_backup_by"] == "db2" and "base_backup" not in done
    assert "no base backup here" in done["rule"]


def test_no_member_to_back_up_fails(pitr_program, tmp_path):
    (tmp_path / "archive").mkdir()
    done = pitr_program.base(str(tmp_path), str(tmp_path / "archive"), "14", members=[], me="db1")
    assert not done["ok"] and done["base_backup_by"] == ""


def test_failed_base_backup_is_an_error_and_leaves_no_partial(pitr_program, tmp_path, monkeypatch):
    (tmp_path / "archive").mkdir()
    monkeypatch.setenv("PGPORT", "1")  # no server there
    done = pitr_program.base(str(tmp_path), str(tmp_path / "archive"), "14")
    assert not done["ok"] and done["base_backup"] is None and "pg_basebackup" in done["error"]


# --- the program --------------------------------------------------------------------------------------


def test_list_prints_the_base_backups(run_program, story):
    ran = run_program("pg_pitr.py", "list", story["backups"])
    assert ran.code == 0
    assert [b["path"] for b in json.loads(ran.stdout)] == [story["base"]["path"]]


def test_list_before_a_moment_prints_only_the_base_backups_a_restore_may_start_from(run_program, story):
    early = (datetime.fromisoformat(story["base"]["consistent_at"]) - timedelta(seconds=1)).isoformat()
    assert json.loads(run_program("pg_pitr.py", "list", story["backups"], early).stdout) == []
    later = story["moment"].isoformat()
    assert len(json.loads(run_program("pg_pitr.py", "list", story["backups"], later).stdout)) == 1


def test_restore_prints_its_result_and_exits_1_when_it_fails(run_program, story):
    ran = run_program("pg_pitr.py", "restore", story["backups"], story["archive"], "soon", "pitr_notes")
    assert ran.code == 1 and json.loads(ran.stdout)["error"].startswith("TARGET ('soon')")


def test_base_prints_what_it_did_and_exits_1_when_the_cluster_cannot_be_asked(run_program, tmp_path):
    ran = run_program("pg_pitr.py", "base", "--cluster", "http://127.0.0.1:1", "db1", tmp_path, tmp_path, "14")
    assert ran.code == 1 and "the cluster's members, from http://127.0.0.1:1" in json.loads(ran.stdout)["error"]


@pytest.mark.parametrize("argv", [[], ["archive", "x"], ["base"], ["restore", "a", "b"], ["nothing"]])
def test_program_with_wrong_arguments_prints_usage_and_exits_1(run_program, argv):
    ran = run_program("pg_pitr.py", *argv)
    assert ran.code == 1 and "pg_pitr.py archive WAL_PATH" in ran.stderr
