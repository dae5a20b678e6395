"""Runs INSIDE the HTTP bench host (bench/host-setup.sh): writes the bench's extra nginx
servers as copies of the deployed site's HTTPS server (same certificate, ssl_* lines, listen
parameters, security headers, limit_req and timeouts), each with one thing changed, so every
nginx case speaks the same TLS as the stack and the ratios compare like with like.

usage: nginx_servers.py VHOST BENCH_CONF W1_CONF
  VHOST       the deployed site, /etc/nginx/sites-available/notes.conf
  BENCH_CONF  servers for the deployed nginx (conf.d), on 127.0.0.1:8081.. only
  W1_CONF     the site's upstream and rate-limit zone plus one server on 127.0.0.1:8097,
              included by the second nginx (worker_processes 1)
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

VARIANTS = ["p1core", "p4core", "threads", "thunder", "listen100", "uwsgilog"]  # :8090..


def blocks(text: str) -> list[list[str]]:
    """Top-level statements and blocks of an nginx file, each as its lines."""
    out: list[list[str]] = []
    cur: list[str] = []
    depth = 0
    for line in text.splitlines():
        code = "" if line.lstrip().startswith("#") else line
        if depth == 0 and not cur and not code.strip():
            continue
        cur.append(line)
        depth += code.count("{") - code.count("}")
        if depth == 0 and (code.rstrip().endswith(("}", ";")) or not code.strip()):
            out.append(cur)
            cur = []
    return out


def find_block(lines: list[str], head: re.Pattern[str]) -> tuple[int, int]:
    """Start and end (inclusive) line of the first nested block whose opening line matches."""
    for i, line in enumerate(lines):
        if head.search(line):
            depth = 0
            for j in range(i, len(lines)):
                depth += lines[j].count("{") - lines[j].count("}")
                if depth == 0:
                    return i, j
    raise SystemExit(f"nginx_servers: no block matching {head.pattern!r}")


def variant(server: list[str], port: int, access_log: str, *, location: list[str] | None = None,
            upstream: str | None = None, proxy: str | None = None,
            no_static: bool = False, plain: bool = False, before_ops: bool = False,
            extra: list[str] | None = None, location_extra: list[str] | None = None) -> list[str]:
    lines = list(server)
    if before_ops:
        lines = without_ops_features(lines)
    ssl_listen = next(ln for ln in lines if re.match(r"\s*listen\s+\S+\s+ssl\b", ln))
    params = re.match(r"\s*listen\s+\S+\s+([^;]*);", ssl_listen)
    assert params
    lines = [ln for ln in lines if not re.match(r"\s*listen\s", ln)]
    if plain:  # the same server without TLS: what the stack costs over plain HTTP
        lines = [ln for ln in lines if not re.match(r"\s*ssl_", ln)]
        lines.insert(1, f"    listen 127.0.0.1:{port};")
    else:
        lines.insert(1, f"    listen 127.0.0.1:{port} {params.group(1)};")
    # Another file, in the site's own format (or off, or "FILE FORMAT": another format).
    def relog(ln: str) -> str:
        if not re.match(r"\s*access_log\s+/", ln):  # the nested `access_log off;` stay
            return ln
        if access_log == "off" or " " in access_log:
            return re.sub(r"^(\s*)access_log\s+[^;]*;", rf"\g<1>access_log {access_log};", ln, count=1)
        return re.sub(r"^(\s*access_log\s+)/\S+", rf"\g<1>{access_log}", ln, count=1)
    lines = [relog(ln) for ln in lines]
    if extra:  # server-level directives, after the listen line
        lines[2:2] = [f"    {x}" for x in extra]
    if no_static:
        a, b = find_block(lines, re.compile(r"^\s*location\s+/static/"))
        del lines[a:b + 1]
    a, b = find_block(lines, re.compile(r"^\s*location\s+/\s*\{"))
    loc = lines[a:b + 1]
    if location is not None:
        loc = [loc[0], *(f"        {x}" for x in location), loc[-1]]
    if location_extra:
        loc = [loc[0], *(f"        {x}" for x in location_extra), *loc[1:]]
    if upstream is not None:
        loc = [re.sub(r"uwsgi_pass\s+[^;]+;", f"uwsgi_pass {upstream};", x) for x in loc]
    if proxy is not None:  # the same location, speaking HTTP to a proxied server
        loc = [re.sub(r"uwsgi_pass\s+[^;]+;", f"proxy_pass {proxy};", x) for x in loc]
        # uwsgi_param HTTP_X_NAME value -> the header X-Name itself
        loc = [re.sub(r"uwsgi_param\s+HTTP_(\S+)\s+",
                      lambda m: f"proxy_set_header {m.group(1).replace('_', '-')} ", x) for x in loc]
        loc = [x.replace("include uwsgi_params;",
                         "proxy_set_header Host $host; "
                         "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;")
               .replace("uwsgi_", "proxy_") for x in loc]
    lines[a:b + 1] = loc
    return lines


def without_ops_features(lines: list[str]) -> list[str]:
    """The site's server as it was before the day-to-day features (metrics aside, which are
    not in the server): no request ID (header, uwsgi_param), no maintenance check and page, no
    versioned static location; the caller turns compression off and logs in nginx's combined
    format."""
    for head in (r"^\s*if \(-f .*maintenance", r"^\s*if \(\$nginx_vhost_maintenance ",
                 r"^\s*location = /__maintenance__", r"^\s*location ~ .*nginx_vhost_static_version"):
        a, b = find_block(lines, re.compile(head))
        del lines[a:b + 1]
    drop = re.compile(r"\s*(add_header X-Request-ID|uwsgi_param HTTP_X_REQUEST_ID|set \$nginx_vhost_maintenance"
                      r"|error_page 503 /__maintenance__)")
    return [ln for ln in lines if not drop.match(ln)]


def main(vhost: Path, bench_conf: Path, w1_conf: Path) -> int:
    parts = blocks(vhost.read_text())
    brotli = "brotli on;" in Path("/etc/nginx/nginx.conf").read_text()
    servers = [p for p in parts if p[0].strip().startswith("server")]
    https = [s for s in servers if any(re.match(r"\s*listen\s+\S+\s+ssl\b", ln) for ln in s)]
    if len(https) != 1 or not any("ssl_certificate " in ln for ln in https[0]):
        raise SystemExit(f"nginx_servers: expected one HTTPS server with a certificate in {vhost}")
    site = https[0]
    others = [p for p in parts if not p[0].strip().startswith("server")]  # upstream, zone
    log = "/var/log/nginx/bench-{}.access.log"
    out = [
        # 1. the ceiling: the same TLS server, nginx answers itself.
        variant(site, 8081, "off", location=[
            "default_type application/json;", "return 200 '{\"status\":\"ok\"}\\n';"]),
        # 4. Gunicorn behind the same server.
        variant(site, 8083, log.format("gunicorn"),
                proxy="http://unix:/run/bench-gunicorn/gunicorn.sock"),
        # 5b. every path to the vassal: /static/ goes through Flask.
        variant(site, 8084, log.format("flask-static"), no_static=True),
        variant(site, 8096, "off"),
        # 2c. the stack's server over plain HTTP, as uWSGI alone (case 3) speaks.
        variant(site, 8085, log.format("stack-http"), plain=True),
        # the stack's server before the day-to-day features (request IDs, JSON log, maintenance
        # check, compression, versioned static files), the same vassal behind it.
        variant(site, 8098, log.format("before-ops") + " combined", before_ops=True,
                extra=["gzip off;", *(["brotli off;"] if brotli else [])]),
        # the shipped server with compression off, everything else on: what compression costs.
        variant(site, 8100, log.format("uncompressed"),
                extra=["gzip off;", *(["brotli off;"] if brotli else [])]),
        # the stack with nginx passing the app's response on as it comes, unbuffered.
        variant(site, 8099, log.format("unbuffered"), location_extra=["uwsgi_buffering off;"]),
    ]
    out += [variant(site, 8090 + i, log.format(name), upstream=f"unix:/run/uwsgi/bench-{name}.sock")
            for i, name in enumerate(VARIANTS)]
    head = "# Bench-only servers (bench/nginx_servers.py), loopback only.\n"
    bench_conf.write_text(head + "\n".join("\n".join(s) for s in out) + "\n")
    # The second nginx's prefix is not /etc/nginx: relative includes are made absolute.
    w1 = [[re.sub(r"include\s+(?!/)", "include /etc/nginx/", ln) for ln in part]
          for part in [*others, variant(site, 8097, log.format("nginx-w1"))]]
    w1_conf.write_text(head + "\n".join("\n".join(s) for s in w1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])))
