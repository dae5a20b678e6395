#!/usr/bin/env bash
# Runs as root INSIDE a bench host: installs the load client (wrk) and curl, and makes every
# name the bench loads resolve to 127.0.0.1 only. wrk connects to the first address of the
# URL's host that accepts: `localhost` must be 127.0.0.1 only (the load stays on 127.0.0.0/8),
# while TLS still sees the name (SNI and Host).
# usage: client-setup.sh [EXTRA_NAME...]   (e.g. second.localhost, the two-app host's second site)
set -euo pipefail
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk curl >/dev/null
hosts=$(awk '$1 == "::1" {for (i = 2; i <= NF; i++) if ($i == "localhost") $i = ""} {print}' /etc/hosts)
for name in "$@"; do hosts+=$'\n'"127.0.0.1 $name"; done
printf '%s\n' "$hosts" >/etc/hosts   # written in place: docker bind-mounts the file
for name in localhost "$@"; do
  [ "$(getent ahosts "$name" | awk '{print $1}' | sort -u)" = 127.0.0.1 ] \
    || { echo "client-setup: $name does not resolve to 127.0.0.1 only" >&2; exit 1; }
done
