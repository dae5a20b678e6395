"""Static files under versioned URLs (notes.assets)."""

from __future__ import annotations

import re
from pathlib import Path

from flask import Flask
from flask.testing import FlaskClient

from notes import create_app
from notes.assets import content_version


def stylesheet_url(client: FlaskClient) -> str:
    match = re.search(r'rel="stylesheet" href="(/static/[^"]+)"', client.get("/").get_data(as_text=True))
    assert match
    return match.group(1)


def test_page_links_the_stylesheet_under_the_static_files_digest(app: Flask, client: FlaskClient) -> None:
    version = content_version(str(app.static_folder))
    assert stylesheet_url(client) == f"/static/{version}/style.css"


def test_versioned_stylesheet_is_immutable_for_a_year(client: FlaskClient) -> None:
    resp = client.get(stylesheet_url(client))
    assert resp.status_code == 200
    assert resp.mimetype == "text/css"
    assert resp.cache_control.immutable
    assert resp.cache_control.public
    assert resp.cache_control.max_age == 365 * 24 * 3600
    assert resp.get_data() == client.get("/static/style.css").get_data()


def test_another_version_of_a_static_file_is_404(client: FlaskClient) -> None:
    assert client.get("/static/0123456789ab/style.css").status_code == 404


def test_deployment_names_the_version(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "n.sqlite3"),
                      "STATIC_VERSION": "a1b2c3d4e5f6"})
    client = app.test_client()
    assert stylesheet_url(client) == "/static/a1b2c3d4e5f6/style.css"
    assert client.get("/static/a1b2c3d4e5f6/style.css").status_code == 200


def test_version_changes_with_any_static_file(tmp_path: Path) -> None:
    (tmp_path / "style.css").write_text("a {}")
    before = content_version(str(tmp_path))
    (tmp_path / "style.css").write_text("a { color: red }")
    assert content_version(str(tmp_path)) != before
