"""plugins/modules/releases_info.py: an app's releases, the complete ones and the running one, in one call.

The module's main() runs as Ansible runs it (its arguments through ansible-core's own test helper),
over real directories in tmp_path; its result is the JSON it prints before it exits.
"""

from __future__ import annotations

import json
import os
import runpy
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.testing import patch_module_args

ROOT = Path(__file__).resolve().parents[4]
MARKER = "venv/.complete"


@pytest.fixture
def releases_info(load_file):
    return load_file("plugins/modules/releases_info.py")


@pytest.fixture
def run(releases_info, capsys):
    """Run the module with these arguments: (exit code, result)."""
    def run_module(**args):
        with patch_module_args(args), pytest.raises(SystemExit) as exited:
            releases_info.main()
        return exited.value.code, json.loads(capsys.readouterr().out)
    return run_module


def release(root, name: str, complete: bool = True):
    path = root / "releases" / name
    (path / "app").mkdir(parents=True)
    if complete:
        (path / MARKER).parent.mkdir(parents=True)
        (path / MARKER).write_text("")
    return path


def args(root, **more):
    return {"path": str(root / "releases"), "current": str(root / "current"), "marker": MARKER, **more}


def tree(root) -> list[tuple[str, str]]:
    """Every path under root and what it is (a link with its target), to show nothing changed."""
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            out.append((path, os.readlink(path) if os.path.islink(path) else str(os.path.isdir(path))))
    return sorted(out)


def test_releases_are_the_release_directories_sorted_oldest_first(tmp_path, run):
    for name in ("20240301T000000Z-c", "20240101T000000Z-a", "20240201T000000Z-b"):
        release(tmp_path, name)
    rc, result = run(**args(tmp_path))
    assert rc == 0
    assert result["releases"] == ["20240101T000000Z-a", "20240201T000000Z-b", "20240301T000000Z-c"]


@pytest.mark.parametrize("make", [
    pytest.param(lambda releases: (releases / ".20240102T000000Z-tmp").mkdir(), id="hidden-directory"),
    pytest.param(lambda releases: (releases / "20240102T000000Z.tar").write_text("x"), id="file"),
    pytest.param(lambda releases: (releases / "latest").symlink_to(releases / "20240101T000000Z-a"),
                 id="link-to-a-release"),
    pytest.param(lambda releases: (releases / "gone").symlink_to(releases / "nowhere"), id="broken-link"),
])
def test_releases_leave_out_what_is_not_a_visible_directory(tmp_path, run, make):
    release(tmp_path, "20240101T000000Z-a")
    make(tmp_path / "releases")
    _, result = run(**args(tmp_path))
    assert result["releases"] == ["20240101T000000Z-a"]


