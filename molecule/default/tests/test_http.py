"""HTTP, from inside the host: nginx serves static files itself and the app through uWSGI."""

import json
import re
import shlex
import time
import uuid

import pytest

from testlib.hosts import planted_static_files
from testlib.http import curl, curl_command, http, linked_stylesheet
from testlib.layout import ACME_DIR, APP_USER, CURRENT, SANDBOX_SERVER_NAMES, STYLESHEET, VHOST_ACCESS_LOG
from testlib.notes import listed_notes
from testlib.uwsgi import journal, now, settled_vassal_requests, uwsgi_request, vassal_requests
from testlib.wait import wait_until

# The sandbox inventory's site: nginx's body limit follows python_app_max_body_mb (1).
MAX_BODY_BYTES = 1024 * 1024

JSON = ("-H", "Content-Type: application/json")


def test_home_page_is_html(host):
    response = http(host, "/")
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/html")


def test_home_page_links_the_stylesheet_under_the_live_releases_code_digest(host):
    digest = host.file(CURRENT).linked_to.rsplit("-", 1)[1]
    assert linked_stylesheet(host) == f"/static/{digest}{STYLESHEET.removeprefix('/static')}"


def test_linked_stylesheet_is_the_stylesheet_immutable_for_a_year(host):
    versioned, plain = http(host, linked_stylesheet(host)), http(host, STYLESHEET)
    assert versioned.status == 200
    assert versioned.headers["content-type"].startswith("text/css")
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert versioned.body == plain.body


def test_linked_stylesheet_is_served_by_nginx_without_reaching_uwsgi(host):
    url = linked_stylesheet(host)
    before = settled_vassal_requests(host)
    assert http(host, url).status == 200
    assert settled_vassal_requests(host) == before


def test_static_file_of_a_version_the_host_does_not_hold_is_404_and_not_cacheable(host):
    response = http(host, "/static/0123456789ab/style.css")
    assert response.status == 404
    assert "cache-control" not in response.headers


def test_stylesheet_is_served(host):
    response = http(host, STYLESHEET)
    assert response.status == 200
    assert response.headers["content-type"].startswith("text/css")


def test_stylesheet_is_cacheable_by_browsers(host):
    headers = http(host, STYLESHEET).headers
    assert "max-age=" in headers.get("cache-control", "")
    assert "expires" in headers


def test_stylesheet_is_served_by_nginx_without_reaching_uwsgi(host):
    before = settled_vassal_requests(host)
    assert http(host, STYLESHEET).status == 200
    assert settled_vassal_requests(host) == before


def test_app_requests_reach_uwsgi(host):
    # The control of the test above: the stats do count what reaches uWSGI.
    before = settled_vassal_requests(host)
    assert http(host, "/healthz").status == 200
    deadline = time.monotonic() + 5
    while vassal_requests(host) == before and time.monotonic() < deadline:
        time.sleep(0.2)
    assert vassal_requests(host) > before


def test_healthz_reports_ok_with_version_hostname_and_pid(host):
    response = http(host, "/healthz")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    health = json.loads(response.body)
    assert health["status"] == "ok"
    assert health["version"]
    assert health["hostname"] == host.check_output("cat /proc/sys/kernel/hostname")
    workers = {p.pid for p in host.process.filter(comm="uwsgi-core", user=APP_USER)}
    assert health["pid"] in workers


def test_livez_answers_ok_through_the_stack(host):
    response = http(host, "/livez")
    assert response.status == 200
    assert response.headers["content-type"].startswith("application/json")
    assert json.loads(response.body) == {"status": "ok"}


def test_posted_note_is_listed(host):
    text = f"testinfra {uuid.uuid4()}"
    created = http(host, "/api/notes", "-X", "POST", *JSON, "--data", json.dumps({"text": text}))
    assert created.status == 201
    assert json.loads(created.body)["text"] == text
    assert text in [note["text"] for note in listed_notes(host)]


def test_invalid_json_gets_400_with_an_error(host):
    response = http(host, "/api/notes", "-X", "POST", *JSON, "--data", "{not json")
    assert response.status == 400
    assert json.loads(response.body)["error"]


def test_oversized_body_is_rejected_by_nginx_with_413(host):
    body = host.check_output("mktemp")
    try:
        host.check_output(f"head -c {2 * MAX_BODY_BYTES} /dev/zero > {shlex.quote(body)}")
        before = settled_vassal_requests(host)
        response = http(host, "/api/notes", "-X", "POST", *JSON, "--data-binary", f"@{body}")
        assert response.status == 413
        # nginx refused it: uWSGI's own limit never had to.
        assert settled_vassal_requests(host) == before
    finally:
        host.run(f"rm -f {shlex.quote(body)}")



def test_body_over_the_limit_that_skips_nginx_is_refused_by_uwsgi(host):
    # limit-post: uWSGI refuses by the declared length alone and closes the connection before the
    # app reads a byte (the body is never sent: without the limit the app would wait for it).
    since, path = now(host), f"/api/notes?{uuid.uuid4()}"
    assert uwsgi_request(host, path, "POST", content_length=MAX_BODY_BYTES + 1, timeout=5) == 0
    assert "Invalid (too big) CONTENT_LENGTH" in journal(host, since)


