#!/usr/bin/python
"""What a host holds of one app's releases, in one round trip (python_app's release.yml, prune.yml
and rollback.yml ask it once instead of a find and two stats)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: releases_info
short_description: An app's releases on the host, which are complete, and which one runs
description:
  - Lists the release directories of one app, the ones whose build completed (they hold
    O(marker)) and the release that O(current) links to. Changes nothing.
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
"""

import os

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "path": {"type": "path", "required": True},
            "current": {"type": "path", "required": True},
            "marker": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    path, current, marker = (module.params[k] for k in ("path", "current", "marker"))
    try:
        # Directories only, not links to them, and no hidden ones (as ansible.builtin.find).
        with os.scandir(path) as entries:
            releases = sorted(e.name for e in entries if e.is_dir(follow_symlinks=False) and not e.name.startswith("."))
    except FileNotFoundError:
        releases = []
    except OSError as e:
        module.fail_json(msg=f"cannot list the releases in {path}: {e}")
    complete = [name for name in releases if os.path.isfile(os.path.join(path, name, marker))]
    running = os.path.basename(os.readlink(current)) if os.path.islink(current) else ""
    module.exit_json(changed=False, releases=releases, complete=complete, current=running)


if __name__ == "__main__":
    main()
