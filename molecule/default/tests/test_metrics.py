"""Prometheus metrics (host_vars: metrics_address, metrics_allowed_sources): nginx's through
Debian's prometheus-nginx-exporter, the vassals' through the emperor's socket-activated resident
reader, the sites' answers by status class through Debian's mtail, the host's disk, memory and
CPU through Debian's node exporter, whose textfile collector also serves the newest good
backup's time and each served certificate's end; each on the host's own address only, their
values moving with what happens on the host, open to the allowed sources: notes-debian13 (on
notes-debian12's allowed network) may scrape notes-debian12, notes-debian12 may not scrape
notes-debian13 (which allows none)."""

from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Any

import pytest
from testlib.hosts import address, node
from testlib.http import http
from testlib.layout import APP, BACKUP_DIR, BACKUP_SERVICE
from testlib.wait import wait_until

NGINX_PORT, UWSGI_PORT, NODE_PORT, RESPONSES_PORT = 9113, 9117, 9100, 3903
PORTS = [NGINX_PORT, UWSGI_PORT, NODE_PORT, RESPONSES_PORT]
PORT_IDS = ["nginx", "uwsgi", "node", "responses"]
MAINTENANCE_FLAG = f"/var/www/maintenance/{APP}.on"


def scrape(client: Any, target: Any, port: int) -> Any:
    return client.run(f"curl -sS --max-time 5 http://{address(target)}:{port}/metrics")


def value(metrics: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", metrics, re.MULTILINE)
    assert match, f"{name} not in the metrics:\n{metrics}"
    return float(match.group(1))


@pytest.mark.parametrize("port", PORTS, ids=PORT_IDS)
def test_metrics_answer_on_the_hosts_address(host, port):
    result = scrape(host, host, port)
    assert result.rc == 0, result.stderr
    assert "# TYPE" in result.stdout


@pytest.mark.parametrize("port", PORTS, ids=PORT_IDS)
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


@pytest.mark.parametrize("port", PORTS, ids=PORT_IDS)
def test_an_allowed_source_may_scrape(port):
    result = scrape(node("notes-debian13"), node("notes-debian12"), port)
    assert result.rc == 0, result.stderr
    assert "# TYPE" in result.stdout


@pytest.mark.parametrize("port", PORTS, ids=PORT_IDS)
def test_a_source_not_allowed_is_refused(port):
    result = scrape(node("notes-debian12"), node("notes-debian13"), port)
    assert result.rc == 7, result.stdout  # a reset from nftables: curl "could not connect"


def test_node_exporter_reports_the_hosts_disk_memory_and_cpu(host):
    metrics = scrape(host, host, NODE_PORT).stdout
    kib = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo"))
    assert value(metrics, "node_memory_MemTotal_bytes") == kib * 1024
    cpus = set(re.findall(r'^node_cpu_seconds_total\{cpu="(\d+)",mode="idle"\}', metrics, re.MULTILINE))
    assert len(cpus) == int(host.check_output("nproc --all"))
    # Each disk file system the host mounts (a test host's / is docker's overlay, which the exporter
    # leaves out, as it does on a real host; its bind mounts are on the machine's disk): its size as df says.
    sizes = re.findall(r'^node_filesystem_size_bytes\{[^}]*mountpoint="([^"]+)"[^}]*\} ([0-9.e+]+)$', metrics, re.MULTILINE)
    assert sizes, "no file system's size in the metrics"
    for mountpoint, size in sizes:
        assert float(size) == int(host.check_output(f"df -B1 --output=size {mountpoint} | tail -1")), mountpoint
    assert value(metrics, "node_textfile_scrape_error") == 0


def stamp_of(name: str) -> int:
    """The time in a backup's name (notes-YYYYmmddTHHMMSSZ.sqlite3), in seconds since the epoch."""
    text = re.search(r"-(\d{8}T\d{6}Z)\.sqlite3$", name).group(1)
    return int(datetime.strptime(text, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc).timestamp())


def test_a_good_backup_is_served_as_the_apps_newest_backup_time(host):
    name = f'flask_deploy_backup_last_success_timestamp_seconds{{app="{APP}"}}'
    started = time.time()
    with host.sudo():
        assert host.run(f"systemctl start {BACKUP_SERVICE}").rc == 0
        newest = host.check_output(f"ls {BACKUP_DIR} | grep -E '^{APP}-[0-9]{{8}}T[0-9]{{6}}Z\\.sqlite3$' | sort | tail -1")
    assert stamp_of(newest) >= int(started) - 1, f"{newest}: no backup was made now"
    # The backup service starts the metric's own service when it succeeds (OnSuccess=).
    wait_until(lambda: value(scrape(host, host, NODE_PORT).stdout, name) == stamp_of(newest), 20)


def test_each_served_certificates_end_is_served(host):
    served = host.check_output(
        "openssl s_client -connect 127.0.0.1:443 -servername localhost </dev/null 2>/dev/null"
        " | openssl x509 -noout -enddate")
    end = datetime.strptime(served.split("=", 1)[1], "%b %d %H:%M:%S %Y GMT").replace(tzinfo=timezone.utc)
    metrics = scrape(host, host, NODE_PORT).stdout
    assert value(metrics, f'flask_deploy_certificate_expiry_timestamp_seconds{{site="{APP}"}}') == end.timestamp()
    assert host.service("flask-deploy-certificate-expiry.timer").is_enabled


def responses(host: Any, status: str) -> float:
    metrics = scrape(host, host, RESPONSES_PORT).stdout
    match = re.search(rf'^flask_deploy_nginx_responses_total{{[^}}]*status="{status}"[^}}]*}} ([0-9.e+]+)$',
                      metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def test_the_sites_answers_are_counted_by_status_class(host):
    ok, errors = responses(host, "2xx"), responses(host, "5xx")
    for _ in range(5):
        assert http(host, "/livez").status == 200
    # In maintenance the public (not loopback) gets 503 from nginx.
    with host.sudo():
        host.check_output(f"touch {MAINTENANCE_FLAG}")
    try:
        for _ in range(3):
            assert http(host, "/livez", connect=address(host)).status == 503
    finally:
        with host.sudo():
            host.check_output(f"rm -f {MAINTENANCE_FLAG}")
    wait_until(lambda: responses(host, "2xx") >= ok + 5 and responses(host, "5xx") >= errors + 3, 20)
