"""Sockets: the app is reachable only through unix sockets; nginx alone listens on :80."""

import shlex

import pytest

from testlib.layout import (
    APP_GROUP,
    APP_RUN_DIR,
    APP_SOCKET,
    APP_USER,
    EMPEROR_STATS_SOCKET,
    HTTP_PORT,
    HTTPS_PORT,
    VASSAL_STATS_SOCKET,
    WEB_GROUP,
    WEB_USER,
)
from testlib.uwsgi import stats_command, vassal_stats


def connect_as(host, user, path):
    """Try to connect to a unix socket as user; the CommandResult."""
    code = "import socket, sys; socket.socket(socket.AF_UNIX).connect(sys.argv[1])"
    return host.run(f"runuser -u {user} -- python3 -c {shlex.quote(code)} {shlex.quote(path)}")


def test_app_socket_is_listening(host):
    assert host.socket(f"unix://{APP_SOCKET}").is_listening


def test_app_socket_is_owned_by_app_user_and_web_group(host):
    sock = host.file(APP_SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group) == (APP_USER, WEB_GROUP)


def test_app_socket_mode_is_0660(host):
    assert host.file(APP_SOCKET).mode == 0o660


def test_web_user_can_connect_to_app_socket(host):
    assert connect_as(host, WEB_USER, APP_SOCKET).rc == 0


def test_other_users_cannot_connect_to_app_socket(host):
    assert connect_as(host, "nobody", APP_SOCKET).rc != 0


def test_vassal_stats_dir_is_private_to_app_user(host):
    run_dir = host.file(APP_RUN_DIR)
    assert run_dir.is_directory
    assert (run_dir.user, run_dir.group, run_dir.mode) == (APP_USER, APP_GROUP, 0o700)


def test_vassal_stats_socket_reports_every_worker(host):
    assert len(vassal_stats(host)["workers"]) == 2 * int(host.check_output("nproc"))


def test_web_user_cannot_read_vassal_stats(host):
    assert host.run(f"runuser -u {WEB_USER} -- {stats_command(VASSAL_STATS_SOCKET)}").rc != 0


def test_emperor_stats_socket_is_root_owned(host):
    sock = host.file(EMPEROR_STATS_SOCKET)
    assert sock.is_socket
    assert (sock.user, sock.group) == ("root", "root")


@pytest.mark.parametrize("port", [HTTP_PORT, HTTPS_PORT])
@pytest.mark.parametrize("address", ["0.0.0.0", "::"])
def test_nginx_listens_on_http_and_https_ports(host, address, port):
    assert host.socket(f"tcp://{address}:{port}").is_listening


@pytest.mark.parametrize("user", [WEB_USER, APP_USER, "nobody"])
def test_other_users_cannot_connect_to_emperor_stats(host, user):
    assert connect_as(host, user, EMPEROR_STATS_SOCKET).rc != 0


@pytest.mark.parametrize("user", [WEB_USER, "nobody"])
def test_other_users_cannot_connect_to_vassal_stats(host, user):
    assert connect_as(host, user, VASSAL_STATS_SOCKET).rc != 0


def test_no_uwsgi_process_listens_on_a_network_address(host):
    listeners = host.check_output("ss -Hltunp")
    # ss must name the owning processes, or the check below proves nothing.
    assert '"nginx"' in listeners
    assert "uwsgi" not in listeners


def test_app_socket_queues_the_configured_backlog(host):
    # listen = 1024 (uWSGI's default of 100 answers part of 256 clients with 502s: bench/results.md,
    # "Listen backlog under 256 connections"); ss shows it as Send-Q.
    listening = host.check_output(f"ss -xlH src {APP_SOCKET}").split()
    assert listening[3] == "1024", listening
