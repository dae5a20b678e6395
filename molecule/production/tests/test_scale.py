"""A lost app host, then a lost database host, each replaced by a fresh server: then app hosts failing.

Notes are written through the web-only host while prod-app is destroyed (its container removed):
the app's data is in PostgreSQL on prod-db, so nothing of it was on prod-app. The operator puts a
fresh server (prod-spare, prepared like the others: sshd, sudo, the key) in its place in the
inventory and runs site.yml: every note acknowledged is in the database, byte for byte, and both
app hosts serve it. Then playbooks/backup.yml brings prod-db's newest dump to the controller under
write load, prod-db is destroyed, and a fresh Debian 13 server (prod-spare-db) takes its place:
site.yml and restore.yml, and every note acknowledged before the backup began is there, now in
PostgreSQL 17. Runs last (conftest.LAST), in this order; the last case powers an app host off.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from testlib.database import notes_in
from testlib.hosts import node
from testlib.http import curl_command
from testlib.layout import UWSGI_PORT
from testlib.load import Report, load
from testlib.notes import acknowledged
from testlib.run import PROJECT, SCENARIO, run_playbook
from testlib.wait import wait_until

WEB_ONLY, BOTH, LOST, SPARE, DB, SPARE_DB = "prod-web", "prod-both", "prod-app", "prod-spare", "prod-db", "prod-spare-db"
SPARE_SSH_PORT, SPARE_DB_SSH_PORT = 2204, 2206  # molecule.yml publishes their sshd there
THREADS = 4


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
def replaced(domain: str, inventory: Path, report: Report) -> dict[str, Any]:
    web = node(WEB_ONLY, sudo=True)
    with load(web, name=domain, post_notes=True, threads=THREADS) as summary:
        wait_until(lambda: web.file(summary["acks"]).exists and web.file(summary["acks"]).size > 0, 30)
        subprocess.run(["docker", "rm", "--force", LOST], check=True, capture_output=True)
        time.sleep(3)  # writes go on through the other app host
    start = time.monotonic()
    site = run_playbook(SCENARIO / "converge.yml", inventory=inventory)
    seconds = time.monotonic() - start
    report.add("writes through the web host while prod-app is destroyed", summary,
               "every acknowledged note is in PostgreSQL")
    report.add("site.yml on a fresh server in its place", {}, f"{seconds:.0f} s wall time (over SSH), no restore")
    return {"load": summary, "acked": acknowledged(web, summary), "site": site}


def test_losing_an_app_host_fails_at_most_the_writes_it_had_in_flight(replaced) -> None:
    assert replaced["load"]["sent"] > 50
    # nginx never sends a POST again once it reached an app host (it may have been written): only
    # those in flight on prod-app when it vanished can fail, at most one per client.
    assert replaced["load"]["failed"] <= THREADS, replaced["load"]


def test_every_acknowledged_note_is_in_the_database_byte_for_byte(replaced) -> None:
    stored = notes_in(node(DB, sudo=True))
    assert len(replaced["acked"]) > 50
    missing = [a for a in replaced["acked"] if stored.get(str(a["id"])) != a["text"]]
    assert missing == [], f"{len(missing)} of {len(replaced['acked'])} acknowledged notes are lost"


def test_fresh_server_in_place_of_a_lost_app_host_converges_and_takes_traffic(replaced, inventory, domain) -> None:
    assert replaced["site"].rc == 0, replaced["site"]
    assert answering_hosts(node(WEB_ONLY, sudo=True), domain, 60) == {BOTH, SPARE}


def test_site_with_the_replaced_host_converges_idempotently(replaced, inventory) -> None:
    # Molecule's own idempotence step is not run in this scenario: this re-run of the whole site,
    # over SSH on every host, the new one included, is it.
    run = run_playbook(SCENARIO / "converge.yml", inventory=inventory)
    assert run.rc == 0, run
    assert run.changed == {BOTH: 0, WEB_ONLY: 0, SPARE: 0, DB: 0}, run.changed


@pytest.fixture(scope="module")
def db_inventory(inventory: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The inventory once prod-db is lost too: prod-spare-db in its place."""
    directory = tmp_path_factory.mktemp("inventory-db")
    hosts = yaml.safe_load((inventory / "hosts.yml").read_text())
    db_hosts = hosts["all"]["children"]["db"]["hosts"]
    db_hosts[SPARE_DB] = {**db_hosts.pop(DB), "ansible_port": SPARE_DB_SSH_PORT}
    (directory / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (directory / "group_vars").symlink_to(SCENARIO / "inventory" / "group_vars")
    return directory


@pytest.fixture(scope="module")
def db_replaced(replaced, inventory: Path, db_inventory: Path, domain: str, report: Report,
                tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    web = node(WEB_ONLY, sudo=True)
    dest = tmp_path_factory.mktemp("backups")
    with load(web, name=domain, post_notes=True, threads=THREADS) as summary:
        wait_until(lambda: web.file(summary["acks"]).exists and web.file(summary["acks"]).size > 0, 30)
        started_at = float(web.check_output("date +%s.%N"))
        backup = run_playbook(PROJECT / "playbooks" / "backup.yml", "--limit", DB, "-e", f"backup_dest={dest}",
                              inventory=inventory)
    assert backup.rc == 0, backup
    fetched = sorted(dest.glob(f"{DB}/notes/notes-*.dump"))
    assert len(fetched) == 1, fetched

    subprocess.run(["docker", "rm", "--force", DB], check=True, capture_output=True)
    start = time.monotonic()
    site = run_playbook(SCENARIO / "converge.yml", inventory=db_inventory)
    restore = run_playbook(PROJECT / "playbooks" / "restore.yml", "--limit", SPARE_DB, "-e", "restore_app=notes",
                           "-e", f"python_app_restore_from={fetched[0]}", inventory=db_inventory)
    seconds = time.monotonic() - start
    report.add("backup.yml of the database host under write load, then prod-db destroyed", summary, "")
    report.add("site.yml and restore.yml on a fresh Debian 13 database host", {},
               f"{seconds:.0f} s wall time (over SSH), PostgreSQL 15 dump into 17")
    return {"load": summary, "acked": acknowledged(web, summary), "started_at": started_at, "site": site,
            "restore": restore}


def test_a_backup_of_the_database_host_under_load_fails_no_request(db_replaced) -> None:
    assert db_replaced["load"]["sent"] > 50
    assert db_replaced["load"]["failed"] == 0, db_replaced["load"]


def test_a_fresh_database_host_converges_and_restores(db_replaced) -> None:
    assert db_replaced["site"].rc == 0, db_replaced["site"]
    assert db_replaced["restore"].rc == 0, db_replaced["restore"]


def test_every_note_acknowledged_before_the_backup_is_on_the_new_database_host(db_replaced, db_inventory) -> None:
    stored = notes_in(node(SPARE_DB, sudo=True, inventory=db_inventory / "hosts.yml"))
    before = [a for a in db_replaced["acked"] if a["at"] < db_replaced["started_at"]]
    assert before, "no note was acknowledged before the backup began"
    missing = [a for a in before if stored.get(str(a["id"])) != a["text"]]
    assert missing == [], f"{len(missing)} of {len(before)} acknowledged notes are lost"


def test_the_site_serves_from_the_new_database_host(db_replaced, domain) -> None:
    web = node(WEB_ONLY, sudo=True)
    bodies = [json.loads(line) for line in web.check_output(
        f"for i in $(seq 8); do {curl_command('/healthz', name=domain)}; echo; done").splitlines() if line]
    assert {(b["status"], b["database"]) for b in bodies} == {("ok", "postgresql")}, bodies
    assert {b["hostname"] for b in bodies} == {BOTH, SPARE}


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
