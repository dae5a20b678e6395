"""flask_deploy.stack's tests of addresses: the one definition every role's validation uses."""

from __future__ import annotations

import pytest

from conftest import load

network = load("plugins/test/network.py")


@pytest.mark.parametrize("value", ["192.0.2.1", "0.0.0.0", "127.0.0.1", "::1", "2001:db8::10", "::"])
def test_addresses_are_addresses(value: str) -> None:
    assert network.ip_address(value)


@pytest.mark.parametrize("value", ["192.0.2.0/24", "999.1.1.1", "1.2.3", "localhost", "", None, 3232235777,
                                   "2001:db8::/32", "fe80::1%eth0"])
def test_what_only_looks_like_an_address_is_not_one(value: object) -> None:
    assert not network.ip_address(value)


@pytest.mark.parametrize("value", ["192.0.2.1", "192.0.2.0/24", "192.0.2.7/24", "10.0.0.0/8", "::1",
                                   "2001:db8::/32", "0.0.0.0/0"])
def test_addresses_and_networks_are_sources(value: str) -> None:
    assert network.ip_source(value)


@pytest.mark.parametrize("value", ["10.0.0.0/40", "999.1.1.1/8", "192.0.2.0/", "example.org", "fe80::/64%eth0", "", None, ["10.0.0.1"]])
def test_what_nft_would_refuse_is_no_source(value: object) -> None:
    assert not network.ip_source(value)


def test_the_plugin_exposes_both_tests() -> None:
    assert set(network.TestModule().tests()) == {"ip_address", "ip_source"}
