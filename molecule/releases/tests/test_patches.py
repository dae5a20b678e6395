"""The host patches itself (role host_patches): unattended-upgrades installs Debian's security
updates daily and never reboots; an upgrade of nginx's packages, as apt or unattended-upgrades
runs it, fails no request; a needed reboot shows in node_reboot_required."""

from __future__ import annotations

import re
from typing import Any

import pytest
from testlib.load import load
from testlib.wait import wait_until

TEXTFILE = "/var/lib/prometheus/node-exporter/reboot_required.prom"
REBOOT_REQUIRED = "/run/reboot-required"
NGINX_PACKAGES = ("nginx", "nginx-common")
SECURITY_ORIGINS = [
    "origin=Debian,codename=${distro_codename}-security,label=Debian-Security",
    "origin=Debian,codename=${distro_codename},label=Debian-Security",
]


def apt_config(host: Any, name: str) -> str:
    result = host.run(f"apt-config dump {name}")
    assert result.rc == 0, result.stderr
    return result.stdout


def nginx_master(host: Any) -> int:
    return int(host.check_output("systemctl show --property MainPID --value nginx.service"))


def runs_installed_binary(host: Any, pid: int) -> bool:
    """The process runs /usr/sbin/nginx as it is on disk now, not a binary a package replaced."""
    return host.check_output(f"readlink /proc/{pid}/exe") == "/usr/sbin/nginx"


def reboot_required_metric(host: Any) -> str:
    content = host.file(TEXTFILE).content_string if host.file(TEXTFILE).exists else ""
    found = re.search(r"^node_reboot_required (\d)$", content, re.MULTILINE)
    return found.group(1) if found else ""


def test_unattended_upgrades_runs_daily_from_apts_timers(host: Any) -> None:
    for timer in ("apt-daily.timer", "apt-daily-upgrade.timer"):
        assert host.service(timer).is_enabled
        assert host.service(timer).is_running
    periodic = apt_config(host, "APT::Periodic")
    assert 'APT::Periodic::Update-Package-Lists "1";' in periodic
    assert 'APT::Periodic::Unattended-Upgrade "1";' in periodic


def test_unattended_upgrades_allows_debians_security_origins_only(host: Any) -> None:
    configured = re.findall(r'^Unattended-Upgrade::Origins-Pattern:: "(.*)";$',
                            apt_config(host, "Unattended-Upgrade::Origins-Pattern"), re.MULTILINE)
    assert configured == SECURITY_ORIGINS
    # What the program itself makes of it, on this host's release.
    dry_run = host.run("unattended-upgrade --dry-run --debug 2>&1")
    assert dry_run.rc == 0, dry_run.stdout
    allowed = re.search(r"^Allowed origins are: (.*)$", dry_run.stdout, re.MULTILINE)
    assert allowed, dry_run.stdout
    codename = host.system_info.codename
    assert sorted(allowed.group(1).split(", ")) == sorted([
        f"origin=Debian,codename={codename}-security,label=Debian-Security",
        f"origin=Debian,codename={codename},label=Debian-Security",
    ])


def test_unattended_upgrades_never_reboots_the_host(host: Any) -> None:
    assert 'Unattended-Upgrade::Automatic-Reboot "false";' in apt_config(host, "Unattended-Upgrade::Automatic-Reboot")


@pytest.mark.parametrize("how", ["apt-get", "dpkg"])
def test_upgrade_of_nginxs_packages_under_load_fails_no_request(host: Any, report: Any, how: str) -> None:
    """apt-get install --reinstall, or dpkg -i of the cached packages as unattended-upgrades runs them:
    the packages' restart of nginx is refused and nginx's binary upgrade replaces it."""
    packages = " ".join(NGINX_PACKAGES)
    if how == "apt-get":
        command = f"DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall {packages}"
    else:
        fetched = host.run(f"apt-get install -y -q --reinstall --download-only {packages}")
        assert fetched.rc == 0, fetched.stdout + fetched.stderr
        debs = " ".join(f"/var/cache/apt/archives/{name}_*.deb" for name in NGINX_PACKAGES)
        command = f"DEBIAN_FRONTEND=noninteractive dpkg -i {debs}"
    before = nginx_master(host)
    with load(host) as summary:
        upgraded = host.run(command)
    assert upgraded.rc == 0, upgraded.stdout + upgraded.stderr
    report.add(f"reinstall nginx's packages ({how})", summary, "binary upgrade: new master, old one finishes")
    assert summary["sent"] > 100
    assert summary["failed"] == 0, summary
    # A new master on the binary now on disk, and systemd follows it.
    after = nginx_master(host)
    assert after not in (0, before)
    assert runs_installed_binary(host, after)
    assert not host.file("/run/flask-deploy-nginx-upgrade").exists
    assert host.run("systemctl reload nginx.service").rc == 0
    assert nginx_master(host) == after
    assert host.service("nginx").is_running


def test_reboot_required_shows_in_the_metric_and_goes_when_it_does(host: Any) -> None:
    assert host.service("flask-deploy-reboot-required.path").is_enabled
    assert reboot_required_metric(host) == "0"
    try:
        host.run_expect([0], f"touch {REBOOT_REQUIRED}")
        wait_until(lambda: reboot_required_metric(host) == "1", 30)
    finally:
        host.run(f"rm -f {REBOOT_REQUIRED}")
    wait_until(lambda: reboot_required_metric(host) == "0", 30)
    assert host.file(TEXTFILE).mode == 0o644
