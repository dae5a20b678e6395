"""Copies an app's notes from its SQLite database into its PostgreSQL database, and proves the copy.

Run as the app's user by the app's own Python (its virtualenv has psycopg 3), while the app's
writes are paused, after the app's migration has made its tables in PostgreSQL:

  sqlite_to_postgresql.py SQLITE_DATABASE ENVIRONMENT_FILE PREFIX [--replace]

ENVIRONMENT_FILE holds PREFIX_DATABASE_URL and PGPASSWORD (the file the app will read once it is
switched): nothing secret is on a command line. Every table of the SQLite database (but SQLite's
own) must exist in PostgreSQL with at least its columns, and be empty there: a copy never
overwrites, unless --replace says to empty those tables first (a second move, after the way back
to SQLite; the rows PostgreSQL had are then gone). In one PostgreSQL transaction, each table's rows go in with COPY, in primary-key
order; identity and serial columns continue after the highest value copied; then every table is
read back from both databases and compared row by row (a SHA-256 of each row's values, typed:
42 and "42" differ), and the transaction commits only if each table has the same rows. Prints one
JSON line (each table's rows and digest, the seconds taken); exits non-zero, with nothing
committed, on any difference or error.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import sys
import time
from collections.abc import Iterable, Sequence
from typing import Any


def typed(value: Any) -> bytes:
    """One value, in a form where types count: None, integers, reals, text and bytes differ."""
    if value is None:
        return b"n"
    if isinstance(value, bool):
        return b"i" + str(int(value)).encode()
    if isinstance(value, int):
        return b"i" + str(value).encode()
    if isinstance(value, float):
        return b"f" + repr(value).encode()
    if isinstance(value, str):
        return b"s" + value.encode("utf-8", "surrogatepass")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return b"b" + bytes(value)
    return b"?" + repr(value).encode()


def row_digest(row: Sequence[Any]) -> str:
    h = hashlib.sha256()
    for value in row:
        data = typed(value)
        h.update(len(data).to_bytes(8, "big") + data)
    return h.hexdigest()


def table_digest(rows: Iterable[Sequence[Any]]) -> tuple[int, str, list[str]]:
    """Rows counted, one digest of them all (in order), and each row's digest."""
    whole = hashlib.sha256()
    each = []
    for row in rows:
        digest = row_digest(row)
        each.append(digest)
        whole.update(bytes.fromhex(digest))
    return len(each), whole.hexdigest(), each


def read_environment(path: str, prefix: str) -> tuple[str, str]:
    values: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            name, sep, value = line.rstrip("\n").partition("=")
            if sep:
                values[name] = value
    url = values.get(f"{prefix}_DATABASE_URL", "")
    if not url:
        raise ValueError(f"{path} names no {prefix}_DATABASE_URL")
    return url, values.get("PGPASSWORD", "")


def sqlite_tables(db: sqlite3.Connection) -> dict[str, tuple[list[str], list[str]]]:
    """Each table: its columns and its primary key's columns (rowid when it has none)."""
    tables = {}
    names = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")]
    for name in names:
        info = db.execute(f'PRAGMA table_info("{name}")').fetchall()
        columns = [r[1] for r in info]
        key = [r[1] for r in sorted(info, key=lambda r: r[5]) if r[5]] or columns
        tables[name] = (columns, key)
    return tables


def quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy(sqlite_path: str, url: str, replace: bool = False) -> dict[str, Any]:
    import psycopg  # the app's virtualenv has it; the host's own Python need not

    started = time.monotonic()
    source = sqlite3.connect(f"file:{sqlite_path}?mode=ro", uri=True)
    report: dict[str, Any] = {}
    try:
        tables = sqlite_tables(source)
        if not tables:
            raise ValueError(f"{sqlite_path} has no tables to copy")
        with psycopg.connect(url) as target, target.transaction():
            for name, (columns, key) in tables.items():
                # Each column: whether its type has a collation, whether it may be NULL.
                found = {r[0]: r[1:] for r in target.execute(
                    "SELECT attname, attcollation <> 0, NOT attnotnull FROM pg_attribute WHERE attrelid = "
                    "to_regclass(%s) AND attnum > 0 AND NOT attisdropped", (f"public.{quoted(name)}",))}
                missing = [c for c in columns if c not in found]
                if not found:
                    raise ValueError(f"table {name} is not in PostgreSQL: run the app's migration there first")
                if missing:
                    raise ValueError(f"table {name} in PostgreSQL lacks column(s) {', '.join(missing)}")
                if replace:
                    target.execute(f"TRUNCATE {quoted(name)} RESTART IDENTITY CASCADE")
                elif target.execute(f"SELECT EXISTS (SELECT FROM {quoted(name)})").fetchone()[0]:
                    raise ValueError(f"table {name} in PostgreSQL has rows already: a copy never overwrites "
                                     "(move_replace=true empties it first)")
                cols = ", ".join(quoted(c) for c in columns)
                # The same order in both: text by its bytes (SQLite's BINARY; PostgreSQL's collation may be a
                # language's), NULLs first (SQLite's; PostgreSQL's are last).
                order = ", ".join(f"{quoted(c)} COLLATE BINARY" for c in key)
                pg_order = ", ".join(quoted(c) + (' COLLATE "C"' if found[c][0] else "") + (" NULLS FIRST" if found[c][1] else "")
                                     for c in key)
                with target.cursor().copy(f"COPY {quoted(name)} ({cols}) FROM STDIN") as pipe:
                    for row in source.execute(f"SELECT {cols} FROM {quoted(name)} ORDER BY {order}"):
                        pipe.write_row(row)
                for column in columns:
                    sequence = target.execute("SELECT pg_get_serial_sequence(%s, %s)", (quoted(name), column)).fetchone()[0]
                    if sequence:
                        target.execute(f"SELECT setval(%s, coalesce((SELECT max({quoted(column)}) FROM {quoted(name)}), 0) + 1,"
                                       " false)", (sequence,))
                before = table_digest(source.execute(f"SELECT {cols} FROM {quoted(name)} ORDER BY {order}"))
                after = table_digest(target.execute(f"SELECT {cols} FROM {quoted(name)} ORDER BY {pg_order}"))
                if before[:2] != after[:2]:
                    first = next((i for i, (a, b) in enumerate(zip(before[2], after[2])) if a != b), min(before[0], after[0]))
                    raise ValueError(f"table {name} differs after the copy: {before[0]} rows in SQLite, {after[0]} in "
                                     f"PostgreSQL, first difference at row {first + 1} in {', '.join(key)} order")
                report[name] = {"rows": before[0], "sha256": before[1]}
    finally:
        source.close()
    return {"tables": report, "seconds": round(time.monotonic() - started, 3)}


def main(argv: list[str]) -> int:
    replace = argv[3:] == ["--replace"]
    if len(argv) not in (3, 4) or (len(argv) == 4 and not replace):
        sys.exit(__doc__)
    sqlite_path, env_file, prefix = argv[:3]
    try:
        url, password = read_environment(env_file, prefix)
        if password:
            os.environ["PGPASSWORD"] = password
        result = copy(sqlite_path, url, replace)
    except Exception as exc:  # noqa: BLE001 - any failure is reported, nothing is committed
        print(json.dumps({"copied": False, "error": f"{type(exc).__name__}: {exc}"}))
        return 1
    print(json.dumps({"copied": True, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
