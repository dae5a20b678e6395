"""CPU seconds a bench host has spent so far, read on the controller (no exec into the host):
the host's whole cgroup, and the processes alive now, summed by program (nginx, uwsgi).
Processes that have exited (a finished wrk) count in the total only, so a run's
total - nginx - uwsgi is its load client and the host's housekeeping.

usage: cpu_snapshot.py CONTAINER_ID   -> {"total": s, "nginx": s, "uwsgi": s}
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

HZ = os.sysconf("SC_CLK_TCK")


def cgroup_dir(cid: str) -> Path:
    for root in (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/cpu,cpuacct"), Path("/sys/fs/cgroup")):
        for base in (root / "docker" / cid, root / "system.slice" / f"docker-{cid}.scope"):
            if base.is_dir():
                return base
    raise SystemExit(f"cpu_snapshot: no cgroup found for container {cid}")


def total_seconds(cg: Path) -> float:
    if (cg / "cpuacct.usage").exists():  # cgroup v1: nanoseconds
        return int((cg / "cpuacct.usage").read_text()) / 1e9
    stat = dict(line.split() for line in (cg / "cpu.stat").read_text().splitlines())
    return int(stat["usage_usec"]) / 1e6


def by_program(cg: Path) -> dict[str, float]:
    out = {"nginx": 0.0, "uwsgi": 0.0}
    pids = {p for f in cg.rglob("cgroup.procs") for p in f.read_text().split()}
    for pid in pids:
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # exited meanwhile
            continue
        group = "nginx" if comm.startswith("nginx") else "uwsgi" if comm.startswith("uwsgi") else None
        if group:
            out[group] += (int(fields[11]) + int(fields[12])) / HZ  # utime + stime
    return out


def main(cid: str) -> int:
    cg = cgroup_dir(cid)
    print(json.dumps({"total": total_seconds(cg), **by_program(cg)}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
