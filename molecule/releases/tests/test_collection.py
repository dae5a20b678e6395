"""The project installs as the collection flask_deploy.stack and its roles converge a host.

Built with ansible-galaxy from the checkout, installed into an empty collections path, and run
with nothing else on the roles' path, against the hosts the scenario converged from the
checkout: the collection's roles find the hosts exactly as they left them (changed=0).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
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


def test_collection_holds_the_three_roles(collections: Path) -> None:
    roles = collections / "ansible_collections" / "flask_deploy" / "stack" / "roles"
    assert sorted(p.name for p in roles.iterdir()) == ["nginx_vhost", "python_app", "uwsgi_emperor"]


def test_collection_roles_by_their_full_names_find_the_hosts_converged(collections: Path) -> None:
    run = run_playbook(
        Path(__file__).with_name("collection.yml"),
        env={"ANSIBLE_COLLECTIONS_PATH": str(collections), "ANSIBLE_ROLES_PATH": str(collections / "none")},
    )
    assert run.rc == 0, run
    assert "flask_deploy.stack.python_app" in run.text
    assert run.changed and set(run.changed.values()) == {0}, run.changed
