#!/usr/bin/python3
"""A stand-in for Prometheus while a case is loaded: one long-running process (as Prometheus is)
that scrapes both metrics endpoints of ADDRESS every second, each answer checked (200, and the
metric that proves the exporter reads its server). Prints SCRAPES N after each round; on a failed
scrape prints SCRAPE_FAILED and exits 1. Runs until killed (bench/http.sh: `timeout`).
    usage: scrape.py ADDRESS"""

import sys
import time
import urllib.request

CHECKS = ((9113, "nginx_http_requests_total "), (9117, 'uwsgi_up{app="notes"} 1'))


def main(address: str) -> int:
    rounds = 0
    while True:
        for port, needle in CHECKS:
            try:
                with urllib.request.urlopen(f"http://{address}:{port}/metrics", timeout=5) as answer:
                    body = answer.read().decode()
            except OSError as error:
                print("SCRAPE_FAILED", port, error, flush=True)
                return 1
            if not any(line.startswith(needle) for line in body.splitlines()):
                print("SCRAPE_FAILED", port, "without", needle, flush=True)
                return 1
        rounds += 1
        print("SCRAPES", rounds, flush=True)
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
