"""How the default scenario's tests run: each host's tests in one xdist worker."""

from __future__ import annotations

from typing import Any

import pytest
from testlib.load import Report


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups in its own hook
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One xdist group per host (molecule runs pytest -n 3 --dist loadgroup): each host's tests
    run in one worker, in file order, as they would alone, while the two hosts are checked side
    by side. The tests that drive ansible-playbook (no host) form a group of their own: they
    change no host (check mode, or stopped in the validation play). A module that acts on a host
    without its host fixture (test_alerts_fire.py) names that host's group itself (xdist_group)."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        callspec = getattr(item, "callspec", None)
        host = callspec.params.get("_testinfra_host") if callspec else None
        name = getattr(getattr(host, "backend", None), "hostname", None) if host else None
        item.add_marker(pytest.mark.xdist_group(name or "playbook"))


@pytest.fixture(scope="module")
def report(host: Any) -> Report:
    """The host's table of faults under load (.cache/default-HOST-report.md, printed by make test)."""
    return Report(f"default-{host.backend.get_hostname()}", fresh=False)
