#!/usr/bin/env python3
"""Read-your-writes through a web host in front of several app hosts.

Runs on the web host: WRITES times, adds a note (POST /api/notes), then reads it back by id and
reads the newest page of the list, and asks /healthz which app host answers. Every note
acknowledged so far must be in every later read. Prints a JSON summary: writes acknowledged, reads,
misses (an acknowledged note absent from a later read), statuses, and the app hosts that answered.
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import ssl
import time
from collections import Counter


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", required=True, help="the site's name, sent as Host and SNI")
    parser.add_argument("--connect", default="127.0.0.1")
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE

    def request(method: str, path: str, body: dict | None = None) -> tuple[int, object]:
        conn = http.client.HTTPSConnection(args.connect, 443, timeout=20, context=context)
        conn.connect = lambda: setattr(conn, "sock", context.wrap_socket(  # type: ignore[method-assign]
            socket.create_connection((args.connect, 443), 20), server_hostname=args.host))
        headers = {"Host": args.host}
        payload = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            payload = json.dumps(body)
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            return response.status, (json.loads(data) if data else None)
        finally:
            conn.close()

    run = time.time_ns()
    acked: dict[int, str] = {}
    statuses: Counter[str] = Counter()
    reads = misses = 0
    hosts: Counter[str] = Counter()
    for i in range(args.writes):
        text = f"consistency {run} {i}"
        status, note = request("POST", "/api/notes", {"text": text})
        statuses[f"POST {status}"] += 1
        if status != 201:
            continue
        acked[note["id"]] = text
        status, got = request("GET", f"/api/notes/{note['id']}")
        statuses[f"GET note {status}"] += 1
        reads += 1
        if status != 200 or got.get("text") != text:
            misses += 1
        status, page = request("GET", "/api/notes?limit=200")
        statuses[f"GET list {status}"] += 1
        reads += 1
        listed = {n["id"]: n["text"] for n in page["notes"]} if status == 200 else {}
        # Only this run writes: its notes are the newest, all on the first page of 200.
        misses += sum(1 for i, t in acked.items() if listed.get(i) != t)
        status, health = request("GET", "/healthz")
        if status == 200:
            hosts[health["hostname"]] += 1
    print(json.dumps({"writes": args.writes, "acknowledged": len(acked), "reads": reads, "misses": misses,
                      "statuses": dict(statuses), "app_hosts": dict(hosts)}))


if __name__ == "__main__":
    main()
