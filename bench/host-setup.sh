#!/usr/bin/env bash
# Runs as root INSIDE the HTTP bench host, after site.yml has converged it with the
# shipped defaults. Adds, for the measurement only, the alternatives and variants that
# bench/http.sh loads side by side with the stack. Every nginx case speaks HTTPS with the
# site's own certificate, as `localhost`, on 127.0.0.1 (bench/nginx_servers.py copies the
# deployed site's HTTPS server and changes one thing in each):
#   :443  the stack as deployed: nginx (TLS) -> unix socket -> uWSGI vassal -> Flask
#   :8081 nginx returning a static 200 (the ceiling of the HTTP tier)
#   :8082 uWSGI alone, plain HTTP (--http11-socket: --http-socket plus keep-alive), the
#         vassal's ini otherwise unchanged
#   :8083 nginx -> Gunicorn (sync workers, same count as the vassal's processes)
#   :8084 nginx -> the vassal for every path, so /static/ goes through Flask
#   :8090.. nginx -> variant vassals, each differing from notes.ini in one setting
#   :8096 the stack with nginx's access log off
#   :8097 a second nginx with worker_processes 1 -> the vassal
# usage: host-setup.sh GUNICORN_WHEEL_DIR
set -euo pipefail
wheels=$1
vassal=/etc/uwsgi/vassals/notes.ini
conf=/etc/bench
mkdir -p "$conf"

"$(dirname "$0")/client-setup.sh"

processes=$(awk -F' *= *' '$1 == "processes" {print $2}' "$vassal")
[ -n "$processes" ] || { echo "no processes in $vassal" >&2; exit 1; }

# A vassal's ini without its socket, stats and privilege-handing lines; the caller adds its own.
base_ini() {
  grep -Ev '^(socket|chown-socket|chmod-socket|stats|exec-as-root) *=' "$vassal"
}

# uWSGI alone, speaking HTTP itself: same app, venv, uid and worker count.
{ base_ini; echo "http11-socket = 127.0.0.1:8082"; } >"$conf/uwsgi-alone.ini"
systemctl stop bench-uwsgi-alone 2>/dev/null || true; systemctl reset-failed bench-uwsgi-alone 2>/dev/null || true
systemd-run --quiet --collect --unit=bench-uwsgi-alone /usr/bin/uwsgi-core --ini "$conf/uwsgi-alone.ini"

# Gunicorn in a venv of its own (its wheels only), which imports Flask and the rest from the
# vassal's virtualenv; same code dir, uid and environment as the vassal.
ini_get() { awk -v k="$1" '$0 ~ "^" k " *=" {sub(/^[^=]*= */, ""); print}' "$vassal"; }
chdir=$(ini_get chdir | tail -n 1) venv=$(ini_get virtualenv | tail -n 1) uid=$(ini_get uid | tail -n 1)
[ -d "$chdir" ] && [ -d "$venv" ] && [ -n "$uid" ] || { echo "chdir/virtualenv/uid not found in $vassal" >&2; exit 1; }
# The vassal's env lines, and the lines of its environment file (`for-readline` ... `env = %(_)`).
envs=()
while IFS= read -r e; do envs+=(-E "$e"); done < <(
  ini_get env | grep -vxF '%(_)'
  for f in $(ini_get for-readline); do grep -v '^$' "$f"; done)
rm -rf /opt/bench-gunicorn
python3 -m venv /opt/bench-gunicorn
/opt/bench-gunicorn/bin/pip install --quiet --no-index --find-links "$wheels" gunicorn
"$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' \
  >"$(/opt/bench-gunicorn/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/app-venv.pth"
# Gunicorn gives its socket the app's group, so the directory (app user:www-data 0750) is
# what keeps other users out, and the socket itself is left open (umask 0).
install -d -o "$uid" -g www-data -m 0750 /run/bench-gunicorn
systemctl stop bench-gunicorn 2>/dev/null || true; systemctl reset-failed bench-gunicorn 2>/dev/null || true
systemd-run --quiet --collect --unit=bench-gunicorn --uid="$uid" --gid="$uid" \
  --working-directory="$chdir" "${envs[@]}" \
  /opt/bench-gunicorn/bin/gunicorn --workers "$processes" --umask 0 \
  --bind unix:/run/bench-gunicorn/gunicorn.sock "$(ini_get module | tail -n 1)"

# Variant vassals: notes.ini with one setting changed, each on its own socket.
variant() {  # NAME SETTING...
  local name=$1; shift
  {
    base_ini | grep -Ev "^($(printf '%s|' "${@%% =*}")__none__) *="
    echo "socket = /run/uwsgi/bench-$name.sock"
    echo "chown-socket = notes:www-data"
    echo "chmod-socket = 660"
    printf '%s\n' "$@"
  } >"/etc/uwsgi/vassals/bench-$name.ini"
}
variant p1core "processes = $((processes / 2 > 0 ? processes / 2 : 1))"
variant p4core "processes = $((processes * 2))"
variant threads "processes = $((processes / 2 > 0 ? processes / 2 : 1))" "threads = 2"
variant thunder "thunder-lock = true"
variant listen100 "listen = 100"
variant uwsgilog "disable-logging = false"

# The extra servers: copies of the deployed site's HTTPS server (same TLS), one change each.
python3 /tmp/bench/nginx_servers.py /etc/nginx/sites-available/notes.conf \
  /etc/nginx/conf.d/bench.conf "$conf/nginx-w1-servers.conf"
nginx -t -q
systemctl reload nginx

# A second nginx, the deployed nginx.conf with one worker, serving only a copy of the site.
# Its server blocks (the default servers, with nested locations) are dropped by counting braces.
sed -e 's/^worker_processes .*/worker_processes 1;/' -e 's#^pid .*#pid /run/bench-nginx-w1.pid;#' \
    -e '/^ *include \/etc\/nginx\/\(conf.d\|sites-enabled\)/d' /etc/nginx/nginx.conf \
  | awk 'skip { d += gsub(/\{/, "{") - gsub(/\}/, "}"); if (d <= 0) skip = 0; next }
         /^ *server *\{/ { d = gsub(/\{/, "{") - gsub(/\}/, "}"); skip = d > 0; next }
         { print }' >"$conf/nginx-w1.conf"
# The include goes before the last closing brace, the end of the http block.
last=$(grep -n '^}' "$conf/nginx-w1.conf" | tail -n 1 | cut -d: -f1)
sed -i "${last}i\\    include $conf/nginx-w1-servers.conf;" "$conf/nginx-w1.conf"
[ -f /run/bench-nginx-w1.pid ] && kill "$(cat /run/bench-nginx-w1.pid)" 2>/dev/null && sleep 1
nginx -t -q -c "$conf/nginx-w1.conf"
nginx -c "$conf/nginx-w1.conf"

# bench/http.sh checks that every endpoint it loads answers 200 before the first round.
echo "host-setup: bench servers started (vassal processes: $processes)"
