"""One web host, two app hosts, and a third that joins: the cluster as users scale it.

Runs in this order; the last case powers an app host off.
"""

from __future__ import annotations

import json
import time
from typing import Any

from testlib.hosts import address
from testlib.http import curl_command
from testlib.layout import RELEASES_DIR, UWSGI_PORT, VHOST_FILE
from testlib.load import load
from testlib.run import SCENARIO, run_playbook, switch_maintenance

ADD_APP3 = SCENARIO / "tests" / "add-app3.yml"


def names(*hosts: Any) -> set[str]:
    return {h.backend.get_hostname() for h in hosts}


def answering_hosts(web: Any, requests: int = 40) -> set[str]:
    """Hostnames the app reports in /healthz for requests through the web host."""
    bodies = web.check_output(f"for i in $(seq {requests}); do {curl_command('/healthz')}; echo; done")
    return {json.loads(line)["hostname"] for line in bodies.splitlines() if line.startswith("{")}


def connects(client: Any, target: str, port: int) -> bool:
    code = f"import socket; socket.create_connection(('{target}', {port}), timeout=5).close()"
    return client.run(f'python3 -c "{code}"').rc == 0


def test_responses_through_the_web_host_come_from_every_app_host(web, apps) -> None:
    assert answering_hosts(web) == names(*apps)


def test_web_upstream_lists_every_app_host_over_tcp(web, apps) -> None:
    vhost = web.file(VHOST_FILE).content_string
    for app in apps:
        assert f"server {address(app)}:{UWSGI_PORT}" in vhost


def test_app_uwsgi_port_accepts_the_web_host(web, apps) -> None:
    assert connects(web, address(apps[0]), UWSGI_PORT)


def test_app_uwsgi_port_is_refused_from_a_host_that_is_not_a_web_host(apps) -> None:
    assert not connects(apps[1], address(apps[0]), UWSGI_PORT)


def test_app_uwsgi_port_is_never_bound_to_every_address(apps) -> None:
    listening = apps[0].socket.get_listening_sockets()
    assert f"tcp://{address(apps[0])}:{UWSGI_PORT}" in listening
    assert f"tcp://0.0.0.0:{UWSGI_PORT}" not in listening


def test_maintenance_switches_a_web_host_whose_apps_are_on_other_hosts(web) -> None:
    def status(connect: str) -> str:
        return web.check_output(curl_command("/", "-o", "/dev/null", "-w", "%{http_code}", connect=connect))

    try:
        on = switch_maintenance("on")
        assert on.rc == 0, on
        assert status(address(web)) == "503"  # the web host's own network address: not loopback
        assert status("127.0.0.1") == "200"
    finally:
        off = switch_maintenance("off")
    assert off.rc == 0, off
    assert status(address(web)) == "200"


def test_failed_batch_stops_the_rolling_deploy_leaving_later_batches_untouched(web, apps, broken_app) -> None:
    releases_before = [app.file(RELEASES_DIR).listdir() for app in apps]
    run = run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={broken_app}",
                       "-e", "python_app_serial=1")
    assert run.rc != 0, run
    assert "release 9.9.9 is broken" in run.text
    assert "does not load notes.wsgi:app" in run.text
    # The first batch (app1) failed before switching; the second batch never started.
    assert apps[1].file(RELEASES_DIR).listdir() == releases_before[1]
    assert run.changed.get(apps[1].backend.get_hostname(), 0) == 0
    assert answering_hosts(web) == names(*apps)


def test_app_host_added_to_the_inventory_takes_traffic(web, apps, spare, report) -> None:
    start = time.monotonic()
    run = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_APP3,))
    seconds = time.monotonic() - start
    assert run.rc == 0, run
    assert answering_hosts(web, 60) == names(*apps, spare)
    report.add("converge with a third app host added", {}, f"{seconds:.0f} s wall time (1 web + 3 app hosts)")


def test_cluster_with_the_added_host_converges_idempotently() -> None:
    run = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_APP3,))
    assert run.rc == 0, run
    assert run.changed and set(run.changed.values()) == {0}, run.changed



def test_app_host_that_drops_packets_costs_a_request_the_connect_timeout_only(web, apps) -> None:
    # uwsgi_connect_timeout (5 s): a host that answers nothing (a firewall dropping, a hung
    # kernel) is given up after 5 s and the request goes to the next app host, instead of
    # waiting out nginx's default of 60 s.
    chain = f"chain input {{ type filter hook input priority -10; tcp dport {UWSGI_PORT} drop; }}"
    apps[1].check_output(f"echo 'table inet test_blackhole {{ {chain}; }}' | nft -f -")
    timed = curl_command("/healthz", "-o", "/dev/null", "-w", "%{http_code} %{time_total}\\n")
    try:
        # nginx's workers each keep their own round robin: nine requests bring one of the two
        # workers at least five, so to every app host.
        timings = web.check_output(f"for i in $(seq 9); do {timed}; done").splitlines()
    finally:
        apps[1].run("nft delete table inet test_blackhole")
    codes = [line.split()[0] for line in timings]
    seconds = [float(line.split()[1]) for line in timings]
    assert codes == ["200"] * 9, timings
    assert 4.5 <= max(seconds) < 9, timings


def test_app_host_powered_off_costs_no_request(web, apps, report) -> None:
    with load(web, "/healthz") as summary:
        apps[0].run("systemctl poweroff")
        time.sleep(10)
    report.add("power off one of three app hosts", summary, "served by the others throughout")
    assert summary["sent"] > 100
    assert summary["failed"] == 0, summary
