"""A scenario's other hosts, reached as Molecule's inventory says (docker, or SSH with sudo)."""

from __future__ import annotations

from typing import Any

import testinfra

from testlib.run import INVENTORY


def node(name: str, sudo: bool = False) -> Any:
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}", sudo=sudo)


def address(host: Any) -> str:
    """The host's first address on its network (not loopback)."""
    return host.check_output("hostname -I").split()[0]
