"""Helpers the controller-driven scenarios share: run playbooks, load a host, wait, report.

Imported by each scenario's tests/conftest.py (which puts this directory on sys.path).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[2]))
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")) / "inventory"
LOADGEN = "/usr/local/bin/flask-deploy-loadgen"
IN_MOLECULE = "MOLECULE_EPHEMERAL_DIRECTORY" in os.environ

# Scenario tests drive ansible-playbook against Molecule's inventory.
needs_molecule = pytest.mark.skipif(not IN_MOLECULE, reason="run through `molecule verify -s <scenario>`")


def run_playbook(playbook: Path, *args: str, inventories: tuple[Path, ...] = ()) -> tuple[int, str]:
    """ansible-playbook against the scenario's hosts; (exit code, output)."""
    inventory_args = [arg for inv in (INVENTORY, *inventories) for arg in ("-i", str(inv))]
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args, str(playbook), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )
    return proc.returncode, proc.stdout + proc.stderr


RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)


def recap(output: str) -> dict[str, dict[str, int]]:
    """ok=, changed= and failed= of every host in a playbook's recap."""
    return {m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(4))}
            for m in RECAP.finditer(output)}


def changed_counts(output: str) -> dict[str, int]:
    """changed= of every host in a playbook's recap."""
    return {host: counts["changed"] for host, counts in recap(output).items()}


def wait_until(check: Callable[[], bool], seconds: float = 60.0) -> float:
    """Seconds until check() held; fails past the limit."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - start


def site_scheme(host: Any) -> str:
    """https when the site serves it (HTTP then only redirects), else http."""
    return "https" if host.socket("tcp://0.0.0.0:443").is_listening else "http"


def curl(host: Any, scheme: str, path: str, *args: str) -> Any:
    quoted = " ".join("'" + a.replace("'", "'\\''") + "'" for a in args)
    return host.run(f"curl -sk --max-time 10 {quoted} {scheme}://localhost{path}")


def healthz(host: Any, scheme: str) -> dict[str, Any]:
    result = curl(host, scheme, "/healthz")
    return json.loads(result.stdout) if result.rc == 0 and result.stdout.startswith("{") else {}


def install_loadgen(host: Any) -> str:
    source = (PROJECT / "molecule" / "shared" / "loadgen.py").read_text()
    result = host.run(f"cat > {LOADGEN} <<'PY'\n{source}\nPY\nchmod 0755 {LOADGEN}")
    assert result.rc == 0, result.stderr
    return LOADGEN


@contextmanager
def load(host: Any, scheme: str, path: str = "/api/notes", server_name: str = "localhost",
         connect: str = "", threads: int = 4) -> Iterator[dict[str, Any]]:
    """Continuous load on the host (loopback) while the block runs; the summary fills the dict.

    Requests go to server_name (Host and SNI), at connect (default: the name itself)."""
    tag = f"/tmp/load-{time.monotonic_ns()}"
    target = f"--host {server_name}" + (f" --connect {connect}" if connect else "")
    started = host.run(
        f"setsid nohup {LOADGEN} --scheme {scheme} {target} --path '{path}' --threads {threads} --stop-file {tag}.stop "
        f"--out {tag}.json --max-seconds 600 >{tag}.log 2>&1 < /dev/null & sleep 1"
    )
    assert started.rc == 0, started.stderr
    summary: dict[str, Any] = {}
    try:
        yield summary
    finally:
        time.sleep(2)  # requests keep flowing after the action
        host.run(f"touch {tag}.stop")
        wait_until(lambda: host.file(f"{tag}.json").exists, 30)
        summary.update(json.loads(host.file(f"{tag}.json").content_string))


class Report:
    """A markdown table of cases under load, written to .cache/<name>-report.md."""

    def __init__(self, name: str) -> None:
        self.path = PROJECT / ".cache" / f"{name}-report.md"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(
            "| case | requests sent | failed | longest gap without a success | recovery |\n"
            "|---|---|---|---|---|\n"
        )

    def add(self, case: str, summary: dict[str, Any], recovery: str = "") -> None:
        gap = summary.get("longest_gap_without_success_s")
        with self.path.open("a") as fh:
            fh.write(f"| {case} | {summary.get('sent', '-')} | {summary.get('failed', '-')} | "
                     f"{'-' if gap is None else f'{gap:.2f} s'} | {recovery} |\n")
