"""One web host, two app hosts, and a third that joins: the cluster as users scale it.

Runs in this order; the last case powers an app host off.
"""

from __future__ import annotations

import time
from conftest import APPS, SPARE, UWSGI_PORT, address, answering_hosts, connects
from harness import SCENARIO, changed_counts, load, run_playbook

VHOST = "/etc/nginx/sites-available/notes.conf"
ADD_APP3 = SCENARIO / "tests" / "add-app3.yml"


def test_responses_through_the_web_host_come_from_every_app_host(web, scheme) -> None:
    assert answering_hosts(web, scheme) == set(APPS)


def test_web_upstream_lists_every_app_host_over_tcp(web, apps) -> None:
    vhost = web.file(VHOST).content_string
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


def test_failed_batch_stops_the_rolling_deploy_leaving_later_batches_untouched(web, apps, scheme, broken_app) -> None:
    releases_before = [app.file("/srv/notes/releases").listdir() for app in apps]
    rc, output = run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={broken_app}",
                              "-e", "python_app_serial=1")
    assert rc != 0
    assert "release 9.9.9 is broken" in output
    assert "does not load notes.wsgi:app" in output
    # The first batch (app1) failed before switching; the second batch never started.
    assert apps[1].file("/srv/notes/releases").listdir() == releases_before[1]
    assert changed_counts(output).get("cluster-app2", 0) == 0
    assert answering_hosts(web, scheme) == set(APPS)


def test_app_host_added_to_the_inventory_takes_traffic(web, spare, scheme, report) -> None:
    start = time.monotonic()
    rc, output = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_APP3,))
    seconds = time.monotonic() - start
    assert rc == 0, output[-3000:]
    assert answering_hosts(web, scheme, 60) == {*APPS, SPARE}
    report.add("converge with a third app host added", {}, f"{seconds:.0f} s wall time (1 web + 3 app hosts)")


def test_cluster_with_the_added_host_converges_idempotently() -> None:
    rc, output = run_playbook(SCENARIO / "converge.yml", inventories=(ADD_APP3,))
    assert rc == 0, output[-3000:]
    changed = changed_counts(output)
    assert changed and set(changed.values()) == {0}, changed


def test_app_host_powered_off_costs_no_request(web, apps, scheme, report) -> None:
    with load(web, scheme, "/healthz") as summary:
        apps[0].run("systemctl poweroff")
        time.sleep(10)
    report.add("power off one of three app hosts", summary, "served by the others throughout")
    assert summary["sent"] > 100
    assert summary["failed"] == 0, summary

