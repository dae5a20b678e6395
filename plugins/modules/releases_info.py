#!/usr/bin/python
"""What a host holds of one app's releases and virtualenvs, in one round trip (python_app's release.yml,
prune.yml and rollback.yml ask it once instead of a find and several stats)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: releases_info
short_description: An app's releases on the host, which are complete, and which one runs
description:
  - Lists the release directories of one app, the ones whose build completed (they hold
    O(marker)) and the release that O(current) links to. Changes nothing.
  - With O(venvs), also the app's shared virtualenvs (one per lock file and Python), the ones
    whose build completed (they hold O(venv_marker)) and the one each release links to.
options:
  path:
    description: The app's releases directory. A missing one holds no releases.
    type: path
    required: true
  current:
    description: The link to the running release.
    type: path
    required: true
  marker:
    description: A file, relative to a release's directory, that only a completed build has.
    type: str
    required: true
  venvs:
    description: The app's directory of shared virtualenvs. A missing one holds none; unset, none are listed.
    type: path
  venv_marker:
    description: A file, relative to a virtualenv's directory, that only a completed build has.
    type: str
    default: .complete
  venv_link:
    description: The path, relative to a release's directory, of its link to the virtualenv it runs.
    type: str
    default: venv
"""

RETURN = r"""
releases:
  description: Names of the release directories, sorted (oldest first; names start with a UTC stamp).
  type: list
  elements: str
  returned: always
complete:
  description: The subset of O(releases) that holds O(marker).
  type: list
  elements: str
  returned: always
current:
  description: The name of the release O(current) links to; empty when it is not a link.
  type: str
  returned: always
venvs:
  description: Names of the directories in O(venvs), sorted; empty without O(venvs).
  type: list
  elements: str
  returned: always
complete_venvs:
  description: The subset of RV(venvs) that holds O(venv_marker).
  type: list
  elements: str
  returned: always
venv_of:
  description: >-
    For each release whose O(venv_link) is a link into O(venvs), the name of that virtualenv (the
    link may point to one that is gone). Releases with a virtualenv of their own are left out.
  type: dict
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule


def _directories(path: str) -> list[str]:
    """Visible directories in path (not links to them), sorted; none when path is missing."""
    try:
        # Directories only, not links to them, and no hidden ones (as ansible.builtin.find).
        with os.scandir(path) as entries:
            return sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except FileNotFoundError:
        return []


def _linked_venvs(path: str, releases: list[str], link: str, venvs: str) -> dict[str, str]:
    """The virtualenv under venvs that each release's link names (relative links resolved)."""
    out = {}
    for name in releases:
        link_path = os.path.join(path, name, link)
        if not os.path.islink(link_path):
            continue
        target = os.path.normpath(os.path.join(os.path.dirname(link_path), os.readlink(link_path)))
        if os.path.dirname(target) == os.path.normpath(venvs):
            out[name] = os.path.basename(target)
    return out


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "current": {"type": "path", "required": True},
            "marker": {"type": "str", "required": True},
            "venvs": {"type": "path"},
            "venv_marker": {"type": "str", "default": ".complete"},
            "venv_link": {"type": "str", "default": "venv"},
        },
        supports_check_mode=True,
    )
    path, current, marker = (module.params[k] for k in ("path", "current", "marker"))
    venvs_dir = module.params["venvs"]
    try:
        releases = _directories(path)
    except OSError as e:
        module.fail_json(msg=f"cannot list the releases in {path}: {e}")
    try:
        venvs = _directories(venvs_dir) if venvs_dir else []
    except OSError as e:
        module.fail_json(msg=f"cannot list the virtualenvs in {venvs_dir}: {e}")
    complete = [name for name in releases if os.path.isfile(os.path.join(path, name, marker))]
    complete_venvs = [name for name in venvs if os.path.isfile(os.path.join(venvs_dir, name, module.params["venv_marker"]))]
    venv_of = _linked_venvs(path, releases, module.params["venv_link"], venvs_dir) if venvs_dir else {}
    running = os.path.basename(os.readlink(current)) if os.path.islink(current) else ""
    module.exit_json(changed=False, releases=releases, complete=complete, current=running,
                     venvs=venvs, complete_venvs=complete_venvs, venv_of=venv_of)


if __name__ == "__main__":
    main()
