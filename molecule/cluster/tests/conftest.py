"""Hosts and fixtures of the cluster scenario (driven from the controller)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from testlib.app import app_variant, failing_import
from testlib.hosts import node
from testlib.load import Report

WEB = "cluster-web1"
APPS = ("cluster-app1", "cluster-app2")
SPARE = "cluster-app3"


@pytest.fixture(scope="module")
def web() -> Any:
    return node(WEB)


@pytest.fixture(scope="module")
def apps() -> tuple[Any, ...]:
    return tuple(node(name) for name in APPS)


@pytest.fixture(scope="module")
def spare() -> Any:
    return node(SPARE)


@pytest.fixture(scope="session")
def report() -> Report:
    return Report("cluster")


@pytest.fixture(scope="session")
def broken_app(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled app at version 9.9.9 with a WSGI module that cannot import."""
    return app_variant(tmp_path_factory.mktemp("app-broken"), "9.9.9", failing_import("release 9.9.9 is broken"))
