"""What every response promises a browser, what is never served, and the rate limit."""

import shlex
import time
import uuid

import pytest

from testlib.hosts import planted_static_files
from testlib.http import http, linked_stylesheet
from testlib.layout import STYLESHEET, TLS_CERT, VHOST_ERROR_LOG

SERVER_NAME = "localhost"

HEADERS = {
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
    "content-security-policy": "frame-ancestors 'none'",
}
# The rate and burst the role applies by default (10r/s, burst 20).
BURST = 20


@pytest.mark.parametrize("path", ["/", "/healthz", STYLESHEET, "/no-such-page"])
@pytest.mark.parametrize("name", sorted(HEADERS))
def test_security_header_is_on_every_response(host, name, path):
    headers = http(host, path).headers
    assert HEADERS[name] in headers.get(name, "")


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_security_header_is_on_the_versioned_stylesheet_too(host, name):
    # Its location adds Cache-Control, so it repeats the server's headers (nginx drops them there).
    headers = http(host, linked_stylesheet(host)).headers
    assert HEADERS[name] in headers.get(name, "")


def test_self_signed_site_sends_no_hsts(host):
    # HSTS is on by default only with a supplied certificate: a browser must not
    # be pinned to HTTPS on a certificate it cannot trust.
    assert "strict-transport-security" not in http(host, "/").headers


@pytest.fixture
def planted_files(host):
    """Dotfiles and backups placed in the static directory, each with a marker, removed after."""
    marker = f"secret-{uuid.uuid4()}"
    files = [".env", ".git/config", "style.css~", "style.css.bak", ".hidden.css"]
    with planted_static_files(host, {name: f"echo {marker}" for name in files}) as root:
        yield marker, files
    host.run(f"rmdir {shlex.quote(root)}/.git")


@pytest.mark.parametrize(
    "path",
    [
        "/.env",
        "/.git/config",
        "/static/.env",
        "/static/.git/config",
        "/static/.hidden.css",
        "/static/style.css~",
        "/static/style.css.bak",
        "/static/../app.py",
        "/static/../__init__.py",
        "/static/../../../notes/__init__.py",
    ],
)
def test_dotfiles_backups_and_traversal_are_not_served(host, planted_files, path):
    marker, _ = planted_files
    response = http(host, path, "--path-as-is")
    assert response.status in (400, 404)  # 400: a path above the root
    assert marker not in response.body
    assert "import" not in response.body


def test_static_files_next_to_planted_ones_are_still_served(host, planted_files):
    # The control of the test above: the directory is served.
    assert http(host, STYLESHEET).status == 200


def burst(host, path, count, address):
    """count requests over one connection to address (SNI and Host SERVER_NAME); the status codes."""
    urls = " ".join(f"-o /dev/null https://{SERVER_NAME}{path}" for _ in range(count))
    out = host.check_output(
        f"curl -sS --max-time 30 --cacert {TLS_CERT} --resolve {SERVER_NAME}:443:{address}"
        f" -w '%{{http_code}}\\n' {urls}"
    )
    return [int(code) for code in out.split()]


@pytest.fixture
def outside_address(host):
    """The host's own first non-loopback address: clients from it are rate limited."""
    address = host.check_output("hostname -I").split()[0]
    assert not address.startswith("127.")
    return address


def test_burst_over_the_rate_limit_gets_429_then_normal_traffic_gets_200(host, outside_address):
    codes = burst(host, "/healthz", 3 * BURST, outside_address)
    assert codes.count(429) > 0, codes
    assert set(codes) <= {200, 429}, codes
    assert codes[:BURST] == [200] * BURST  # the burst itself is served
    time.sleep(3)  # the bucket drains at 10 requests a second
    assert burst(host, "/healthz", 5, outside_address) == [200] * 5



def test_requests_over_the_rate_limit_leave_the_error_log_alone(host, outside_address):
    # limit_req_log_level warn, below the error log's level: a flood of rejected requests is
    # expected traffic (each 429 is in the access log), not thousands of error lines.
    time.sleep(3)
    marker = f"/healthz?limited-{uuid.uuid4()}"
    assert 429 in burst(host, marker, 3 * BURST, outside_address)
    assert marker not in host.file(VHOST_ERROR_LOG).content_string


def test_static_files_are_not_rate_limited(host, outside_address):
    time.sleep(3)
    assert burst(host, STYLESHEET, 3 * BURST, outside_address) == [200] * (3 * BURST)


def test_loopback_clients_are_not_rate_limited(host):
    time.sleep(3)
    assert burst(host, "/healthz", 3 * BURST, "127.0.0.1") == [200] * (3 * BURST)
