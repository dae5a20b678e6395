"""Turn the raw runs of one `make bench` into bench/results.md and bench/results.png.

Inputs (bench/tmp): meta.json, http.jsonl (one wrk run per line), provision.json, and when
present database.jsonl, cluster.jsonl, code-deploy.jsonl and failover-routing.jsonl.
Every ratio compares medians of runs taken in the same session on the same host with the
same wrk settings. Exits non-zero when a figure is missing.
"""

from __future__ import annotations

import json
import math
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

MAIN = {
    "nginx-static": "1. nginx `return 200`, HTTPS (ceiling of the HTTP tier)",
    "stack": "2. **the stack, shipped defaults**: HTTPS :443, nginx -> unix socket -> uWSGI vassal -> Flask",
    "stack-healthz": "2b. the stack on `/healthz` instead (the app's full check: SQLite `SELECT 1`)",
    "stack-http": "2c. the stack's server over **plain HTTP** (a copy of the site's server without TLS, port 8085)",
    "uwsgi-alone": "3. uWSGI alone, **plain HTTP** `--http11-socket` on 127.0.0.1 (same ini, app, venv, uid, processes)",
    "gunicorn": "4. HTTPS, nginx -> unix socket -> Gunicorn, sync workers = 2 x cores",
    "file-nginx": "5a. `/static/style.css` served by nginx (the stack's vhost, HTTPS)",
    "file-flask": "5b. the same file, HTTPS, through uWSGI and Flask's static view",
}
VARIANTS = {
    "var-processes-1-per-core": "vassal `processes` = 1 per core (default: 2 per core)",
    "var-processes-4-per-core": "vassal `processes` = 4 per core",
    "var-threads-2": "vassal 1 process per core x `threads = 2`",
    "var-thunder-lock": "vassal `thunder-lock = true`",
    "var-uwsgi-request-log": "vassal logs every request (`disable-logging = false`)",
    "var-nginx-access-log-off": "nginx `access_log off` for the app",
    "var-nginx-1-worker": "nginx `worker_processes 1` (default: auto = 1 per core)",
    "var-nginx-unbuffered": "nginx `uwsgi_buffering off` (the app's response passed on as it comes)",
}
OPS = [  # (label, with the features on, the server before them)
    ("`/livez` (16-byte JSON: below the compression threshold)", "ops-livez", "before-ops-livez"),
    ("`/` (the HTML page: compressed, and the app reads the notes)", "ops-page", "before-ops-page"),
]
OPS_TARGET = 0.95
HOP = {  # where the CPU goes, per request
    "uwsgi-alone": "3. uWSGI alone, plain HTTP",
    "stack-http": "2c. the stack, plain HTTP",
    "stack": "2. the stack, HTTPS (shipped)",
    "var-nginx-unbuffered": "the stack, HTTPS, `uwsgi_buffering off`",
    "nginx-static": "1. nginx `return 200`, HTTPS",
}
SWEEP_SATURATED = 0.95  # the stack saturates where req/s reaches this share of the sweep's best
APPS = {
    "apps2-one-loaded": "two-app host, `notes` loaded alone (`second` idle)",
    "apps2-both-loaded": "two-app host, both loaded at once (half the connections each; req/s summed)",
}
STRESS = {
    "stress-stack": "shipped vassal (`listen = 1024`, `python_app_listen_backlog`)",
    "stress-listen-100": "vassal `listen = 100` (uWSGI's default, the previous shipped value)",
}
HOP_TARGET = 0.90  # like for like, in every round (#16; it was 0.85)
# Re-run / fresh converge, on each connection (#16). #16's target of 0.08 s per task is retired (#33): Ansible's
# own floor per task (connections_section) is above it on both connections, so a whole-site run is bounded by its
# task count; the lever is fewer tasks on the common path (playbooks/deploy.yml, code_deploy_section).
RERUN_TARGET = 0.25
TARGETS = [  # (label, numerator, denominator, comparison, target)
    ("stack / nginx-static", "stack", "nginx-static", ">=", 0.10),
    ("stack / Gunicorn", "stack", "gunicorn", ">=", 1.3),
    ("stack / uWSGI alone, like for like: both plain HTTP (2c / 3)", "stack-http", "uwsgi-alone", ">=", HOP_TARGET),
    ("stack as shipped, HTTPS / uWSGI alone, plain HTTP (2 / 3: TLS included)", "stack", "uwsgi-alone",
     ">=", 0.85),
]
NOISE = 0.10  # a variant within +-10 % of the default is not a reason to change it


@dataclass(frozen=True)
class Case:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    connections: int
    runs: list[float]
    by_rep: dict[tuple[int, int], float]  # (round, set): req/s
    parts: list[list[float]]  # req/s of each URL of a case that loads several at once, per run
    raw: list[dict[str, Any]]  # the runs as bench/record_run.py wrote them


def median_case(name: str, runs: list[dict[str, Any]]) -> Case:
    return Case(
        name=name,
        rps=statistics.median(r["rps"] for r in runs),
        p50_ms=statistics.median(r["p50_us"] for r in runs) / 1000,
        p99_ms=statistics.median(r["p99_us"] for r in runs) / 1000,
        errors=sum(r["errors"] for r in runs),
        requests=sum(r["requests"] for r in runs),
        connections=runs[0]["connections"],
        runs=[r["rps"] for r in runs],
        by_rep={(r["rep"], r.get("set", 1)): r["rps"] for r in runs},
        parts=[r.get("parts_rps", [r["rps"]]) for r in runs],
        raw=runs,
    )


def paired_by_round(num: Case, den: Case) -> dict[int, list[float]]:
    """Ratio of two cases within each round, or within each set of a round for a group with sets
    (minutes apart at most; one right after the other when they are of one group in
    bench/http.sh): {round: [ratio, ...]}."""
    out: dict[int, list[float]] = {}
    for k in sorted(num.by_rep):
        if k in den.by_rep:
            out.setdefault(k[0], []).append(num.by_rep[k] / den.by_rep[k])
    return out


def paired(num: Case, den: Case) -> list[float]:
    """Every paired ratio of two cases, round after round."""
    return [r for rounds in paired_by_round(num, den).values() for r in rounds]


def ratio_interval(ratios: list[float]) -> tuple[float, float, float]:
    """The geometric mean of paired ratios and its 95 % confidence interval (Student's t on the
    logs of the ratios; the t quantile by its Cornish-Fisher expansion, within 0.001 of the table
    from 10 pairs on). Fewer than 10 pairs: no interval (infinite)."""
    logs, n = [math.log(r) for r in ratios], len(ratios)
    mean = statistics.fmean(logs)
    if n < 10:
        return math.exp(mean), float("-inf"), float("inf")
    z, df = 1.959964, n - 1
    t = z + (z ** 3 + z) / (4 * df) + (5 * z ** 5 + 16 * z ** 3 + 3 * z) / (96 * df ** 2)
    half = t * statistics.stdev(logs) / math.sqrt(n)
    return math.exp(mean), math.exp(mean - half), math.exp(mean + half)


