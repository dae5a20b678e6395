# Mitogen's linear strategy under a path the checkout knows (ansible.cfg: strategy_plugins), from
# the mitogen package that scripts/bootstrap installs into .venv (requirements-dev.txt), so no
# path names a Python version. Plays run as with `linear`; each host keeps one connection and one
# Python for the whole run instead of one per task. Back to Ansible's own: ANSIBLE_STRATEGY=linear.
from __future__ import annotations

from ansible_mitogen.plugins.strategy.mitogen_linear import StrategyModule

__all__ = ["StrategyModule"]
