"""The writers of bench/failover-routing.sh and the figures made of their ledgers.

``write PATH LEDGER STOPFILE URL ENVFILE``, on the app host with the app's virtualenv (ENVFILE: the app's
environment, systemd's KEY=value lines, for PGPASSWORD): a loop of INSERTs into
the scratch table ``failover_bench``, each through the app's own connection code (notes.db from the
release in PATH: the worker's kept connection, checked before each use, the app's timeouts and
statement watchdog, a commit whose wait for a standby was cut counted as not acknowledged), until
STOPFILE exists. LEDGER gets one line per attempt: ``ok|err SEQ START END DETAIL`` (epoch seconds).

``summarise ROUNDS LEDGERS TABLE``, on the controller: ROUNDS holds one JSON object per steady
window or fault (case, round, start, end, and for a fault its time, ``fault``), LEDGERS the ledger of
each client (``CLIENT=PATH``), TABLE the rows the table holds (``CLIENT SEQ`` a line). Prints one JSON
object per client and window.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

TABLE = "failover_bench"
PAUSE = 0.02  # between attempts after an error, so a refused connection does not spin


@dataclass(frozen=True)
class Attempt:
    ok: bool
    seq: int
    start: float
    end: float
    detail: str


def parse_ledger(lines: list[str]) -> list[Attempt]:
    out = []
    for line in lines:
        if not line.strip():
            continue
        status, seq, start, end, *detail = line.rstrip("\n").split("\t")
        out.append(Attempt(status == "ok", int(seq), float(start), float(end), detail[0] if detail else ""))
    return out


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of them at or below it."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def window(attempts: list[Attempt], start: float, end: float) -> list[Attempt]:
    """The attempts begun within [start, end)."""
    return [a for a in attempts if start <= a.start < end]


def first_write_after(attempts: list[Attempt], fault: float) -> float | None:
    """Seconds from the fault to the acknowledgement of the first write sent after the client's first
    failed attempt (ATTEMPTS: a window that began healthy), or after the fault if none failed. After a
    `kill -9` of the postmaster its orphaned backends still commit for a moment: those writes are
    acknowledged after the fault, yet the outage is still to come."""
    failed = [a.end for a in attempts if not a.ok]
    since = min(failed) if failed else fault
    acks = [a.end for a in attempts if a.ok and a.start >= since and a.start >= fault]
    return min(acks) - fault if acks else None


def figures(attempts: list[Attempt], rnd: dict[str, Any], present: set[int]) -> dict[str, Any]:
    """One client's figures over one window of ROUNDS."""
    seen = window(attempts, rnd["start"], rnd["end"])
    acked = [a for a in seen if a.ok]
    errors = [a for a in seen if not a.ok]
    latencies = [(a.end - a.start) * 1000 for a in acked]
    out: dict[str, Any] = {
        "attempts": len(seen), "acknowledged": len(acked), "errors": len(errors),
        "missing": sum(a.seq not in present for a in acked),
        "error_kinds": dict(Counter(a.detail for a in errors).most_common(5)),
    }
    if "fault" in rnd:
        first = first_write_after(seen, rnd["fault"])
        out["first_write_s"] = None if first is None else round(first, 2)
        # The longest stretch without an acknowledged write, from the fault on.
        ends = sorted([rnd["fault"]] + [a.end for a in acked if a.end >= rnd["fault"]])
        out["longest_gap_s"] = round(max(b - a for a, b in zip(ends, ends[1:])), 2) if len(ends) > 1 else None
    else:
        out["p50_ms"] = round(percentile(latencies, 0.50), 2)
        out["p99_ms"] = round(percentile(latencies, 0.99), 2)
        out["writes_per_s"] = round(len(acked) / (rnd["end"] - rnd["start"]), 1)
    return out


def summarise(rounds_path: str, ledgers: dict[str, str], table_path: str) -> list[dict[str, Any]]:
    present: dict[str, set[int]] = {}
    with open(table_path) as fh:
        for line in fh:
            if line.strip():
                client, seq = line.split()
                present.setdefault(client, set()).add(int(seq))
    attempts = {c: parse_ledger(open(p).read().splitlines()) for c, p in ledgers.items()}
    out = []
    with open(rounds_path) as fh:
        for line in fh:
            rnd = json.loads(line)
            for client in sorted(attempts):
                row = {k: v for k, v in rnd.items() if k not in ("start", "end", "fault")}
                row["client"] = client
                row.update(figures(attempts[client], rnd, present.get(client, set())))
                out.append(row)
    # Acknowledged writes outside every window (between rounds) are checked too.
    for client, seen in attempts.items():
        acked = [a for a in seen if a.ok]
        out.append({"case": "total", "client": client, "acknowledged": len(acked),
                    "missing": sum(a.seq not in present.get(client, set()) for a in acked),
                    "errors": sum(not a.ok for a in seen)})
    return out


def read_environment(lines: list[str]) -> dict[str, str]:
    """systemd's EnvironmentFile= lines (KEY=value, unquoted here) as a dict."""
    return dict(line.split("=", 1) for line in lines if "=" in line and not line.startswith("#"))


def write(release: str, ledger: str, stopfile: str, url: str, envfile: str) -> None:  # pragma: no cover - on the host
    import os

    with open(envfile) as fh:
        os.environ.update(read_environment(fh.read().splitlines()))
    sys.path.insert(0, release)
    from notes import db  # the app's own connection code

    client = os.path.basename(ledger).split(".")[0]
    seq = 0
    with open(ledger, "a", buffering=1) as out:
        while not os.path.exists(stopfile):
            seq += 1
            start = time.time()
            try:
                conn = db._kept_postgresql(url)
                database = db.Database(url, "", conn)
                database.one(f"INSERT INTO {TABLE} (client, seq) VALUES (?, ?) RETURNING seq", (client, seq))
                out.write(f"ok\t{seq}\t{start:.6f}\t{time.time():.6f}\n")
            except Exception as exc:  # noqa: BLE001 - every failure is a figure
                end = time.time()
                detail = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
                out.write(f"err\t{seq}\t{start:.6f}\t{end:.6f}\t{detail[:120]}\n")
                conn = db._KEPT.get("conn")
                if conn is not None:  # as the app's discard(): the next attempt connects anew
                    db._KEPT.update(conn=None)
                    try:
                        conn.close()
                    except Exception:  # noqa: BLE001
                        pass
                time.sleep(PAUSE)


def main(argv: list[str]) -> int:
    if argv[:1] == ["write"] and len(argv) == 6:
        write(*argv[1:])
        return 0
    if argv[:1] == ["summarise"] and len(argv) >= 4:
        ledgers = dict(a.split("=", 1) for a in argv[2:-1])
        for row in summarise(argv[1], ledgers, argv[-1]):
            print(json.dumps(row))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
