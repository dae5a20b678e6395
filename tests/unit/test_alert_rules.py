"""The alert rules each role ships (roles/*/files/*.rules.yml), run by promtool on the unit tests
of tests/promtool (Debian's prometheus package: scripts/bootstrap installs it on the controller).
Every alert has a test that sees it fire and one where no alert of its name is expected (exp_alerts: []).
A role whose thresholds are parameters writes its rules from templates/<role>.rules.yml.j2; its
files/<role>.rules.yml, which promtool tests, is that template with the role's defaults."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = sorted(ROOT.glob("roles/*/files/*.rules.yml"))
TESTS = ROOT / "tests" / "promtool"
PROMTOOL = shutil.which("promtool")
TEMPLATES = sorted(ROOT.glob("roles/*/templates/*.rules.yml.j2"))



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


def rendered_with_defaults(template: Path) -> str:
    """The template as the prometheus_rules entry point writes it (the template module's << >>
    delimiters, its trim_blocks) with the role's defaults; an undefined name fails."""
    role = template.parents[1]
    defaults = yaml.safe_load((role / "defaults" / "main.yml").read_text())
    env = jinja2.Environment(variable_start_string="<<", variable_end_string=">>", trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    return env.from_string(template.read_text()).render(**defaults)


def test_the_roles_with_threshold_parameters_template_their_rules():
    assert [p.relative_to(ROOT).as_posix() for p in TEMPLATES] == [
        "roles/nginx_vhost/templates/nginx_vhost.rules.yml.j2",
        "roles/python_app/templates/python_app.rules.yml.j2",
    ]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_shipped_rules_are_their_template_with_the_roles_defaults(template):
    shipped = template.parents[1] / "files" / template.name.removesuffix(".j2")
    assert rendered_with_defaults(template) == shipped.read_text(), (
        f"{shipped.relative_to(ROOT)} differs from {template.relative_to(ROOT)} with the role's defaults: edit both")
