"""Files: root owns code and config; the app user writes only its data directory."""

import shlex

import pytest

from testlib.hosts import readable_by_nobody
from testlib.layout import (
    APP_GROUP,
    APP_USER,
    BACKUP_DIR,
    CODE_DIR,
    CODE_ROOT,
    CONFIG_DIR,
    DATA_DIR,
    DATABASE,
    NOLOGIN_SHELL,
    SECRET_KEY_FILE,
    SITES_ENABLED,
    VASSAL_INI,
    VASSALS_DIR,
    VENV,
    VENVS_DIR,
    VHOST_FILE,
    WEB_USER,
)


def run_as(host, user, command):
    return host.run(f"runuser -u {user} -- {command}")


def test_app_user_is_a_system_account_without_a_login_shell(host):
    user = host.user(APP_USER)
    assert user.exists
    assert user.shell == NOLOGIN_SHELL
    assert user.group == APP_GROUP
    assert user.uid < 1000


@pytest.mark.parametrize(
    ("path", "user", "group", "mode"),
    [
        pytest.param(CODE_ROOT, "root", "root", 0o755, id=CODE_ROOT),
        pytest.param(VENVS_DIR, "root", "root", 0o755, id=VENVS_DIR),
        pytest.param(DATA_DIR, APP_USER, APP_GROUP, 0o750, id=DATA_DIR),
        pytest.param(CONFIG_DIR, "root", APP_GROUP, 0o750, id=CONFIG_DIR),
        pytest.param(VASSALS_DIR, "root", "root", 0o755, id=VASSALS_DIR),
    ],
)
def test_directory_has_its_owner_and_mode(host, path, user, group, mode):
    d = host.file(path)
    assert d.is_directory
    assert (d.user, d.group, d.mode) == (user, group, mode)


def test_app_code_is_root_owned_with_dirs_0755_and_files_0644(host):
    assert host.file(f"{CODE_DIR}/__init__.py").is_file
    deviants = host.check_output(
        f"find {shlex.quote(CODE_DIR)} ! -user root -o ! -group root"
        " -o -type d ! -perm 0755 -o -type f ! -perm 0644"
    )
    assert deviants == ""


def test_release_runs_in_the_virtualenv_of_its_lock(host):
    venv = host.file(VENV)
    assert venv.is_symlink
    assert host.file(f"{VENV}/bin/python").exists
    assert host.check_output(f"readlink -f {shlex.quote(VENV)}").rsplit("/", 1)[0] == VENVS_DIR


def test_virtualenv_is_entirely_root_owned(host):
    # -H: the release's venv link is followed into the virtualenv it names.
    assert host.check_output(f"find -H {shlex.quote(VENV)} ! -user root") == ""


def test_app_user_cannot_write_code_or_virtualenv(host):
    writable = run_as(host, APP_USER, f"find {shlex.quote(CODE_ROOT)} -writable")
    assert writable.rc == 0, writable.stderr
    assert writable.stdout == ""


def test_app_user_can_write_its_data_dir(host):
    assert run_as(host, APP_USER, f"test -w {DATA_DIR}").rc == 0


def test_database_belongs_to_app_user(host):
    db = host.file(DATABASE)
    assert db.is_file
    assert (db.user, db.group) == (APP_USER, APP_GROUP)
    assert run_as(host, APP_USER, f"test -w {DATABASE}").rc == 0


def test_secret_key_is_root_owned_and_readable_by_app_group_only(host):
    key = host.file(SECRET_KEY_FILE)
    assert key.is_file
    assert (key.user, key.group, key.mode) == ("root", APP_GROUP, 0o640)


def test_secret_key_is_not_empty(host):
    # Only the size: the content must never show up in a report.
    assert host.file(SECRET_KEY_FILE).size > 0


def test_app_user_can_read_but_not_write_secret_key(host):
    assert run_as(host, APP_USER, f"test -r {SECRET_KEY_FILE}").rc == 0
    assert run_as(host, APP_USER, f"test -w {SECRET_KEY_FILE}").rc != 0


def test_web_user_cannot_read_secret_key(host):
    assert run_as(host, WEB_USER, f"test -r {SECRET_KEY_FILE}").rc != 0


def test_vassal_file_is_root_owned_0644(host):
    ini = host.file(VASSAL_INI)
    assert ini.is_file
    assert (ini.user, ini.group, ini.mode) == ("root", "root", 0o644)


def test_default_nginx_site_is_disabled(host):
    assert not host.file(f"{SITES_ENABLED}/default").exists


def test_vhost_is_enabled_by_symlink(host):
    link = host.file(f"{SITES_ENABLED}/{VHOST_FILE.rsplit('/', 1)[1]}")
    assert link.is_symlink
    assert link.linked_to == VHOST_FILE


def test_files_the_app_creates_are_closed_to_other_users(host):
    # The vassal's umask (027): the database is never readable by users outside the app's group.
    assert host.file(DATABASE).mode & 0o027 == 0


def test_no_log_or_backup_the_stack_writes_is_readable_by_other_users(host):
    # nginx's and the site's logs from the first request on, not only after logrotate's first run.
    assert readable_by_nobody(host, "/etc/hostname") == "/etc/hostname"  # the search does find
    assert readable_by_nobody(host, f"/var/log/nginx {BACKUP_DIR}") == ""
