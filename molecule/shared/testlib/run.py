"""Where the scenario is, and ansible-playbook against its hosts, read through the JSON callback."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", "."))
INVENTORY = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "")) / "inventory"


@dataclass
class PlaybookRun:
    """What a run of ansible-playbook did: exit code, the callback's report, and what it said."""

    rc: int
    report: dict[str, Any]
    stderr: str
    text: str = field(init=False)

    def __post_init__(self) -> None:
        # Everything the run said (task results, messages, diffs, warnings), to search in.
        self.text = json.dumps(self.report, indent=1) + "\n" + self.stderr + "\n" + "\n".join(self.messages)

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        """ok, changed, failures, unreachable... of every host."""
        return self.report.get("stats", {})

    @property
    def changed(self) -> dict[str, int]:
        return {host: stats.get("changed", 0) for host, stats in self.recap.items()}

    @property
    def plays(self) -> list[str]:
        return [play["play"]["name"] for play in self.report.get("plays", [])]

    @property
    def tasks(self) -> dict[str, int]:
        """How many tasks each host went through: every task with a result for it, skipped ones and
        includes among them (a loop counts once)."""
        counts: dict[str, int] = {}
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                for host in task.get("hosts", {}):
                    counts[host] = counts.get(host, 0) + 1
        return counts

    @property
    def messages(self) -> list[str]:
        """The msg of every failed result, as the operator reads it."""
        return [str(result.get("msg", "")) for result in self._results() if result.get("failed")]

    def _results(self) -> Iterator[dict[str, Any]]:
        for play in self.report.get("plays", []):
            for task in play.get("tasks", []):
                for result in task.get("hosts", {}).values():
                    yield result
                    yield from result.get("results", [])

    def __str__(self) -> str:  # for assertion messages
        return self.text[-4000:]


def run_playbook(playbook: Path, *args: str, inventories: tuple[Path, ...] = (),
                 env: dict[str, str] | None = None, inventory: Path = INVENTORY) -> PlaybookRun:
    """ansible-playbook against the scenario's hosts (and any extra inventories), or against
    another inventory in place of the scenario's."""
    inventory_args = [arg for inv in (inventory, *inventories) for arg in ("-i", str(inv))]
    proc = subprocess.run(
        ["ansible-playbook", *inventory_args, str(playbook), *args],
        capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json", "ANSIBLE_NOCOLOR": "1", **(env or {})},
    )
    try:
        # The callback's document first; other callbacks (the timer) may print after it.
        report, _ = json.JSONDecoder().raw_decode(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        report = {"unparsed_stdout": proc.stdout}
    return PlaybookRun(proc.returncode, report, proc.stderr)


def switch_maintenance(state: str, *args: str) -> PlaybookRun:
    """playbooks/maintenance.yml -e maintenance=state (on or off), for every web host unless args limit it."""
    return run_playbook(PROJECT / "playbooks" / "maintenance.yml", "-e", f"maintenance={state}", *args)
