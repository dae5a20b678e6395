"""Logs rotate on a bare host, under load, without losing a request."""

from __future__ import annotations

import uuid

from testlib.hosts import node, readable_by_nobody
from testlib.http import curl
from testlib.layout import VHOST_ACCESS_LOG
from testlib.load import load


def test_logrotate_runs_daily_from_its_timer(web) -> None:
    host = node(web, sudo=True)
    assert host.package("logrotate").is_installed
    assert host.service("logrotate.timer").is_enabled
    assert host.run("logrotate --debug /etc/logrotate.d/nginx").rc == 0


def test_forced_rotation_under_load_fails_no_request_and_new_requests_go_to_the_new_file(web, domain) -> None:
    host = node(web, sudo=True)
    with load(host, "/livez", name=domain) as summary:
        rotated = host.run("logrotate --force /etc/logrotate.d/nginx")
    assert rotated.rc == 0, rotated.stderr
    assert summary["sent"] > 50
    assert summary["failed"] == 0, summary
    marker = f"after-rotation-{uuid.uuid4()}"
    assert curl(host, f"/livez?{marker}", name=domain).rc == 0
    assert host.run(f"grep -qF {marker} {VHOST_ACCESS_LOG}").rc == 0
    assert host.run(f"grep -qF {marker} {VHOST_ACCESS_LOG}.1").rc != 0
    assert host.file(f"{VHOST_ACCESS_LOG}.1").exists


def test_no_log_the_stack_writes_is_readable_by_other_users(web) -> None:
    # nginx's and the sites' logs (client addresses, paths, request IDs) and certbot's, from the
    # first request on: not only once logrotate has made new files.
    host = node(web, sudo=True)
    assert readable_by_nobody(host, "/etc/hostname") == "/etc/hostname"  # the search does find
    assert readable_by_nobody(host, "/var/log/nginx /var/log/letsencrypt") == ""
