"""The roles' alert rules on the Prometheus server (notes-debian13, group prometheus: Debian's
prometheus, converge.yml): site.yml writes each role's rules file where the server's rule_files
can take them, root-owned, as shipped (but for the two thresholds host_vars/notes-debian13.yml
lowers for the alert drills, test_alerts_fire.py), and the host's own promtool passes them."""

from __future__ import annotations

from pathlib import Path

import pytest
from testlib.hosts import node

PROJECT = Path(__file__).resolve().parents[3]
RULES_DIR = "/etc/prometheus/rules.d/flask-deploy"
ROLES = ["nginx_vhost", "node_exporter", "python_app", "uwsgi_emperor"]
# What host_vars/notes-debian13.yml lowers: the shipped text, and what the server has instead.
LOWERED = {
    "python_app": [("> 93600", "> 20")],  # python_app_alert_backup_max_age
    "nginx_vhost": [("[5m]", "[15s]"), ("for: 5m", "for: 5s")],  # nginx_vhost_alert_5xx_window, _for
}


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_rules_are_installed_as_shipped_and_pass_promtool(role):
    server = node("notes-debian13", sudo=True)
    installed = server.file(f"{RULES_DIR}/{role}.rules.yml")
    assert installed.user == "root" and installed.group == "root" and installed.mode == 0o644
    expected = (PROJECT / "roles" / role / "files" / f"{role}.rules.yml").read_text()
    for shipped, lowered in LOWERED.get(role, []):
        assert shipped in expected, f"{role}: no {shipped} in its rules"
        expected = expected.replace(shipped, lowered)
    assert installed.content_string == expected
    result = server.run(f"promtool check rules {RULES_DIR}/{role}.rules.yml")
    assert result.rc == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_host_outside_the_prometheus_group_gets_no_rules():
    assert not node("notes-debian12").file(RULES_DIR).exists
