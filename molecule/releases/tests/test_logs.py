"""Logs are private from the first line: read by their writer and the admin group only.

Run first, right after the converge: no log has been rotated yet, so every log here is as the roles
(and the services they start) created it.
"""

from __future__ import annotations

from testlib.hosts import world_readable_logs
from testlib.layout import ADMIN_GROUP, NGINX_LOG_DIR, WEB_USER


def test_no_log_or_backup_on_the_host_is_readable_by_every_user_but_debians_own(host) -> None:
    # The whole root file system is searched: nginx's and its sites' logs, uWSGI's (the journal),
    # the backups. A planted world-readable log shows that the search finds one.
    planted = "/var/log/flask-deploy-search-check.log"
    host.run(f"install -m 0644 /dev/null {planted}")
    try:
        assert planted in world_readable_logs(host)
    finally:
        host.run(f"rm -f {planted}")
    assert world_readable_logs(host) == []


def test_nginxs_logs_are_its_users_and_the_admin_groups_before_any_rotation(host) -> None:
    logs = host.file(NGINX_LOG_DIR).listdir()
    assert {"access.log", "error.log", "notes.access.log", "notes.error.log"} <= set(logs)
    assert not [name for name in logs if not name.endswith(".log")]  # none rotated yet
    for name in logs:
        log = host.file(f"{NGINX_LOG_DIR}/{name}")
        assert (name, log.user, log.group, log.mode) == (name, WEB_USER, ADMIN_GROUP, 0o640)
