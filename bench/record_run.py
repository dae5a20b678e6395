"""One wrk run of bench/http.sh as a JSON line (stdout). Several wrk at once (a case that loads
several URLs): requests and errors add up, the slower percentile of the parts is kept. Exits
non-zero when no request completed, or on errors in a case that allows none.

usage: record_run.py NAME ROUND CONNECTIONS DURATION ERRORS_ALLOWED WRK_JSON|... CPU0 CPU1 PROBE SET
  CPU0, CPU1: bench/cpu_snapshot.py before and after; PROBE: "code seconds ..." or empty;
  SET: which of the round's sets of its group (1 outside a group with sets).
"""

from __future__ import annotations

import json
import sys


def main(name: str, rep: str, conns: str, duration: str, allow: str, raw: str,
         cpu0: str, cpu1: str, probe: str, set_: str) -> int:
    parts = [json.loads(p) for p in raw.split("|")]
    run = {k: sum(p[k] for p in parts) for k in ("requests", "bytes", "connect", "read", "write", "status", "timeout")}
    run.update({k: max(p[k] for p in parts) for k in ("duration_us", "p50_us", "p99_us")})
    run["parts_rps"] = [p["requests"] / (p["duration_us"] / 1e6) for p in parts]
    errors = sum(run[k] for k in ("connect", "read", "write", "status", "timeout"))
    if run["requests"] <= 0:
        sys.exit(f"{name}: no request completed")
    if errors and allow != "yes":
        sys.exit(f"{name}: {errors} errors (non-2xx/3xx or socket errors): {raw}")
    before, after = json.loads(cpu0), json.loads(cpu1)
    run["cpu_s"] = {k: round(after[k] - before[k], 3) for k in after}
    if probe:
        words = probe.split()
        run["probe"] = [{"code": int(c), "s": float(t)} for c, t in zip(words[::2], words[1::2])]
    run.update(case=name, rep=int(rep), set=int(set_), connections=int(conns), duration_s=int(duration),
               errors=errors, rps=sum(run["parts_rps"]))
    print(json.dumps(run))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
