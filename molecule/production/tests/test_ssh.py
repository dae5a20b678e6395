"""Ansible reached every host the way it reaches a real server: SSH as `deploy`, a key, sudo."""

from __future__ import annotations


def test_deploy_logged_in_over_ssh_with_its_key(host) -> None:
    logins = host.check_output("journalctl -u ssh --no-pager -o cat | grep -c 'Accepted publickey for deploy' || true")
    assert int(logins) > 0


def test_deploy_is_an_ordinary_user_that_becomes_root_through_sudo(host) -> None:
    assert host.user("deploy").uid >= 1000
    assert "deploy" not in host.check_output("getent group root sudo")
    assert host.file("/etc/sudoers.d/deploy").contains("NOPASSWD")


def test_no_password_login_is_possible(host) -> None:
    assert host.user("deploy").password in ("!", "*", "!*", "")