def load_cases(path: Path) -> dict[str, Case]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for line in path.read_text().splitlines():
        run = json.loads(line)
        grouped.setdefault(run["case"], []).append(run)
    return {name: median_case(name, runs) for name, runs in grouped.items()}


def met(value: float, op: str, target: float) -> str:
    ok = value >= target if op == ">=" else value <= target
    return "met" if ok else "**not met**"


def row(label: str, c: Case) -> str:
    runs = ", ".join(f"{r:,.0f}" for r in c.runs)
    return (f"| {label} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {c.errors} "
            f"| {runs} |")


def verdict(ratio: float, rounds: list[float]) -> str:
    """Beyond noise only when the median and every round agree."""
    if ratio >= 1 + NOISE:
        if all(r >= 1 + NOISE for r in rounds):
            return "faster than the default in every round"
        return "faster by the median, not in every round (inconclusive)"
    if ratio <= 1 - NOISE:
        if all(r <= 1 - NOISE for r in rounds):
            return "slower than the default in every round"
        return "slower by the median, not in every round (inconclusive)"
    return f"within +-{NOISE:.0%} of the default (noise)"


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ops_section(cases: dict[str, Case]) -> str:
    out = ["## Day-to-day features on, beside the stack without them\n",
           "The stack as shipped now (`:443`) against a copy of its server as it was before the "
           "day-to-day features (`bench/nginx_servers.py` `before_ops`, port 8098): no request ID "
           "(no `X-Request-ID` header or uwsgi_param), nginx's `combined` log instead of the JSON "
           "lines, no maintenance check (the `-f` of the flag file on every request), no compression "
           "(`gzip off`, `brotli off`), no versioned static location; the same vassal behind both. "
           "Both are loaded with `Accept-Encoding: br, gzip`. While the shipped stack is loaded, "
           "its two metrics endpoints (nginx's exporter on :9113, the vassals' reader on :9117) "
           "are scraped every second (15 times Prometheus' default rate) by one long-running "
           "client, as Prometheus is (`bench/scrape.py`), each scrape checked.\n",
           "| route | features | req/s | p50 ms | p99 ms | bytes per response | errors |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for label, on, off in OPS:
        for which, name in (("on, scraped", on), ("before them", off)):
            c = cases[name]
            size = med([r["bytes"] / r["requests"] for r in c.raw if "bytes" in r])
            out.append(f"| {label} | {which} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} "
                       f"| {size:,.0f} | {c.errors} |")
    pairs = {on: paired(cases[on], cases[off]) for _, on, off in OPS}
    n_pairs = min(len(p) for p in pairs.values())
    sets = max(r.get("set", 1) for r in cases[OPS[0][1]].raw)
    seconds = cases[OPS[0][1]].raw[0]["duration_s"]
    out += ["", f"Each round runs the cases of a route {sets} times, one right after the other "
            f"({seconds} s each), in a new order each time: {n_pairs} pairs per route. On this machine "
            "one run is often 10-15 % from the next on the same server, even seconds apart (the same "
            "request costs the host that much more or less CPU from one run to the next), so a 5 % "
            "target needs many pairs: the ratio is the geometric mean of the paired ratios, with its "
            "95 % confidence interval (Student's t on their logarithms).\n",
            "| ratio (req/s) | geometric mean of the paired ratios | 95 % interval | target | | median per round |",
            "|---|---:|---|---:|---|---|"]
    for label, on, off in OPS:
        value, low, high = ratio_interval(pairs[on])
        rounds = ", ".join(f"{med(r):.3f}" for r in paired_by_round(cases[on], cases[off]).values())
        interval = f"{low:.3f}-{high:.3f}" if math.isfinite(low) else "too few pairs"
        verdict_ = met(value, ">=", OPS_TARGET)
        if math.isfinite(low):
            verdict_ += (" (the whole interval)" if low >= OPS_TARGET else
                         " (the whole interval below)" if high < OPS_TARGET else " (the interval straddles it)")
        out.append(f"| features on / before them, {label} | {value:.3f} | {interval} "
                   f"| >= {OPS_TARGET} | {verdict_} | {rounds} |")
    out.append("\nBytes per response include the response's headers (the request ID and `Vary` add "
               "some); on the page, a smaller figure with the features on is the compression at work.\n")
    unc = cases.get("ops-page-uncompressed")
    if unc is not None:
        on, off = cases["ops-page"], cases["before-ops-page"]
        runs = {"on": on, "unc": unc, "off": off}
        nginx = {n: med([r["cpu_s"]["nginx"] / r["requests"] * 1e6 for r in c.raw]) for n, c in runs.items()}
        size = {n: med([r["bytes"] / r["requests"] for r in c.raw]) for n, c in runs.items()}
        unc_pairs = paired(unc, off)
        rounds = ", ".join(f"{med(r):.3f}" for r in paired_by_round(unc, off).values())
        out += ["**What compression costs.** The same rounds also load a copy of the shipped server "
                "with `gzip off` and `brotli off` and every other feature on (port 8100, scraped "
                "likewise), on the page:\n",
                "| page | req/s | p50 ms | p99 ms | bytes per response | nginx CPU us/request |",
                "|---|---:|---:|---:|---:|---:|",
                *(f"| {label} | {runs[n].rps:,.0f} | {runs[n].p50_ms:.1f} | {runs[n].p99_ms:.1f} "
                  f"| {size[n]:,.0f} | {nginx[n]:.0f} |"
                  for n, label in (("on", "features on, scraped"),
                                   ("unc", "features on but compression, scraped"), ("off", "before them"))),
                "",
                f"Features on but compression / before them, the page: **{ratio_interval(unc_pairs)[0]:.3f}** "
                f"(geometric mean of the paired ratios; median per round: {rounds}). Compressing the page costs nginx "
                f"{nginx['on'] - nginx['unc']:.0f} us of CPU per response (medians), the other "
                f"features {nginx['unc'] - nginx['off']:.0f} us.\n"]
    return "\n".join(out)


def overload_section(meta: dict[str, Any], cases: dict[str, Case]) -> str:
    sweep = sorted((c.connections, c) for n, c in cases.items() if n.startswith("sweep-c"))
    out = ["## Saturation and overload\n"]
    if not sweep:
        return "\n".join(out + ["No saturation sweep in this run (BENCH_CASES).\n"])
    best = max(c.rps for _, c in sweep)
    sat = next(n for n, c in sweep if c.rps >= SWEEP_SATURATED * best)
    out += [f"The stack (`/livez`, HTTPS) under a growing number of connections, "
            f"{sweep[0][1].raw[0]['duration_s']} s per run, two rounds (rising, then falling). "
            f"It saturates (req/s within {1 - SWEEP_SATURATED:.0%} of the best) at **{sat} connections**.\n",
            "| connections | req/s | p50 ms | p99 ms | errors | req/s per round |", "|---:|---:|---:|---:|---:|---|"]
    for n, c in sweep:
        out.append(f"| {n} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {c.errors} "
                   f"| {', '.join(f'{r:,.0f}' for r in c.runs)} |")
    st, s = cases["stress-stack"], cases["stack"]
    kinds = {k: sum(r[k] for r in st.raw) for k in ("connect", "read", "write", "status", "timeout")}
    probes = [r["probe"] for r in st.raw if r.get("probe")]
    first = [p[0]["s"] for p in probes]
    codes = sorted({q["code"] for p in probes for q in p})
    factor = st.connections / sat
    out += ["", f"**Overload:** {st.connections} connections, {factor:.0f}x the saturation point "
            f"({'at least' if factor >= 4 else '**less than**'} the 4x asked for), {meta['reps']} runs "
            f"of {meta['duration']} s in the rounds above (`stress-stack`). Requests: {st.requests:,}; errors: "
            + ", ".join(f"{k} {v}" for k, v in kinds.items())
            + f" (`status` counts every answer other than 2xx/3xx: a 502, 503 or 429 would be there). "
            f"p50 {st.p50_ms:.0f} ms, p99 {st.p99_ms:.0f} ms (medians of the runs; worst run's p99 "
            f"{max(r['p99_us'] for r in st.raw) / 1000:.0f} ms). At the bench's usual {s.connections} "
            f"connections: p50 {s.p50_ms:.1f} ms, p99 {s.p99_ms:.1f} ms.\n"]
    if probes:
        out.append(f"**Recovery:** as soon as each overload run ended, five requests in a row on one new "
                   f"connection: status {', '.join(map(str, codes))}; the first one (TLS handshake "
                   f"included) took {med(first) * 1000:.0f} ms (median), {max(first) * 1000:.0f} ms at worst; "
                   f"all five together {max(sum(q['s'] for q in p) for p in probes) * 1000:.0f} ms at worst "
                   "(timed from when curl starts, right after wrk has exited). Target: normal service (200s) within "
                   "1 s of the load ending: "
                   + ("met" if codes == [200] and max(sum(q["s"] for q in p) for p in probes) <= 1.0 else "**not met**")
                   + ".\n")
    return "\n".join(out)


def hop_section(meta: dict[str, Any], cases: dict[str, Case]) -> str:
    cores = meta["cores"]
    out = ["## Where the nginx hop's time goes: CPU per request\n",
           "Every run also reads the bench host's CPU time (its cgroup, on the controller: "
           "`bench/cpu_snapshot.py`), and the CPU of its nginx and uWSGI processes (from /proc). "
           "wrk runs in the same host, so *rest* is mostly the load client. With the cores busy, req/s is "
           "cores / CPU per request: a case that spends more CPU per request serves fewer.\n",
           "| case | req/s | busy (of all cores) | CPU us/request | nginx | uWSGI | rest (wrk, host) |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    per: dict[str, float] = {}
    for name, label in HOP.items():
        c = cases.get(name)
        if c is None or not all("cpu_s" in r for r in c.raw):
            continue
        us = {k: max(0.0, med([r["cpu_s"][k] / r["requests"] * 1e6 for r in c.raw])) for k in ("total", "nginx", "uwsgi")}
        busy = med([r["cpu_s"]["total"] / (r["duration_us"] / 1e6 * cores) for r in c.raw])
        per[name] = us["total"]
        out.append(f"| {label} | {c.rps:,.0f} | {busy:.0%} | {us['total']:.0f} | {us['nginx']:.0f} "
                   f"| {us['uwsgi']:.0f} | {us['total'] - us['nginx'] - us['uwsgi']:.0f} |")
    if "uwsgi-alone" in per and "stack-http" in per:
        floor = per["uwsgi-alone"] / per["stack-http"]
        measured = cases["stack-http"].rps / cases["uwsgi-alone"].rps
        rounds = paired(cases["stack-http"], cases["uwsgi-alone"])
        out.append(f"\nCPU per request, uWSGI alone / the stack over plain HTTP: **{floor:.3f}**, the req/s ratio "
                   f"{cores} saturated cores allow; measured req/s ratio (2c / 3): {measured:.3f} "
                   f"(per round: {', '.join(f'{r:.2f}' for r in rounds)}). Target (like for like, every round): "
                   f">= {HOP_TARGET}: {met(min(rounds), '>=', HOP_TARGET)}.\n")
    return "\n".join(out)


def connections_section(prov: dict[str, Any], conn: dict[str, Any]) -> str:
    docker_rerun = prov["idempotent_1_mitogen_mean"]
    if "ssh_fresh" not in conn:
        return "(No per-connection figures: bench/connections.sh output from before they were taken.)\n"
    rows = [("docker (test hosts)", prov["converge_1"], docker_rerun, prov["tasks_idempotent_1"],
             prov.get("controller_cpu", {}).get("idempotent_1")),
            ("SSH, sudo user (production path)", conn["ssh_fresh"]["wall_s"], conn["ssh"]["median_wall_s"],
             conn["ssh"]["runs"][0]["tasks"], conn["ssh"]["median_controller_cpu_s"])]
    out = ["### Per task, on each connection\n",
           "The idempotent re-run (changed=0) of one converged host, with the shipped Mitogen strategy. "
           f"docker: the figures above. SSH: a host with sshd and a `deploy` sudo user (as the production "
           f"scenario prepares its hosts), converged once over SSH, then re-run {len(conn['ssh']['runs'])} "
           "times alternating with the docker connection to the same host (`bench/connections.sh`; "
           f"there the docker re-run took {conn['docker']['median_wall_s']:.1f} s, median).\n",
           f"| connection | fresh converge, s | re-run, s | re-run / fresh (target <= {RERUN_TARGET}) | tasks "
           "| s per task | controller CPU of one re-run, s |",
           "|---|---:|---:|---:|---:|---:|---:|"]
    for label, fresh, rerun, tasks, ctl in rows:
        out.append(f"| {label} | {fresh:.1f} | {rerun:.1f} | {rerun / fresh:.3f} {met(rerun / fresh, '<=', RERUN_TARGET)} "
                   f"| {tasks} | {rerun / tasks:.3f} "
                   f"| {'' if ctl is None else f'{ctl:.1f}'} |")
    if "docker-floor" in conn:
        n = conn["docker-floor"]["runs"][0]["tasks"]
        out += ["", f"**Ansible's own floor.** In the same rounds, on the same host, a playbook of {n} trivial "
                "tasks, as many as the re-run ran (`ansible.builtin.stat` of one file, with become, as site.yml's "
                "tasks run), on each connection: what a task costs before it does any work. Both figures are "
                "wall time over tasks, `ansible-playbook`'s start-up included in each.\n",
                "| connection | floor, s per task | controller CPU per task, s | site.yml re-run, s per task "
                "(same rounds) | re-run / floor, per task |", "|---|---:|---:|---:|---:|"]
        for c in ("docker", "ssh"):
            f = conn[f"{c}-floor"]
            out.append(f"| {c} | {f['s_per_task']:.3f} | {f['median_controller_cpu_s'] / n:.3f} "
                       f"| {conn[c]['s_per_task']:.3f} | {conn[c]['over_floor']:.2f} |")
    out.append(f"\nSSH / docker, same host, re-run: {conn['ssh_over_docker']:.2f}.\n")
    return "\n".join(out)


def database_section(path: Path) -> str:
    """SQLite on one host beside PostgreSQL on a host of its own (bench/database.sh)."""
    if not path.is_file():
        return ""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = next((r for r in runs if r["case"] == "meta"), {})
    by_case: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["case"] != "meta":
            by_case.setdefault(run["case"], []).append(run)
    if not by_case:
        return ""
    first = next(iter(by_case.values()))[0]
    out = ["## The notes API on SQLite and on PostgreSQL\n",
           f"`bench/database.sh`: the same app on two bookworm hosts, each in both tiers: one keeps its notes in "
           f"SQLite, the other in PostgreSQL 15 on a third host (TCP, TLS with the server's certificate "
           f"verified, one kept connection per worker, as the production inventory deploys it). wrk inside each app host, "
           f"`-c{first['connections']} -d{first['duration']}s`, {len({r['round'] for r in runs if 'round' in r})} "
           f"rounds, the four cases in a new order each round; medians"
           + (f" (run on {meta['date']})" if meta.get("date") else "") + ". A POST adds a note; a page is "
           f"`GET /api/notes?limit=50`. PostgreSQL's connections are the most the app held at once during "
           f"the run ({meta.get('processes', '?')} uWSGI workers on the app host).\n",
           "| case | req/s | p50 ms | p99 ms | PostgreSQL connections (most) |", "|---|---|---|---|---|"]
    for name in ("sqlite-post", "postgresql-post", "sqlite-page", "postgresql-page"):
        cs = by_case.get(name)
        if not cs:
            continue
        peaks = [c["db_connections_peak"] for c in cs if c.get("db_connections_peak") is not None]
        out.append(f"| {name} | {med([c['rps'] for c in cs]):,.0f} | {med([c['p50_ms'] for c in cs]):.1f} | "
                   f"{med([c['p99_ms'] for c in cs]):.1f} | {max(peaks) if peaks else '-'} |")
    for kind in ("post", "page"):
        sq, pg = by_case.get(f"sqlite-{kind}"), by_case.get(f"postgresql-{kind}")
        if sq and pg:
            out.append(f"\nPostgreSQL / SQLite, {kind}: **{med([c['rps'] for c in pg]) / med([c['rps'] for c in sq]):.2f}** "
                       f"of the requests per second.")
    return "\n".join(out) + "\n"


def code_deploy_section(path: Path) -> str:
    """Commit to healthy for a one-line code change, deploy.yml beside site.yml (bench/code-deploy.sh)."""
    if not path.is_file():
        return ""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = next((r for r in runs if r["case"] == "meta"), {})
    runs = [r for r in runs if r["case"] != "meta"]
    if not runs:
        return ""
    labels = {"deploy": "`playbooks/deploy.yml`", "deploy-serial1": "`playbooks/deploy.yml -e python_app_serial=1`",
              "site": "`site.yml`", "site-serial1": "`site.yml -e python_app_serial=1`"}
    # Each deploy.yml case beside the site.yml case of the same batches (all at once, or serial 1).
    beside = {"deploy": "site", "deploy-serial1": "site-serial1", "site": "site", "site-serial1": "site-serial1"}
    out = ["## Commit to healthy: a one-line code change, deploy.yml beside site.yml\n",
           "`bench/code-deploy.sh`: hosts converged by `site.yml` first (bookworm, both tiers, each independent); "
           "each round changes one line of the app's page template and runs each case in a new order, every case "
           "a new release that must answer `/healthz` on every host when the playbook ends (its health gate), "
           f"checked again after it; medians of {len({r['round'] for r in runs})} round(s)"
           + (f", run on {meta['date']} on {meta['cores']} cores (load {meta['load_end']} at the end; every host "
              "and whatever else ran shared them)" if meta.get("date") else "") + ". Targets (#33): `deploy.yml` "
           "within 0.25 of `site.yml` on the same change, and within 20 s for one host. On several hosts each "
           "`deploy.yml` case is set beside `site.yml` in the same batches (all at once, or one host at a time).\n",
           "| hosts | playbook | wall, s | controller CPU, s | tasks per host | wall / site.yml | controller CPU / site.yml |",
           "|---:|---|---:|---:|---:|---:|---:|"]
    for hosts in sorted({r["hosts"] for r in runs}):
        med = {c: {k: statistics.median(r[k] for r in runs if r["hosts"] == hosts and r["case"] == c)
                   for k in ("wall_s", "controller_cpu_s", "tasks_per_host")}
               for c in labels if any(r["hosts"] == hosts and r["case"] == c for r in runs)}
        for case, m in med.items():
            site = med.get(beside[case])
            ratio = f"{m['wall_s'] / site['wall_s']:.2f}" if site else "-"
            cpu_ratio = f"{m['controller_cpu_s'] / site['controller_cpu_s']:.2f}" if site else "-"
            out.append(f"| {hosts} | {labels[case]} | {m['wall_s']:.1f} | {m['controller_cpu_s']:.1f} "
                       f"| {m['tasks_per_host']:.0f} | {ratio} | {cpu_ratio} |")
    return "\n".join(out) + "\n"


def cluster_section(path: Path) -> str:
    """Writes on a cluster of three, synchronous and asynchronous, beside a single database host
    (bench/cluster.sh)."""
    if not path.is_file():
        return ""
    runs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = next((r for r in runs if r["case"] == "meta"), {})
    by_case: dict[str, list[dict[str, Any]]] = {}
    for run in runs:
        if run["case"] != "meta":
            by_case.setdefault(run["case"], []).append(run)
    if not by_case:
        return ""
    first = next(iter(by_case.values()))[0]
    when = f" (run on {meta['date']}, {meta.get('processes', '?')} uWSGI workers per app host)" if meta.get("date") else ""
    if meta.get("load_start"):
        when += (f". The machine's load average (1, 5, 15 min) was {meta['load_start']} as the rounds began and "
                 f"{meta['load_end']} as they ended, on {meta.get('cores', '?')} cores: every host here, and "
                 f"whatever else ran, shared them, so the figures are relative to each other, not capacities")
    labels = {
        "cluster-sync": "cluster of three, **synchronous** (shipped: a commit waits for a standby)",
        "cluster-async": "the same cluster, asynchronous (`synchronous_mode: false`)",
        "single": "a single database host",
    }
    out = ["## Writes on a cluster: synchronous, asynchronous, a single database host\n",
           f"`bench/cluster.sh`: `POST /api/notes` (a note each) from a bookworm app host (both tiers) on three "
           f"trixie database hosts converged by `site.yml` as a cluster (PostgreSQL 17 under Patroni, etcd), "
           f"switched between synchronous and asynchronous commits through Patroni's REST API "
           f"(`PATCH /config`, each run starting once the leader's `synchronous_standby_names` says so), "
           f"beside a second app host on one trixie database host. wrk inside each app host, "
           f"`-c{first['connections']} -d{first['duration']}s`, {len({r['round'] for r in runs if 'round' in r})} "
           f"rounds, the three cases in a new order each round; medians"
           + when + ".\n",
           "Every host shares the one machine: the round trip from the leader to its standby is a docker "
           "bridge's (well under a millisecond), so what synchronous commits cost between real hosts, one "
           "network round trip per commit, barely shows here; and the cluster's three database hosts run "
           "Patroni and etcd on the same cores the app host needs, which the single host's pair does not.\n",
           "| case | req/s | p50 ms | p99 ms | req/s per round | p99 ms per round |", "|---|---:|---:|---:|---|---|"]
    for name, label in labels.items():
        cs = by_case.get(name)
        if not cs:
            continue
        cs = sorted(cs, key=lambda c: c["round"])
        rps = ", ".join(f"{c['rps']:,.0f}" for c in cs)
        p99 = ", ".join(f"{c['p99_ms']:.1f}" for c in cs)
        out.append(f"| {label} | {med([c['rps'] for c in cs]):,.0f} | {med([c['p50_ms'] for c in cs]):.1f} | "
                   f"{med([c['p99_ms'] for c in cs]):.1f} | {rps} | {p99} |")
    sync, asyn, single = (by_case.get(n) for n in labels)
    for num, den, label in ((sync, asyn, "Synchronous / asynchronous"),
                            (sync, single, "Synchronous cluster / single database host"),
                            (asyn, single, "Asynchronous cluster / single database host")):
        if not (num and den):
            continue
        rounds = {c["round"]: c["rps"] for c in den}
        per = [c["rps"] / rounds[c["round"]] for c in sorted(num, key=lambda c: c["round"]) if c["round"] in rounds]
        agree = (f"every round agrees within +-{NOISE:.0%} or beyond it on the same side" if
                 all(r >= 1 - NOISE for r in per) or all(r <= 1 + NOISE for r in per) else
                 f"**the rounds disagree**: {sum(r < 1 - NOISE for r in per)} of {len(per)} below -{NOISE:.0%}, "
                 f"{sum(r > 1 + NOISE for r in per)} above +{NOISE:.0%}")
        out.append(f"\n{label}: **{med([c['rps'] for c in num]) / med([c['rps'] for c in den]):.2f}** of the requests "
                   f"per second (medians; per round: {', '.join(f'{r:.2f}' for r in per)}: {agree}); p99 "
                   f"{med([c['p99_ms'] for c in num]):.1f} ms against {med([c['p99_ms'] for c in den]):.1f} ms.")
    return "\n".join(out) + "\n"


def seconds(values: list[float | None]) -> str:
    """Seconds per round, one decimal; a round without the figure as -."""
    return ", ".join("-" if v is None else f"{v:.1f}" for v in values)


def failover_section(path: Path) -> str:
    """How an app host finds the new primary: the libpq multi-host URL beside HAProxy on Patroni's REST
    API, both writing through the same faults (bench/failover-routing.sh)."""
    if not path.is_file():
        return ""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = next((r for r in rows if r["case"] == "meta"), {})
    labels = {"multihost": "libpq multi-host URL, `target_session_attrs=read-write` (shipped)",
              "haproxy": "HAProxy on the app host, `GET /primary` checks"}
    faults = {"kill-postmaster": "`kill -9` of the leader's postmaster (Patroni restarts it)",
              "host-killed": "the leader's host killed (`docker kill`)",
              "partition": "the leader cut off from the other members (nftables), the app host still reaching it"}
    when = ""
    if meta.get("date"):
        when = (f" Run on {meta['date']}, HAProxy {meta.get('haproxy', '?')}; load average {meta.get('load_start', '?')} "
                f"as it began and {meta.get('load_end', '?')} as it ended, on {meta.get('cores', '?')} cores.")
    out = ["## Finding the new primary: libpq multi-host URL or HAProxy\n",
           "`bench/failover-routing.sh`: a bookworm app host on three trixie database hosts converged by `site.yml` "
           "as a cluster. Two writers at once on the app host, each a loop of `INSERT`s through the app's own "
           "connection code (`notes.db`: its kept, checked connection, 2 s connect timeout, statement watchdog): "
           "one with the app's URL, one through HAProxy on 127.0.0.1 (mode tcp: PostgreSQL's TLS passes through, "
           "`sslmode=verify-full`; one server per member, `GET /primary` on Patroni's REST API every 1 s, fall 2, "
           "rise 2, `on-marked-down shutdown-sessions`). Both go through the same faults; every acknowledged "
           "write is compared with the table afterwards." + when + "\n",
           "| path | write p50 ms | write p99 ms | writes/s (both at once) |", "|---|---:|---:|---:|"]
    for client, label in labels.items():
        for r in rows:
            if r["case"] == "steady" and r["client"] == client:
                out.append(f"| {label} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['writes_per_s']:.0f} |")
    out += ["", "| fault | path | first write after the fault, s, per round | median | longest gap s, per round "
            "| errors | acknowledged | missing |", "|---|---|---|---:|---|---:|---:|---:|"]
    for fault, flabel in faults.items():
        for client, label in labels.items():
            rs = sorted((r for r in rows if r["case"] == fault and r["client"] == client), key=lambda r: r["round"])
            if not rs:
                continue
            firsts = [r["first_write_s"] for r in rs]
            gaps = [r["longest_gap_s"] for r in rs]
            known = [f for f in firsts if f is not None]
            out.append(f"| {flabel} | {label} | {seconds(firsts)} | {med(known):.1f} | {seconds(gaps)} "
                       f"| {sum(r['errors'] for r in rs)} | {sum(r['acknowledged'] for r in rs):,} "
                       f"| {sum(r['missing'] for r in rs)} |")
    out.append("\nErrors are failed attempts, each writer trying again 20 ms after one: how many depends on how "
               "fast a path fails, not on what a user sees (while no primary answers, every write fails on either "
               "path). Through HAProxy an attempt fails at once once no server is up; libpq waits up to its 2 s "
               "connect timeout on a member that is gone before it tries the next.")
    totals = [r for r in rows if r["case"] == "total"]
    if totals:
        out.append("\nOver the whole run (between rounds too): " + "; ".join(
            f"{r['client']}: {r['acknowledged']:,} acknowledged, {r['missing']} missing, {r['errors']} errors"
            for r in totals) + ".")
    return "\n".join(out) + "\n"


def ansible_forks() -> int:
    """forks in the project's ansible.cfg (what a run uses)."""
    import configparser
    cfg = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=("#", ";"))
    cfg.read(Path(__file__).resolve().parents[1] / "ansible.cfg")
    return cfg.getint("defaults", "forks", fallback=5)


def controller_section(meta: dict[str, Any], prov: dict[str, Any]) -> str:
    k = prov.get("controller_cpu")
    if not k:
        return ""
    xs = [1, 2, 4]
    ys = [k[f"converge_{n}"] for n in xs]
    mx, my = sum(xs) / 3, sum(ys) / 3
    slope = sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)
    fixed = my - slope * mx
    out = ["### The controller's own CPU\n",
           "CPU seconds of `ansible-playbook` and every process it started (forks, Mitogen's "
           "processes, the docker clients), apart from the hosts' own work.\n",
           "| run | hosts | controller CPU, s | per host, s | wall, s |", "|---|---:|---:|---:|---:|"]
    for n, y in zip(xs, ys):
        out.append(f"| fresh converge | {n} | {y:.1f} | {y / n:.1f} | {prov[f'converge_{n}']:.1f} |")
    out.append(f"| idempotent re-run, Mitogen | 1 | {k['idempotent_1']:.1f} | {k['idempotent_1']:.1f} "
               f"| {prov['idempotent_1']:.1f} |")
    if "idempotent_4" in k:
        out.append(f"| idempotent re-run, Mitogen | 4 | {k['idempotent_4']:.1f} | {k['idempotent_4'] / 4:.1f} "
                   f"| {prov['idempotent_4']:.1f} |")
    if "idempotent_1_linear" in k:
        out.append(f"| idempotent re-run, `linear` | 1 | {k['idempotent_1_linear']:.1f} "
                   f"| {k['idempotent_1_linear']:.1f} | {prov['idempotent_1_linear']:.1f} |")
    forks = ansible_forks()
    hosts, batches = 100, -(-100 // forks)
    fresh_cpu = fixed + hosts * slope
    out.append(f"\nA least-squares line through the fresh converges: **{fixed:.1f} s once + {slope:.1f} s per "
               "host**.")
    if "idempotent_4" in k:
        # The line through the two re-runs (1 and 4 hosts): what each further host adds.
        r_slope = (k["idempotent_4"] - k["idempotent_1"]) / 3
        r_fixed = k["idempotent_1"] - r_slope
        rerun_cpu = r_fixed + hosts * r_slope
        out.append(f"The changed=0 re-run (Mitogen): **{r_fixed:.1f} s once + {r_slope:.1f} s per host** (the line "
                   f"through 1 and 4 hosts); per host, {k['idempotent_1'] / k['converge_1']:.2f} of a fresh "
                   f"converge's controller CPU on 1 host and {k['idempotent_4'] / k['converge_4']:.2f} on 4.\n")
    else:
        rerun_cpu = hosts * k["idempotent_1"]
        out.append(f"A re-run costs the controller {k['idempotent_1']:.1f} s for one host (its fixed part "
                   "included, so 100 times it is an upper bound).\n")
    out += [f"**Projection for {hosts} hosts** with the shipped `forks = {forks}`, assuming every host has "
            "cores of its own (here the hosts shared the controller's, so the 1-host wall time is the host's own "
            "work plus the round trips, if anything more than a host with its own cores takes). Two limits: "
            f"the controller's CPU for {hosts} hosts over its cores, a floor no run goes below; and the round "
            f"trips: each task reaches the hosts {forks} at a time, so about {batches} times the 1-host wall time "
            "(an estimate). The projection is the larger of the two.\n",
            "| run | controller CPU, s | batches x 1-host wall, s | CPU / 2 cores, s | CPU / 8 cores, s | projected wall, 2 cores | 8 cores |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for label, cpu, wall1 in (("fresh deploy", fresh_cpu, prov["converge_1"]),
                              ("re-run, changed=0", rerun_cpu, prov["idempotent_1"])):
        lat = batches * wall1
        out.append(f"| {label} | {cpu:,.0f} | {lat:,.0f} | {cpu / 2:,.0f} | {cpu / 8:,.0f} "
                   f"| {max(lat, cpu / 2) / 60:.0f} min | {max(lat, cpu / 8) / 60:.0f} min |")
    out.append("")
    return "\n".join(out)


def render(meta: dict[str, Any], cases: dict[str, Case], prov: dict[str, Any],
           conn: dict[str, Any]) -> str:
    s = cases["stack"]
    out: list[str] = []
    add = out.append
    add("# Benchmark results\n")
    add(f"Generated by `make bench` (scripts/bench) on {meta['date']}: **{meta['cores']} CPU cores** "
        f"({meta['cpu_model']}), kernel {meta['kernel']}, bench host Debian {meta['release']} "
        f"with {meta['host_versions']}. Measured tree: commit {meta.get('commit', 'unknown')}"
        + (f" plus {meta['dirty_files']} uncommitted file(s) under roles/, playbooks/, inventory/, "
           "app/ or site.yml" if meta.get("dirty_files") else "") + ".\n")
    if meta.get("note"):
        add(f"**Note on this run:** {meta['note']}\n")
    if meta["other_containers"]:
        add(f"**Shared machine:** {len(meta['other_containers'])} other container(s) were running "
            f"when the run started ({', '.join(meta['other_containers'])}), and the load average "
            f"was {meta['load_start']} at the start, {meta['load_end']} at the end: treat absolute "
            "figures as noisy; the ratios are side by side within one session.\n")
    else:
        add(f"No other container was running when the run started (load average "
            f"{meta['load_start']} at the start, {meta['load_end']} at the end).\n")
    add(f"Load: `wrk -t{meta['threads']} -c{meta['connections']} -d{meta['duration']}s --timeout 5s`, "
        f"run inside the bench host against 127.0.0.1 only, {meta['reps']} rounds; each round runs "
        "every case once, in a new order each round (Python's `random`, seeded by the round), so "
        "drift on the machine and a busy neighbour hit all cases alike; the cases a ratio compares "
        "side by side (uWSGI alone and the stack over plain HTTP; the features on and before them, "
        "per route) run one right after the other, in an order that changes too. Figures are the "
        "median of the rounds (of every run, for a case that runs several times a round: the "
        "day-to-day features' cases, below); p50/p99 are the medians of each run's percentiles. "
        "wrk runs on the "
        "same cores as the servers it loads.\n")
    add("## HTTP\n")
    add("Cases 1-4 load the same trivial route, `/livez`: nginx answers case 1 itself with the "
        "bytes the app's view returns (`{\"status\":\"ok\"}`, JSON); cases 2-4 run that view, which "
        "checks nothing. Case 2b is the stack on `/healthz`, the check the deploy gates on (it also "
        "runs a SQLite `SELECT 1`), to show what one query costs. Case 5 compares one static file "
        "(`style.css`, 648 bytes) served by nginx with the same file served by Flask.\n")
    add("**Protocol.** The stack is measured as shipped: HTTPS on 443 (port 80 only redirects), "
        "wrk connecting to `https://localhost:443/...` so SNI and Host are `localhost`, a name of the "
        "site's self-signed certificate (`localhost` resolves to 127.0.0.1 only in the bench host). "
        "Every other case that goes through nginx (1, 4, 5, the variants) is a copy of the deployed "
        "site's HTTPS server (`bench/nginx_servers.py`: same `listen ... ssl http2` parameters, "
        "certificate and key from `/etc/nginx/tls`, the `ssl_*` settings of nginx.conf, security "
        "headers, rate-limit zone with loopback exempt, timeouts) on its own loopback port with one "
        "thing changed, so those ratios compare TLS with TLS. wrk speaks HTTP/1.1 (no ALPN), "
        "keeps its connections open, so the handshake is paid once per connection and the cost "
        "measured is mostly record encryption. **uWSGI alone (case 3) is plain HTTP**, as the "
        "issue asks (`--http-socket`): it answers \"do I need nginx?\". So the stack is compared "
        "with it twice: like for like, over plain HTTP (case 2c: the site's server with its TLS "
        "lines removed, everything else as shipped; the price of the nginx hop), and as shipped, "
        "HTTPS against plain HTTP (the price of the hop and of TLS, which uWSGI alone would not "
        "be paying).\n")
    add("| case | req/s | p50 ms | p99 ms | errors (all runs) | req/s per run |")
    add("|---|---:|---:|---:|---:|---|")
    for name, label in MAIN.items():
        add(row(label, cases[name]))
    add("")
    add("### Ratios against the targets\n")
    add("| ratio (req/s, medians) | measured | target | | same ratio within each round |")
    add("|---|---:|---:|---|---|")
    for label, num, den, op, target in TARGETS:
        value = cases[num].rps / cases[den].rps
        rounds = ", ".join(f"{r:.3f}" for r in paired(cases[num], cases[den]))
        add(f"| {label} | {value:.3f} | {op} {target} | {met(value, op, target)} | {rounds} |")
    fr = cases["file-flask"].rps / cases["file-nginx"].rps
    rounds = ", ".join(f"{r:.3f}" for r in paired(cases["file-flask"], cases["file-nginx"]))
    add(f"| static file: Flask / nginx | {fr:.3f} | (none) | | {rounds} |")
    add("")
    add("Notes: errors count socket errors, timeouts and non-2xx/3xx responses; every case above "
        "must have 0 or the run fails. uWSGI alone uses `http11-socket` (the `http-socket` parser "
        "with keep-alive): with plain `--http-socket` uWSGI closes the connection after every "
        "response and wrk counts each close as a read error. Gunicorn runs "
        f"{meta['gunicorn']} with `--workers {meta['processes']}`: 2 x CPU cores, Flask's "
        "deployment docs' starting point (Gunicorn's own docs say 2 x cores + 1), the same "
        "count as the vassal's processes. Loopback is exempt from the site's rate limit "
        "(`nginx_vhost_rate_limit_exempt`), so no case here meets a 429. The stack and the variant "
        "vassals run under the emperor's sandboxed unit (`ProtectSystem=strict`, `PrivateTmp`, ...); "
        "uWSGI alone and Gunicorn are started by hand with `systemd-run` outside it, with the same "
        "code, virtualenv and environment read from the deployed vassal ini "
        "(`/srv/notes/current` -> the release).\n")
    add("## Two apps on one host, beside one app\n")
    add("A second bench host runs two apps under one emperor and one nginx (`bench/two-apps.yml`: "
        "the bundled app as `notes` and again as `second`, each with its own user, vassal with "
        f"{meta['processes']} processes, socket and HTTPS site), converged by `site.yml` like the "
        "first. It is loaded in the same rounds as the one-app host, which is idle meanwhile (and "
        f"the other way round). With both loaded, each app gets {meta['threads'] // 2} wrk thread(s) "
        f"and {meta['connections'] // 2} connections, half of the one-app case's, so the client load "
        "is the same; requests are summed and p50/p99 are the slower app's.\n")
    add("| case | req/s | p50 ms | p99 ms | errors | ratio to the one-app stack (2) | per round |")
    add("|---|---:|---:|---:|---:|---:|---|")
    add(f"| one-app host (case 2, above) | {s.rps:,.0f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} | {s.errors} | 1.000 | |")
    for name, label in APPS.items():
        c = cases[name]
        add(f"| {label} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {c.errors} | {c.rps / s.rps:.3f} "
            f"| {', '.join(f'{r:.2f}' for r in paired(c, s))} |")
    both = cases["apps2-both-loaded"]
    shares = [p[0] / sum(p) for p in both.parts if len(p) == 2]
    notes: list[str] = []
    if shares:
        notes.append(f"With both loaded, `notes` served {min(shares):.0%}-{max(shares):.0%} of the requests "
                     "(per run), `second` the rest.")
    rss = meta.get("apps_rss_kib_processes", {})
    if rss:
        notes.append("Memory on the two-app host after the rounds (RSS summed over each app user's "
                     "processes, shared pages counted in every process): "
                     + "; ".join(f"`{u}` {kib / 1024:.0f} MiB in {n} processes" for u, (kib, n) in rss.items())
                     + ".")
    add("\n" + " ".join(notes) + "\n")
    add("## Tuning the defaults: variants side by side with the shipped stack\n")
    add("Each variant is a copy of the deployed vassal ini (or nginx.conf) with one setting changed, "
        "running next to the shipped one in the same host and loaded in the same rounds. "
        "Ratio = variant req/s / shipped stack req/s (medians); per round = the same ratio within "
        "each round. A verdict beyond noise needs the median and every round to agree.\n")
    add("| variant | req/s | p50 ms | p99 ms | errors | ratio to stack | per round | verdict |")
    add("|---|---:|---:|---:|---:|---:|---|---|")
    for name, label in VARIANTS.items():
        c = cases[name]
        ratio = c.rps / s.rps
        rounds = paired(c, s)
        add(f"| {label} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {c.errors} "
            f"| {ratio:.3f} | {', '.join(f'{r:.2f}' for r in rounds)} | {verdict(ratio, rounds)} |")
    add("")
    st = cases["stress-stack"]
    add(f"### Listen backlog under {st.connections} connections\n")
    add(f"somaxconn in the bench host: {meta['somaxconn']}. With more connections than the vassal's "
        "backlog, nginx's `connect()` to the unix socket fails at once (EAGAIN) and the client gets "
        "a 502: errors are the figure here.\n")
    add("| vassal | req/s (incl. errors) | p50 ms | p99 ms | errors | requests | error share |")
    add("|---|---:|---:|---:|---:|---:|---:|")
    for name, label in STRESS.items():
        c = cases[name]
        add(f"| {label} | {c.rps:,.0f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | {c.errors} "
            f"| {c.requests} | {c.errors / c.requests:.1%} |")
    add("")
    add("The vassal's backlog default is now `listen = 1024` (`python_app_listen_backlog`, applied "
        "from the previous run's recommendation), so the shipped stack is the 1024 case and the "
        "variant is uWSGI's default of 100.\n")
    add(ops_section(cases))
    add(overload_section(meta, cases))
    add(hop_section(meta, cases))
    add("## Provisioning\n")
    c1, c2 = prov["converge_1"], prov["converge_2"]
    mol = not prov.get("molecule_skipped")
    ph = prov["molecule_phases"] if mol else {}
    cpu = prov.get("cpu", {})
    add("Wall time of `ansible-playbook site.yml` from the controller (ansible.cfg: forks 20, "
        "pipelining for every connection, Mitogen's `mitogen_linear` strategy) on fresh bare Debian 12 containers, every host in both "
        "tiers and independent of the others, as in the default scenario (its nginx serves its own "
        "app over the unix socket; no uwsgi port opens), so N hosts do N times the work of one and "
        "N / 1 measures how the playbook scales out. The controller's caches are warm (wheelhouse "
        "and packed release: the HTTP host was converged first). Container boot is not counted. "
        "`site.yml` runs the validation play (gathering facts for every host) first, then makes sure "
        "every host has python3-apt, then runs the web tier and the app tier.\n")
    add("**Machine CPU** is the CPU time the whole machine spent busy during the run (controller, "
        f"dockerd and every test host: they all share its {meta['cores']} cores), from /proc/stat. "
        "On real machines each host brings its own cores; here N hosts queue for the same ones, "
        "so wall time cannot fall below machine CPU / cores.\n")
    add("| figure | seconds | machine CPU, s | CPU / (wall x cores) |")
    add("|---|---:|---:|---:|")
    for label, key in (("fresh converge, 1 host", "converge_1"),
                       ("idempotent re-run, 1 host (changed=0, checked)", "idempotent_1"),
                       ("the same re-run, Mitogen (shipped), mean of 2 runs alternating with linear",
                        "idempotent_1_mitogen_mean"),
                       ("the same re-run with Ansible's `linear` strategy, mean of 2 runs",
                        "idempotent_1_linear"),
                       ("fresh converge, 2 hosts", "converge_2"),
                       ("fresh converge, 4 hosts", "converge_4")):
        if key not in prov:  # a figure older runs did not take
            continue
        if key in cpu:
            add(f"| {label} | {prov[key]:.1f} | {cpu[key]:.1f} | "
                f"{cpu[key] / (prov[key] * meta['cores']):.0%} |")
        else:
            add(f"| {label} | {prov[key]:.1f} | | |")
    if mol:
        add(f"| `molecule test -s default` (whole sequence, {prov['molecule_hosts']} hosts: "
            f"Debian 12 and 13) | {prov['molecule_total']:.1f} | | |")
    else:
        add("| `molecule test -s default` | not run (BENCH_SKIP_MOLECULE=1) | | |")
    for phase, secs in ph.items():
        both = " (both: first and last step)" if phase == "destroy" else ""
        add(f"| - molecule phase `{phase}`{both} | {secs:.1f} | | |")
    add("")
    if "tasks_converge_1" in prov:
        add(f"Tasks: a fresh converge of one host runs {prov['tasks_converge_1']}, the re-run "
            f"{prov['tasks_idempotent_1']} (ok + skipped in the recap).")
    if "idempotent_1_linear" in prov:
        n, mit, lin = prov["tasks_idempotent_1"], prov["idempotent_1_mitogen_mean"], prov["idempotent_1_linear"]
        add(f"The re-run: {mit / n:.3f} s per task with Mitogen (shipped), {lin / n:.3f} s with `linear`; "
            f"Mitogen / linear: {mit / lin:.2f} (means of the alternating runs). Machine CPU is the last linear run's.")
    add("\nTargets (#16): the re-run within 0.25 of a fresh converge, on each connection. Its target of 0.08 s per "
        "task is retired (#33): Ansible's own floor per task (below) is above it on both connections, so a whole-site "
        "run is bounded by how many tasks it runs; the common path runs fewer (`deploy.yml`, the last section). The "
        "earlier targets on 4 hosts / 1 host wall time (<= 1.4) and on molecule time over its "
        "converge and idempotence (<= 1.5) are dropped by #16: on one machine whose cores the hosts share, "
        "wall time for N hosts measures the machine, not the playbook (the controller's own CPU, below, "
        "replaces it), and the Molecule phases are kept to show where a scenario's minutes go.\n")
    add(connections_section(prov, conn))
    add(f"\n(converge 2 hosts / 1 host: {c2 / c1:.3f}.) The default Molecule scenario converges two "
        "hosts (Debian 12 and 13), so its converge phase is not the 1-host figure above.\n")
    if "converge_1" in cpu and "converge_4" in cpu:
        add(f"Machine CPU, 4 hosts / 1 host: {cpu['converge_4'] / cpu['converge_1']:.2f}; the wall-time "
            f"floor that CPU sets for 4 hosts on {meta['cores']} cores, over the 1-host wall time: "
            f"{cpu['converge_4'] / meta['cores'] / c1:.2f}.\n")
    add(controller_section(meta, prov))
    add("![chart](results.png)\n")
    return "\n".join(out)


def chart(cases: dict[str, Case], prov: dict[str, Any], path: Path, cores: int) -> None:
    fig, (a, b, c) = plt.subplots(1, 3, figsize=(17, 5.2))
    names = list(MAIN)
    a.bar(names, [cases[n].rps for n in names],
          color=["#999", "#2a7", "#7c9", "#7c9", "#48c", "#c84", "#999", "#2a7"])
    a.set_yscale("log")
    a.set_ylabel("req/s (median, log scale)")
    a.set_title(f"HTTP, same host, {cores} cores (2c, 3: plain HTTP, others HTTPS)")
    a.tick_params(axis="x", rotation=30)
    for i, n in enumerate(names):
        a.annotate(f"{cases[n].rps:,.0f}", (i, cases[n].rps), ha="center", va="bottom", fontsize=8)
    var = list(VARIANTS)
    ratios = [cases[n].rps / cases["stack"].rps for n in var]
    b.barh([n.removeprefix("var-") for n in var], ratios,
           color=["#2a7" if r >= 1 + NOISE else "#c44" if r <= 1 - NOISE else "#999" for r in ratios])
    b.axvline(1.0, color="black", lw=1)
    for x in (1 - NOISE, 1 + NOISE):
        b.axvline(x, color="black", lw=0.5, ls=":")
    b.set_xlabel("req/s ratio to the shipped stack")
    b.set_title("Variants of the defaults")
    labels = ["converge\n1 host", "re-run\n1 host", "converge\n2 hosts", "converge\n4 hosts"]
    secs = [prov["converge_1"], prov["idempotent_1"], prov["converge_2"], prov["converge_4"]]
    if not prov.get("molecule_skipped"):
        labels.append("molecule test\n(2 hosts)")
        secs.append(prov["molecule_total"])
    c.bar(labels, secs, color="#48c")
    c.tick_params(axis="x", labelsize=8)
    for i, v in enumerate(secs):
        c.annotate(f"{v:.0f} s", (i, v), ha="center", va="bottom", fontsize=8)
    c.set_ylabel("wall time, s")
    c.set_title("Provisioning")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def main(tmp: Path, dest: Path) -> int:
    meta = json.loads((tmp / "meta.json").read_text())
    cases = load_cases(tmp / "http.jsonl")
    prov = json.loads((tmp / "provision.json").read_text())
    conn = json.loads((tmp / "connections.json").read_text())
    missing = [n for n in [*MAIN, *VARIANTS, *APPS, *STRESS, *(x for _, *pair in OPS for x in pair),
                           "ops-page-uncompressed"]
               if n not in cases]
    if missing:
        print(f"report: no runs for {', '.join(missing)}", file=sys.stderr)
        return 1
    (dest / "results.md").write_text(render(meta, cases, prov, conn) + "\n" + database_section(tmp / "database.jsonl")
                                     + "\n" + cluster_section(tmp / "cluster.jsonl")
                                     + "\n" + code_deploy_section(tmp / "code-deploy.jsonl")
                                     + "\n" + failover_section(tmp / "failover-routing.jsonl"))
    chart(cases, prov, dest / "results.png", int(meta["cores"]))
    print(f"report: wrote {dest / 'results.md'} and {dest / 'results.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
