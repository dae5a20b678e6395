"""Bounded load from a host's own loopback while something happens, and a report of it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from testlib.run import PROJECT
from testlib.wait import wait_until

LOADGEN = "/usr/local/bin/flask-deploy-loadgen"


def install_loadgen(host: Any) -> str:
    source = (Path(__file__).with_name("loadgen.py")).read_text()
    result = host.run(f"cat > {LOADGEN} <<'PY'\n{source}\nPY\nchmod 0755 {LOADGEN}")
    assert result.rc == 0, result.stderr
    return LOADGEN


@contextmanager
def load(host: Any, path: str = "/api/notes", name: str = "localhost", threads: int = 4,
         scheme: str = "https", connect: str = "127.0.0.1", accept: tuple[int, ...] = (),
         post_notes: bool = False, method: str = "GET", pause: float = 0.01, alternate: float = 0.0,
         trace: bool = False, sent_before: int = 0, sent_after: int = 0) -> Iterator[dict[str, Any]]:
    """Continuous load while the block runs, to the site name at connect (the host's loopback, or
    another of its addresses), each a GET or a HEAD (method), each of the threads pausing pause
    seconds between its requests; statuses in accept count as answers, as 2xx do. The summary
    fills the dict (p50_s and p99_s among it). With post_notes every request adds a note, and the
    summary's "acks" is the host's file of the acknowledged ones (loadgen.py). With alternate, the
    clients send only in every second window of that many seconds (the summary's "windows"); with
    trace, the summary's "trace" lists every answered request's [start, seconds] (loadgen.py).

    By default the block begins 1 s after the clients are started and they stop 2 s after it: on a
    loaded host the clients may not have sent anything by then (a Python start takes seconds when
    the CPUs are busy). With sent_before, the block begins only once the clients have completed that
    many requests; with sent_after, they stop only once they completed that many more after the
    block (answered or failed: a failure is the summary's to report): the load surely spans the
    block, however slow the host. Each wait fails the test past 60 s."""
    install_loadgen(host)
    tag = f"/tmp/load-{time.monotonic_ns()}"
    started = host.run(
        f"setsid nohup {LOADGEN} --scheme {scheme} --host {name} --connect {connect} --path '{path}' "
        f"{f'--post-notes --acks {tag}.acks ' if post_notes else ''}"
        f"{''.join(f'--accept {status} ' for status in accept)}"
        f"--method {method} --threads {threads} --pause {pause} --alternate {alternate} "
        f"{f'--trace {tag}.trace ' if trace else ''}"
        f"--progress {tag}.progress --stop-file {tag}.stop --out {tag}.json --max-seconds 600 "
        f">{tag}.log 2>&1 < /dev/null &{'' if sent_before else ' sleep 1'}"
    )
    assert started.rc == 0, started.stderr

    def completed() -> int:
        """Requests the clients completed so far (0 before their first report)."""
        report = host.run(f"cat {tag}.progress 2>/dev/null")
        return int(json.loads(report.stdout)["sent"]) if report.rc == 0 and report.stdout.strip() else 0

    def load_is_flowing() -> bool:
        return completed() >= sent_before

    # The acks file fills while the load runs: a test may wait for the first notes in it.
    summary: dict[str, Any] = {"acks": f"{tag}.acks"} if post_notes else {}
    try:
        if sent_before:
            wait_until(load_is_flowing, 60)
        yield summary
        # Requests keep flowing after the action.
        if sent_after:
            target = completed() + sent_after

            def load_went_on() -> bool:
                return completed() >= target
            wait_until(load_went_on, 60)
        else:
            time.sleep(2)
    finally:
        host.run(f"touch {tag}.stop")
        wait_until(lambda: host.file(f"{tag}.json").exists, 30)
        summary.update(json.loads(host.file(f"{tag}.json").content_string))
        if trace:
            summary["trace"] = json.loads(host.file(f"{tag}.trace").content_string)
        if post_notes:
            summary["acks"] = f"{tag}.acks"


class Report:
    """A markdown table of cases under load, written to .cache/<name>-report.md."""

    def __init__(self, name: str, fresh: bool = True) -> None:
        """fresh=False adds to the table an earlier test module began (scripts/test removes it first)."""
        self.path = PROJECT / ".cache" / f"{name}-report.md"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if fresh or not self.path.exists():
            self.path.write_text(
                "| case | requests sent | failed | longest gap without a success | recovery |\n"
                "|---|---|---|---|---|\n"
            )

    def add(self, case: str, summary: dict[str, Any], recovery: str = "") -> None:
        gap = summary.get("longest_gap_without_success_s")
        with self.path.open("a") as fh:
            fh.write(f"| {case} | {summary.get('sent', '-')} | {summary.get('failed', '-')} | "
                     f"{'-' if gap is None else f'{gap:.2f} s'} | {recovery} |\n")
