#!/usr/bin/env python3
"""Asks a release for its health check from the host it runs on; prints what came back.

usage: health_probe.py [--wait SECONDS RELEASE] nginx URL          through nginx on this host's loopback
       health_probe.py [--wait SECONDS RELEASE] uwsgi SOCKET URL   straight to the app's socket (uwsgi protocol)

URL is the health check as clients ask for it (https://notes.example.org/healthz). Through
nginx, the request goes to 127.0.0.1 on the URL's port, with the URL's host name as SNI and
Host, so the site answers exactly as it does for clients; a redirect to HTTPS is followed once.
It also asks nginx to use this host's own app (X-Flask-Deploy-Pin: local, honoured from
loopback only), so a release is checked on the host it was deployed to. The certificate is not
checked: the connection never leaves the host. SOCKET is /path/to.sock or address:port.
Prints {"status": int, "json": object or null}. With --wait, asks again every 0.2 s until the
answer is 200 naming RELEASE (json.release) or SECONDS have passed, and prints the last answer:
one task on the host instead of one per try (each costs Ansible a round trip and a second's delay).
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import struct
import sys
import time
from collections.abc import Callable
from urllib.parse import urlsplit

PIN = {"X-Flask-Deploy-Pin": "local"}
LOOPBACK = "127.0.0.1"


class LoopbackHTTPS(http.client.HTTPSConnection):
    """HTTPS to loopback with the site's name as SNI, as a client elsewhere would send it."""

    def __init__(self, server_name: str, port: int) -> None:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        super().__init__(LOOPBACK, port, timeout=10, context=context)
        self.server_name = server_name

    def connect(self) -> None:
        raw = socket.create_connection((LOOPBACK, self.port), self.timeout)
        self.sock = self._context.wrap_socket(raw, server_hostname=self.server_name)


def _parsed(status: int, body: bytes) -> dict[str, object]:
    try:
        return {"status": status, "json": json.loads(body)}
    except ValueError:
        return {"status": status, "json": None}


def through_nginx(url: str, redirects: int = 1) -> dict[str, object]:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    if parts.scheme == "https":
        conn: http.client.HTTPConnection = LoopbackHTTPS(host, parts.port or 443)
    else:
        conn = http.client.HTTPConnection(LOOPBACK, parts.port or 80, timeout=10)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    netloc = host if parts.port in (None, 80, 443) else f"{host}:{parts.port}"
    try:
        conn.request("GET", path, headers={"Host": netloc, **PIN})
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    location = response.getheader("Location", "")
    if response.status in (301, 302, 307, 308) and redirects and location.startswith("https://"):
        return through_nginx(location, redirects - 1)
    return _parsed(response.status, body)


def uwsgi_packet(url: str) -> bytes:
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    env = {
        "REQUEST_METHOD": "GET", "REQUEST_URI": parts.path, "PATH_INFO": parts.path,
        "QUERY_STRING": parts.query, "SERVER_PROTOCOL": "HTTP/1.1", "SERVER_NAME": host,
        "SERVER_PORT": str(parts.port or (443 if parts.scheme == "https" else 80)),
        "REMOTE_ADDR": LOOPBACK, "HTTP_HOST": host, "HTTPS": "on" if parts.scheme == "https" else "off",
    }
    # uWSGI reads each length in bytes: a name or value is encoded first (a path may be UTF-8).
    pairs = [(k.encode(), v.encode()) for k, v in env.items()]
    body = b"".join(struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in pairs)
    return struct.pack("<BHB", 0, len(body), 0) + body


def on_socket(target: str, url: str) -> dict[str, object]:
    if target.startswith("/"):
        conn = socket.socket(socket.AF_UNIX)
        conn.settimeout(10)
        conn.connect(target)
    else:
        address, _, port = target.rpartition(":")
        conn = socket.create_connection((address, int(port)), timeout=10)
    with conn:
        conn.sendall(uwsgi_packet(url))
        response = b""
        while chunk := conn.recv(65536):
            response += chunk
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return _parsed(status, body)


def main(argv: list[str]) -> dict[str, object]:
    try:
        if argv[0] == "nginx":
            return through_nginx(argv[1])
        return on_socket(argv[1], argv[2])
    except (OSError, http.client.HTTPException) as exc:
        return {"status": 0, "json": None, "error": f"{type(exc).__name__}: {exc}"}


def healthy(answer: dict[str, object], release: str) -> bool:
    body = answer.get("json")
    return answer.get("status") == 200 and isinstance(body, dict) and body.get("release") == release


def wait(argv: list[str], seconds: float, release: str, interval: float = 0.2,
         clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> dict[str, object]:
    """main(argv) again every interval until it is healthy for release or seconds have passed."""
    deadline = clock() + seconds
    while True:
        answer = main(argv)
        if healthy(answer, release) or clock() >= deadline:
            return answer
        sleep(interval)


def cli(argv: list[str]) -> dict[str, object]:
    if argv[:1] == ["--wait"]:
        return wait(argv[3:], float(argv[1]), argv[2])
    return main(argv)


if __name__ == "__main__":
    print(json.dumps(cli(sys.argv[1:])))
