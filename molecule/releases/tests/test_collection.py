"""The project installs as the collection flask_deploy.stack and its roles converge a host.

Built with ansible-galaxy from the checkout, installed into an empty collections path, and run
with nothing else on the roles' path, with the code of the release the last deploy switched to
(test_browser's): the collection's roles find the host exactly as that deploy left it
(changed=0, no release built), so a deploy is idempotent right after a switch.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from testlib.layout import RELEASES_DIR
from testlib.run import PROJECT, run_playbook


@pytest.fixture(scope="module")
def collections(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("collection")
    subprocess.run(["ansible-galaxy", "collection", "build", "--output-path", str(work), str(PROJECT)],
                   check=True, capture_output=True, text=True)
    tarball = next(work.glob("flask_deploy-stack-*.tar.gz"))
    # Its dependencies (community.crypto, ansible.posix) come with the `ansible` package.
    # Only the empty path is searched: the checkout (collections/ in Molecule's path) would
    # otherwise count as installed already.
    subprocess.run(["ansible-galaxy", "collection", "install", "--no-deps", "-p", str(work / "collections"),
                    str(tarball)], check=True, capture_output=True, text=True,
                   env={**os.environ, "ANSIBLE_COLLECTIONS_PATH": str(work / "collections")})
    return work / "collections"


def test_collection_holds_the_seven_roles(collections: Path) -> None:
    roles = collections / "ansible_collections" / "flask_deploy" / "stack" / "roles"
    assert sorted(p.name for p in roles.iterdir()) == ["host_patches", "nftables_port", "nginx_vhost", "node_exporter",
                                                       "postgresql_server", "python_app", "uwsgi_emperor"]


def test_collection_holds_the_plugins_the_roles_use(collections: Path) -> None:
    plugins = collections / "ansible_collections" / "flask_deploy" / "stack" / "plugins"
    assert {p.relative_to(plugins).as_posix() for p in plugins.glob("*/*.py")} == {
        "filter/host.py", "filter/stack.py", "modules/releases_info.py", "module_utils/app_layout.py",
        "module_utils/names.py", "module_utils/role_defaults.py", "test/names.py", "test/network.py"}


def test_collection_roles_by_their_full_names_find_the_host_as_the_last_deploy_left_it(
    host: Any, collections: Path, restyled_app: Path
) -> None:
    releases = host.file(RELEASES_DIR).listdir()
    run = run_playbook(
        Path(__file__).with_name("collection.yml"), "-e", f"releases_notes_src={restyled_app}",
        env={"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_ROLES_PATH": str(collections / "none")},
    )
    assert run.rc == 0, run
    assert "flask_deploy.stack.python_app" in run.text
    assert run.changed and set(run.changed.values()) == {0}, run.changed
    assert host.file(RELEASES_DIR).listdir() == releases
