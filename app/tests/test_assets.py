"""Static files under versioned URLs (notes.assets)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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


@pytest.mark.parametrize("digest", ["123456789012", "1234e5678901", "0e1234567890"])
def test_a_digest_from_the_environment_stays_a_string_even_if_it_reads_as_a_number(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, digest: str) -> None:
    monkeypatch.setenv("NOTES_STATIC_VERSION", digest)
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "n.sqlite3")})
    client = app.test_client()
    assert stylesheet_url(client) == f"/static/{digest}/style.css"
    assert client.get(f"/static/{digest}/style.css").status_code == 200


def test_a_file_in_a_static_subdirectory_is_still_served_at_its_plain_url(tmp_path: Path) -> None:
    app = create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "n.sqlite3")})
    folder = Path(str(app.static_folder)) / "img"
    folder.mkdir()
    try:
        (folder / "dot.svg").write_text("<svg/>")
        assert app.test_client().get("/static/img/dot.svg").status_code == 200
    finally:
        (folder / "dot.svg").unlink()
        folder.rmdir()


def test_a_version_that_is_not_one_path_segment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="STATIC_VERSION"):
        create_app({"TESTING": True, "SECRET_KEY": "t", "DATABASE": str(tmp_path / "n.sqlite3"),
                    "STATIC_VERSION": "a/b"})
