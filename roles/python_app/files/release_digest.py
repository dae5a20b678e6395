#!/usr/bin/env python3
"""Prints what names a release of an app, as JSON, from the controller's copy.

usage: release_digest.py SRC_DIR PACKAGE

digest: sha256 over the package's files (paths and contents, without byte-code
caches) and requirements.lock, so the same code always makes the same release;
version: the package's __version__; stamp: the UTC time a new release is named by.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from pathlib import Path


def main(src: Path, package: str) -> dict[str, str]:
    digest = hashlib.sha256()
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
    return {
        "digest": digest.hexdigest(),
        "version": version,
        "stamp": time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()),
    }


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), sys.argv[2])))
