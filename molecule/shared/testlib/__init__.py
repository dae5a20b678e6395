"""The Molecule scenarios' one test library: how a converged host looks, how to reach it, how
to drive ansible-playbook and load, and how to wait. The scenarios import it as a package
(molecule/pytest.ini puts molecule/shared on the path); their conftest.py files hold fixtures.
"""
