"""roles/python_app/files/health_probe.py: asks a release for its health check on the host it runs on.

tasks/health.yml runs `health_probe.py nginx URL` or `health_probe.py uwsgi SOCKET URL` and reads
one JSON line, {"status": int, "json": object or null}, retrying until status is 200 and
json.release is the release. Here nginx is a real HTTP(S) server on 127.0.0.1 and the app's
socket a real uwsgi-protocol server on a unix socket or 127.0.0.1.
"""

from __future__ import annotations

import json

import pytest

HEALTHY = {"status": "ok", "release": "20260101T000000Z-1.4.0-abc"}
HEALTHY_BODY = json.dumps(HEALTHY).encode()


# --- through nginx --------------------------------------------------------------------------------------


def test_nginx_http_reports_status_and_json(health_probe, http_server):
    http_server.answer("/healthz", 200, HEALTHY_BODY, Content_Type="application/json")

    assert health_probe.main(["nginx", http_server.url()]) == {"status": 200, "json": HEALTHY}


def test_nginx_sends_site_name_and_port_as_host(health_probe, http_server):
    http_server.answer("/healthz", 200, HEALTHY_BODY)

    health_probe.main(["nginx", http_server.url()])

    assert http_server.requests[0].headers["Host"] == f"notes.example.org:{http_server.port}"


def test_nginx_asks_for_this_hosts_app_with_pin_header(health_probe, http_server):
    http_server.answer("/healthz", 200, HEALTHY_BODY)

    health_probe.main(["nginx", http_server.url()])

    assert http_server.requests[0].headers["X-Flask-Deploy-Pin"] == "local"


@pytest.mark.parametrize(("path", "asked"), [
    ("/healthz", "/healthz"),
    ("/healthz?deep=1", "/healthz?deep=1"),
    ("", "/"),
])
def test_nginx_asks_for_the_urls_path_and_query(health_probe, http_server, path, asked):
    http_server.answer(asked.split("?")[0], 200, HEALTHY_BODY)

    health_probe.main(["nginx", http_server.url(path)])

    assert http_server.requests[0].path == asked


@pytest.mark.parametrize(("status", "body"), [
    (200, b"OK"),
    (503, b"<html>Service Unavailable</html>"),
    (200, b""),
])
def test_nginx_body_that_is_not_json_gives_json_null(health_probe, http_server, status, body):
    http_server.answer("/healthz", status, body, Content_Type="text/html")

    assert health_probe.main(["nginx", http_server.url()]) == {"status": status, "json": None}


def test_nginx_reports_an_unhealthy_status_with_its_json(health_probe, http_server):
    http_server.answer("/healthz", 503, b'{"status": "database unavailable"}')

    answer = health_probe.main(["nginx", http_server.url()])

    assert answer == {"status": 503, "json": {"status": "database unavailable"}}


def test_nginx_https_accepts_the_sites_self_signed_certificate(health_probe, https_server):
    https_server.answer("/healthz", 200, HEALTHY_BODY)

    assert health_probe.main(["nginx", https_server.url()]) == {"status": 200, "json": HEALTHY}


def test_nginx_https_sends_site_name_as_sni(health_probe, https_server):
    https_server.answer("/healthz", 200, HEALTHY_BODY)

    health_probe.main(["nginx", https_server.url()])

    assert https_server.server_names == ["notes.example.org"]


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_nginx_follows_a_redirect_to_https(health_probe, http_server, https_server, status):
    http_server.answer("/healthz", status, Location=https_server.url())
    https_server.answer("/healthz", 200, HEALTHY_BODY)

    assert health_probe.main(["nginx", http_server.url()]) == {"status": 200, "json": HEALTHY}


def test_nginx_follows_only_one_redirect(health_probe, http_server, https_server):
    http_server.answer("/healthz", 301, Location=https_server.url())
    https_server.answer("/healthz", 301, Location=https_server.url("/elsewhere"))
    https_server.answer("/elsewhere", 200, HEALTHY_BODY)

    assert health_probe.main(["nginx", http_server.url()]) == {"status": 301, "json": None}


