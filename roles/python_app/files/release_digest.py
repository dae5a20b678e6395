#!/usr/bin/env python3
"""Prints what names a release of an app, as JSON, from the controller's copy.

usage: release_digest.py SRC_DIR PACKAGE ARCHIVE_DIR

digest: sha256 over the package's files (paths and contents, without byte-code
caches) and requirements.lock, so the same code always makes the same release;
version: the package's __version__; stamp: the UTC time a new release is named by;
migrate: the command the release's migration runs, as SRC_DIR/pyproject.toml declares it
([tool.flask-deploy] migrate = "python -m PACKAGE.migrate"), or "" (part of the digest too);
archive: ARCHIVE_DIR/<digest>.tar, the release's code as the host unpacks it
(app/PACKAGE/... and requirements.lock; root-owned, directories 0755, files 0644), so a host
gets its code in one transfer. SRC_DIR may be a symbolic link (playbooks/app is one): what it
points to is packed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import tarfile
import tempfile
import time
from pathlib import Path


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mode = 0o755 if info.isdir() else 0o644
    return info


def write_archive(src: Path, files: list[Path], archive: Path) -> None:
    """Writes the release archive beside its final name, then renames it into place.

    Written anew on every run (it takes milliseconds): an archive kept from an earlier run
    would carry whatever was wrong with it into every later deploy of the same code. A file that
    is a link is packed as the file it points at, as the digest reads it: a release holds its
    own files, and a link to somewhere on the controller would point nowhere on the host."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    dirs = sorted({d for f in files for d in f.relative_to(src).parents if d != Path(".")})
    fd, partial = tempfile.mkstemp(dir=archive.parent, suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as fh, tarfile.open(fileobj=fh, mode="w", dereference=True) as tar:
            for d in [Path("app"), *(Path("app") / d for d in dirs)]:
                tar.add(src / d.relative_to("app"), arcname=str(d), recursive=False, filter=_root_owned)
            for f in files:
                tar.add(f, arcname=str(Path("app") / f.relative_to(src)), filter=_root_owned)
            tar.add(src / "requirements.lock", arcname="requirements.lock", filter=_root_owned)
        os.replace(partial, archive)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)


def migrate_command(src: Path) -> str:
    pyproject = src / "pyproject.toml"
    if not pyproject.is_file():
        return ""
    try:
        import tomllib
    except ImportError:  # Python < 3.11 on the controller
        sys.exit(f"{pyproject}: reading it ([tool.flask-deploy] migrate) needs Python 3.11 or later on the controller")
    command = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("tool", {}).get("flask-deploy", {}).get("migrate", "")
    if not isinstance(command, str):
        sys.exit(f"{pyproject}: [tool.flask-deploy] migrate must be a command (a string)")
    return command


def main(src: Path, package: str, archive_dir: Path) -> dict[str, str]:
    digest = hashlib.sha256()
    migrate = migrate_command(src)
    if migrate:  # an app without one keeps the digest it had
        digest.update(b"migrate\0" + migrate.encode() + b"\0")
    files = sorted(
        p
        for p in (src / package).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in {".pyc", ".pyo"}
    )
    for path in [*files, src / "requirements.lock"]:
        digest.update(str(path.relative_to(src)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    init = (src / package / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r"""^__version__\s*=\s*["']([^"']+)["']""", init, re.M)
    version = re.sub(r"[^A-Za-z0-9.+_-]", "_", match.group(1)) if match else "0"
    archive = archive_dir / f"{digest.hexdigest()}.tar"
    write_archive(src, files, archive)
    return {
        "digest": digest.hexdigest(),
        "archive": str(archive),
        "version": version,
        "stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
        "migrate": migrate,
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]).resolve(), sys.argv[2], Path(sys.argv[3]))))
