"""flask_deploy.stack's host plumbing filters: the systemd sandbox baseline and firewall sources."""

from __future__ import annotations

import pytest

from conftest import load

host = load("plugins/filter/host.py")


def directives(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines())


def test_sandbox_without_settings_is_the_whole_baseline_in_its_order() -> None:
    text = host.systemd_sandbox()
    assert text.splitlines() == [f"{k}={v}" for k, v in host.SANDBOX_BASELINE]


def test_sandbox_baseline_denies_privileges_and_writes() -> None:
    lines = directives(host.systemd_sandbox())
    assert lines["NoNewPrivileges"] == "yes"
    assert lines["ProtectSystem"] == "strict"
    assert lines["SystemCallFilter"] == "@system-service"
    assert lines["SystemCallErrorNumber"] == "EPERM"


def test_sandbox_setting_replaces_the_baselines_value_in_place() -> None:
    text = host.systemd_sandbox({"ProtectHome": "read-only"})
    keys = [line.split("=")[0] for line in text.splitlines()]
    assert directives(text)["ProtectHome"] == "read-only"
    assert keys == [k for k, _ in host.SANDBOX_BASELINE]


def test_sandbox_setting_of_none_drops_the_directive() -> None:
    lines = directives(host.systemd_sandbox({"MemoryDenyWriteExecute": None, "ProtectProc": None}))
    assert "MemoryDenyWriteExecute" not in lines and "ProtectProc" not in lines
    assert len(lines) == len(host.SANDBOX_BASELINE) - 2


def test_sandbox_adds_a_units_own_directives_after_the_baseline_in_order() -> None:
    text = host.systemd_sandbox({"UMask": "0077", "ReadWritePaths": "/srv/a /srv/b", "Extra": None})
    assert text.splitlines()[-2:] == ["UMask=0077", "ReadWritePaths=/srv/a /srv/b"]


@pytest.mark.parametrize(
    ("value", "written"),
    [(True, "yes"), (False, "no"), (["CAP_CHOWN", "CAP_KILL"], "CAP_CHOWN CAP_KILL"), ("", ""), (7, "7")],
)
def test_sandbox_writes_values_as_systemd_reads_them(value: object, written: str) -> None:
    assert directives(host.systemd_sandbox({"X": value}))["X"] == written


def test_sandbox_refuses_a_value_of_two_lines_naming_the_directive() -> None:
    with pytest.raises(host.AnsibleFilterError, match="ReadWritePaths must be one line"):
        host.systemd_sandbox({"ReadWritePaths": "/srv\nExecStart=/bin/sh"})


def test_sources_are_split_by_family_ipv4_first() -> None:
    assert host.by_family(["2001:db8::1", "192.0.2.10", "10.0.0.0/8"]) == {
        "ip": ["192.0.2.10", "10.0.0.0/8"],
        "ip6": ["2001:db8::1"],
    }


def test_sources_are_normalised_and_repeats_dropped() -> None:
    assert host.by_family(["192.0.2.7/24", "192.0.2.0/24", "2001:DB8::1", "192.0.2.9/32"]) == {
        "ip": ["192.0.2.0/24", "192.0.2.9"],
        "ip6": ["2001:db8::1"],
    }


def test_no_sources_gives_no_family() -> None:
    assert host.by_family([]) == {}


@pytest.mark.parametrize("bad", ["999.1.1.1", "10.0.0.0/40", "example.org", "", None])
def test_a_source_that_is_no_address_is_refused_naming_it(bad: object) -> None:
    with pytest.raises(host.AnsibleFilterError, match="is not an IPv4 or IPv6 address or network"):
        host.by_family([bad])


def test_the_plugin_exposes_both_filters() -> None:
    assert set(host.FilterModule().filters()) == {"by_family", "systemd_sandbox"}
