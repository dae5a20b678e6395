"""plugins/strategy/mitogen_linear.py: Mitogen's linear strategy under the name ansible.cfg gives."""

from __future__ import annotations

import configparser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[4]
PLUGIN = "plugins/strategy/mitogen_linear.py"
# Importing ansible_mitogen imports ansible's ssh agent support, whose cryptography warns of DSA.
pytestmark = pytest.mark.filterwarnings("ignore:DSA is deprecated")


@pytest.fixture
def plugin(load_file):
    return load_file(PLUGIN)


def test_strategy_module_is_mitogens_linear_strategy(plugin):
    from ansible_mitogen.plugins.strategy import mitogen_linear

    assert plugin.StrategyModule is mitogen_linear.StrategyModule


def test_strategy_runs_plays_as_ansibles_linear_strategy_does(plugin):
    from ansible.plugins.strategy import linear

    assert issubclass(plugin.StrategyModule, linear.StrategyModule)


def test_exports_the_strategy_module_alone(plugin):
    assert plugin.__all__ == ["StrategyModule"]


def test_ansible_cfg_runs_plays_with_this_file_as_its_strategy():
    config = configparser.ConfigParser(interpolation=None)
    config.read(ROOT / "ansible.cfg")
    directory, strategy = config["defaults"]["strategy_plugins"], config["defaults"]["strategy"]
    assert (ROOT / directory / f"{strategy}.py") == ROOT / PLUGIN
