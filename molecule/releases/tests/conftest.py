"""Shared values and fixtures of the release scenario (driven from the controller)."""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from harness import PROJECT, SCENARIO, Report, install_loadgen, needs_molecule, run_playbook, site_scheme  # noqa: E402  (import after the sys.path line above, on purpose)

APP = "notes"
RELEASES_DIR = f"/srv/{APP}/releases"
CURRENT = f"/srv/{APP}/current"
VHOST = f"/etc/nginx/sites-available/{APP}.conf"
STATS_SOCKET = f"/run/uwsgi/{APP}/stats.sock"

pytestmark = needs_molecule


def deploy(src: Path, *args: str) -> tuple[int, str]:
    return run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={src}", *args)


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
def report() -> Report:
    return Report("releases")


@pytest.fixture(scope="module")
def scheme(host: Any) -> str:
    scheme = site_scheme(host)
    install_loadgen(host)
    return scheme


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