def test_nginx_does_not_follow_a_redirect_to_plain_http(health_probe, http_server):
    http_server.answer("/healthz", 302, Location=http_server.url("/elsewhere"))
    http_server.answer("/elsewhere", 200, HEALTHY_BODY)

    assert health_probe.main(["nginx", http_server.url()]) == {"status": 302, "json": None}
    assert [r.path for r in http_server.requests] == ["/healthz"]


def test_nginx_refused_connection_reports_status_0_and_the_error(health_probe, refused_port):
    answer = health_probe.main(["nginx", f"http://notes.example.org:{refused_port}/healthz"])

    assert (answer["status"], answer["json"]) == (0, None)
    assert answer["error"].startswith("ConnectionRefusedError: ")


def test_nginx_answer_that_is_not_http_reports_the_protocol_error(health_probe, serve):
    server = serve(b"garbage, not HTTP\r\n\r\n", protocol="raw", unix=False)

    answer = health_probe.main(["nginx", f"http://notes.example.org:{server.port}/healthz"])

    assert (answer["status"], answer["json"]) == (0, None)
    assert answer["error"].startswith("BadStatusLine: ")


# --- straight to the app's socket, in the uwsgi protocol --------------------------------------------------


def test_uwsgi_on_unix_socket_reports_status_and_json(health_probe, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    assert health_probe.main(["uwsgi", server.address, "https://notes.example.org/healthz"]) == {
        "status": 200, "json": HEALTHY}


def test_uwsgi_on_loopback_address_reports_status_and_json(health_probe, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY), unix=False)

    assert health_probe.main(["uwsgi", server.address, "https://notes.example.org/healthz"]) == {
        "status": 200, "json": HEALTHY}


def test_uwsgi_request_is_a_standard_wsgi_packet(health_probe, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    health_probe.main(["uwsgi", server.address, "https://notes.example.org/healthz"])

    assert server.errors == []
    assert (server.requests[0].modifier1, server.requests[0].modifier2) == (0, 0)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://notes.example.org/healthz",
     {"REQUEST_METHOD": "GET", "PATH_INFO": "/healthz", "QUERY_STRING": "", "SERVER_NAME": "notes.example.org",
      "HTTP_HOST": "notes.example.org", "SERVER_PORT": "443", "HTTPS": "on", "REMOTE_ADDR": "127.0.0.1",
      "SERVER_PROTOCOL": "HTTP/1.1"}),
    ("http://notes.example.org/healthz",
     {"SERVER_PORT": "80", "HTTPS": "off"}),
    ("https://notes.example.org:8443/healthz?deep=1",
     {"PATH_INFO": "/healthz", "QUERY_STRING": "deep=1", "SERVER_PORT": "8443"}),
])
def test_uwsgi_request_carries_the_urls_wsgi_variables(health_probe, serve, make_http_reply, url, expected):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    health_probe.main(["uwsgi", server.address, url])

    env = server.requests[0].env
    assert {name: env.get(name) for name in expected} == expected


