#!/usr/bin/env bash
# Cluster figures (issue #31): the notes API's writes on a cluster of three database hosts with
# synchronous commits (the shipped default: a commit returns once a standby has it), on the same
# cluster asynchronous, and on a single database host, side by side in one run. One bookworm app
# host (both tiers) on three trixie database hosts converged by site.yml as a cluster (Patroni,
# etcd), and a second bookworm app host on one trixie database host (PostgreSQL 17 on both, so
# only the topology differs). The cluster switches between synchronous and asynchronous through
# Patroni's REST API (PATCH /config {"synchronous_mode": ...}, from a database host, with the
# REST password the controller keeps beside the CA), and a run starts only once the leader's
# `SHOW synchronous_standby_names` says so (empty: asynchronous). Case: POST /api/notes (a note
# each, bench/post-note.lua); every case once per round in a new order each round, BENCH_REPS
# rounds of BENCH_DURATION s, wrk inside each app host against its own nginx on 127.0.0.1.
# Appends one JSON object per run to OUT, and removes its hosts and network.
#   usage: bench/cluster.sh OUT
#   env: BENCH_DURATION (s, default 10), BENCH_REPS (5), BENCH_CONNECTIONS (64), BENCH_THREADS (2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1
duration=${BENCH_DURATION:-10} reps=${BENCH_REPS:-5}
conns=${BENCH_CONNECTIONS:-64} threads=${BENCH_THREADS:-2}
network=bench-cl
app_host=bench-cl-app db_hosts=(bench-cl-db1 bench-cl-db2 bench-cl-db3)
single_app=bench-cl-sapp single_db=bench-cl-sdb
hosts=("$app_host" "${db_hosts[@]}" "$single_app" "$single_db")
tmp="$BENCH_TMP/cluster"
# The cluster's secrets on the controller (roles/postgresql_server/vars/main.yml
# __postgresql_server_secrets_path: the CA directory, then the cluster's name).
restapi_password_file=${BENCH_RESTAPI_PASSWORD_FILE:-$HOME/.local/share/flask-deploy/postgresql-ca/flask-deploy-restapi.password}
trap 'remove_hosts "${hosts[@]}"; docker network rm "$network" >/dev/null 2>&1 || true' EXIT
mkdir -p "$tmp"

log "cluster hosts: $app_host on ${db_hosts[*]} (trixie); single: $single_app on $single_db (trixie)"
for h in "${hosts[@]}"; do
  docker rm -f "$h" >/dev/null 2>&1 || true
  case $h in *db*) release=trixie ;; *) release=bookworm ;; esac
  "$PROJECT_DIR/scripts/start-host" "$h" "flaskdeploy/debian:$release" --network "$network" \
    || die "host $h did not boot"
done

# inventory DIR APP DB...: the app host in both tiers, the database hosts in `db`.
inventory() {
  local dir=$1 app=$2 h; shift 2
  mkdir -p "$dir"
  ln -sfn "$PROJECT_DIR/inventory/sandbox/group_vars" "$dir/group_vars"
  {
    echo "all:"
    echo "  children:"
    echo "    web: {hosts: {$app: null}}"
    echo "    app: {hosts: {$app: null}}"
    echo "    db:"
    echo "      hosts:"
    for h in "$@"; do echo "        $h:"; done
    echo "  vars:"
    echo "    ansible_connection: docker"
    echo "    notes_database: {password: \"$password\"}"
  } >"$dir/hosts.yml"
  chmod 0600 "$dir/hosts.yml"
}
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
inventory "$tmp/inv-cluster" "$app_host" "${db_hosts[@]}"
inventory "$tmp/inv-single" "$single_app" "$single_db"
secs=$(converge "$tmp/inv-cluster" "$tmp/converge-cluster.log"); log "cluster converged in $secs s"
secs=$(converge "$tmp/inv-single" "$tmp/converge-single.log"); log "single database host converged in $secs s"
[ -s "$restapi_password_file" ] || die "no REST API password in $restapi_password_file"

for h in "$app_host" "$single_app"; do
  docker exec "$h" mkdir -p /tmp/bench
  docker cp "$BENCH_DIR/wrk-report.lua" "$h:/tmp/bench/"
  docker cp "$BENCH_DIR/post-note.lua" "$h:/tmp/bench/"
  docker cp "$BENCH_DIR/client-setup.sh" "$h:/tmp/bench/"
  docker exec "$h" /tmp/bench/client-setup.sh
