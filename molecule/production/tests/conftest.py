"""Hosts, names and the vault secret of the production scenario."""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import testinfra
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "shared"))
from harness import INVENTORY, PROJECT, SCENARIO, install_loadgen  # noqa: E402  (import after the sys.path line above, on purpose)

SERVER_NAME = "notes.example.test"
WEB = ("prod-both", "prod-web")
APPS = ("prod-both", "prod-app")
TLS_CERT = "/etc/nginx/tls/notes.crt"
ENV_FILE = "/etc/notes/environment"
VAULT_FILE = SCENARIO / "inventory" / "group_vars" / "all" / "vault.yml"
SECRET_NAME = "NOTES_SECRET_KEY"


def node(name: str) -> Any:
    """A scenario host over SSH as the inventory says (deploy, with sudo for root)."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}", sudo=True)


def address(host: Any) -> str:
    return host.check_output("hostname -I").split()[0]


def https(host: Any, path: str, *args: str) -> Any:
    """curl on the host to the site's name at its own loopback, the certificate checked."""
    quoted = " ".join(shlex.quote(a) for a in args)
    return host.run(
        f"curl -sS --max-time 20 --resolve {SERVER_NAME}:443:127.0.0.1 --cacert {TLS_CERT} {quoted} "
        f"https://{SERVER_NAME}{path}"
    )


def is_web(host: Any) -> bool:
    return host.backend.get_hostname() in WEB


def is_app(host: Any) -> bool:
    return host.backend.get_hostname() in APPS


@pytest.fixture(scope="session")
def vault_secret() -> str:
    """The secret the inventory keeps in Ansible Vault, decrypted on the controller."""
    plain = subprocess.run(
        ["ansible-vault", "view", str(VAULT_FILE)], capture_output=True, text=True, check=True,
        env={**os.environ, "ANSIBLE_VAULT_PASSWORD_FILE": str(SCENARIO / "vault-password")},
    ).stdout
    secret = yaml.safe_load(plain)["vault_notes_secret_key"]
    assert len(secret) >= 32
    return secret


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@pytest.fixture(scope="module")
def loadgen(host: Any) -> str:
    return install_loadgen(host)


__all__ = ["APPS", "PROJECT", "WEB", "address", "https", "is_app", "is_web", "node", "sha256"]
