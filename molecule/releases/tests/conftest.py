"""Shared values and helpers of the release scenario (driven from the controller)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

APP = "notes"
PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).parents[3]))
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).parents[1]))
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")) / "inventory"
REPORT = PROJECT / ".cache" / "releases-report.md"
RELEASES_DIR = f"/srv/{APP}/releases"
CURRENT = f"/srv/{APP}/current"
VHOST = f"/etc/nginx/sites-available/{APP}.conf"
STATS_SOCKET = f"/run/uwsgi/{APP}/stats.sock"
LOADGEN = "/usr/local/bin/release-loadgen"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=\d+\s+failed=(\d+)", re.M)

pytestmark = pytest.mark.skipif(
    "MOLECULE_EPHEMERAL_DIRECTORY" not in os.environ,
    reason="drives ansible-playbook against Molecule's inventory; run through `molecule verify -s releases`",
)


def run_playbook(playbook: Path, *args: str) -> tuple[int, str]:
    """ansible-playbook against the scenario's host; (exit code, output)."""
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(playbook), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )
    return proc.returncode, proc.stdout + proc.stderr


def deploy(src: Path, *args: str) -> tuple[int, str]:
    return run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={src}", *args)


def report(case: str, load: dict[str, Any], recovery: str = "") -> None:
    """Adds a row to the scenario's report (printed by scripts/test)."""
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    if not REPORT.exists():
        REPORT.write_text(
            "| case | requests sent | failed | longest gap without a success | recovery |\n"
            "|---|---|---|---|---|\n"
        )
    gap = load.get("longest_gap_without_success_s")
    with REPORT.open("a") as fh:
        fh.write(f"| {case} | {load.get('sent', '-')} | {load.get('failed', '-')} | "
                 f"{'-' if gap is None else f'{gap:.2f} s'} | {recovery} |\n")


@pytest.fixture(scope="session", autouse=True)
def fresh_report() -> None:
    REPORT.unlink(missing_ok=True)


@pytest.fixture(scope="module")
def scheme(host: Any) -> str:
    """https when the site serves it (HTTP then only redirects), else http."""
    return "https" if host.socket("tcp://0.0.0.0:443").is_listening else "http"


def curl(host: Any, scheme: str, path: str, *args: str) -> Any:
    quoted = " ".join(f"'{a}'" for a in args)
    return host.run(f"curl -sk --max-time 10 {quoted} {scheme}://localhost{path}")


def healthz(host: Any, scheme: str) -> dict[str, Any]:
    result = curl(host, scheme, "/healthz")
    return json.loads(result.stdout) if result.rc == 0 and result.stdout.startswith("{") else {}


def wait_until(check: Callable[[], bool], seconds: float = 60.0) -> float:
    """Seconds until check() held; fails past the limit."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not true within {seconds} s")
        time.sleep(0.2)
    return time.monotonic() - start


def vassal_stats(host: Any) -> dict[str, Any]:
    script = (
        "import json, socket; s = socket.socket(socket.AF_UNIX); "
        f"s.connect('{STATS_SOCKET}'); data = b''\n"
        "while chunk := s.recv(65536): data += chunk\n"
        "print(data.decode())"
    )
    result = host.run(f"python3 -c \"{script}\"")
    return json.loads(result.stdout) if result.rc == 0 else {}


@pytest.fixture(scope="session")
def app_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A copy of the bundled app with another version and, optionally, a change."""

    def make(version: str, change: Callable[[Path], None] | None = None) -> Path:
        dest = tmp_path_factory.mktemp(f"app-{version}")
        shutil.copytree(PROJECT / "app", dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "tests", "instance"))
        init = dest / APP / "__init__.py"
        init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text()))
        if change:
            change(dest / APP)
        return dest

    return make


@pytest.fixture(scope="module")
def loadgen(host: Any) -> str:
    source = (SCENARIO / "files" / "loadgen.py").read_text()
    result = host.run(f"cat > {LOADGEN} <<'PY'\n{source}\nPY\nchmod 0755 {LOADGEN}")
    assert result.rc == 0, result.stderr
    return LOADGEN


@contextmanager
def load(host: Any, scheme: str, loadgen: str, path: str = "/api/notes") -> Iterator[dict[str, Any]]:
    """Continuous load on the host while the block runs; the summary fills the dict."""
    tag = f"/tmp/load-{time.monotonic_ns()}"
    started = host.run(
        f"setsid nohup {loadgen} --scheme {scheme} --path {path} --stop-file {tag}.stop "
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
