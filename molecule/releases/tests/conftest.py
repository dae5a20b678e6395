"""Fixtures of the release scenario (driven from the controller)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from testlib.app import app_variant as copy_app
from testlib.load import Report

# The modules in the order the host lives through them. The browser's deploy of a restyled
# release comes before test_collection, which re-runs the site from the built collection with
# that release's code and must find nothing to change; the restyled release then serves on into
# test_releases, whose first deploy starts from whatever serves. test_logs comes first, while no
# log has been rotated.
ORDER = ("test_logs.py", "test_apps.py", "test_browser.py", "test_collection.py", "test_releases.py",
         "test_neighbour.py", "test_removal.py", "test_vassal.py", "test_patches.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: ORDER.index(item.path.name))  # stable: each module keeps its order


@pytest.fixture(scope="session")
def report() -> Report:
    return Report("releases")


@pytest.fixture(scope="session")
def app_variant(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """A copy of the bundled app with another version and, optionally, a change."""

    def make(version: str, change: Callable[[Path], None] | None = None) -> Path:
        return copy_app(tmp_path_factory.mktemp(f"app-{version}"), version, change)

    return make


ACCENT, NEW_ACCENT = "#0969da", "#8250df"  # app/notes/static/style.css: --accent, the colour of h1


@pytest.fixture(scope="session")
def restyled_app(app_variant: Callable[..., Path]) -> Path:
    """Release 1.5.1 of notes, whose stylesheet gives h1 another colour."""

    def restyle(package: Path) -> None:
        css = package / "static" / "style.css"
        assert f"--accent: {ACCENT};" in css.read_text()
        css.write_text(css.read_text().replace(f"--accent: {ACCENT};", f"--accent: {NEW_ACCENT};"))

    return app_variant("1.5.1", restyle)
