"""An app's PostgreSQL, seen from the app (its user, its environment) and from the database host."""

from __future__ import annotations

import json
from typing import Any

from testlib.layout import APP_USER, ENV_FILE, VENV

# Run as root by the app's Python: reads the app's environment file as the vassal does, becomes the
# app user, then runs the code: the database URL and password never appear on a command line.
AS_APP = """
import os, pwd, sys
with open({env!r}, encoding="utf-8") as fh:
    os.environ.update(line.rstrip("\\n").split("=", 1) for line in fh if "=" in line)
account = pwd.getpwnam({user!r})
os.setgroups([])
os.setgid(account.pw_gid)
os.setuid(account.pw_uid)
os.environ["HOME"] = account.pw_dir  # not root's: libpq looks there for a client certificate
"""

# Connects as the app does, with changes to its URL's parameters; prints what the server says, or the error.
CONNECT = """
import json, psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
params = conninfo_to_dict(os.environ["NOTES_DATABASE_URL"])
params.update(json.loads(sys.argv[1]))
try:
    with psycopg.connect(make_conninfo(**params)) as conn:
        row = conn.execute("SELECT ssl, version, current_database(), current_user"
                           " FROM pg_stat_ssl WHERE pid = pg_backend_pid()").fetchone()
    print(json.dumps({"ssl": row[0], "tls": row[1], "database": row[2], "user": row[3]}))
except psycopg.Error as exc:
    print(json.dumps({"error": str(exc)}))
"""


def as_app(host: Any, code: str, *args: str) -> str:
    """Output of Python code run as the app user, with the app's environment and virtualenv."""
    script = AS_APP.format(env=ENV_FILE, user=APP_USER) + code
    quoted = " ".join(f"'{a}'" for a in args)
    return host.check_output(f"{VENV}/bin/python - {quoted} <<'PY'\n{script}\nPY")


def app_connects(host: Any, **changes: str) -> dict[str, Any]:
    """The app's connection to its database, its URL's parameters changed: ssl, tls, database and
    user, or the error PostgreSQL or libpq gave."""
    return json.loads(as_app(host, CONNECT, json.dumps(changes)))


def psql(host: Any, sql: str, database: str = "postgres") -> str:
    """A query's rows (unaligned, |-separated), as PostgreSQL's superuser on the database host."""
    return host.check_output(f"runuser -u postgres -- psql -AtX -d {database} <<'SQL'\n{sql}\nSQL")


def notes_in(host: Any, database: str = "notes") -> dict[str, str]:
    """Every note in the app's PostgreSQL database (id: text), read on the database host."""
    return json.loads(psql(host, "SELECT coalesce(json_object_agg(id, text), '{}') FROM notes", database))
