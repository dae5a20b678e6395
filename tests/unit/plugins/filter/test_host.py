"""flask_deploy.stack's host plumbing filters: the systemd sandbox baseline, firewall sources, pg_hba rules,
certificate names and URL hosts."""

from __future__ import annotations

import re
import sys

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


DATABASES = [{"name": "blog", "user": "blog_owner", "password": "secret"}, {"name": "shop", "user": "shop"}]


def test_hba_rules_let_each_databases_user_into_its_database_from_each_source_over_tls() -> None:
    rule = {"contype": "hostssl", "method": "scram-sha-256"}
    assert host.hba_rules(DATABASES, ["10.0.0.11/32", "10.0.0.0/8"]) == [
        {**rule, "databases": "blog", "users": "blog_owner", "address": "10.0.0.11/32"},
        {**rule, "databases": "blog", "users": "blog_owner", "address": "10.0.0.0/8"},
        {**rule, "databases": "shop", "users": "shop", "address": "10.0.0.11/32"},
        {**rule, "databases": "shop", "users": "shop", "address": "10.0.0.0/8"},
    ]


@pytest.mark.parametrize(("source", "address"), [
    ("10.0.0.5", "10.0.0.5/32"),
    ("2001:db8::1", "2001:db8::1/128"),
    ("2001:DB8::1", "2001:db8::1/128"),
    ("10.0.0.0/8", "10.0.0.0/8"),
    ("192.0.2.7/24", "192.0.2.0/24"),
    ("2001:db8::/32", "2001:db8::/32"),
])
def test_hba_rules_write_each_source_as_a_network_with_its_prefix_length(source: str, address: str) -> None:
    [rule] = host.hba_rules(DATABASES[:1], [source])
    assert rule["address"] == address


def test_hba_rules_never_carry_the_databases_password() -> None:
    assert all("secret" not in rule.values() for rule in host.hba_rules(DATABASES, ["10.0.0.5"]))


def test_hba_rules_without_databases_or_without_sources_are_none() -> None:
    assert host.hba_rules([], ["10.0.0.5"]) == []
    assert host.hba_rules(DATABASES, []) == []


@pytest.mark.parametrize("bad", ["999.1.1.1", "10.0.0.0/40", "example.org", "", None])
def test_hba_rules_refuse_a_source_that_is_no_address_naming_it(bad: object) -> None:
    with pytest.raises(host.AnsibleFilterError, match=re.escape(f"hba_rules: {bad!r} is not an IPv4 or IPv6 address")):
        host.hba_rules(DATABASES, ["10.0.0.5", bad])


@pytest.mark.parametrize(("name", "alt_name"), [
    ("192.0.2.10", "IP:192.0.2.10"),
    ("2001:db8::1", "IP:2001:db8::1"),
    ("2001:DB8:0::1", "IP:2001:db8::1"),
    ("db1.example.org", "DNS:db1.example.org"),
    ("db1", "DNS:db1"),
    ("192.0.2.0/24", "DNS:192.0.2.0/24"),
])
def test_san_is_an_ip_name_for_an_address_and_a_dns_name_otherwise(name: str, alt_name: str) -> None:
    assert host.san(name) == alt_name


@pytest.mark.parametrize(("given", "written"), [
    ("2001:db8::1", "[2001:db8::1]"),
    ("::1", "[::1]"),
    ("192.0.2.10", "192.0.2.10"),
    ("db1.example.org", "db1.example.org"),
    ("localhost", "localhost"),
])
def test_url_host_puts_an_ipv6_address_in_brackets_and_leaves_others_as_they_are(given: str, written: str) -> None:
    assert host.url_host(given) == written


def test_filters_fail_with_value_error_without_ansible(load_file, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "ansible.errors", None)  # import ansible.errors fails
    monkeypatch.setitem(sys.modules, "unit_host_without_ansible", None)  # removed again afterwards
    plain = load_file("plugins/filter/host.py", "unit_host_without_ansible")
    with pytest.raises(ValueError, match=re.escape("hba_rules: 'db1' is not an IPv4 or IPv6 address")):
        plain.hba_rules([], ["db1"])


def test_the_plugin_exposes_each_filter_under_its_function_name() -> None:
    assert host.FilterModule().filters() == {
        name: getattr(host, name)
        for name in ("by_family", "hba_line", "hba_rules", "member_hba_rules", "san", "systemd_sandbox", "url_host")
    }


def test_hba_rules_name_a_source_given_twice_once():
    rules = host.hba_rules([{"name": "notes", "user": "notes", "password": "x"}], ["10.0.0.5", "10.0.0.5/32"])
    assert [r["address"] for r in rules] == ["10.0.0.5/32"]


def test_member_hba_rules_let_each_member_replicate_and_rewind_over_tls_only():
    assert host.member_hba_rules(["10.0.0.11", "10.0.0.12"], "replicator") == [
        {"contype": "hostssl", "databases": "replication", "users": "replicator", "address": "10.0.0.11/32",
         "method": "scram-sha-256"},
        {"contype": "hostssl", "databases": "postgres", "users": "postgres", "address": "10.0.0.11/32",
         "method": "scram-sha-256"},
        {"contype": "hostssl", "databases": "replication", "users": "replicator", "address": "10.0.0.12/32",
         "method": "scram-sha-256"},
        {"contype": "hostssl", "databases": "postgres", "users": "postgres", "address": "10.0.0.12/32",
         "method": "scram-sha-256"},
    ]


def test_member_hba_rules_refuse_a_member_that_is_no_address():
    with pytest.raises(host.AnsibleFilterError, match="member_hba_rules: 'db1' is not an IPv4 or IPv6 address"):
        host.member_hba_rules(["db1"], "replicator")


@pytest.mark.parametrize(("rule", "line"), [
    ({"contype": "local", "databases": "all", "users": "postgres", "method": "peer"}, "local all postgres peer"),
    ({"contype": "hostssl", "databases": "notes", "users": "notes", "address": "10.0.0.0/8",
      "method": "scram-sha-256"}, "hostssl notes notes 10.0.0.0/8 scram-sha-256"),
])
def test_hba_line_writes_a_rule_as_pg_hba_conf_does(rule, line):
    assert host.hba_line(rule) == line