def test_request_uwsgi_fails_is_logged_by_uwsgi(host):
    # log-5xx: though uWSGI logs no request line (nginx does), a failed one is in the journal.
    since, path = now(host), f"/api/notes?{uuid.uuid4()}"
    uwsgi_request(host, path, "POST", content_length=MAX_BODY_BYTES + 1, timeout=5)
    assert re.search(rf"POST {re.escape(path)} => .*\(HTTP/1\.1 500\)", journal(host, since))


def test_body_within_the_limit_that_skips_nginx_is_served_by_the_app(host):
    body = json.dumps({"text": f"straight to uwsgi {uuid.uuid4()}"})
    assert uwsgi_request(host, "/api/notes", "POST", content_length=len(body), body=body) == 201

@pytest.mark.parametrize("server_name", SANDBOX_SERVER_NAMES)
def test_site_answers_its_server_names(host, server_name):
    response = http(host, "/healthz", "-H", f"Host: {server_name}")
    assert response.status == 200
    assert json.loads(response.body)["status"] == "ok"


def test_unknown_host_gets_connection_closed_on_http(host):
    result = curl(host, "/", "-H", "Host: unknown.example", scheme="http")
    assert result.rc == 52, result.stderr  # curl: "Empty reply from server"


def test_http_redirects_to_https_with_301_keeping_the_path(host):
    response = http(host, "/api/notes?limit=1", scheme="http")
    assert response.status == 301
    assert response.headers["location"] == "https://localhost/api/notes?limit=1"


def test_acme_challenge_is_served_over_http(host):
    token = f"testinfra-{uuid.uuid4()}"
    host.check_output(f"echo {token} > {ACME_DIR}/{token}")
    try:
        response = http(host, f"/.well-known/acme-challenge/{token}", scheme="http")
    finally:
        host.run(f"rm -f {ACME_DIR}/{token}")
    assert response.status == 200
    assert response.body.strip() == token


def test_https_speaks_http2(host):
    result = curl(host, "/healthz", "--http2", "-w", "%{http_version}")
    assert result.stdout == "2", result.stderr


def test_server_header_hides_nginx_version(host):
    assert http(host, "/").headers["server"] == "nginx"


def access_log_line(host, marker):
    """The site's access log line (a JSON object) that holds marker."""
    line = host.check_output(f"grep -F {shlex.quote(marker)} {VHOST_ACCESS_LOG} | tail -n 1")
    return json.loads(line)


def test_requests_are_logged_in_vhost_access_log_as_json_lines(host):
    marker = f"testinfra-{uuid.uuid4()}"
    assert http(host, f"/healthz?{marker}").status == 200
    line = access_log_line(host, marker)
    assert (line["method"], line["uri"], line["status"]) == ("GET", f"/healthz?{marker}", 200)
    assert line["upstream"].startswith("unix:")


def test_request_is_followed_by_its_id_from_nginx_log_to_the_apps(host):
    request_id = f"test-{uuid.uuid4().hex}"
    since = now(host)
    response = http(host, "/api/notes", "-XPOST", *JSON, "-H", f"X-Request-ID: {request_id}",
                    "-d", '{"text": "followed by its id"}')
    assert response.status == 201
    assert response.headers["x-request-id"] == request_id
    assert access_log_line(host, request_id)["request_id"] == request_id
    # The app's log line for the same request: JSON in the journal, through uWSGI (on its own time).
    wait_until(lambda: request_id in journal(host, since), 10)
    app_lines = [json.loads(ln[ln.index("{"):]) for ln in journal(host, since).splitlines() if request_id in ln]
    assert [(ln["request_id"], ln["message"]) for ln in app_lines] == [
        (request_id, f"note {json.loads(response.body)['id']} created")]


@pytest.mark.parametrize("sent", [None, "has spaces in it", "x" * 200, "short"])
def test_request_without_a_well_formed_id_gets_nginxs_own(host, sent):
    headers = ("-H", f"X-Request-ID: {sent}") if sent else ()
    given = http(host, "/livez", *headers).headers["x-request-id"]
    assert re.fullmatch(r"[0-9a-f]{32}", given)


def test_static_files_carry_a_request_id_too(host):
    assert re.fullmatch(r"[0-9a-f]{32}", http(host, STYLESHEET).headers["x-request-id"])


def test_note_id_past_sqlites_64_bit_range_is_404_json(host):
    response = http(host, "/api/notes/9223372036854775808")
    assert response.status == 404
    assert json.loads(response.body)["error"]