done
processes=$(docker exec "$app_host" awk -F' *= *' '$1 == "processes" {print $2}' /etc/uwsgi/vassals/notes.ini)
address() { docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$1"; }
rest=$(address "${db_hosts[0]}")
[ -n "$rest" ] || die "${db_hosts[0]} has no address on $network"
# Patroni's REST API is asked from the first database host, with curl (the hosts are bare: none).
docker exec "${db_hosts[0]}" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null'

# leader: the member Patroni says leads (its REST API, read from a database host: reads need no password).
leader() {
  docker exec "${db_hosts[0]}" curl -fsS "http://$rest:8008/cluster" | python3 -c '
import json, sys
print(next(m["name"] for m in json.load(sys.stdin)["members"] if m["role"] == "leader"))'
}
standby_names() {
  docker exec "$(leader)" runuser -u postgres -- psql -AtX -c "SHOW synchronous_standby_names"
}
# set_mode sync|async: PATCH the cluster's synchronous_mode (the password on curl's stdin, not its
# command line), then wait until the leader applies it.
set_mode() {
  local want=$1 flag=true names
  [ "$want" = async ] && flag=false
  docker exec -i "${db_hosts[0]}" curl -fsS -K - -o /dev/null -X PATCH -H "Content-Type: application/json" \
    --data "{\"synchronous_mode\": $flag}" "http://$rest:8008/config" \
    <<<"user = \"flask-deploy:$(cat "$restapi_password_file")\"" || die "PATCH /config failed"
  for _ in $(seq 60); do
    names=$(standby_names 2>/dev/null || echo "?")
    if { [ "$want" = async ] && [ -z "$names" ]; } || { [ "$want" = sync ] && [ -n "$names" ] && [ "$names" != "?" ]; }; then
      mode=$want
      log "cluster is $want (synchronous_standby_names: '${names}')"
      return 0
    fi
    sleep 1
  done
  die "the leader did not become $want within 60 s (synchronous_standby_names: '$names')"
}
mode=sync
[ -n "$(standby_names)" ] || die "the cluster as converged is not synchronous"

# run_case NAME HOST ROUND: one wrk run (POST /api/notes), its BENCH_JSON line as one JSON object in
# OUT, with what the leader's synchronous_standby_names was right before it.
run_case() {
  local name=$1 host=$2 round=$3 raw names="" lead=""
  if [ "$host" = "$app_host" ]; then lead=$(leader); names=$(standby_names); fi
  raw=$(docker exec "$host" timeout $((duration + 30)) wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 5s \
    --latency -s /tmp/bench/post-note.lua https://localhost:443/api/notes 2>&1) || die "wrk failed on $name: $raw"
  python3 - "$name" "$round" "$duration" "$conns" "$lead" "$names" "$(sed -n 's/^BENCH_JSON //p' <<<"$raw")" >>"$out" <<'PY'
import json, sys
name, rnd, duration, conns, leader, names, line = sys.argv[1:]
run = json.loads(line)
errors = run["connect"] + run["read"] + run["write"] + run["timeout"] + run["status"]
if errors:
    sys.exit(f"{name}: {errors} errors ({line})")
print(json.dumps({"case": name, "round": int(rnd), "duration": int(duration), "connections": int(conns),
                  "rps": run["requests"] / (run["duration_us"] / 1e6), "p99_ms": run["p99_us"] / 1000,
                  "p50_ms": run["p50_us"] / 1000, "requests": run["requests"],
                  "leader": leader or None, "synchronous_standby_names": names if leader else None}))
PY
}

cases=("cluster-sync|$app_host" "cluster-async|$app_host" "single|$single_app")
: >"$out"
# The machine's load (other tests share its cores), for the report.
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for rep in $(seq "$reps"); do
  mapfile -t order < <(printf '%s\n' "${cases[@]}" | shuf)
  for c in "${order[@]}"; do
    IFS='|' read -r name host <<<"$c"
    case $name in
      cluster-sync) [ "$mode" = sync ] || set_mode sync ;;
      cluster-async) [ "$mode" = async ] || set_mode async ;;
    esac
    log "cluster round $rep/$reps: $name (-t$threads -c$conns -d${duration}s)"
    run_case "$name" "$host" "$rep"
  done
done
python3 - "$out" "$processes" "$load_start" <<'PY'
import json, os, sys, time
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"case": "meta", "processes": int(sys.argv[2]),
                         "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(),
                         "load_start": sys.argv[3], "load_end": " ".join(open("/proc/loadavg").read().split()[:3])}) + "\n")
PY
log "cluster figures in $out"
