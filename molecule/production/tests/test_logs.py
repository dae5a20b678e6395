"""Logs rotate on a bare host, under load, without losing a request."""

from __future__ import annotations

import uuid

from testlib.hosts import node, readable_by_nobody
from testlib.http import curl
from testlib.layout import VHOST_ACCESS_LOG
from testlib.load import load
from testlib.wait import wait_until


def test_logrotate_runs_daily_from_its_timer(web) -> None:
    host = node(web, sudo=True)
    assert host.package("logrotate").is_installed
    assert host.service("logrotate.timer").is_enabled
    assert host.run("logrotate --debug /etc/logrotate.d/nginx").rc == 0


def nginx_files(host) -> set[str]:
    """Every file an nginx process (the master, or a worker) has open. A worker runs as www-data
    and is dumpable: its own user reads its descriptors (root would need CAP_SYS_PTRACE)."""
    listed = host.run(
        "for p in /proc/[0-9]*; do [ \"$(cat $p/comm 2>/dev/null)\" = nginx ] || continue; "
        "runuser -u \"$(stat -c %U $p)\" -- readlink $p/fd/* 2>/dev/null; done"
    )
    return set(listed.stdout.splitlines())


def test_forced_rotation_under_load_fails_no_request_and_new_requests_go_to_the_new_file(web, domain) -> None:
    host = node(web, sudo=True)
    rotated_log = f"{VHOST_ACCESS_LOG}.1"
    assert VHOST_ACCESS_LOG in nginx_files(host)  # what the wait below looks for is there to see

    def every_nginx_process_reopened_its_logs() -> bool:
        files = nginx_files(host)
        return VHOST_ACCESS_LOG in files and rotated_log not in files

    # The load is flowing before the rotation and goes on after it, however slow the host.
    with load(host, "/livez", name=domain, sent_before=25, sent_after=50) as summary:
        # logrotate.timer's own run (daily, between 00:00 and 01:00) may hold the state file's lock:
        # without the wait this run would fail at once ("state file ... is already locked").
        rotated = host.run("logrotate --force --wait-for-state-lock /etc/logrotate.d/nginx")
        assert rotated.rc == 0, rotated.stderr
        # The postrotate USR1 returns at once: the master reopens, then tells each worker, which
        # reopens when it next wakes. Until then a request may still be logged in the old file.
        wait_until(every_nginx_process_reopened_its_logs, 30)
    assert summary["sent"] > 50
    assert summary["failed"] == 0, summary
    marker = f"after-rotation-{uuid.uuid4()}"
    assert curl(host, f"/livez?{marker}", name=domain).rc == 0

    # nginx logs a request once its response is sent: the client may be done before the line is.
    def marker_is_logged() -> bool:
        return host.run(f"grep -qF {marker} {VHOST_ACCESS_LOG} {rotated_log}").rc == 0

    wait_until(marker_is_logged, 30)
    assert host.run(f"grep -qF {marker} {VHOST_ACCESS_LOG}").rc == 0
    assert host.run(f"grep -qF {marker} {rotated_log}").rc != 0
    assert host.file(rotated_log).exists


def test_no_log_the_stack_writes_is_readable_by_other_users(web) -> None:
    # nginx's and the sites' logs (client addresses, paths, request IDs) and certbot's, from the
    # first request on: not only once logrotate has made new files.
    host = node(web, sudo=True)
    assert readable_by_nobody(host, "/etc/hostname") == "/etc/hostname"  # the search does find
    assert readable_by_nobody(host, "/var/log/nginx /var/log/letsencrypt") == ""
