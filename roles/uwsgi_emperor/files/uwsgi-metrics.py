#!/usr/bin/python3
"""Prometheus metrics of every uWSGI vassal on the host, read from their stats sockets.

systemd starts it at the first scrape with the listening socket (uwsgi-metrics.socket,
Accept=no: one resident process, not one per scrape, whose start-up would cost more than the
scrape). Each connection carries one HTTP request: GET /metrics is answered in Prometheus' text
format, anything else gets 404, and the connection is closed. The vassal's name is the stats
socket's directory (<socket dir>/<app>/stats.sock).
"""

from __future__ import annotations

import glob
import json
import os
import socket
import stat
import sys
import threading
import time

METRICS = {
    "uwsgi_up": ("gauge", "1 if the vassal's stats socket answered."),
    "uwsgi_workers": ("gauge", "Workers of the vassal by state (idle, busy, ...)."),
    "uwsgi_listen_queue": ("gauge", "Connections waiting in the vassal's listen queue."),
    "uwsgi_listen_queue_errors_total": ("counter", "Connections refused because the listen queue was full."),
    "uwsgi_requests_total": ("counter", "Requests the vassal's workers served."),
    "uwsgi_exceptions_total": ("counter", "Exceptions the vassal's workers raised."),
    "uwsgi_harakiri_total": ("counter", "Requests cut by harakiri."),
    "uwsgi_worker_respawns_total": ("counter", "Times the vassal's workers were started again (not counting the first)."),
}


def read_stats(path: str) -> dict:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
        conn.settimeout(2)
        conn.connect(path)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    return json.loads(b"".join(chunks))


def label(value: str) -> str:
    """A label value as Prometheus' text format quotes it."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def app_samples(app: str, stats: dict) -> dict[str, list[str]]:
    """One vassal's samples; raises ValueError (or TypeError) on stats it cannot read."""
    out: dict[str, list[str]] = {name: [] for name in METRICS}
    workers = stats["workers"]
    states: dict[str, int] = {"idle": 0, "busy": 0}
    for worker in workers:
        state = str(worker.get("status", "unknown"))
        states[state] = states.get(state, 0) + 1
    a = f'app="{label(app)}"'
    out["uwsgi_up"].append(f"uwsgi_up{{{a}}} 1")
    for state, count in sorted(states.items()):
        out["uwsgi_workers"].append(f'uwsgi_workers{{{a},state="{label(state)}"}} {count}')
    out["uwsgi_listen_queue"].append(f"uwsgi_listen_queue{{{a}}} {int(stats.get('listen_queue', 0))}")
    out["uwsgi_listen_queue_errors_total"].append(
        f"uwsgi_listen_queue_errors_total{{{a}}} {int(stats.get('listen_queue_errors', 0))}")
    for name, key in (("uwsgi_requests_total", "requests"), ("uwsgi_exceptions_total", "exceptions"),
                      ("uwsgi_harakiri_total", "harakiri_count")):
        out[name].append(f"{name}{{{a}}} {sum(int(w.get(key, 0)) for w in workers)}")
    respawns = sum(max(int(w.get("respawn_count", 1)) - 1, 0) for w in workers)
    out["uwsgi_worker_respawns_total"].append(f"uwsgi_worker_respawns_total{{{a}}} {respawns}")
    return out


def samples(pattern: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {name: [] for name in METRICS}
    for path in sorted(glob.glob(pattern)):
        app = os.path.basename(os.path.dirname(path))
        try:
            if not stat.S_ISSOCK(os.lstat(path).st_mode):
                raise ValueError(f"{path} is not a socket")
            one = app_samples(app, read_stats(path))
        except Exception:  # whatever one vassal sends makes it down, never the others' scrape
            one = {name: [] for name in METRICS}
            one["uwsgi_up"].append(f'uwsgi_up{{app="{label(app)}"}} 0')
        for name, lines in one.items():
            out[name] += lines
    return out


def exposition(pattern: str) -> str:
    lines = []
    for name, values in samples(pattern).items():
        kind, text = METRICS[name]
        lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", *values]
    return "\n".join(lines) + "\n"


# At most this many scrapes at once (more wait in the listen queue), each given TIMEOUT s in all
# and a request of at most MAX_REQUEST bytes (a scrape's is a few hundred).
CONCURRENT, TIMEOUT, MAX_REQUEST = 8, 10, 8192


def request_line(conn: socket.socket) -> str:
    """The request's first line, once its headers have ended (nothing in them changes the answer)."""
    deadline, data = time.monotonic() + TIMEOUT, b""
    while b"\r\n\r\n" not in data and b"\n\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or len(data) > MAX_REQUEST:
            raise TimeoutError("no whole request in time")
        conn.settimeout(left)
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0].decode("latin-1")


def answer(conn: socket.socket, pattern: str) -> None:
    method, path = (request_line(conn).split() + ["", ""])[:2]
    if method == "GET" and path.split("?")[0] == "/metrics":
        status, body, kind = "200 OK", exposition(pattern), "text/plain; version=0.0.4; charset=utf-8"
    else:
        status, body, kind = "404 Not Found", "Not found: the metrics are at /metrics\n", "text/plain; charset=utf-8"
    data = body.encode()
    conn.settimeout(TIMEOUT)
    conn.sendall(
        f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
        + data)


def handle(conn: socket.socket, pattern: str, slots: threading.BoundedSemaphore) -> None:
    try:
        with conn:
            answer(conn, pattern)
    except OSError:
        pass  # the scraper went away or was too slow (TimeoutError): the next scrape is a new connection
    finally:
        slots.release()


def main() -> int:
    pattern = sys.argv[1]
    if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
        print("uwsgi-metrics: started without its socket: it runs from uwsgi-metrics.socket", file=sys.stderr)
        return 2
    listener = socket.socket(fileno=3)  # SD_LISTEN_FDS_START
    slots = threading.BoundedSemaphore(CONCURRENT)
    while True:
        slots.acquire()
        try:
            conn, _ = listener.accept()
        except OSError:
            slots.release()
            continue
        threading.Thread(target=handle, args=(conn, pattern, slots), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
