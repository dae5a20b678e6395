"""The vassal's own view of itself: its stats socket, read as root on the host."""

from __future__ import annotations

import json
import shlex
import time
from typing import Any

from testlib.layout import VASSAL_STATS_SOCKET

_READ_STATS = (
    "import socket, sys; s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); "
    "sys.stdout.write(b''.join(iter(lambda: s.recv(65536), b'')).decode())"
)


def stats_command(path: str = VASSAL_STATS_SOCKET) -> str:
    return f"python3 -c {shlex.quote(_READ_STATS)} {shlex.quote(path)}"


def vassal_stats(host: Any) -> dict[str, Any]:
    """The vassal's JSON stats; {} while it is not answering (restarting)."""
    result = host.run(stats_command())
    return json.loads(result.stdout) if result.rc == 0 and result.stdout.startswith("{") else {}


def worker_pids(host: Any) -> list[int]:
    return sorted(w["pid"] for w in vassal_stats(host).get("workers", []) if w["pid"] > 0)


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
