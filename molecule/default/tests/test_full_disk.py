"""A full disk (issue #32): when the file system that holds the app's data fills, writes get 503 with
Retry-After, never 500, while reads go on; once space is freed the app takes writes again by itself,
every acknowledged note is there and the database passes its integrity check. A backup that would
fill its disk is not started. nginx and the journal run on.

The data directory is moved onto a small tmpfs for these tests (the emperor stopped around the
move, so its sandbox binds the new file system), and back afterwards with every note written on it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from testlib.http import http
from testlib.layout import APP, BACKUP_DIR, BACKUP_SERVICE, DATA_DIR, DATABASE, EMPEROR_SERVICE, NGINX_SERVICE
from testlib.load import load
from testlib.notes import acknowledged, read_database
from testlib.uwsgi import now
from testlib.wait import wait_until

FILLER = f"{DATA_DIR}/.full-disk-test-filler"


def post_note(host: Any, text: str) -> Any:
    return http(host, "/api/notes", "-XPOST", "-H", "Content-Type: application/json", "-d", f'{{"text": "{text}"}}')


def healthy(host: Any) -> bool:
    return http(host, "/healthz").status == 200


@pytest.fixture(scope="module")
def small_data_fs(host: Any) -> Iterator[None]:
    """The data directory on a 32 MiB tmpfs with its owner and mode, the database copied onto it; on
    the way back the tmpfs's files (the notes written meanwhile) replace the directory's."""
    kept, moved = f"{DATA_DIR}.before-full-disk-test", f"{DATA_DIR}.after-full-disk-test"
    mode, uid, gid = host.check_output(f"stat -c '%a %u %g' {DATA_DIR}").split()
    host.check_output(f"systemctl stop {EMPEROR_SERVICE} && cp -a {DATA_DIR} {kept} && "
              f"mount -t tmpfs -o size=32m,mode={mode},uid={uid},gid={gid} flask-deploy-test {DATA_DIR} && "
              f"cp -a {kept}/. {DATA_DIR}/ && systemctl start {EMPEROR_SERVICE}")
    try:
        wait_until(lambda: healthy(host), 60)
        yield
    finally:
        host.run(f"rm -f {FILLER}")
        host.check_output(f"systemctl stop {EMPEROR_SERVICE} && rm -rf {moved} && cp -a {DATA_DIR} {moved} && "
                  f"umount {DATA_DIR} && rm -rf {DATA_DIR} {kept} && mv {moved} {DATA_DIR} && "
                  f"systemctl start {EMPEROR_SERVICE}")
        wait_until(lambda: healthy(host), 60)


@pytest.fixture(scope="module")
def filled(host: Any, small_data_fs: None, report: Any) -> dict[str, Any]:
    """Notes added and the notes listed while the data file system fills to its last byte, stays
    full until a write has been refused, and is freed again."""
    out: dict[str, Any] = {}
    with load(host, post_notes=True, accept=(503,)) as writes, load(host, "/api/notes?limit=20") as reads:
        acks = host.file(writes["acks"])
        wait_until(lambda: acks.exists and len(acks.content_string.splitlines()) >= 10, 60)
        host.run(f"head -c 64M /dev/zero > {FILLER}")  # stops at the file system's end
        out["free_when_full"] = int(host.check_output(f"df --output=avail -B1 {DATA_DIR} | tail -n 1"))
        refused: list[Any] = []
        wait_until(lambda: refused.append(post_note(host, "while the disk is full")) or refused[-1].status == 503, 60)
        out["refused"] = refused[-1]
        out["read_while_full"] = http(host, "/api/notes?limit=5")
        freed_at = time.monotonic()
        host.check_output(f"rm -f {FILLER}")
        accepted: list[Any] = []
        wait_until(lambda: accepted.append(post_note(host, "once space is freed")) or accepted[-1].status == 201, 60)
        out["recovered_s"] = time.monotonic() - freed_at
        out["nginx_active"] = host.service(NGINX_SERVICE).is_running
        out["journald_active"] = host.service("systemd-journald").is_running
    out["writes"], out["reads"] = writes, reads
    report.add("data disk full, then freed: POSTs", writes,
               f"{writes['by_status'].get('503', 0)} × 503; writes again {out['recovered_s']:.1f} s after space was freed")
    report.add("... GETs meanwhile", reads, "never stopped")
    out["acked"] = acknowledged(host, writes)
    out["database"] = read_database(host, DATABASE)
    return out


def test_a_write_gets_503_with_retry_after_when_the_data_disk_is_full(filled) -> None:
    assert filled["free_when_full"] < 4096
    assert filled["refused"].status == 503
    assert filled["refused"].headers.get("retry-after", "").isdigit()


def test_writes_under_load_get_201_or_503_never_500_while_the_data_disk_is_full(filled) -> None:
    assert set(filled["writes"]["by_status"]) <= {"201", "503"}, filled["writes"]
    assert filled["writes"]["by_status"].get("503", 0) > 0, filled["writes"]
    assert filled["writes"]["failed"] == 0, filled["writes"]  # and every 503 had its Retry-After


def test_reads_go_on_while_the_data_disk_is_full(filled) -> None:
    assert filled["read_while_full"].status == 200
    assert filled["reads"]["failed"] == 0, filled["reads"]
    assert set(filled["reads"]["by_status"]) == {"200"}, filled["reads"]


def test_writes_come_back_by_themselves_once_space_is_freed(filled) -> None:
    assert filled["recovered_s"] < 10, filled["recovered_s"]


def test_no_acknowledged_note_is_lost_when_the_data_disk_fills(filled) -> None:
    stored = filled["database"]["notes"]
    assert [a for a in filled["acked"] if stored.get(str(a["id"])) != a["text"]] == []


def test_the_database_passes_its_integrity_check_after_the_disk_was_full(filled) -> None:
    assert filled["database"]["integrity"] == ["ok"]


def test_nginx_and_the_journal_run_on_while_the_data_disk_is_full(filled) -> None:
    assert (filled["nginx_active"], filled["journald_active"]) == (True, True)


def test_a_backup_that_would_fill_its_disk_is_not_started(host: Any) -> None:
    # The backup directory on a tmpfs of half the database's size: the backup refuses before copying.
    mode, uid, gid = host.check_output(f"stat -c '%a %u %g' {BACKUP_DIR}").split()
    pages = max(int(host.check_output(f"stat -c %s {DATABASE}")) // 2 // 4096, 1)
    host.check_output(f"mount -t tmpfs -o size={pages * 4096},mode={mode},uid={uid},gid={gid} "
                      f"flask-deploy-test {BACKUP_DIR}")
    try:
        since = now(host)
        started = host.run(f"systemctl start {BACKUP_SERVICE}")
        listing = host.check_output(f"ls -A {BACKUP_DIR}")
        logged = host.check_output(f"journalctl -u {BACKUP_SERVICE} --since '{since}' --no-pager -o cat")
    finally:
        host.run(f"umount {BACKUP_DIR}; systemctl reset-failed {BACKUP_SERVICE}")
    assert started.rc != 0
    assert listing == ""
    assert f"not enough free space in {BACKUP_DIR}" in logged, logged
    assert host.check_output(f"ls -1 {BACKUP_DIR}").count(f"{APP}-") >= 1  # the backups before, untouched
