"""Names the collection's roles build paths, users, units and firewall tables from: one
definition, used by the validation (the test flask_deploy.stack.app_name) and by the wiring
(the filter flask_deploy.stack.apps).
"""

from __future__ import annotations

import re
from typing import Any

# An app's name: its user and group, /srv/NAME, /etc/NAME, NAME.sock, NAME.ini, NAME-backup.timer.
# A lower-case letter, then at most 30 lower-case letters, digits, _ and -: a valid user name,
# short enough for every path and unit name built from it.
APP_NAME = re.compile(r"[a-z][a-z0-9_-]{0,30}")
APP_NAME_RULE = "must start with a lower case letter and hold only a-z, 0-9, _ and -, at most 31 characters"


def is_app_name(value: Any) -> bool:
    """The whole value is an app name (no trailing newline slips through, as it would past `$`)."""
    return isinstance(value, str) and APP_NAME.fullmatch(value) is not None
