"""The playbook's own promises, checked from the controller against the converged hosts.

These run once (no ``host`` fixture): they drive ansible-playbook itself.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).parents[1]))
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")) / "inventory"
RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)

pytestmark = pytest.mark.skipif(
    "MOLECULE_EPHEMERAL_DIRECTORY" not in os.environ,
    reason="drives ansible-playbook against Molecule's inventory; run through `molecule verify`",
)


def run_playbook(*args: str) -> tuple[int, str, dict[str, dict[str, int]]]:
    proc = subprocess.run(
        ["ansible-playbook", "-i", str(INVENTORY), str(SCENARIO / "converge.yml"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"},
    )
    output = proc.stdout + proc.stderr
    recap = {
        m.group(1): {"ok": int(m.group(2)), "changed": int(m.group(3)), "failed": int(m.group(5))}
        for m in RECAP.finditer(output)
    }
    return proc.returncode, output, recap


def test_check_mode_on_converged_hosts_reports_no_change() -> None:
    rc, output, recap = run_playbook("--check")
    assert rc == 0, output[-3000:]
    assert recap, output[-3000:]
    assert {host: r["changed"] for host, r in recap.items()} == {host: 0 for host in recap}


@pytest.mark.parametrize(
    ("extra_vars", "named", "allowed"),
    [
        ('{"python_app_processes": "lots"}', "python_app_processes", "cannot be converted to an int"),
        ('{"python_app_name": "../etc"}', "python_app_name", "hold only a-z, 0-9, _ and -"),
        ('{"python_app_buffer_size": 100}', "python_app_buffer_size", "4096 to 65535"),
        ('{"uwsgi_emperor_vassals_dir": "vassals"}', "uwsgi_emperor_vassals_dir", "must be absolute paths"),
        ('{"nginx_vhost_sites": [{"name": "notes"}]}', "nginx_vhost_sites", "missing required arguments: server_names"),
        (
            '{"nginx_vhost_sites": [{"name": "notes", "server_names": ["x"], "upstreams": ["http://nope"]}]}',
            "upstreams",
            "of the form unix:/path or host:port",
        ),
    ],
    ids=[
        "processes-not-int",
        "name-unsafe",
        "buffer-out-of-range",
        "vassals-dir-relative",
        "site-without-names",
        "upstream-malformed",
    ],
)
def test_bad_value_fails_before_any_host_changes_naming_the_variable(
    extra_vars: str, named: str, allowed: str
) -> None:
    rc, output, recap = run_playbook("--extra-vars", extra_vars)
    assert rc != 0, output[-3000:]
    assert named in output
    assert allowed in output
    # The run stopped in the validation play: no play that changes a host began.
    assert "PLAY [App hosts run the app" not in output
    assert "PLAY [Web hosts serve the app" not in output
    assert all(r["failed"] == 1 and r["changed"] == 0 for r in recap.values()), recap
