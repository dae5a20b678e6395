"""Fixtures of the release scenario (driven from the controller)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from testlib.load import Report
from testlib.run import PROJECT


@pytest.fixture(scope="session")
def report() -> Report:
    return Report("releases")


@pytest.fixture(scope="session")
def app_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A copy of the bundled app with another version and, optionally, a change."""

    def make(version: str, change: Callable[[Path], None] | None = None) -> Path:
        dest = tmp_path_factory.mktemp(f"app-{version}")
        shutil.copytree(PROJECT / "app", dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns("__pycache__", "tests", "instance"))
        init = dest / "notes" / "__init__.py"
        init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text()))
        if change:
            change(dest / "notes")
        return dest

    return make
