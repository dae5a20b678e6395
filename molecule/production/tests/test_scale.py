"""A lost app host, replaced by a fresh server, with its data: then app hosts failing.

Notes are written through the web-only host while playbooks/backup.yml brings prod-app's newest
backup to the controller; then prod-app is destroyed (its container removed). The operator puts
a fresh server (prod-spare, prepared like the others: sshd, sudo, the key) in its place in the
inventory, runs site.yml and restore.yml with the backup: every note acknowledged before the
backup began is on one of the app hosts, byte for byte. Runs last (conftest.LAST), in this order;
the last case powers an app host off.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from testlib.hosts import node
from testlib.http import curl_command
from testlib.layout import DATABASE, UWSGI_PORT
from testlib.load import Report, load
from testlib.notes import acknowledged, read_database
from testlib.run import PROJECT, SCENARIO, run_playbook

WEB_ONLY, BOTH, LOST, SPARE = "prod-web", "prod-both", "prod-app", "prod-spare"
SPARE_SSH_PORT = 2204  # molecule.yml publishes its sshd there


@pytest.fixture(scope="module")
def report() -> Report:
    return Report("production")


@pytest.fixture(scope="module")
def inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scenario's inventory as the operator edits it once prod-app is lost: prod-spare in its
    place, the group variables (and the vault) as they were."""
    directory = tmp_path_factory.mktemp("inventory")
    hosts = yaml.safe_load((SCENARIO / "inventory" / "hosts.yml").read_text())
    app_hosts = hosts["all"]["children"]["app"]["hosts"]
    app_hosts[SPARE] = {**app_hosts.pop(LOST), "ansible_port": SPARE_SSH_PORT}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars").symlink_to(SCENARIO / "inventory" / "group_vars")
    return directory


def answering_hosts(web: Any, domain: str, requests: int = 40) -> set[str]:
    """Hostnames the app reports in /healthz for requests through the web host."""
    bodies = web.check_output(f"for i in $(seq {requests}); do {curl_command('/healthz', name=domain)}; echo; done")
    return {json.loads(line)["hostname"] for line in bodies.splitlines() if line.startswith("{")}


@pytest.fixture(scope="module")
def replaced(domain: str, inventory: Path, tmp_path_factory: pytest.TempPathFactory, report: Report) -> dict[str, Any]:
    web = node(WEB_ONLY, sudo=True)
    dest = tmp_path_factory.mktemp("backups")
    with load(web, name=domain, post_notes=True) as summary:
        web.run("sleep 2")  # notes are acknowledged before the backup begins, by the hosts' clock
        started_at = float(web.check_output("date +%s.%N"))
        backup = run_playbook(PROJECT / "playbooks" / "backup.yml", "--limit", LOST, "-e", f"backup_dest={dest}")
    assert backup.rc == 0, backup
    fetched = sorted(dest.glob(f"{LOST}/notes/notes-*.sqlite3"))
    assert len(fetched) == 1, fetched

    subprocess.run(["docker", "rm", "--force", LOST], check=True, capture_output=True)
    start = time.monotonic()
    site = run_playbook(SCENARIO / "converge.yml", inventory=inventory)
    restore = run_playbook(PROJECT / "playbooks" / "restore.yml", "--limit", SPARE, "-e", "restore_app=notes",
                           "-e", f"python_app_restore_from={fetched[0]}", inventory=inventory)
    seconds = time.monotonic() - start
    report.add("backup.yml under load, then prod-app destroyed", summary, "")
    report.add("site.yml and restore.yml on a fresh server in its place", {}, f"{seconds:.0f} s wall time (over SSH)")
    with sqlite3.connect(f"file:{fetched[0]}?mode=ro", uri=True) as db:
        in_backup = {str(i): t for i, t in db.execute("SELECT id, text FROM notes")}
    return {"load": summary, "acked": acknowledged(web, summary), "started_at": started_at, "site": site,
            "restore": restore, "in_backup": in_backup}


def test_backup_of_an_app_host_under_load_fails_no_request(replaced) -> None:
    assert replaced["load"]["sent"] > 50
    assert replaced["load"]["failed"] == 0, replaced["load"]


def test_fresh_server_in_place_of_a_lost_app_host_converges_restores_and_takes_traffic(
        replaced, inventory, domain) -> None:
    assert replaced["site"].rc == 0, replaced["site"]
    assert replaced["restore"].rc == 0, replaced["restore"]
    assert answering_hosts(node(WEB_ONLY, sudo=True), domain, 60) == {BOTH, SPARE}


def test_every_note_acknowledged_before_the_backup_is_on_an_app_host_byte_for_byte(replaced, inventory) -> None:
    spare = read_database(node(SPARE, sudo=True, inventory=inventory / "hosts.yml"), DATABASE)
    assert spare["notes"] == replaced["in_backup"]
    # The web host sent each note to one of the two app hosts, and each keeps its own database.
    kept = set(spare["notes"].values()) | set(read_database(node(BOTH, sudo=True), DATABASE)["notes"].values())
    before = [a["text"] for a in replaced["acked"] if a["at"] < replaced["started_at"]]
    assert before, "no note was acknowledged before the backup began"
    missing = [text for text in before if text not in kept]
    assert missing == [], f"{len(missing)} of {len(before)} acknowledged notes are lost"


def test_site_with_the_replaced_host_converges_idempotently(replaced, inventory) -> None:
    # Molecule's own idempotence step is not run in this scenario: this re-run of the whole site,
    # over SSH on every host, the new one included, is it.
    run = run_playbook(SCENARIO / "converge.yml", inventory=inventory)
    assert run.rc == 0, run
    assert run.changed == {BOTH: 0, WEB_ONLY: 0, SPARE: 0}, run.changed


def test_app_host_that_drops_packets_costs_a_request_the_connect_timeout_only(replaced, inventory, domain) -> None:
    # uwsgi_connect_timeout (5 s): a host that answers nothing (a firewall dropping, a hung
    # kernel) is given up after 5 s and the request goes to the next app host, instead of
    # waiting out nginx's default of 60 s.
    app, web = node(SPARE, sudo=True, inventory=inventory / "hosts.yml"), node(WEB_ONLY, sudo=True)
    chain = f"chain input {{ type filter hook input priority -10; tcp dport {UWSGI_PORT} drop; }}"
    app.check_output(f"echo 'table inet test_blackhole {{ {chain}; }}' | nft -f -")
    timed = curl_command("/healthz", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\\n", name=domain)
    try:
        # nginx's workers each keep their own round robin: nine requests bring one of the two
        # workers at least five, so to every app host.
        timings = web.check_output(f"for i in $(seq 9); do {timed}; done").splitlines()
    finally:
        app.run("nft delete table inet test_blackhole")
    codes = [line.split()[0] for line in timings]
    seconds = [float(line.split()[1]) for line in timings]
    assert codes == ["200"] * 9, timings
    assert 4.5 <= max(seconds) < 9, timings


def test_app_host_powered_off_costs_no_request(replaced, inventory, domain, report) -> None:
    web = node(WEB_ONLY, sudo=True)
    with load(web, "/healthz", name=domain) as summary:
        node(SPARE, sudo=True, inventory=inventory / "hosts.yml").run("systemctl poweroff")
        time.sleep(10)
    report.add("power off one of two app hosts", summary, "served by the other throughout")
    assert summary["sent"] > 100
    assert summary["failed"] == 0, summary