def test_uwsgi_request_counts_a_non_ascii_paths_length_in_bytes(health_probe, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    health_probe.main(["uwsgi", server.address, "https://notes.example.org/sant\u00e9?q=\u00fc"])

    assert server.errors == []
    env = server.requests[0].env
    assert (env["PATH_INFO"], env["QUERY_STRING"], env["REQUEST_METHOD"]) == ("/sant\u00e9", "q=\u00fc", "GET")


@pytest.mark.parametrize(("reply", "expected"), [
    (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n\r\n{\"status\": \"db down\"}",
     {"status": 503, "json": {"status": "db down"}}),
    (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<p>hello</p>", {"status": 200, "json": None}),
    (b"Status: 200 OK\r\n\r\n{}", {"status": 0, "json": {}}),
    (b"", {"status": 0, "json": None}),
])
def test_uwsgi_reads_status_line_and_json_body(health_probe, serve, reply, expected):
    server = serve(reply)

    assert health_probe.main(["uwsgi", server.address, "https://notes.example.org/healthz"]) == expected


def test_uwsgi_missing_socket_reports_status_0_and_the_error(health_probe, tmp_path):
    answer = health_probe.main(["uwsgi", str(tmp_path / "absent.sock"), "https://notes.example.org/healthz"])

    assert (answer["status"], answer["json"]) == (0, None)
    assert answer["error"].startswith("FileNotFoundError: ")


def test_uwsgi_refused_address_reports_status_0_and_the_error(health_probe, refused_port):
    answer = health_probe.main(["uwsgi", f"127.0.0.1:{refused_port}", "https://notes.example.org/healthz"])

    assert (answer["status"], answer["json"]) == (0, None)
    assert answer["error"].startswith("ConnectionRefusedError: ")


# --- the program, as tasks/health.yml runs it -------------------------------------------------------------


def test_program_prints_the_answer_as_one_json_line(run_program, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    run = run_program("health_probe.py", "uwsgi", server.address, "https://notes.example.org/healthz")

    assert (run.code, run.stdout.count("\n")) == (0, 1)
    assert json.loads(run.stdout) == {"status": 200, "json": HEALTHY}


def test_program_prints_a_failure_as_json_and_exits_0_for_the_retry(run_program, refused_port):
    run = run_program("health_probe.py", "nginx", f"http://notes.example.org:{refused_port}/healthz")

    assert run.code == 0
    assert json.loads(run.stdout)["status"] == 0


# --- waiting on the host for the release to answer --------------------------------------------------------


class FakeClock:
    """Time that passes only when the probe sleeps, so a wait's deadline is exact."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_wait_asks_again_until_the_release_answers_200(health_probe, http_server):
    clock = FakeClock()
    later = iter([(200, b'{"release": "an-older-one"}'), (200, HEALTHY_BODY)])
    http_server.answer("/healthz", 503, b'{"status": "starting"}')

    def sleep(seconds: float) -> None:  # the release comes up while the probe waits
        clock.sleep(seconds)
        http_server.answer("/healthz", *next(later))

    answer = health_probe.wait(["nginx", http_server.url()], 30, HEALTHY["release"], clock=clock, sleep=sleep)

    assert answer == {"status": 200, "json": HEALTHY}
    assert len(http_server.requests) == 3
    assert clock.sleeps == [0.2, 0.2]


def test_wait_gives_up_at_its_deadline_with_the_last_answer(health_probe, refused_port):
    clock = FakeClock()

    answer = health_probe.wait(["nginx", f"http://notes.example.org:{refused_port}/healthz"], 1, "r",
                               clock=clock, sleep=clock.sleep)

    assert answer["status"] == 0
    assert clock.now == pytest.approx(1.0)
    assert len(clock.sleeps) == 5


@pytest.mark.parametrize(("answer", "expected"), [
    ({"status": 200, "json": HEALTHY}, True),
    ({"status": 200, "json": {"release": "another"}}, False),
    ({"status": 503, "json": HEALTHY}, False),
    ({"status": 200, "json": None}, False),
    ({"status": 200, "json": ["not", "an", "object"]}, False),
])
def test_healthy_means_200_naming_the_release(health_probe, answer, expected):
    assert health_probe.healthy(answer, HEALTHY["release"]) is expected


def test_program_with_wait_prints_the_healthy_answer(run_program, serve, make_http_reply):
    server = serve(make_http_reply("200 OK", HEALTHY_BODY))

    run = run_program("health_probe.py", "--wait", "5", HEALTHY["release"],
                      "uwsgi", server.address, "https://notes.example.org/healthz")

    assert run.code == 0
    assert json.loads(run.stdout) == {"status": 200, "json": HEALTHY}
