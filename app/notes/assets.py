"""Static files under versioned URLs: /static/<version>/<file>, cacheable for a year.

The version is the deployment's (STATIC_VERSION: the release's code digest, the same on every
host that runs the same code), else a digest of the static files themselves. A page always names
its own release's files, and a new release names new URLs, so a browser never keeps a stale
stylesheet; nginx serves every kept release's files from disk, so pages still open from the last
release find theirs. The plain /static/<file> still answers, without the long lifetime.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from flask import Flask, Response, current_app, send_from_directory, url_for

ONE_YEAR = 365 * 24 * 3600
VERSION = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def content_version(folder: str) -> str:
    """The first 12 hex digits of a SHA-256 over every file's path and content."""
    digest = hashlib.sha256()
    root = Path(folder)
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def asset(version: str, filename: str) -> Response:
    if version != current_app.config["STATIC_VERSION"]:
        # Not a version: a file in a subdirectory of the static folder, served as /static/ does.
        return current_app.send_static_file(f"{version}/{filename}")
    response = send_from_directory(str(current_app.static_folder), filename, max_age=ONE_YEAR)
    response.cache_control.public = True
    response.cache_control.immutable = True
    return response


def asset_url(filename: str) -> str:
    return url_for("asset", version=current_app.config["STATIC_VERSION"], filename=filename)


def init_app(app: Flask) -> None:
    if not app.config.get("STATIC_VERSION"):
        app.config["STATIC_VERSION"] = content_version(str(app.static_folder))
    version = app.config["STATIC_VERSION"]
    if not isinstance(version, str) or not VERSION.match(version):
        raise RuntimeError(f"STATIC_VERSION ({version!r}) must be 1 to 64 of a-z, A-Z, 0-9, '.', '_' and '-'")
    app.add_url_rule(f"{app.static_url_path}/<version>/<path:filename>", endpoint="asset", view_func=asset)
    app.jinja_env.globals["asset_url"] = asset_url
