#!/usr/bin/python3
"""Puts a backup (pg_backup.py's dump) in place of an app's PostgreSQL database, run as postgres.

  pg_restore.py check DUMP
      the dump is one pg_restore reads: prints its tables (from its table of contents)
  pg_restore.py restore NAME OWNER DUMP STAMP
      restores DUMP into a new database NAME__restoring (owned by OWNER, its objects too), counts
      its tables, then swaps it in: NAME stops taking connections, its sessions end, it is renamed
      NAME__replaced_STAMP (kept, closed to connections: the way back) and NAME__restoring becomes
      NAME, open to OWNER only. Apps meet the swap as a moment without their database (the bundled
      app answers 503 with Retry-After). A restore that fails before the swap leaves NAME as it was.

Prints one JSON line; exits non-zero on failure.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys

from pg_backup import COUNT_TABLES, run


def sql(statement: str, database: str = "postgres") -> str:
    return run("psql", "-AtX", "-v", "ON_ERROR_STOP=1", "-d", database, "-c", statement)


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def check(dump: str) -> dict[str, object]:
    listing = run("pg_restore", "--list", dump)
    tables = sorted({line.split()[-2] for line in listing.splitlines() if " TABLE DATA " in line})
    return {"dump": dump, "tables": tables}


def restore(name: str, owner: str, dump: str, stamp: str) -> dict[str, object]:
    # Names within PostgreSQL's 63 bytes, which it would cut short (the stamp of the replaced one).
    staging, replaced = f"{name[:40]}__restoring", f"{name[:36]}__replaced_{stamp}"
    run("dropdb", "--if-exists", staging)
    run("createdb", "--template=template0", "--owner", owner, staging)
    try:
        run("pg_restore", "--exit-on-error", "--no-owner", "--no-privileges", "--role", owner, "--dbname", staging,
            dump)
        tables = json.loads(sql(COUNT_TABLES, staging))
        exists = sql(f"SELECT count(*) FROM pg_database WHERE datname = {literal(name)}").strip() == "1"
        if exists:
            sql(f"ALTER DATABASE {ident(name)} WITH ALLOW_CONNECTIONS false")
            sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {literal(name)}")
            try:
                sql(f"ALTER DATABASE {ident(name)} RENAME TO {ident(replaced)}")
            except RuntimeError:
                sql(f"ALTER DATABASE {ident(name)} WITH ALLOW_CONNECTIONS true")
                raise
        try:
            sql(f"ALTER DATABASE {ident(staging)} RENAME TO {ident(name)}")
        except RuntimeError:
            if exists:  # the old one back under its name, open again
                sql(f"ALTER DATABASE {ident(replaced)} RENAME TO {ident(name)}")
                sql(f"ALTER DATABASE {ident(name)} WITH ALLOW_CONNECTIONS true")
            raise
    except Exception:
        with contextlib.suppress(RuntimeError):  # the error to report is the first one
            run("dropdb", "--if-exists", staging)  # nothing half-restored is left behind
        raise
    sql(f"REVOKE CONNECT, TEMPORARY ON DATABASE {ident(name)} FROM PUBLIC")
    return {"restored": name, "from": dump, "replaced": replaced if exists else None, "tables": tables}


def main(argv: list[str]) -> int:
    try:
        if argv[:1] == ["check"] and len(argv) == 2:
            result = check(argv[1])
        elif argv[:1] == ["restore"] and len(argv) == 5:
            result = restore(*argv[1:])
        else:
            sys.exit(__doc__)
    except (RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        print(json.dumps({"error": str(exc)}))
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
