"""The health gate, over SSH, on a site that answers only its real name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from testlib.app import app_variant, failing_healthz
from testlib.hosts import node
from testlib.http import http
from testlib.layout import CURRENT, RELEASES_DIR
from testlib.run import SCENARIO, run_playbook

WEB_AND_APP = "prod-both"


def release_of(app: str) -> str:
    return Path(node(app).file(CURRENT).linked_to).name


@pytest.fixture
def app_with_failing_healthz(tmp_path: Path) -> Path:
    """The bundled app at 9.0.0 whose /healthz answers 500."""
    return app_variant(tmp_path, "9.0.0", failing_healthz)


def test_first_deploy_made_a_release_that_answers_under_the_sites_name(domain) -> None:
    host = node(WEB_AND_APP, sudo=True)
    health = json.loads(http(host, "/healthz", "-H", "X-Flask-Deploy-Pin: local", name=domain).body)
    assert health["release"] == release_of(WEB_AND_APP)


def test_release_whose_healthz_fails_is_rolled_back_and_the_rolling_deploy_stops(
        app_with_failing_healthz: Path, app_names, domain) -> None:
    # -e python_app_serial=1: one app host a batch. The first batch builds the release, switches,
    # fails its health check and is rolled back; the play stops, and the second batch never starts.
    before = {app: release_of(app) for app in app_names}
    releases = {app: node(app, sudo=True).file(RELEASES_DIR).listdir() for app in app_names}
    run = run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={app_with_failing_healthz}",
                       "-e", "python_app_serial=1")
    assert run.rc != 0, run
    assert re.search(r"Release \S+-9\.0\.0-\S+ failed after the switch", run.text), run
    assert {app: release_of(app) for app in app_names} == before
    built = [app for app in app_names if node(app, sudo=True).file(RELEASES_DIR).listdir() != releases[app]]
    assert len(built) == 1, built  # the first batch only
    (first,), (later,) = built, set(app_names) - set(built)
    assert f"Rolled back to {before[first]}, which answers its health check" in run.text
    assert run.changed.get(later, 0) == 0
    assert json.loads(http(node(WEB_AND_APP, sudo=True), "/healthz", name=domain).body)["version"] != "9.0.0"