def test_complete_releases_are_the_ones_holding_the_marker(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    release(tmp_path, "20240201T000000Z-b", complete=False)
    release(tmp_path, "20240301T000000Z-c")
    _, result = run(**args(tmp_path))
    assert result["complete"] == ["20240101T000000Z-a", "20240301T000000Z-c"]


def test_a_marker_that_is_a_directory_does_not_make_a_release_complete(tmp_path, run):
    (release(tmp_path, "20240101T000000Z-a", complete=False) / MARKER).mkdir(parents=True)
    _, result = run(**args(tmp_path))
    assert (result["releases"], result["complete"]) == (["20240101T000000Z-a"], [])


def test_current_is_the_name_of_the_release_the_link_points_to(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    target = release(tmp_path, "20240201T000000Z-b")
    (tmp_path / "current").symlink_to(target)
    _, result = run(**args(tmp_path))
    assert result["current"] == "20240201T000000Z-b"


def test_current_reads_a_relative_link(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    (tmp_path / "current").symlink_to("releases/20240101T000000Z-a")
    _, result = run(**args(tmp_path))
    assert result["current"] == "20240101T000000Z-a"


def test_current_names_the_release_a_link_points_to_even_when_that_release_is_gone(tmp_path, run):
    (tmp_path / "releases").mkdir()
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "20240101T000000Z-a")
    _, result = run(**args(tmp_path))
    assert (result["releases"], result["current"]) == ([], "20240101T000000Z-a")


@pytest.mark.parametrize("make", [
    pytest.param(lambda current: None, id="missing"),
    pytest.param(lambda current: current.mkdir(), id="directory"),
    pytest.param(lambda current: current.write_text("20240101T000000Z-a"), id="file"),
])
def test_current_is_empty_when_current_is_not_a_link(tmp_path, run, make):
    release(tmp_path, "20240101T000000Z-a")
    make(tmp_path / "current")
    _, result = run(**args(tmp_path))
    assert result["current"] == ""


def test_missing_releases_directory_holds_no_releases(tmp_path, run):
    rc, result = run(**args(tmp_path))
    assert rc == 0
    assert (result["releases"], result["complete"], result["current"]) == ([], [], "")
    assert not result.get("failed")


def test_empty_releases_directory_holds_no_releases(tmp_path, run):
    (tmp_path / "releases").mkdir()
    _, result = run(**args(tmp_path))
    assert (result["releases"], result["complete"]) == ([], [])


def test_reports_no_change_and_changes_nothing(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    release(tmp_path, "20240201T000000Z-b", complete=False)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "20240101T000000Z-a")
    before = tree(tmp_path)
    _, result = run(**args(tmp_path))
    assert result["changed"] is False
    assert tree(tmp_path) == before


def test_check_mode_reports_what_a_normal_run_reports(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    release(tmp_path, "20240201T000000Z-b", complete=False)
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "20240101T000000Z-a")
    before = tree(tmp_path)
    rc, checked = run(**args(tmp_path, _ansible_check_mode=True))
    assert rc == 0
    assert {k: checked[k] for k in ("changed", "releases", "complete", "current")} == {
        "changed": False, "releases": ["20240101T000000Z-a", "20240201T000000Z-b"],
        "complete": ["20240101T000000Z-a"], "current": "20240101T000000Z-a",
    }
    assert tree(tmp_path) == before


def test_check_mode_with_a_missing_releases_directory_holds_no_releases(tmp_path, run):
    rc, result = run(**args(tmp_path, _ansible_check_mode=True))
    assert (rc, result["releases"], result["complete"], result["current"]) == (0, [], [], "")


def test_releases_path_that_is_not_a_directory_fails_naming_the_path(tmp_path, run):
    (tmp_path / "releases").write_text("not a directory")
    rc, result = run(**args(tmp_path))
    assert rc == 1
    assert result["failed"] is True
    assert result["msg"].startswith(f"cannot list the releases in {tmp_path / 'releases'}: ")


@pytest.mark.parametrize("option", ["path", "current", "marker"])
def test_missing_option_fails_naming_it(tmp_path, run, option):
    given = args(tmp_path)
    del given[option]
    rc, result = run(**given)
    assert (rc, result["failed"]) == (1, True)
    assert result["msg"] == f"missing required arguments: {option}"


def test_paths_are_expanded_like_ansibles_path_options(tmp_path, run, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    release(tmp_path, "20240101T000000Z-a")
    (tmp_path / "current").symlink_to(tmp_path / "releases" / "20240101T000000Z-a")
    _, result = run(path="~/releases", current="~/current", marker=MARKER)
    assert (result["releases"], result["complete"], result["current"]) == (
        ["20240101T000000Z-a"], ["20240101T000000Z-a"], "20240101T000000Z-a")


def test_documentation_names_the_options_and_return_values_it_has(tmp_path, run, releases_info):
    _, result = run(**args(tmp_path))
    documented = yaml.safe_load(releases_info.DOCUMENTATION)
    assert documented["module"] == "releases_info"
    assert set(documented["options"]) == set(result["invocation"]["module_args"]) == {
        "path", "current", "marker", "venvs", "venv_marker", "venv_link"}
    assert set(yaml.safe_load(releases_info.RETURN)) == set(result) - {"changed", "invocation"}


def test_runs_as_the_script_ansible_executes(tmp_path, capsys):
    release(tmp_path, "20240101T000000Z-a")
    with patch_module_args(args(tmp_path)), pytest.raises(SystemExit) as exited:
        runpy.run_path(str(ROOT / "plugins" / "modules" / "releases_info.py"), run_name="__main__")
    assert exited.value.code == 0
    assert json.loads(capsys.readouterr().out)["releases"] == ["20240101T000000Z-a"]


def venv(root, name: str, complete: bool = True):
    path = root / "venvs" / name
    (path / "bin").mkdir(parents=True)
    if complete:
        (path / ".complete").write_text("")
    return path


def linked(root, release_name: str, venv_name: str, relative: bool = True):
    """A complete release whose venv is a link to the shared virtualenv venv_name."""
    path = root / "releases" / release_name
    (path / "app").mkdir(parents=True)
    (path / "venv").symlink_to(f"../../venvs/{venv_name}" if relative else root / "venvs" / venv_name)
    return path


def test_without_venvs_no_virtualenvs_are_listed(tmp_path, run):
    venv(tmp_path, "py3.11-aaaa")
    _, result = run(**args(tmp_path))
    assert (result["venvs"], result["complete_venvs"], result["venv_of"]) == ([], [], {})


def test_venvs_are_the_virtualenv_directories_sorted_and_complete_ones_hold_their_marker(tmp_path, run):
    venv(tmp_path, "py3.11-bbbb", complete=False)
    venv(tmp_path, "py3.11-aaaa")
    (tmp_path / "venvs" / ".py3.11-tmp").mkdir()
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert result["venvs"] == ["py3.11-aaaa", "py3.11-bbbb"]
    assert result["complete_venvs"] == ["py3.11-aaaa"]


def test_missing_venvs_directory_holds_no_virtualenvs(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")
    rc, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert (rc, result["venvs"], result["complete_venvs"]) == (0, [], [])


@pytest.mark.parametrize("relative", [True, False], ids=["relative-link", "absolute-link"])
def test_venv_of_names_the_shared_virtualenv_each_release_links_to(tmp_path, run, relative):
    venv(tmp_path, "py3.11-aaaa")
    venv(tmp_path, "py3.11-bbbb")
    linked(tmp_path, "20240101T000000Z-a", "py3.11-aaaa", relative)
    linked(tmp_path, "20240201T000000Z-b", "py3.11-aaaa", relative)
    linked(tmp_path, "20240301T000000Z-c", "py3.11-bbbb", relative)
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert result["venv_of"] == {"20240101T000000Z-a": "py3.11-aaaa", "20240201T000000Z-b": "py3.11-aaaa",
                                 "20240301T000000Z-c": "py3.11-bbbb"}


def test_a_release_with_a_virtualenv_of_its_own_links_to_none(tmp_path, run):
    release(tmp_path, "20240101T000000Z-a")  # built before virtualenvs were shared: venv/ is a directory
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert result["venv_of"] == {}
    assert result["complete"] == ["20240101T000000Z-a"]


def test_a_release_is_complete_when_the_virtualenv_it_links_to_is(tmp_path, run):
    venv(tmp_path, "py3.11-aaaa")
    venv(tmp_path, "py3.11-bbbb", complete=False)
    linked(tmp_path, "20240101T000000Z-a", "py3.11-aaaa")
    linked(tmp_path, "20240201T000000Z-b", "py3.11-bbbb")
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert result["complete"] == ["20240101T000000Z-a"]


def test_a_link_to_a_virtualenv_that_is_gone_still_names_it(tmp_path, run):
    linked(tmp_path, "20240101T000000Z-a", "py3.11-gone")
    (tmp_path / "venvs").mkdir()
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert (result["venv_of"], result["complete"]) == ({"20240101T000000Z-a": "py3.11-gone"}, [])


def test_a_link_outside_the_venvs_directory_names_no_shared_virtualenv(tmp_path, run):
    (tmp_path / "elsewhere").mkdir()
    path = tmp_path / "releases" / "20240101T000000Z-a"
    path.mkdir(parents=True)
    (path / "venv").symlink_to(tmp_path / "elsewhere")
    _, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert result["venv_of"] == {}


def test_venvs_path_that_is_not_a_directory_fails_naming_the_path(tmp_path, run):
    (tmp_path / "venvs").write_text("not a directory")
    rc, result = run(**args(tmp_path, venvs=str(tmp_path / "venvs")))
    assert rc == 1
    assert result["msg"].startswith(f"cannot list the virtualenvs in {tmp_path / 'venvs'}: ")
