"""One app of two deployed, then removed, while the other serves on untouched.

Runs after test_releases.py. Removing counter (state: absent) stops its vassal and takes away its
socket, site, certificate, uwsgi port rules, backup schedule and releases, and keeps its data,
backups, secret and user; purging takes those too. notes is under load throughout and must not notice.
"""

from __future__ import annotations

import json
import re
import shutil
from typing import Any

import pytest
from testlib.apps import COUNTER, NOTES, state, watched
from testlib.http import curl, s_client
from testlib.load import load
from testlib.run import PROJECT, SCENARIO, PlaybookRun, run_playbook
from testlib.wait import wait_until

# Web hosts elsewhere (a documentation address): each app opens its uwsgi port behind a table of its own.
TCP = {"python_app_uwsgi_allowed_sources": ["192.0.2.10"]}
ABSENT = {**TCP, "releases_counter_state": "absent"}


def converge(extra: dict[str, Any] | None = None, *args: str) -> PlaybookRun:
    return run_playbook(SCENARIO / "converge.yml", *(["-e", json.dumps(extra)] if extra else []), *args)


def counter_hits(host) -> int:
    """Rows in counter's database, read as root (opened read-only)."""
    query = (f"import sqlite3; print(sqlite3.connect('file:{COUNTER.database}?mode=ro', uri=True)"
             ".execute('SELECT count(*) FROM hits').fetchone()[0])")
    return int(host.check_output(f'python3 -c "{query}"'))


@pytest.fixture(scope="module")
def tcp_ports(host) -> None:
    """Both apps open their uwsgi ports too, as for web hosts elsewhere; notes runs its scenario's
    own code and limits again (test_releases.py left it on a test release)."""
    run = converge(TCP)
    assert run.rc == 0, run
    assert host.run("nft list table inet counter_uwsgi").rc == 0
    # The run ends as counter's vassal file is rewritten; the vassal binds the port as it reloads.
    wait_until(lambda: ":3032 " in host.check_output("ss -Hltn"), 30)


def test_deploy_of_the_other_app_leaves_notes_untouched(host, tcp_ports, tmp_path, report) -> None:
    src = tmp_path / "counter"
    shutil.copytree(PROJECT / "molecule" / "releases" / "apps", src, ignore=shutil.ignore_patterns("__pycache__"))
    init = src / "counter" / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "0.2.0"', init.read_text()))
    before = state(host, COUNTER)["release"]
    with watched(host, NOTES) as notes, load(host, COUNTER.load_path, name=COUNTER.server_name) as counter:
        run = converge({**TCP, "releases_counter_src": str(src)})
    report.add("deploy a new release of the other app", counter, "switch under load")
    report.add("... notes meanwhile", notes["load"], "release and workers untouched")
    assert run.rc == 0, run
    assert "-0.2.0-" in state(host, COUNTER)["release"] != before
    assert counter["failed"] == 0, counter
    assert notes["after"] == notes["before"]
    assert notes["load"]["sent"] > 0
    assert notes["load"]["failed"] == 0, notes["load"]


@pytest.fixture(scope="module")
def removed(host, tcp_ports) -> dict[str, Any]:
    """counter removed while notes is under load."""
    for _ in range(3):
        posted = curl(host, COUNTER.load_path, "-XPOST", "-w", "%{http_code}", name=COUNTER.server_name,
                      cert=COUNTER.certificate)
        assert posted.stdout == "201", posted.stdout + posted.stderr
    hits = counter_hits(host)
    assert hits >= 3
    with watched(host, NOTES) as notes:
        run = converge(ABSENT)
    return {"run": run, "notes": notes, "hits": hits}


def test_removal_run_succeeds(removed) -> None:
    assert removed["run"].rc == 0, removed["run"]


def test_removed_app_no_longer_runs(host, removed) -> None:
    assert not host.file(COUNTER.vassal).exists
    assert host.run(f"pgrep -u {COUNTER.name}").rc == 1
    assert not host.file(COUNTER.socket).exists
    assert not host.file(COUNTER.run_dir).exists
    assert ":3032 " not in host.check_output("ss -Hltn")


def test_removed_apps_site_and_certificate_are_gone(host, removed) -> None:
    assert not host.file(COUNTER.site).exists
    assert not host.file(COUNTER.site_link).exists
    assert not host.file(COUNTER.certificate).exists
    # Its name now meets nginx's default server, which refuses the handshake.
    assert s_client(host, name=COUNTER.server_name).rc != 0


def test_removed_apps_uwsgi_port_rules_are_gone_and_the_other_apps_stay(host, removed) -> None:
    assert host.run("nft list table inet counter_uwsgi").rc != 0
    assert not host.file(COUNTER.firewall_rules).exists
    assert host.run("nft list table inet notes_uwsgi").rc == 0
    assert host.file(NOTES.firewall_rules).exists


def test_removed_apps_releases_are_gone_and_its_data_secret_and_user_kept(host, removed) -> None:
    assert not host.file(COUNTER.root).exists
    assert host.file(COUNTER.secret_key).exists
    assert host.user(COUNTER.name).exists
    assert counter_hits(host) == removed["hits"]


def test_removed_apps_backup_schedule_is_gone_and_its_backups_kept(host, removed) -> None:
    for unit in ("service", "timer"):
        assert not host.file(f"/etc/systemd/system/{COUNTER.name}-backup.{unit}").exists, unit
    assert host.run(f"systemctl is-active {COUNTER.name}-backup.timer").stdout.strip() != "active"
    assert host.file(COUNTER.backup_dir).is_directory


def test_the_other_app_served_on_untouched_while_one_was_removed(removed, report) -> None:
    report.add("remove the other app", removed["notes"]["load"], "notes' release and workers untouched")
    assert removed["notes"]["after"] == removed["notes"]["before"]
    assert removed["notes"]["load"]["sent"] > 0
    assert removed["notes"]["load"]["failed"] == 0, removed["notes"]["load"]


def test_removed_app_stays_removed_and_the_next_app_run_changes_nothing(removed) -> None:
    # The app tier alone: python_app's removal is what this change added (nginx's removal of a
    # site is proven in the default scenario).
    run = run_playbook(PROJECT / "playbooks" / "app.yml", "-e", json.dumps(ABSENT))
    assert run.rc == 0, run
    assert set(run.changed.values()) == {0}, run.changed


def test_purged_app_leaves_no_data_config_or_user(host, removed) -> None:
    # Without the uwsgi ports: notes goes back to its unix socket alone, as the tests after these expect.
    run = converge({"releases_counter_state": "absent", "releases_counter_purge": True})
    assert run.rc == 0, run
    for path in (COUNTER.data_dir, COUNTER.backup_dir, COUNTER.config_dir, COUNTER.root):
        assert not host.file(path).exists, path
    assert not host.user(COUNTER.name).exists
    assert not host.group(COUNTER.name).exists
    assert host.file(NOTES.database).exists