def header_status(host, protocol, *headers_kib):
    """Status of GET /healthz carrying one X-Big-N header of each size (KiB); 0 if curl got no answer.

    Each header is a command-line argument: curl refuses header lines this long from a file."""
    headers = " ".join(
        f"-H \"X-Big-{i}: $(head -c {kib * 1024} /dev/zero | tr '\\0' a)\"" for i, kib in enumerate(headers_kib)
    )
    result = host.run(curl_command("/healthz", protocol, "-o", "/dev/null", "-w", "%{http_code}") + " " + headers)
    return int(result.stdout or 0)


@pytest.mark.parametrize("protocol", ["--http1.1", "--http2"])
@pytest.mark.parametrize("kib", [16, 30])
def test_big_cookie_sized_header_is_served(host, protocol, kib):
    assert header_status(host, protocol, kib) == 200


def test_header_past_the_buffers_gets_4xx_over_http1(host):
    assert 400 <= header_status(host, "--http1.1", 100) < 500


def test_header_past_the_buffers_never_gets_a_5xx_over_http2(host):
    # nginx ends the HTTP/2 connection (GOAWAY), the protocol's answer: no status, never a 5xx.
    assert header_status(host, "--http2", 100) < 500


def test_headers_beyond_what_uwsgi_takes_get_4xx_from_nginx_over_http1(host):
    # Three 30 KiB headers pass each line's limit but not uWSGI's 64 KiB packet: nginx must say no.
    assert 400 <= header_status(host, "--http1.1", 30, 30, 30) < 500


def test_headers_beyond_what_uwsgi_takes_never_get_a_5xx_over_http2(host):
    assert header_status(host, "--http2", 30, 30, 30) < 500


# Compression: a file of each text type beside the stylesheet (test files, removed afterwards),
# served by nginx from disk, a file too short to gain, a binary one, and the app's own page.
TEXT_FILES = {
    "page.html": "<!doctype html><title>t</title>" + "<p>a paragraph of text</p>" * 60,
    "app.js": "document.querySelector('body').dataset.n = 1;\n" * 50,
    "data.json": '{"notes": [' + ",".join('{"id": %d, "text": "a note"}' % i for i in range(60)) + "]}",
    "logo.svg": '<svg xmlns="http://www.w3.org/2000/svg">' + '<rect width="1" height="1"/>' * 60 + "</svg>",
}
SHORT_FILE = "short.css"  # under nginx_vhost_compression_min_length (256 bytes)
BINARY_FILE = "blob.png"


@pytest.fixture(scope="module")
def static_files(host):
    files = {name: f"printf %s {shlex.quote(text)}" for name, text in TEXT_FILES.items()}
    files[SHORT_FILE] = f"printf %s {shlex.quote('body { margin: 0; padding: 0; }' * 3)}"
    files[BINARY_FILE] = "head -c 4096 /dev/urandom"
    with planted_static_files(host, files) as root:
        yield root


@pytest.mark.parametrize("encoding", ["gzip", "br"])
@pytest.mark.parametrize("name", [*TEXT_FILES, STYLESHEET.rsplit("/", 1)[1]])
def test_text_is_sent_compressed_and_decompresses_to_the_original(host, static_files, name, encoding):
    response = http(host, f"/static/{name}", "-H", f"Accept-Encoding: {encoding}", "--compressed")
    assert response.status == 200
    assert response.headers.get("content-encoding") == encoding
    assert response.headers.get("vary") == "Accept-Encoding"
    assert response.body == host.file(f"{static_files}/{name}").content_string


@pytest.mark.parametrize("encoding", ["gzip", "br"])
def test_app_page_is_sent_compressed(host, encoding):
    response = http(host, "/", "-H", f"Accept-Encoding: {encoding}", "--compressed")
    assert response.status == 200
    assert response.headers.get("content-encoding") == encoding
    assert "</html>" in response.body


def test_response_to_a_request_through_a_proxy_is_compressed_too(host, static_files):
    response = http(host, "/static/app.js", "-H", "Accept-Encoding: gzip", "-H", "Via: 1.1 cdn.example", "--compressed")
    assert response.headers.get("content-encoding") == "gzip"


@pytest.mark.parametrize("name", [SHORT_FILE, BINARY_FILE])
def test_short_and_binary_bodies_are_sent_as_they_are(host, static_files, name):
    response = http(host, f"/static/{name}", "-H", "Accept-Encoding: gzip, br")
    assert response.status == 200
    assert "content-encoding" not in response.headers


CLIENT_TIMEOUT = 15  # nginx_vhost_client_timeout


def test_client_that_stops_sending_its_request_is_dropped_after_the_client_timeout(host):
    # A slow client never holds a connection (or a worker) longer than the client timeout.
    code = (
        "import socket, time; s = socket.create_connection(('127.0.0.1', 80)); "
        "s.sendall(b'GET / HTTP/1.1\\r\\nHost: localhost\\r\\n'); t = time.monotonic(); "
        "s.settimeout(60); s.recv(1024); print(round(time.monotonic() - t, 1))"
    )
    seconds = float(host.check_output(f"python3 -c {shlex.quote(code)}"))
    assert CLIENT_TIMEOUT - 1 <= seconds <= CLIENT_TIMEOUT + 5
