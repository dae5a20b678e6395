"""Variants of the bundled app for deploys under test: another version, optionally broken."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable
from pathlib import Path

from testlib.run import PROJECT, SCENARIO, PlaybookRun, run_playbook

PACKAGE = "notes"


def app_variant(dest: Path, version: str, change: Callable[[Path], None] | None = None) -> Path:
    """A copy of app/ in dest (no tests, no caches) at version, with change applied to its package."""
    shutil.copytree(PROJECT / "app", dest, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "tests", "instance"))
    init = dest / PACKAGE / "__init__.py"
    init.write_text(re.sub(r'__version__ = "[^"]+"', f'__version__ = "{version}"', init.read_text()))
    if change:
        change(dest / PACKAGE)
    return dest


def deploy(src: Path, *args: str) -> PlaybookRun:
    """The scenario's converge with notes' code from src (the releases scenario's releases_notes_src)."""
    return run_playbook(SCENARIO / "converge.yml", "-e", f"releases_notes_src={src}", *args)


def deploy_code(src: Path, *args: str) -> PlaybookRun:
    """playbooks/deploy.yml, the code path, with notes' code from src."""
    return run_playbook(PROJECT / "playbooks" / "deploy.yml", "-e", f"releases_notes_src={src}", *args)


def changed_lock(package: Path) -> None:
    """The app's requirements.lock gets a comment: the same packages, but another lock to build from."""
    lock = package.parent / "requirements.lock"
    lock.write_text(lock.read_text() + f"# changed for the {package.name} release under test\n")


def failing_healthz(package: Path) -> None:
    """The app's /healthz answers 500 (its body still names the release)."""
    views = package / "views.py"
    source = views.read_text()
    assert "return jsonify(body), 200" in source
    views.write_text(source.replace("return jsonify(body), 200", "return jsonify(body), 500"))


def failing_import(message: str) -> Callable[[Path], None]:
    """The app's WSGI module raises message on import."""

    def change(package: Path) -> None:
        (package / "wsgi.py").write_text(f"raise RuntimeError({message!r})\n")

    return change


def adding_migration(number: int, sql: str) -> Callable[[Path], None]:
    """The app's migrations end with one more: number, which runs sql (on either database)."""

    def change(package: Path) -> None:
        migrate = package / "migrate.py"
        source = migrate.read_text()
        assert "\nLATEST = MIGRATIONS[-1][0]\n" in source
        migrate.write_text(source.replace("\nLATEST = MIGRATIONS[-1][0]\n",
                                          f"\nMIGRATIONS = (*MIGRATIONS, ({number}, {{'sqlite': {sql!r}, 'postgresql': {sql!r}}}))"
                                          "\nLATEST = MIGRATIONS[-1][0]\n"))

    return change


def half_committed_migration(sql: str, message: str) -> Callable[[Path], None]:
    """The app's migration command commits sql on its own, then fails with message: a migration
    that is not one transaction, which leaves the database changed."""

    def change(package: Path) -> None:
        migrate = package / "migrate.py"
        source = migrate.read_text()
        entry = 'if __name__ == "__main__":\n    sys.exit(main())\n'
        assert entry in source
        migrate.write_text(source.replace(entry, (
            'if __name__ == "__main__":\n'
            '    conn = sqlite3.connect(os.environ["NOTES_DATABASE"], isolation_level=None)\n'
            f'    conn.execute({sql!r})\n'
            '    conn.close()\n'
            f'    raise RuntimeError({message!r})\n')))

    return change
