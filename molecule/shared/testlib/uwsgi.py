"""A vassal seen directly, as root on the host: its stats socket, and requests in its own protocol."""

from __future__ import annotations

import json
import shlex
import time
from collections.abc import Collection
from typing import Any

from testlib.layout import APP_SOCKET, EMPEROR_SERVICE, VASSAL_STATS_SOCKET

_READ_STATS = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
    "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())"
)


# One request in the uwsgi protocol (what nginx sends), its body sent only when given; prints the
# response's status (0 when the vassal closes the connection, or keeps it past timeout, without one).
_REQUEST = """
import json, socket, struct, sys
path, method, length, body, timeout = sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5].encode(), float(sys.argv[6])
env = {"REQUEST_METHOD": method, "REQUEST_URI": path, "PATH_INFO": path.partition("?")[0],
       "QUERY_STRING": path.partition("?")[2],
       "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": "localhost", "SERVER_PORT": "443", "HTTPS": "on",
       "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": "localhost", "CONTENT_TYPE": "application/json",
       "CONTENT_LENGTH": length}
vars = b"".join(struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode() for k, v in env.items())
s = socket.socket(socket.AF_UNIX)
s.settimeout(timeout)
s.connect(sys.argv[1])
s.sendall(struct.pack("<BHB", 0, len(vars), 0) + vars + body)
try:
    head = b"".join(iter(lambda: s.recv(65536), b""))
except TimeoutError:
    head = b""
print(int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0)
"""


def uwsgi_request(host: Any, path: str, method: str = "GET", content_length: int = 0, body: str = "",
                  socket: str = APP_SOCKET, timeout: float = 10) -> int:
    """Status of one request sent straight to a vassal's socket in the uwsgi protocol, as nginx would.

    content_length is what the request declares; only body is sent (the declared length may be larger).
    """
    args = [socket, path, method, str(content_length), body, str(timeout)]
    return int(host.check_output(f"python3 -c {shlex.quote(_REQUEST)} " + " ".join(shlex.quote(a) for a in args)))


def stats_command(path: str = VASSAL_STATS_SOCKET) -> str:
    return f"python3 -c {shlex.quote(_READ_STATS)} {shlex.quote(path)}"


def vassal_stats(host: Any, path: str = VASSAL_STATS_SOCKET) -> dict[str, Any]:
    """The vassal's JSON stats; {} while it is not answering (restarting)."""
    result = host.run(stats_command(path))
    return json.loads(result.stdout) if result.rc == 0 and result.stdout.startswith("{") else {}


def worker_pids(host: Any) -> list[int]:
    return sorted(w["pid"] for w in vassal_stats(host).get("workers", []) if w["pid"] > 0)


def serving_in_full(host: Any, gone: Collection[int] = ()) -> bool:
    """Every worker the vassal runs is alive, and none is one of gone (workers that were killed)."""
    workers = vassal_stats(host).get("workers", [])
    return bool(workers) and all(w["pid"] > 0 and w["pid"] not in gone for w in workers)


def vassal_requests(host: Any) -> int:
    """Total requests the vassal's workers have handled."""
    return sum(worker["requests"] for worker in vassal_stats(host)["workers"])


def settled_vassal_requests(host: Any, wait: float = 0.3, attempts: int = 20) -> int:
    """vassal_requests once it stops moving (a worker counts a request after replying)."""
    previous = vassal_requests(host)
    for _ in range(attempts):
        time.sleep(wait)
        current = vassal_requests(host)
        if current == previous:
            return current
        previous = current
    return previous


def now(host: Any) -> str:
    """The host's clock, as journalctl --since takes it."""
    return host.check_output("date '+%Y-%m-%d %H:%M:%S'")


def journal(host: Any, since: str) -> str:
    """What the emperor and its vassals logged since then (uWSGI logs to the journal)."""
    return host.check_output(f"journalctl -u {EMPEROR_SERVICE} --since '{since}' --no-pager -o cat")
