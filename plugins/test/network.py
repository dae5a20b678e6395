"""Tests of addresses the roles write into firewall rules and listen directives (flask_deploy.stack).

One definition of "an address" for every role, from Python's ipaddress module: nft and systemd
refuse what only looks like one (999.1.1.1, 10.0.0.0/40, a scoped fe80::1%eth0), so the
validation play must too.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def ip_address(value: Any) -> bool:
    """An IPv4 or IPv6 address, without a prefix length."""
    if not isinstance(value, str) or "/" in value or "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def ip_source(value: Any) -> bool:
    """An IPv4 or IPv6 address, or a network (host bits may be set: 192.0.2.7/24 is 192.0.2.0/24)."""
    if not isinstance(value, str) or "%" in value:
        return False
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


class TestModule:
    """flask_deploy.stack tests."""

    def tests(self) -> dict[str, Any]:
        return {"ip_address": ip_address, "ip_source": ip_source}
