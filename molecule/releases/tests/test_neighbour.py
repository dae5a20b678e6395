"""A leaking app beside another: its workers are recycled at their memory ceiling, and the other
app fails no request.

counter (worker_max_rss_mb 128, cpu_nice 10 and cpu_idle in host_vars) gets a release with a
route that keeps 32 MB more with every call, called about 4 times a second in every second window
of 2 s; notes (the defaults: 512 MB, nice 0, not idle) is loaded without a break all along, and
its requests that start in the windows with the leak are compared with those that start in the
windows without, so that the machine's own noise (other jobs on the same cores) falls on both
alike. notes' p99 beside the leak and alone, and the measure's own noise (A/A: the windows
without the leak, every second one against the others), are reported (.cache/releases-report.md),
not asserted: on the busy 2-core test machine the A/A alone differed by 45 to 81 % at load 13 to
16, over the 20 % issue #32 asks to resolve (docs/apps.md, "Memory and CPU").
"""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

import pytest
from testlib.apps import COUNTER, NOTES, state
from testlib.load import load
from testlib.run import PROJECT, run_playbook
from testlib.uwsgi import vassal_stats
from testlib.wait import wait_until

CEILING_MB, NICE = 128, 10  # counter's worker_max_rss_mb and cpu_nice (host_vars); it is cpu_idle too
LEAK_MB = 32  # kept by each call of the leaking route
LEAK_PAUSE_S = 0.2  # between the leak's calls: about 4 a second, 128 MB a second kept
WINDOW_S, WINDOWS = 2, 60  # the leak's windows: every second one with its calls, 2 minutes in all
GUARD_S = 0.5  # a request of notes that starts this soon after a window began counts for neither side
LEAK_ROUTE = f'''

_kept: list[bytes] = []


@app.get("/leak")
def leak() -> Any:
    # Test route: keeps {LEAK_MB} MB more per call (written, so resident), up to 1 GB per worker.
    if len(_kept) * {LEAK_MB} < 1024:
        _kept.append(b"\\x01" * ({LEAK_MB} << 20))
    return jsonify(pid=os.getpid(), kept_mb=len(_kept) * {LEAK_MB})
'''
SAMPLER = "/tmp/flask-deploy-rss-sampler"
METRICS = "http://127.0.0.1:9117/metrics"  # the vassals' metrics (metrics_address, host_vars)


def respawns(host: Any) -> int:
    """counter's uwsgi_worker_respawns_total, as the metrics endpoint serves it."""
    metrics = host.check_output(f"curl -sS --max-time 10 {METRICS}")
    return int(float(re.search(r'^uwsgi_worker_respawns_total\{app="counter"\} (\S+)$', metrics, re.M).group(1)))


def start_rss_sampler(host: Any, master: int, out: str) -> None:
    """Every 0.2 s, the largest resident size (kB) of a worker of master, appended to out."""
    script = (
        f"while [ ! -e {out}.stop ]; do m=0; for p in $(cat /proc/{master}/task/*/children); do "
        f"while read -r k v _; do [ \"$k\" = VmRSS: ] && [ \"$v\" -gt \"$m\" ] && m=$v; done < /proc/$p/status; "
        f"done 2>/dev/null; echo $m >> {out}; sleep 0.2; done"
    )
    host.check_output(f"cat > {SAMPLER} <<'SH'\n{script}\nSH\nsetsid nohup sh {SAMPLER} > /dev/null 2>&1 < /dev/null &")


def p99_ms(latencies: list[float]) -> float:
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] * 1000


def split(trace: list[list[float]], windows: list[list[Any]]) -> tuple[list[float], list[float]]:
    """notes' latencies (seconds) of the requests that started in the windows without the leak, and
    with it, past the guard at each window's start; requests outside the windows count for neither."""
    without: list[float] = []
    beside: list[float] = []
    for start, end, leaking in windows:
        side = beside if leaking else without
        side.extend(seconds for began, seconds in trace if start + GUARD_S <= began < end)
    return without, beside


def evil_reloads(host: Any, since: str) -> int:
    """Workers the vassal's master killed past the hard ceiling since then (its journal says each)."""
    log = host.check_output(f"journalctl -u uwsgi-emperor --since '{since}' -o cat")
    return log.count("EVIL RELOAD ON WORKER")


