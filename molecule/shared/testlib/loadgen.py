#!/usr/bin/env python3
"""Bounded HTTP load against the local nginx, counting every failed request.

Runs on the test host: THREADS clients each send METHOD (GET or HEAD) PATH to
HOST (the site's name, sent as Host and SNI) at CONNECT (default: HOST itself,
which must then resolve to loopback), one connection per request, until STOP_FILE appears or
MAX_SECONDS pass. A request fails on a non-2xx status (one in --accept is an
answer, but a 503 only with Retry-After), a reset, a refused connection or a
timeout. Writes a JSON summary to OUT when it stops (with the p50, p99 and
slowest seconds of the answered requests); with --trace, TRACE gets every answered request's
start (the host's monotonic clock) and seconds. With --alternate S the clients send only in every
second window of S seconds, the first one after S seconds without; the summary's "windows" lists
each window that ended, [start, end, sending] on that clock. With --progress, PROGRESS holds the
requests sent and answered so far ({"sent": N, "ok": M}, replaced atomically a few times a second
while the clients run), for a caller that waits for the load to get going or to go on. With
--post-notes each request instead adds a note (POST PATH, JSON, a text of its
own), and ACKS gets one JSON line per note the app acknowledged: its id, text
and the host's wall-clock time of the acknowledgement.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import ssl
import threading
import time
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scheme", choices=["http", "https"], default="http")
    parser.add_argument("--host", default="localhost")
    parser.add_argument("--connect", default="", help="address to connect to instead of HOST (loopback)")
    parser.add_argument("--path", default="/api/notes")
    parser.add_argument("--method", choices=["GET", "HEAD"], default="GET")
    parser.add_argument("--accept", type=int, action="append", default=[],
                        help="a status that counts as an answer besides 2xx (repeatable)")
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--pause", type=float, default=0.01, help="seconds between a client's requests")
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--max-seconds", type=float, default=300.0)
    parser.add_argument("--post-notes", action="store_true", help="add a note with each request")
    parser.add_argument("--acks", default="", help="with --post-notes: file of the acknowledged notes")
    parser.add_argument("--stop-file", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--trace", default="", help="file of every answered request: [start, seconds]")
    parser.add_argument("--progress", default="", help='file of the requests so far: {"sent": N, "ok": M}')
    parser.add_argument("--alternate", type=float, default=0.0,
                        help="seconds of each window; the clients send in every second one (0: always)")
    args = parser.parse_args()

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    lock = threading.Lock()
    kinds: Counter[str] = Counter()
    statuses: Counter[int] = Counter()
    sent = ok = 0
    successes: list[float] = []
    latencies: list[float] = []
    trace: list[tuple[float, float]] = []
    failures: list[float] = []
    start = time.monotonic()
    deadline = start + args.max_seconds

    address = args.connect or args.host

    def connection() -> http.client.HTTPConnection:
        if args.scheme == "http":
            return http.client.HTTPConnection(address, 80, timeout=args.timeout)
        # Connect to the address, but send the site's name as SNI (and Host, below).
        conn = http.client.HTTPSConnection(address, 443, timeout=args.timeout, context=context)
        conn.connect = lambda: setattr(conn, "sock", context.wrap_socket(  # type: ignore[method-assign]
            socket.create_connection((address, 443), args.timeout), server_hostname=args.host))
        return conn

    acks = open(args.acks, "a", encoding="utf-8") if args.acks else None  # noqa: SIM115 - open while the clients run
    counter = iter(range(10**9))

    def one_request() -> str | None:
        conn = connection()
        began = time.monotonic()
        try:
            if args.post_notes:
                with lock:
                    text = f"load note {next(counter)} {time.time_ns()}"
                conn.request("POST", args.path, body=json.dumps({"text": text}),
                             headers={"Host": args.host, "Content-Type": "application/json"})
            else:
                conn.request(args.method, args.path, headers={"Host": args.host})
            response = conn.getresponse()
            body = response.read()
            acked = time.time()
            with lock:
                statuses[response.status] += 1
                if args.post_notes and acks and response.status == 201:
                    acks.write(json.dumps({"id": json.loads(body)["id"], "text": text, "at": acked}) + "\n")
                    acks.flush()
            if response.status == 503 and not response.getheader("Retry-After"):
                return "503 without Retry-After"
            if 200 <= response.status < 300 or response.status in args.accept:
                with lock:
                    latencies.append(time.monotonic() - began)
                    trace.append((round(began, 4), round(latencies[-1], 5)))
                return None
            return f"status {response.status}"
        except (OSError, http.client.HTTPException) as exc:
            return type(exc).__name__
        finally:
            conn.close()

    def client() -> None:
        nonlocal sent, ok
        while time.monotonic() < deadline and not os.path.exists(args.stop_file):
            if args.alternate and int((time.monotonic() - start) / args.alternate) % 2 == 0:
                time.sleep(0.01)  # a window without: wait for the next one
                continue
            error = one_request()
            now = time.monotonic() - start
            with lock:
                sent += 1
                if error is None:
                    ok += 1
                    successes.append(now)
                else:
                    kinds[error] += 1
                    failures.append(now)
            time.sleep(args.pause)

    def write_progress() -> None:
        with lock:
            counts = {"sent": sent, "ok": ok}
        tmp = args.progress + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(counts, fh)
        os.replace(tmp, args.progress)

    clients_done = threading.Event()

    def reporter() -> None:
        while not clients_done.wait(0.05):
            write_progress()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(args.threads)]
    progress = threading.Thread(target=reporter, daemon=True) if args.progress else None
    for thread in threads:
        thread.start()
    if progress:
        progress.start()
    for thread in threads:
        thread.join()
    if progress:
        clients_done.set()
        progress.join()
        write_progress()

    stopped = time.monotonic()
    successes.sort()
    gaps = [b - a for a, b in zip(successes, successes[1:])]
    latencies.sort()

    def quantile(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))], 4) if latencies else None

    summary = {
        "sent": sent,
        "ok": ok,
        "failed": sent - ok,
        "failures_by_kind": dict(kinds),
        "by_status": {str(k): v for k, v in sorted(statuses.items())},
        "first_failure_s": round(min(failures), 3) if failures else None,
        "last_failure_s": round(max(failures), 3) if failures else None,
        "longest_gap_without_success_s": round(max(gaps), 3) if gaps else None,
        "duration_s": round(time.monotonic() - start, 3),
        "p50_s": quantile(0.5),
        "p99_s": quantile(0.99),
        "slowest_s": round(latencies[-1], 4) if latencies else None,
    }
    if args.alternate:
        ended = int((stopped - start) / args.alternate)
        summary["windows"] = [[start + i * args.alternate, start + (i + 1) * args.alternate, i % 2 == 1]
                              for i in range(ended)]
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as fh:
            json.dump(sorted(trace), fh)
    if acks:
        acks.close()
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(summary, fh)
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
