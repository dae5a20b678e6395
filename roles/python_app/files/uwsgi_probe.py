#!/usr/bin/env python3
"""GET a path from a uWSGI socket over the uwsgi protocol, as nginx would.

usage: uwsgi_probe.py SOCKET PATH [HOST]   (SOCKET: /path/to.sock or address:port)
Prints {"status": int, "json": object or null}. For app hosts without a local nginx.
"""

from __future__ import annotations

import json
import socket
import struct
import sys


def packet(path: str, host: str) -> bytes:
    env = {
        "REQUEST_METHOD": "GET", "REQUEST_URI": path, "PATH_INFO": path, "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": host, "SERVER_PORT": "80",
        "REMOTE_ADDR": "127.0.0.1", "HTTP_HOST": host,
    }
    body = b"".join(
        struct.pack("<H", len(k)) + k.encode() + struct.pack("<H", len(v)) + v.encode()
        for k, v in env.items()
    )
    return struct.pack("<BHB", 0, len(body), 0) + body


def main(target: str, path: str, host: str) -> dict[str, object]:
    if target.startswith("/"):
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(10)
        conn.connect(target)
    else:
        address, _, port = target.rpartition(":")
        conn = socket.create_connection((address, int(port)), timeout=10)
    with conn:
        conn.sendall(packet(path, host))
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    return {"status": status, "json": parsed}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else "localhost")))