@pytest.fixture(scope="module")
def leaking_neighbour(host, tmp_path_factory, report) -> dict[str, Any]:
    """counter's leaking release, deployed through deploy.yml, then notes loaded alone and beside it."""
    src = tmp_path_factory.mktemp("counter-leak")
    shutil.copytree(PROJECT / "molecule" / "releases" / "apps", src, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    init, wsgi = src / "counter" / "__init__.py", src / "counter" / "wsgi.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', '__version__ = "0.1.1"', init.read_text()))
    wsgi.write_text(wsgi.read_text() + LEAK_ROUTE)
    run = run_playbook(PROJECT / "playbooks" / "deploy.yml", "-e", "deploy_app=counter",
                       "-e", f"releases_counter_src={src}")
    assert run.rc == 0, run
    wait_until(lambda: "-0.1.1-" in str(state(host, COUNTER)["release"]), 60)
    master, before = vassal_stats(host, COUNTER.stats_socket)["pid"], respawns(host)
    since = host.check_output("date '+%Y-%m-%d %H:%M:%S'")
    rss = f"/tmp/rss-{time.time_ns()}"
    start_rss_sampler(host, master, rss)
    try:
        with load(host, NOTES.load_path, threads=2, trace=True) as notes:
            with load(host, "/leak", name=COUNTER.server_name, threads=1, pause=LEAK_PAUSE_S,
                      alternate=WINDOW_S) as leaked:
                time.sleep(WINDOW_S * WINDOWS)
    finally:
        host.run(f"touch {rss}.stop")
    samples = [int(line) for line in host.file(rss).content_string.split() if line.isdigit()]
    host.run(f"rm -f {rss} {rss}.stop {SAMPLER}")
    trace, windows = notes.pop("trace"), leaked["windows"]
    alone, beside = split(trace, windows)
    # The measure's own noise (A/A): notes alone against notes alone, every second window without
    # the leak against the others.
    without = [window for window in windows if not window[2]]
    aa = [p99_ms(split(trace, without[i::2])[0]) for i in (0, 1)]
    out = {
        "notes": notes, "leak": leaked, "alone": alone, "beside": beside, "aa": aa,
        "respawns": respawns(host) - before, "evil": evil_reloads(host, since),
        "max_worker_rss_mb": max(samples) / 1024, "samples": len(samples), "master_after": state(host, COUNTER)["master"],
        "master": master, "vassal": host.file(COUNTER.vassal).content_string,
    }
    load_avg = host.check_output("cut -d' ' -f1-3 /proc/loadavg")
    report.add(f"leaking neighbour: counter keeps {LEAK_MB} MB a call (ceiling {CEILING_MB} MB a worker, idle CPU "
               f"policy), notes beside it", notes,
               f"notes p99 {p99_ms(beside):.1f} ms beside ({len(beside)} requests), {p99_ms(alone):.1f} ms alone "
               f"({len(alone)}; A/A {aa[0]:.1f} against {aa[1]:.1f} ms); counter: {leaked['sent']} sent, "
               f"{leaked['failed']} failed, {out['respawns']} workers recycled ({out['evil']} of them killed past "
               f"1.5 times the ceiling), largest worker {out['max_worker_rss_mb']:.0f} MB; load {load_avg}")
    return out


def test_leaking_apps_vassal_has_its_memory_ceiling_and_lower_cpu_priority(leaking_neighbour) -> None:
    vassal = leaking_neighbour["vassal"]
    assert f"\nreload-on-rss = {CEILING_MB}\n" in vassal
    assert f"\nevil-reload-on-rss = {CEILING_MB * 3 // 2}\n" in vassal
    assert f"\nprio = {NICE}\n" in vassal
    assert "\nexec-pre-app = chrt --idle --all-tasks --pid 0 $PPID\n" in vassal


def test_leaking_apps_processes_run_at_the_idle_cpu_policy(host, leaking_neighbour) -> None:
    # The master and every worker (forked after the master set it) are SCHED_IDLE: ps says IDL.
    policies = host.check_output("ps -o cls=,args= -u counter")
    lines = [line for line in policies.splitlines() if "counter.ini" in line]
    assert len(lines) >= 2 and all(line.split()[0] == "IDL" for line in lines), policies


def test_leaking_apps_workers_are_recycled_at_their_ceiling_before_the_host_runs_short(leaking_neighbour) -> None:
    calls = leaking_neighbour["leak"]["sent"]
    assert calls > 30
    # Each worker is recycled after the call that took it past the ceiling: every few calls, and
    # mostly once its request is answered (reload-on-rss), rarely by the master's kill.
    assert leaking_neighbour["respawns"] >= calls * LEAK_MB // (CEILING_MB + LEAK_MB) // 2
    assert leaking_neighbour["evil"] < leaking_neighbour["respawns"] / 2
    assert leaking_neighbour["samples"] > 50
    # Never past the hard ceiling (1.5 times) by more than what a second of the drill's calls keeps
    # (the master checks every second): the app's memory stays bounded, far from the host's.
    assert leaking_neighbour["max_worker_rss_mb"] <= CEILING_MB * 3 // 2 + 4 * LEAK_MB
    assert leaking_neighbour["master_after"] == leaking_neighbour["master"]


def test_leaking_apps_own_requests_are_answered_as_its_workers_are_recycled(leaking_neighbour) -> None:
    # reload-on-rss replaces a worker once its request is answered: the leak's callers see nothing.
    assert leaking_neighbour["leak"]["failed"] == 0, leaking_neighbour["leak"]


def test_neighbour_of_a_leaking_app_fails_no_request(leaking_neighbour) -> None:
    notes = leaking_neighbour["notes"]
    assert len(leaking_neighbour["beside"]) > 1000 and len(leaking_neighbour["alone"]) > 1000
    assert notes["failed"] == 0, notes

