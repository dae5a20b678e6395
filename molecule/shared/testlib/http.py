"""HTTP and TLS from inside a host, the way a client elsewhere sees the site.

Every request names the site (Host and SNI) and goes to the host's own loopback; HTTPS is
always checked (never -k) against layout.CLIENT_CA: the certificate the site serves on that host,
or the host's trust store where the site's certificate is CA-issued.
"""

from __future__ import annotations

import base64
import re
import shlex
import uuid
from typing import Any, NamedTuple

from testlib.layout import CLIENT_CA


class Response(NamedTuple):
    status: int
    headers: dict[str, str]
    body: str


def curl_command(path: str, *args: str, name: str = "localhost", scheme: str = "https", cert: str = CLIENT_CA,
                 max_time: int = 20, connect: str = "127.0.0.1") -> str:
    """curl to the site name at connect: the host's loopback, or another of its addresses."""
    port = 443 if scheme == "https" else 80
    options = ["--resolve", f"{name}:{port}:{connect}", "--cacert", cert, "--max-time", str(max_time), *args]
    return "curl -sS " + " ".join(shlex.quote(a) for a in options) + " " + shlex.quote(f"{scheme}://{name}{path}")


def curl(host: Any, path: str, *args: str, **where: Any) -> Any:
    """curl's CommandResult, the body discarded: for status codes (-w) and exit codes."""
    return host.run(curl_command(path, "-o", "/dev/null", *args, **where))


def http(host: Any, path: str, *args: str, **where: Any) -> Response:
    """GET (or whatever args say) path on the site; status, headers (last block) and body."""
    d = f"/tmp/http-{uuid.uuid4().hex}"
    command = curl_command(path, "-o", f"{d}/b", "-D", f"{d}/h", "-w", "%{http_code}", *args, **where)
    result = host.run(
        f"mkdir -m 0700 {d} && trap 'rm -rf {d}' EXIT && code=$({command}) || exit $?; "
        f'printf "%s\\n" "$code"; base64 -w0 {d}/h; echo; base64 -w0 {d}/b; echo'
    )
    assert result.rc == 0, f"curl {path} failed (rc={result.rc}): {result.stderr}"
    code, raw_headers, raw_body = (result.stdout.split("\n") + ["", ""])[:3]
    headers: dict[str, str] = {}
    # With redirects or "100 Continue" curl writes several blocks: keep the last.
    block = base64.b64decode(raw_headers).decode("latin-1").strip().split("\r\n\r\n")[-1]
    for line in block.split("\r\n")[1:]:
        key, _, value = line.partition(":")
        key, value = key.strip().lower(), value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return Response(int(code), headers, base64.b64decode(raw_body).decode("utf-8", "replace"))


def s_client(host: Any, *args: str, name: str = "localhost", linger: float = 0) -> Any:
    """openssl s_client to the host's HTTPS port with SNI name; the CommandResult.

    The caller's options come last, so a test can lower the client's own security level: any
    refusal then comes from the server, not from the client's defaults. linger keeps the
    connection open that many seconds after the handshake, for what the server sends after it
    (TLS 1.3 session tickets).
    """
    opts = " ".join(shlex.quote(a) for a in args)
    stdin = f"sleep {linger} |" if linger else ""
    end = "" if linger else " </dev/null"
    return host.run(f"{stdin} openssl s_client -connect 127.0.0.1:443 -servername {shlex.quote(name)} {opts}{end}")


def linked_stylesheet(host: Any, **where: Any) -> str:
    """The stylesheet URL the site's page links: /static/<version>/style.css."""
    page = http(host, "/", **where)
    match = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.body)
    assert page.status == 200 and match, f"no stylesheet linked from / ({page.status})"
    return match.group(1)
