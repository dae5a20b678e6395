"""The alert rules each role ships (roles/*/files/*.rules.yml), run by promtool on the unit tests
of tests/promtool (Debian's prometheus package: scripts/bootstrap installs it on the controller).
Every alert has a test that sees it fire and one where no alert of its name is expected (exp_alerts: [])."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted(ROOT.glob("roles/*/files/*.rules.yml"))
TESTS = ROOT / "tests" / "promtool"
PROMTOOL = shutil.which("promtool")



@pytest.fixture(scope="module")
def promtool() -> str:
    assert PROMTOOL, "promtool is missing: scripts/bootstrap installs it (Debian's prometheus package)"
    return PROMTOOL


def alerts(rules: Path) -> list[str]:
    return [rule["alert"] for group in yaml.safe_load(rules.read_text())["groups"]
            for rule in group["rules"] if "alert" in rule]


def unit_tests(rules: Path) -> Path:
    return TESTS / rules.name.replace(".rules.yml", ".test.yml")


def test_every_role_with_metrics_ships_rules():
    assert [p.relative_to(ROOT).as_posix() for p in RULES] == [
        "roles/nginx_vhost/files/nginx_vhost.rules.yml",
        "roles/node_exporter/files/node_exporter.rules.yml",
        "roles/postgresql_server/files/postgresql_server.rules.yml",
        "roles/python_app/files/python_app.rules.yml",
        "roles/uwsgi_emperor/files/uwsgi_emperor.rules.yml",
    ]


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_rules_pass_promtools_check(promtool, rules):
    result = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_rules_pass_their_promtool_unit_tests(promtool, rules):
    result = subprocess.run([promtool, "test", "rules", unit_tests(rules).name], cwd=TESTS,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("rules", RULES, ids=lambda p: p.name)
def test_every_alert_is_seen_firing_and_silent(rules):
    spec = yaml.safe_load(unit_tests(rules).read_text())
    assert spec["rule_files"] == [f"../../{rules.relative_to(ROOT).as_posix()}"]
    fired: set[str] = set()
    silent: set[str] = set()
    for case in spec["tests"]:
        for check in case.get("alert_rule_test", []):
            (fired if check.get("exp_alerts") else silent).add(check["alertname"])
    for name in alerts(rules):
        assert name in fired, f"{name}: no test sees it fire"
        assert name in silent, f"{name}: no test sees it stay silent"
