"""Scaling out, and app hosts failing: a fourth server joins the app tier, then app hosts stop
answering. Runs last (conftest.ORDER), in this order; the last case powers an app host off."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from testlib.hosts import node
from testlib.http import curl_command
from testlib.layout import UWSGI_PORT
from testlib.load import Report, load
from testlib.run import SCENARIO, run_playbook

ADD_SPARE = SCENARIO / "tests" / "add-spare.yml"
WEB_ONLY, SPARE = "prod-web", "prod-spare"


@pytest.fixture(scope="module")
def report() -> Report:
    return Report("production")


def answering_hosts(web: Any, domain: str, requests: int = 40) -> set[str]:
    """Hostnames the app reports in /healthz for requests through the web host."""
    bodies = web.check_output(f"for i in $(seq {requests}); do {curl_command('/healthz', name=domain)}; echo; done")
    return {json.loads(line)["hostname"] for line in bodies.splitlines() if line.startswith("{")}


def test_app_host_added_to_the_inventory_takes_traffic(domain, app_names, report) -> None:
    start = time.monotonic()
    run = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_SPARE,))
    seconds = time.monotonic() - start
    assert run.rc == 0, run
    assert answering_hosts(node(WEB_ONLY, sudo=True), domain, 60) == {*app_names, SPARE}
    report.add("converge with a fourth server added to the app tier", {}, f"{seconds:.0f} s wall time (over SSH)")


def test_site_with_the_added_host_converges_idempotently() -> None:
    # Molecule's own idempotence step is not run in this scenario: this re-run of the whole site,
    # over SSH on every host, is it.
    run = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_SPARE,))
    assert run.rc == 0, run
    assert run.changed and set(run.changed.values()) == {0}, run.changed
    assert set(run.changed) == {"prod-both", "prod-web", "prod-app", SPARE}


def test_app_host_that_drops_packets_costs_a_request_the_connect_timeout_only(domain) -> None:
    # uwsgi_connect_timeout (5 s): a host that answers nothing (a firewall dropping, a hung
    # kernel) is given up after 5 s and the request goes to the next app host, instead of
    # waiting out nginx's default of 60 s.
    app, web = node("prod-app", sudo=True), node(WEB_ONLY, sudo=True)
    chain = f"chain input {{ type filter hook input priority -10; tcp dport {UWSGI_PORT} drop; }}"
    app.check_output(f"echo 'table inet test_blackhole {{ {chain}; }}' | nft -f -")
    timed = curl_command("/healthz", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\\n", name=domain)
    try:
        # nginx's workers each keep their own round robin over the three app hosts: nine requests
        # bring one of the two workers at least five, so to every app host.
        timings = web.check_output(f"for i in $(seq 9); do {timed}; done").splitlines()
    finally:
        app.run("nft delete table inet test_blackhole")
    codes = [line.split()[0] for line in timings]
    seconds = [float(line.split()[1]) for line in timings]
    assert codes == ["200"] * 9, timings
    assert 4.5 <= max(seconds) < 9, timings


def test_app_host_powered_off_costs_no_request(domain, report) -> None:
    web = node(WEB_ONLY, sudo=True)
    with load(web, "/healthz", name=domain) as summary:
        node("prod-app", sudo=True).run("systemctl poweroff")
        time.sleep(10)
    report.add("power off one of three app hosts", summary, "served by the others throughout")
    assert summary["sent"] > 100
    assert summary["failed"] == 0, summary
