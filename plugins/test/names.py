"""Tests of the names the roles build paths, users and units from (flask_deploy.stack)."""

from __future__ import annotations

from typing import Any

from ansible_collections.flask_deploy.stack.plugins.module_utils.names import is_app_name


class TestModule:
    """flask_deploy.stack tests of names."""

    def tests(self) -> dict[str, Any]:
        return {"app_name": is_app_name}
