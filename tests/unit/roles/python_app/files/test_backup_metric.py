"""backup_metric.py: the time of an app's newest good backup, as the node exporter's textfile
collector reads it (checked with promtool check metrics, as Prometheus' own parser takes it)."""

from __future__ import annotations

import shutil
import subprocess
from datetime import datetime, timezone

import pytest

METRIC = "flask_deploy_backup_last_success_timestamp_seconds"


def epoch(stamp: str) -> int:
    return int(datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp())


def checked_by_promtool(text: str) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: scripts/bootstrap installs it (Debian's prometheus package)"
    result = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_newest_of_the_apps_backups_is_written(tmp_path, run_program):
    backups, textfile = tmp_path / "backups", tmp_path / "textfile" / "flask-deploy-backup-notes.prom"
    backups.mkdir()
    textfile.parent.mkdir()
    for name in ("notes-20261205T030112Z.sqlite3", "notes-20261206T030958Z.sqlite3",
                 ".notes-20261207T030000Z.sqlite3.partial",  # a copy still being made: not good yet
                 "notesbook-20261207T030000Z.sqlite3",  # another app's
                 "notes-20261207T0300Z.sqlite3", "notes-latest.sqlite3"):
        (backups / name).write_bytes(b"x")
    (backups / "notes-20261208T030000Z.sqlite3").mkdir()  # not a file

    result = run_program("backup_metric.py", backups, "notes", textfile)

    assert result.code == 0, result.stderr
    assert f"newest good backup 20261206T030958Z, written to {textfile}" in result.stdout
    text = textfile.read_text()
    assert text.splitlines()[-1] == f'{METRIC}{{app="notes"}} {epoch("20261206T030958Z")}'
    assert epoch("20261206T030958Z") == 1796526598  # the stamp read as UTC
    checked_by_promtool(text)
    assert textfile.stat().st_mode & 0o777 == 0o644
    assert sorted(p.name for p in textfile.parent.iterdir()) == [textfile.name]  # no partial file left


def test_an_app_without_a_backup_has_no_sample(tmp_path, run_program):
    textfile = tmp_path / "notes.prom"
    textfile.write_text(f'{METRIC}{{app="notes"}} 1\n')  # from before its backups were all removed

    result = run_program("backup_metric.py", tmp_path, "notes", textfile)

    assert result.code == 0
    assert "newest good backup none yet" in result.stdout
    text = textfile.read_text()
    assert [line for line in text.splitlines() if not line.startswith("#")] == []
    checked_by_promtool(text)


def test_an_app_name_is_quoted_as_a_label_value(load_file, tmp_path):
    module = load_file("roles/python_app/files/backup_metric.py")
    text = module.exposition('no"te\\s', datetime(2026, 12, 7, tzinfo=timezone.utc))
    assert f'{METRIC}{{app="no\\"te\\\\s"}} 1796601600' in text
    checked_by_promtool(text)


@pytest.mark.parametrize("argv", [(), ("dir", "notes")], ids=["none", "two"])
def test_wrong_arguments_print_the_usage(run_program, argv):
    result = run_program("backup_metric.py", *argv)
    assert result.code == 1
    assert "usage: backup_metric.py BACKUP_DIR NAME TEXTFILE" in result.stderr
