"""flask_deploy.stack's app names: one definition for the roles' checks and the wiring's."""

from __future__ import annotations

import pytest

from conftest import load

names = load("plugins/module_utils/names.py")
plugin = load("plugins/test/names.py")


@pytest.mark.parametrize("value", ["a", "notes", "my-app_2", "a" + "b" * 30])
def test_safe_user_and_file_names_are_app_names(value: str) -> None:
    assert names.is_app_name(value)


@pytest.mark.parametrize("value", ["", "Notes", "2fa", "-app", "my app", "notes\n", "a" + "b" * 31, "nötes", None, 7])
def test_anything_else_is_no_app_name(value: object) -> None:
    assert not names.is_app_name(value)


def test_the_test_plugin_is_the_same_definition() -> None:
    from ansible_collections.flask_deploy.stack.plugins.module_utils import names as shared

    assert plugin.TestModule().tests() == {"app_name": shared.is_app_name}
