"""Fixtures of the release scenario (driven from the controller)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testlib.app import app_variant as copy_app
from testlib.load import Report


@pytest.fixture(scope="session")
def report() -> Report:
    return Report("releases")


@pytest.fixture(scope="session")
def app_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A copy of the bundled app with another version and, optionally, a change."""

    def make(version: str, change: Callable[[Path], None] | None = None) -> Path:
        return copy_app(tmp_path_factory.mktemp(f"app-{version}"), version, change)

    return make
