"""Shared values and helpers of the testinfra tests (run on the target host)."""

from __future__ import annotations

import base64
import json
import shlex
import time
from typing import NamedTuple

import pytest

# What the playbook deploys; change it here, not in the tests.
APP = "notes"
APP_USER = APP
APP_GROUP = APP
WEB_USER = "www-data"
WEB_GROUP = "www-data"
NOLOGIN_SHELL = "/usr/sbin/nologin"

EMPEROR_SERVICE = "uwsgi-emperor"
EMPEROR_UNIT_FILE = f"/etc/systemd/system/{EMPEROR_SERVICE}.service"
EMPEROR_INI = "/etc/uwsgi/emperor.ini"
VASSALS_DIR = "/etc/uwsgi/vassals"
VASSAL_INI = f"{VASSALS_DIR}/{APP}.ini"

RUN_DIR = "/run/uwsgi"
APP_SOCKET = f"{RUN_DIR}/{APP}.sock"
APP_RUN_DIR = f"{RUN_DIR}/{APP}"
VASSAL_STATS_SOCKET = f"{APP_RUN_DIR}/stats.sock"
EMPEROR_STATS_SOCKET = f"{RUN_DIR}/emperor.stats.sock"

CODE_ROOT = f"/srv/{APP}"
# The release that serves; releases/<id> holds its code and virtualenv.
CODE_DIR = f"{CODE_ROOT}/current/app/{APP}"
VENV = f"{CODE_ROOT}/current/venv"
DATA_DIR = f"/var/lib/{APP}"
DATABASE = f"{DATA_DIR}/{APP}.sqlite3"
CONFIG_DIR = f"/etc/{APP}"
SECRET_KEY_FILE = f"{CONFIG_DIR}/secret_key"

NGINX_SERVICE = "nginx"
SITES_AVAILABLE = "/etc/nginx/sites-available"
SITES_ENABLED = "/etc/nginx/sites-enabled"
VHOST_FILE = f"{SITES_AVAILABLE}/{APP}.conf"
VHOST_ACCESS_LOG = f"/var/log/nginx/{APP}.access.log"
SERVER_NAMES = ("localhost", "127.0.0.1")
HTTP_PORT = 80
HTTPS_PORT = 443
SERVER_NAME = SERVER_NAMES[0]
HTTP_URL = f"http://{SERVER_NAME}"
BASE_URL = f"https://{SERVER_NAME}"
TLS_DIR = "/etc/nginx/tls"
TLS_CERT = f"{TLS_DIR}/{APP}.crt"
TLS_KEY = f"{TLS_DIR}/{APP}.key"
ACME_DIR = "/var/www/acme/.well-known/acme-challenge"
STYLESHEET = "/static/style.css"
MAX_BODY_BYTES = 1024 * 1024


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str


def curl(host, path, *curl_args, base=BASE_URL):
    """Run curl on the host against base + path; the raw CommandResult.

    HTTPS is checked against the site's own certificate, never skipped with -k.
    """
    args = " ".join(shlex.quote(a) for a in ("--cacert", TLS_CERT, *curl_args, base + path))
    return host.run(f"curl -sS --max-time 20 -o /dev/null {args}")


def http(host, path, *curl_args, base=BASE_URL) -> Response:
    """GET (or whatever curl_args say) base + path from inside the host."""
    args = " ".join(shlex.quote(a) for a in ("--cacert", TLS_CERT, *curl_args, base + path))
    script = (
        'd=$(mktemp -d) || exit 99; trap \'rm -rf "$d"\' EXIT; '
        "code=$(curl -sS --max-time 20 -o \"$d/body\" -D \"$d/headers\" "
        f"-w '%{{http_code}}' {args}) || exit $?; "
        'printf "%s\\n" "$code"; base64 -w0 "$d/headers"; echo; base64 -w0 "$d/body"; echo'
    )
    result = host.run(script)
    assert result.rc == 0, f"curl {path} failed (rc={result.rc}): {result.stderr}"
    code, raw_headers, raw_body = (result.stdout.split("\n") + ["", ""])[:3]
    headers: dict[str, str] = {}
    # With redirects or "100 Continue" curl writes several blocks: keep the last.
    block = base64.b64decode(raw_headers).decode("latin-1").strip().split("\r\n\r\n")[-1]
    for line in block.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return Response(int(code), headers, base64.b64decode(raw_body).decode("utf-8", "replace"))


_READ_STATS = """
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
print(json.dumps(json.loads(data)))
"""


def stats_command(path):
    return f"python3 -c {shlex.quote(_READ_STATS)} {shlex.quote(path)}"


def vassal_stats(host) -> dict:
    """The vassal's JSON stats, read as root from its unix stats socket."""
    return json.loads(host.check_output(stats_command(VASSAL_STATS_SOCKET)))


def vassal_requests(host) -> int:
    """Total requests the vassal's workers have handled."""
    return sum(worker["requests"] for worker in vassal_stats(host)["workers"])


def settled_vassal_requests(host, wait=0.3, attempts=20) -> int:
    """vassal_requests once it stops moving (a worker counts a request after replying)."""
    previous = vassal_requests(host)
    for _ in range(attempts):
        time.sleep(wait)
        current = vassal_requests(host)
        if current == previous:
            return current
        previous = current
    return previous


_LIST_PROCESSES = """
import json, os, pwd
out = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/status") as fh:
            status = dict(l.split(":", 1) for l in fh.read().splitlines() if ":" in l)
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            args = fh.read().replace(b"\\0", b" ").decode(errors="replace").strip()
        with open(f"/proc/{pid}/comm") as fh:
            comm = fh.read().strip()
    except OSError:
        continue
    uid = int(status["Uid"].split()[1])
    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = str(uid)
    out.append({"pid": int(pid), "ppid": int(status["PPid"]), "user": user,
                "comm": comm, "args": args})
print(json.dumps(out))
"""


def processes(host, name) -> list[dict]:
    """Processes whose comm starts with name: pid, ppid, user (effective), comm, args.

    Read from /proc with python3 (always on an Ansible target), so the tests do
    not need procps, which minimal images lack.
    """
    every = json.loads(host.check_output(f"python3 -c {shlex.quote(_LIST_PROCESSES)}"))
    return [p for p in every if p["comm"].startswith(name)]


def cpu_count(host) -> int:
    return int(host.check_output("nproc"))


def s_client(host, *args):
    """openssl s_client to the HTTPS port with SNI SERVER_NAME; the CommandResult.

    The caller's options come last, so a test can lower the client's own security
    level: any refusal then comes from the server, not from the client's defaults.
    """
    opts = " ".join(shlex.quote(a) for a in args)
    return host.run(
        f"openssl s_client -connect {SERVER_NAME}:{HTTPS_PORT} -servername {SERVER_NAME} {opts} </dev/null"
    )


def static_root(host) -> str:
    """The directory nginx serves static files from, as the vhost says."""
    alias = host.check_output(f"sed -n 's/^ *alias \\(.*\\);$/\\1/p' {VHOST_FILE}")
    assert alias, f"no alias in {VHOST_FILE}"
    return alias.rstrip("/")


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per host (molecule runs pytest -n 3 --dist loadgroup): each host's tests
    run in one worker, in file order, as they would alone, while the two hosts are checked side
    by side. The tests that drive ansible-playbook (no host) form a group of their own: they
    change no host (check mode, or stopped in the validation play)."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("_testinfra_host") if callspec else None
        name = getattr(getattr(host, "backend", None), "hostname", None) if host else None
        item.add_marker(pytest.mark.xdist_group(name or "playbook"))
