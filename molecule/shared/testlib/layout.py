"""What the playbook deploys and where: the values the tests check, written once."""

from __future__ import annotations

import os

APP = "notes"
APP_USER = APP_GROUP = APP
WEB_USER = WEB_GROUP = "www-data"
ADMIN_GROUP = "adm"  # Debian's group of those who read the system's logs
NOLOGIN_SHELL = "/usr/sbin/nologin"

EMPEROR_SERVICE = "uwsgi-emperor"
EMPEROR_UNIT_FILE = f"/etc/systemd/system/{EMPEROR_SERVICE}.service"
EMPEROR_INI = "/etc/uwsgi/emperor.ini"
VASSALS_DIR = "/etc/uwsgi/vassals"
VASSAL_INI = f"{VASSALS_DIR}/{APP}.ini"

RUN_DIR = "/run/uwsgi"
APP_SOCKET = f"{RUN_DIR}/{APP}.sock"
APP_RUN_DIR = f"{RUN_DIR}/{APP}"
VASSAL_STATS_SOCKET = f"{APP_RUN_DIR}/stats.sock"
EMPEROR_STATS_SOCKET = f"{RUN_DIR}/emperor.stats.sock"
UWSGI_PORT = 3031
HTTP_PORT = 80
HTTPS_PORT = 443

CODE_ROOT = f"/srv/{APP}"
RELEASES_DIR = f"{CODE_ROOT}/releases"
CURRENT = f"{CODE_ROOT}/current"
# The release that serves; releases/<id> holds its code, and venv, a link to the virtualenv of its
# lock in VENVS_DIR (shared by every release of the same requirements.lock).
CODE_DIR = f"{CURRENT}/app/{APP}"
VENV = f"{CURRENT}/venv"
VENVS_DIR = f"{CODE_ROOT}/venvs"
DATA_DIR = f"/var/lib/{APP}"
DATABASE = f"{DATA_DIR}/{APP}.sqlite3"
CONFIG_DIR = f"/etc/{APP}"
SECRET_KEY_FILE = f"{CONFIG_DIR}/secret_key"
ENV_FILE = f"{CONFIG_DIR}/environment"
BACKUP_DIR = f"/var/backups/{APP}"
BACKUP_SERVICE = f"{APP}-backup.service"
BACKUP_TIMER = f"{APP}-backup.timer"

NGINX_SERVICE = "nginx"
SITES_AVAILABLE = "/etc/nginx/sites-available"
SITES_ENABLED = "/etc/nginx/sites-enabled"
VHOST_FILE = f"{SITES_AVAILABLE}/{APP}.conf"
NGINX_LOG_DIR = "/var/log/nginx"
VHOST_ACCESS_LOG = f"{NGINX_LOG_DIR}/{APP}.access.log"
VHOST_ERROR_LOG = f"{NGINX_LOG_DIR}/{APP}.error.log"
TLS_DIR = "/etc/nginx/tls"
TLS_CERT = f"{TLS_DIR}/{APP}.crt"
# What clients on a test host check the site's certificate against: the self-signed certificate
# itself, or where a scenario's site has a CA-issued one (production: Pebble, whose root its
# hosts trust), the host's trust store, as the scenario's verifier sets.
CLIENT_CA = os.environ.get("FLASK_DEPLOY_TEST_CA", TLS_CERT)
TLS_KEY = f"{TLS_DIR}/{APP}.key"
ACME_DIR = "/var/www/acme/.well-known/acme-challenge"
STYLESHEET = "/static/style.css"

# The sandbox inventory's site (default and releases scenarios).
SANDBOX_SERVER_NAMES = ("localhost", "127.0.0.1")
