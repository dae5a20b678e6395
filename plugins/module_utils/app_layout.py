"""Where an app lives on its host: the one definition of its paths, used by the python_app role
(its internal variables, through the filter flask_deploy.stack.app_paths) and by the wiring (the
filter flask_deploy.stack.sites, which points nginx at the app's socket and static files).
"""

from __future__ import annotations

from ansible_collections.flask_deploy.stack.plugins.module_utils.role_defaults import ROLE_DEFAULTS

_DEFAULTS = ROLE_DEFAULTS["python_app"]
NAME_FIELD = "{{ python_app_name }}"


def app_paths(name: str, root: str | None = None, socket_dir: str | None = None,
              static_dir: str = "") -> dict[str, str]:
    """The app's directories, socket and links. root and socket_dir: python_app_root and
    python_app_socket_dir, or None (or "") for python_app's defaults; static_dir: the app's static
    files inside its source directory ("" for none)."""
    root = root or str(_DEFAULTS["python_app_root"]).replace(NAME_FIELD, name)
    socket_dir = socket_dir or str(_DEFAULTS["python_app_socket_dir"])
    live_code = f"{root}/current/app"
    return {
        "root": root,
        "releases": f"{root}/releases",
        "current": f"{root}/current",
        "live_code": live_code,
        # The live release's static files; every kept release's, by code digest, under static_versions.
        "static": f"{live_code}/{static_dir}" if static_dir else "",
        "static_versions": f"{root}/static",
        "venvs": f"{root}/venvs",
        "wheelhouse": f"{root}/wheelhouse",
        "socket": f"{socket_dir}/{name}.sock",
        "run_dir": f"{socket_dir}/{name}",
        "stats_socket": f"{socket_dir}/{name}/stats.sock",
    }
