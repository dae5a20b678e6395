"""The health gate, over SSH, on a site that answers only its real name."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from testlib.app import app_variant, failing_healthz
from testlib.hosts import node
from testlib.http import http
from testlib.layout import CURRENT
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


def test_release_whose_healthz_fails_is_rolled_back_and_the_play_names_it(
        app_with_failing_healthz: Path, app_names, domain) -> None:
    before = {app: release_of(app) for app in app_names}
    run = run_playbook(SCENARIO / "converge.yml", "-e", f"python_app_src_dir={app_with_failing_healthz}")
    assert run.rc != 0, run
    assert re.search(r"Release \S+-9\.0\.0-\S+ failed after the switch", run.text), run
    for app in app_names:
        assert f"Rolled back to {before[app]}, which answers its health check" in run.text
    assert {app: release_of(app) for app in app_names} == before
    assert json.loads(http(node(WEB_AND_APP, sudo=True), "/healthz", name=domain).body)["version"] != "9.0.0"
