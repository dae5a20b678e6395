"""roles/python_app/files/release_digest.py: names a release of an app by its code, and packs that code.

tasks/release.yml runs `release_digest.py SRC_DIR PACKAGE ARCHIVE_DIR` on the controller and reads
one JSON object: digest, archive, version, stamp, migrate. The sources here are real trees in
tmp_path, laid out like the bundled app (app/), and the bundled app itself.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import tarfile
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[5]
MIGRATE = "python -m notes.migrate"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def src(tmp_path) -> Path:
    """An app's source like app/: the notes package (with a static file and byte-code caches beside
    the code), requirements.lock, and a pyproject.toml declaring the migration."""
    root = tmp_path / "src"
    write(root / "notes" / "__init__.py", '"""Notes."""\n\n__version__ = "1.4.0"\n')
    write(root / "notes" / "views.py", "def index():\n    return 'notes'\n")
    write(root / "notes" / "static" / "app.css", "body { margin: 0 }\n")
    (root / "notes" / "__pycache__").mkdir()
    (root / "notes" / "__pycache__" / "views.cpython-311.pyc").write_bytes(b"\x00compiled")
    write(root / "requirements.lock", "flask==3.1.3 --hash=sha256:00\n")
    write(root / "pyproject.toml", f'[project]\nname = "notes"\n\n[tool.flask-deploy]\nmigrate = "{MIGRATE}"\n')
    return root


def members(archive: str | Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(archive) as tar:
        return {info.name: info for info in tar.getmembers()}


def digest(module, src: Path, archive_dir: Path) -> str:
    return module.main(src, "notes", archive_dir)["digest"]


# --- what it prints -----------------------------------------------------------------------------------


def test_digest_is_a_sha256_hex(release_digest, src, tmp_path):
    assert re.fullmatch(r"[0-9a-f]{64}", digest(release_digest, src, tmp_path / "releases"))


def test_archive_is_named_by_the_digest_in_archive_dir(release_digest, src, tmp_path):
    out = release_digest.main(src, "notes", tmp_path / "releases")

    assert out["archive"] == str(tmp_path / "releases" / f"{out['digest']}.tar")


def test_archive_dir_is_made_when_missing(release_digest, src, tmp_path):
    out = release_digest.main(src, "notes", tmp_path / "cache" / "wheelhouse" / "releases")

    assert Path(out["archive"]).is_file()


def test_stamp_is_the_utc_time_now(release_digest, src, tmp_path):
    before = datetime.now(timezone.utc).replace(microsecond=0)

    stamp = release_digest.main(src, "notes", tmp_path / "releases")["stamp"]

    assert re.fullmatch(r"\d{8}T\d{6}Z", stamp)
    made = datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=timezone.utc)
    assert before <= made <= datetime.now(timezone.utc)


@pytest.mark.parametrize(("init", "version"), [
    ('__version__ = "1.4.0"\n', "1.4.0"),
    ("__version__ = '2.0.1'\n", "2.0.1"),
    ('"""Doc."""\n__version__="1.0+local_build-3"\n', "1.0+local_build-3"),
    ('__version__ = "2.0 beta/1"\n', "2.0_beta_1"),
    ('"""No version."""\n', "0"),
    ('    __version__ = "9.9"\n', "0"),
])
def test_version_is_the_packages_version_made_safe_for_a_name(release_digest, src, tmp_path, init, version):
    write(src / "notes" / "__init__.py", init)

    assert release_digest.main(src, "notes", tmp_path / "releases")["version"] == version


# --- the digest: same code, same release ------------------------------------------------------------


def test_same_code_elsewhere_gives_the_same_digest(release_digest, src, tmp_path):
    copy = shutil.copytree(src, tmp_path / "elsewhere" / "app")

    assert digest(release_digest, src, tmp_path / "a") == digest(release_digest, copy, tmp_path / "b")


@pytest.mark.parametrize("change", [
    "edit a module", "add a module", "rename a module", "edit a static file", "edit requirements.lock",
    "change the migration",
])
def test_digest_changes_with_the_code(release_digest, src, tmp_path, change):
    before = digest(release_digest, src, tmp_path / "releases")
    views = src / "notes" / "views.py"
    if change == "edit a module":
        write(views, views.read_text() + "# changed\n")
    elif change == "add a module":
        write(src / "notes" / "extra.py", "")
    elif change == "rename a module":
        views.rename(src / "notes" / "pages.py")
    elif change == "edit a static file":
        write(src / "notes" / "static" / "app.css", "body { margin: 1px }\n")
    elif change == "edit requirements.lock":
        write(src / "requirements.lock", "flask==3.1.2 --hash=sha256:01\n")
    else:
        write(src / "pyproject.toml", '[tool.flask-deploy]\nmigrate = "python -m notes.migrate --all"\n')

    assert digest(release_digest, src, tmp_path / "releases") != before


@pytest.mark.parametrize("cache", ["notes/__pycache__/app.cpython-313.pyc", "notes/stale.pyc", "notes/old.pyo",
                                   "notes/static/__pycache__/x.txt"])
def test_digest_ignores_byte_code_caches(release_digest, src, tmp_path, cache):
    before = digest(release_digest, src, tmp_path / "releases")
    (src / cache).parent.mkdir(parents=True, exist_ok=True)
    (src / cache).write_bytes(b"\x00compiled again")

    assert digest(release_digest, src, tmp_path / "releases") == before


@pytest.mark.parametrize("pyproject", [None, '[project]\nname = "notes"\n', "[tool.flask-deploy]\n",
                                       '[tool.flask-deploy]\nmigrate = ""\n'])
def test_app_without_a_migration_keeps_the_digest_it_had(release_digest, src, tmp_path, pyproject):
    (src / "pyproject.toml").unlink()
    without = digest(release_digest, src, tmp_path / "releases")
    if pyproject is not None:
        write(src / "pyproject.toml", pyproject)

    assert digest(release_digest, src, tmp_path / "releases") == without


# --- the migration command --------------------------------------------------------------------------


def test_migrate_is_the_command_pyproject_declares(release_digest, src, tmp_path):
    assert release_digest.main(src, "notes", tmp_path / "releases")["migrate"] == MIGRATE


def test_migrate_is_empty_without_pyproject(release_digest, src, tmp_path):
    (src / "pyproject.toml").unlink()

    assert release_digest.main(src, "notes", tmp_path / "releases")["migrate"] == ""


@pytest.mark.parametrize("value", ["['python', '-m', 'notes.migrate']", "true", "1", "{ command = 'x' }"])
def test_migrate_that_is_not_a_string_stops_naming_the_file_and_field(release_digest, src, tmp_path, value):
    write(src / "pyproject.toml", f"[tool.flask-deploy]\nmigrate = {value}\n")

    with pytest.raises(SystemExit) as exc:
        release_digest.main(src, "notes", tmp_path / "releases")

    assert str(exc.value.code) == f"{src / 'pyproject.toml'}: [tool.flask-deploy] migrate must be a command (a string)"


def test_migrate_needs_tomllib_and_says_so_naming_the_file(release_digest, src, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tomllib", None)  # what a controller's Python < 3.11 lacks

    with pytest.raises(SystemExit) as exc:
        release_digest.main(src, "notes", tmp_path / "releases")

    assert str(exc.value.code).startswith(f"{src / 'pyproject.toml'}: ")
    assert "needs Python 3.11 or later" in str(exc.value.code)


def test_nothing_is_packed_when_the_migration_is_refused(release_digest, src, tmp_path):
    write(src / "pyproject.toml", "[tool.flask-deploy]\nmigrate = 1\n")

    with pytest.raises(SystemExit):
        release_digest.main(src, "notes", tmp_path / "releases")

    assert not (tmp_path / "releases").exists()


# --- the archive, as the host unpacks it ------------------------------------------------------------------


def test_archive_holds_the_package_under_app_and_the_lock(release_digest, src, tmp_path):
    out = release_digest.main(src, "notes", tmp_path / "releases")

    assert sorted(members(out["archive"])) == [
        "app", "app/notes", "app/notes/__init__.py", "app/notes/static", "app/notes/static/app.css",
        "app/notes/views.py", "requirements.lock"]


def test_archive_files_hold_the_sources_content(release_digest, src, tmp_path):
    out = release_digest.main(src, "notes", tmp_path / "releases")

    with tarfile.open(out["archive"]) as tar:
        assert tar.extractfile("app/notes/views.py").read() == (src / "notes" / "views.py").read_bytes()
        assert tar.extractfile("requirements.lock").read() == (src / "requirements.lock").read_bytes()


@pytest.mark.parametrize("linked", ["requirements.lock", "notes/views.py"])
def test_a_file_that_is_a_link_is_packed_as_the_file_it_points_at(release_digest, src, tmp_path, linked):
    # molecule/releases/apps keeps its lock as a link to app/requirements.lock, as users may.
    target = write(tmp_path / "elsewhere" / "shared.txt", (src / linked).read_text())
    (src / linked).unlink()
    (src / linked).symlink_to(os.path.relpath(target, (src / linked).parent))

    out = release_digest.main(src, "notes", tmp_path / "releases")

    member = members(out["archive"])[linked if linked == "requirements.lock" else f"app/{linked}"]
    assert member.isfile()
    with tarfile.open(out["archive"]) as tar:
        assert tar.extractfile(member).read() == target.read_bytes()


def test_archive_members_are_root_owned_whoever_owns_the_sources(release_digest, src, tmp_path, idle_account):
    if os.geteuid() == 0:  # run by anyone else, the sources are that someone's already
        for path in [src, *src.rglob("*")]:
            os.lchown(path, idle_account.pw_uid, idle_account.pw_gid)
    assert src.stat().st_uid != 0

    out = release_digest.main(src, "notes", tmp_path / "releases")

    assert {(i.uid, i.gid, i.uname, i.gname) for i in members(out["archive"]).values()} == {(0, 0, "root", "root")}


def test_archive_directories_are_0755_and_files_0644_whatever_the_sources_modes(release_digest, src, tmp_path):
    (src / "notes" / "views.py").chmod(0o700)
    (src / "notes" / "static").chmod(0o700)
    (src / "requirements.lock").chmod(0o600)

    out = release_digest.main(src, "notes", tmp_path / "releases")

    modes = {name: (info.isdir(), info.mode) for name, info in members(out["archive"]).items()}
    assert {mode for is_dir, mode in modes.values() if is_dir} == {0o755}
    assert {mode for is_dir, mode in modes.values() if not is_dir} == {0o644}


def test_archive_is_written_anew_over_an_earlier_one(release_digest, src, tmp_path):
    archive = Path(release_digest.main(src, "notes", tmp_path / "releases")["archive"])
    archive.write_bytes(b"what an interrupted earlier run left")

    release_digest.main(src, "notes", tmp_path / "releases")

    assert "app/notes/views.py" in members(archive)


def test_archive_dir_holds_only_the_archive(release_digest, src, tmp_path):
    out = release_digest.main(src, "notes", tmp_path / "releases")

    assert list((tmp_path / "releases").iterdir()) == [Path(out["archive"])]


def test_archive_that_cannot_be_written_leaves_nothing_behind(release_digest, src, tmp_path):
    releases = tmp_path / "releases"
    files = [src / "notes" / "views.py", src / "notes" / "gone.py"]  # one vanished since it was listed

    with pytest.raises(FileNotFoundError):
        release_digest.write_archive(src, files, releases / "x.tar")

    assert list(releases.iterdir()) == []


# --- the program, as tasks/release.yml runs it ----------------------------------------------------------


def test_program_prints_one_json_object(run_program, src, tmp_path):
    run = run_program("release_digest.py", src, "notes", tmp_path / "releases")

    assert run.code == 0
    assert set(json.loads(run.stdout)) == {"digest", "archive", "version", "stamp", "migrate"}


def test_program_packs_what_a_symlinked_source_points_to(run_program, release_digest, src, tmp_path):
    link = tmp_path / "playbooks" / "app"
    link.parent.mkdir()
    link.symlink_to(src)

    run = run_program("release_digest.py", link, "notes", tmp_path / "releases")

    out = json.loads(run.stdout)
    assert out["digest"] == digest(release_digest, src, tmp_path / "other")
    assert "app/notes/views.py" in members(out["archive"])


def test_bundled_app_is_packed_with_its_migration(release_digest, tmp_path):
    out = release_digest.main(ROOT / "app", "notes", tmp_path / "releases")

    names = members(out["archive"])
    assert {"app/notes/__init__.py", "app/notes/migrate.py", "app/notes/wsgi.py", "requirements.lock"} <= set(names)
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]
    assert out["migrate"] == MIGRATE
