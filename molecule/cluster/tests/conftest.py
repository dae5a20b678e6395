"""Hosts and fixtures of the cluster scenario (driven from the controller)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from harness import INVENTORY, PROJECT, Report, install_loadgen, needs_molecule, site_scheme  # noqa: E402  (import after the sys.path line above, on purpose)

WEB = "cluster-web1"
APPS = ("cluster-app1", "cluster-app2")
SPARE = "cluster-app3"
UWSGI_PORT = 3031

pytestmark = needs_molecule


def node(name: str) -> Any:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def address(host: Any) -> str:
    return host.run("hostname -I").stdout.split()[0]


def answering_hosts(web: Any, scheme: str, requests: int = 40) -> set[str]:
    """Hostnames the app reports in /healthz for requests through the web host."""
    result = web.run(
        f"for i in $(seq {requests}); do curl -sk --max-time 10 {scheme}://localhost/healthz; echo; done"
    )
    return {line.split('"hostname":"')[1].split('"')[0] for line in result.stdout.splitlines() if '"hostname"' in line}


def connects(client: Any, target: str, port: int) -> bool:
    script = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(('{target}', {port}), timeout=5).close()\n"
        "except OSError as exc:\n"
        "    sys.exit(f'{type(exc).__name__}')\n"
    )
    return client.run(f"python3 -c \"{script}\"").rc == 0


@pytest.fixture(scope="module")
def web() -> Any:
    return node(WEB)


@pytest.fixture(scope="module")
def apps() -> tuple[Any, ...]:
    return tuple(node(name) for name in APPS)


@pytest.fixture(scope="module")
def spare() -> Any:
    return node(SPARE)


@pytest.fixture(scope="module")
def scheme(web: Any) -> str:
    install_loadgen(web)
    return site_scheme(web)


@pytest.fixture(scope="session")
def report() -> Report:
    return Report("cluster")


@pytest.fixture(scope="session")
def broken_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled app at version 9.9.9 with a WSGI module that cannot import."""
    dest = tmp_path_factory.mktemp("app-broken")
    shutil.copytree(PROJECT / "app", dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "tests", "instance"))
    (dest / "notes" / "wsgi.py").write_text("raise RuntimeError('release 9.9.9 is broken')\n")
    return dest
