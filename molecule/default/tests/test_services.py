"""Services and processes: systemd runs the emperor and nginx; only the emperor is root."""

import shlex
import time
import uuid

import pytest

from testlib.http import curl
from testlib.load import load
from testlib.layout import (
    APP_USER,
    EMPEROR_INI,
    EMPEROR_SERVICE,
    EMPEROR_UNIT_FILE,
    NGINX_SERVICE,
    WEB_USER,
)
from testlib.uwsgi import journal


@pytest.mark.parametrize("name", [EMPEROR_SERVICE, NGINX_SERVICE])
def test_service_is_running(host, name):
    assert host.service(name).is_running


@pytest.mark.parametrize("name", [EMPEROR_SERVICE, NGINX_SERVICE])
def test_service_is_enabled_at_boot(host, name):
    assert host.service(name).is_enabled


def test_emperor_runs_from_the_deployed_unit_file(host):
    fragment = host.check_output(f"systemctl show -p FragmentPath --value {EMPEROR_SERVICE}")
    assert fragment == EMPEROR_UNIT_FILE


def test_only_the_emperor_uwsgi_process_runs_as_root(host):
    root_uwsgi = host.process.filter(comm="uwsgi-core", user="root")
    assert len(root_uwsgi) == 1, root_uwsgi
    assert f"--ini {EMPEROR_INI}" in root_uwsgi[0].args


def test_uwsgi_workers_never_run_as_root(host):
    vassal = [p for p in host.process.filter(comm="uwsgi-core") if EMPEROR_INI not in p.args]
    assert vassal, "no vassal process is running"
    assert {p.user for p in vassal} == {APP_USER}


def test_vassal_runs_two_workers_per_cpu_core_plus_a_master(host):
    app_uwsgi = host.process.filter(comm="uwsgi-core", user=APP_USER)
    assert len(app_uwsgi) == 2 * int(host.check_output("nproc")) + 1


def test_nginx_workers_run_as_web_user(host):
    workers = [p for p in host.process.filter(comm="nginx") if "worker process" in p.args]
    assert workers, "no nginx worker is running"
    assert {p.user for p in workers} == {WEB_USER}


@pytest.mark.parametrize("service", [NGINX_SERVICE, EMPEROR_SERVICE])
def test_service_reloads_on_a_host_without_procps(host, service):
    # Minimal Debian has no procps, so no kill binary; the test hosts install it for testinfra.
    host.check_output("mv /usr/bin/kill /usr/bin/kill.flask-deploy-test")
    try:
        result = host.run(f"systemctl reload {service}")
    finally:
        host.check_output("mv /usr/bin/kill.flask-deploy-test /usr/bin/kill")
    assert result.rc == 0, result.stderr


def test_an_nginx_reload_storm_fails_no_request(host, report):
    # 20 reloads half a second apart under GET and POST load: old workers finish what they hold,
    # new ones take the listening sockets; no request is refused or cut.
    with load(host, "/api/notes?limit=5") as reads, load(host, post_notes=True) as writes:
        for _ in range(20):
            host.check_output(f"systemctl reload {NGINX_SERVICE}")
            time.sleep(0.5)
    report.add("nginx reload storm (20 reloads 0.5 s apart): GETs", reads, "no wait")
    report.add("... POSTs meanwhile", writes, "no wait")
    assert (reads["failed"], writes["failed"]) == (0, 0), (reads, writes)
    assert reads["sent"] > 100 and writes["sent"] > 100, (reads, writes)


def test_nginx_configuration_loads_without_a_warning(host):
    # Every directive shipped is one this nginx takes as written: nothing it corrects or ignores.
    result = host.run("nginx -t")
    assert result.rc == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def nginx_workers(host):
    return [p for p in host.process.filter(comm="nginx") if "worker process" in p.args]


def test_nginx_runs_a_worker_per_cpu_core(host):
    assert len(nginx_workers(host)) == int(host.check_output("nproc"))


def test_nginx_workers_may_open_a_client_and_an_upstream_file_per_connection(host):
    # worker_rlimit_nofile: a worker holding worker_connections (1024) proxied connections needs
    # twice as many descriptors, above the service's soft limit of 1024.
    for worker in nginx_workers(host):
        limits = host.file(f"/proc/{worker.pid}/limits").content_string
        soft = int(next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3])
        assert soft >= 2 * 1024, limits


# Opens n connections to port 80 and keeps them idle; prints how many more descriptors the busiest
# nginx worker holds then than before, once it holds at least `least` more (at most 10 s later).
HOLD_CONNECTIONS = """
import os, resource, socket, sys, time
n, least, workers = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
resource.setrlimit(resource.RLIMIT_NOFILE, (n + 100, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
def held():
    return [len(os.listdir(f"/proc/{pid}/fd")) for pid in workers]
before = held()
clients = [socket.create_connection(("127.0.0.1", 80)) for _ in range(n)]
deadline = time.monotonic() + 10
def busiest():
    return max(now - then for now, then in zip(held(), before))
while busiest() < least and time.monotonic() < deadline:
    time.sleep(0.2)
print(busiest())
"""


def test_an_nginx_worker_holds_more_connections_than_nginxs_default_allows(host):
    # worker_connections 1024, where nginx's default of 512 caps every worker near 508 client
    # connections (its listening sockets take the rest). With 700 per worker open, whichever way
    # the kernel hands them out, some worker holds at least 700.
    workers = [str(w.pid) for w in nginx_workers(host)]
    least = 700
    held = host.check_output(f"python3 -c {shlex.quote(HOLD_CONNECTIONS)} {least * len(workers)} {least} "
                             f"{' '.join(workers)}")
    assert int(held) >= least


def test_uwsgi_writes_no_log_line_per_request(host):
    # nginx logs every request; uWSGI only errors, 5xx and slow ones (disable-logging).
    marker = f"no-uwsgi-log-{uuid.uuid4()}"
    for _ in range(3):
        assert curl(host, f"/livez?{marker}", "-w", "%{http_code}").stdout == "200"
    time.sleep(1)
    assert marker not in journal(host, "-1min")
