#!/usr/bin/env python3
"""Run by a probe vassal as an app's user: what that user can read, connect to and write.

Its one argument is JSON: {"read": [paths], "connect": [unix sockets], "scan": true}. It prints
JSON: each path and socket with "ok" or the error's name (PermissionError...), and with scan, every
directory and regular file it may write, /proc and /sys aside.
"""

from __future__ import annotations

import json
import os
import socket
import sys


def outcome(action) -> str:
    try:
        action()
        return "ok"
    except OSError as exc:
        return type(exc).__name__


def read(path: str) -> None:
    if os.path.isdir(path):
        os.listdir(path)
    else:
        with open(path, "rb") as fh:
            fh.read(1)


def connect(path: str) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(5)
        s.connect(path)


def writable() -> list[str]:
    found = []
    for top, dirs, files in os.walk("/"):
        if top == "/":
            dirs[:] = [d for d in dirs if d not in ("proc", "sys")]
        for name in dirs + files:
            path = os.path.join(top, name)
            if not os.path.islink(path) and (os.path.isdir(path) or os.path.isfile(path)) \
                    and os.access(path, os.W_OK):
                found.append(path)
    return sorted(found)


def main() -> None:
    probe = json.loads(sys.argv[1])
    answer = {
        "uid": os.getuid(),
        "read": {p: outcome(lambda p=p: read(p)) for p in probe.get("read", [])},
        "connect": {p: outcome(lambda p=p: connect(p)) for p in probe.get("connect", [])},
    }
    if probe.get("scan"):
        answer["writable"] = writable()
    print(json.dumps(answer))


if __name__ == "__main__":
    main()
