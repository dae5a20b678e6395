"""The production scenario's hosts and domain, as fixtures; tests that name `web` or `app`
run once for each web host or app host (by name), over SSH with sudo."""

from __future__ import annotations

import os
import subprocess
import pytest
import yaml
from testlib.load import Report
from testlib.run import SCENARIO

DOMAIN = "notes.example.test"
WEB = ("prod-both", "prod-web")
APPS = ("prod-both", "prod-app")


# test_scale destroys an app host, replaces it and powers an app host off: it runs last.
LAST = "test_scale.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name == LAST)  # stable: the rest keep their order


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "web" in metafunc.fixturenames:
        metafunc.parametrize("web", WEB)
    if "app" in metafunc.fixturenames:
        metafunc.parametrize("app", APPS)


@pytest.fixture(scope="session")
def report() -> Report:
    """The scenario's table of cases under load (.cache/production-report.md)."""
    return Report("production")


@pytest.fixture(scope="session")
def domain() -> str:
    return DOMAIN


@pytest.fixture(scope="session")
def server_names() -> list[str]:
    """Every name of the site, as the scenario's inventory gives them (the domain first)."""
    group_vars = SCENARIO / "inventory" / "group_vars" / "all" / "main.yml"
    names = yaml.safe_load(group_vars.read_text())["notes_server_names"]
    assert names[0] == DOMAIN
    return names


@pytest.fixture(scope="session")
def web_names() -> tuple[str, ...]:
    return WEB


@pytest.fixture(scope="session")
def app_names() -> tuple[str, ...]:
    return APPS


@pytest.fixture(scope="session")
def vault() -> dict[str, str]:
    """The secrets the inventory keeps in Ansible Vault, decrypted on the controller."""
    plain = subprocess.run(
        ["ansible-vault", "view", str(SCENARIO / "inventory" / "group_vars" / "all" / "vault.yml")],
        capture_output=True, text=True, check=True,
        env={**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(SCENARIO / "vault-password")},
    ).stdout
    secrets = yaml.safe_load(plain)
    assert all(len(secrets[k]) >= 32 for k in ("vault_notes_secret_key", "vault_notes_database_password"))
    return secrets
