"""Prometheus metrics (host_vars: metrics_address, metrics_allowed_sources): nginx's through
Debian's prometheus-nginx-exporter, the vassals' through the emperor's socket-activated resident
reader, each on the host's own address only, their counters moving with traffic, open to the
allowed sources: notes-debian13 (on notes-debian12's allowed network) may scrape notes-debian12,
notes-debian12 may not scrape notes-debian13 (which allows none)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from testlib.hosts import address, node
from testlib.http import http
from testlib.wait import wait_until

NGINX_PORT, UWSGI_PORT = 9113, 9117


def scrape(client: Any, target: Any, port: int) -> Any:
    return client.run(f"curl -sS --max-time 5 http://{address(target)}:{port}/metrics")


def value(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", metrics, re.MULTILINE)
    assert match, f"{name} not in the metrics:\n{metrics}"
    return float(match.group(1))


@pytest.mark.parametrize("port", [NGINX_PORT, UWSGI_PORT], ids=["nginx", "uwsgi"])
def test_metrics_answer_on_the_hosts_address(host, port):
    result = scrape(host, host, port)
    assert result.rc == 0, result.stderr
    assert "# TYPE" in result.stdout


@pytest.mark.parametrize("port", [NGINX_PORT, UWSGI_PORT], ids=["nginx", "uwsgi"])
def test_metrics_are_on_no_other_address(host, port):
    assert host.run(f"curl -sS --max-time 5 http://127.0.0.1:{port}/metrics").rc == 7  # refused


def test_nginx_metrics_count_requests(host):
    before = value(scrape(host, host, NGINX_PORT).stdout, "nginx_http_requests_total")
    for _ in range(5):
        assert http(host, "/livez").status == 200
    assert value(scrape(host, host, NGINX_PORT).stdout, "nginx_http_requests_total") >= before + 5
    assert value(scrape(host, host, NGINX_PORT).stdout, "nginx_up") == 1


def test_uwsgi_metrics_report_the_apps_workers(host):
    metrics = scrape(host, host, UWSGI_PORT).stdout
    assert value(metrics, 'uwsgi_up{app="notes"}') == 1
    workers = value(metrics, 'uwsgi_workers{app="notes",state="idle"}') + value(
        metrics, 'uwsgi_workers{app="notes",state="busy"}')
    assert workers == 2 * int(host.check_output("nproc"))


def test_uwsgi_metrics_count_the_apps_requests(host):
    name = 'uwsgi_requests_total{app="notes"}'
    before = value(scrape(host, host, UWSGI_PORT).stdout, name)
    for _ in range(5):
        assert http(host, "/livez").status == 200
    wait_until(lambda: value(scrape(host, host, UWSGI_PORT).stdout, name) >= before + 5, 10)


def reader_pid(host) -> str:
    return host.check_output("systemctl show -P MainPID uwsgi-metrics.service")


def test_uwsgi_metrics_reader_is_one_resident_process_for_every_scrape(host):
    assert scrape(host, host, UWSGI_PORT).rc == 0
    first = reader_pid(host)
    for _ in range(3):
        assert scrape(host, host, UWSGI_PORT).rc == 0
    assert reader_pid(host) == first != "0"
    assert host.check_output("pgrep -fc '[u]wsgi-metrics.py'") == "1"


def test_uwsgi_metrics_reader_holds_no_privilege_but_reading_the_stats(host):
    assert scrape(host, host, UWSGI_PORT).rc == 0
    status = host.file(f"/proc/{reader_pid(host)}/status").content_string
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert int(fields["CapEff"], 16) == 1 << 1  # CAP_DAC_OVERRIDE alone
    assert fields["NoNewPrivs"].strip() == "1"


@pytest.mark.parametrize("port", [NGINX_PORT, UWSGI_PORT], ids=["nginx", "uwsgi"])
def test_an_allowed_source_may_scrape(port):
    result = scrape(node("notes-debian13"), node("notes-debian12"), port)
    assert result.rc == 0, result.stderr
    assert "# TYPE" in result.stdout


@pytest.mark.parametrize("port", [NGINX_PORT, UWSGI_PORT], ids=["nginx", "uwsgi"])
def test_a_source_not_allowed_is_refused(port):
    result = scrape(node("notes-debian12"), node("notes-debian13"), port)
    assert result.rc == 7, result.stdout  # a reset from nftables: curl "could not connect"
