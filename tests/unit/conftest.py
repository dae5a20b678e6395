"""Shared fixtures of the unit tests: the project's infrastructure Python, imported from its files.

Programs that the roles ship to hosts (roles/*/files/*.py) are plain scripts, some with a dash in
their name, so they are loaded from their path rather than imported as packages.

The tests that need PostgreSQL share one server for the session (tests/unit/postgresql.py), and
those of a standby one hot standby of it.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import postgresql

ROOT = Path(__file__).resolve().parents[2]
# The plugins import the collection's shared code by its full name, as Ansible loads them:
# collections/ holds the checkout as ansible_collections/flask_deploy/stack.
sys.path.insert(0, str(ROOT / "collections"))


def load(relative: str, name: str | None = None):
    """Import the Python file at ROOT/relative as a module (a fresh one on every call)."""
    path = ROOT / relative
    name = name or "unit_" + path.stem.replace("-", "_")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def load_file():
    """The loader, for tests that want a module fresh from its file."""
    return load


@pytest.fixture(scope="session")
def postgresql_cluster() -> Iterator[postgresql.Cluster]:
    """The unit tests' one PostgreSQL server (tests/unit/postgresql.py): started when a test first
    asks for it, stopped and removed at the end of the session."""
    with postgresql.started() as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgresql_standby(postgresql_cluster) -> Iterator[postgresql.Cluster]:
    """A hot standby of that server, streaming its WAL (tests/unit/postgresql.py): started when a
    test first asks for it, stopped and removed at the end of the session."""
    with postgresql.standby(postgresql_cluster) as standby:
        yield standby
