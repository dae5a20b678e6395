#!/usr/bin/env bash
# Database figures: the notes API on SQLite (one host) beside PostgreSQL on a host of its own (TCP,
# TLS with the server verified, as the production inventory deploys it), side by side. Cases:
# POST /api/notes (a note each) and a page of GET /api/notes (50 notes), every case once per round
# in a new order each round, BENCH_REPS rounds of BENCH_DURATION s, wrk inside each app host
# against its own nginx on 127.0.0.1. During each PostgreSQL run the app's connections to its
# database are counted every 0.2 s (the most is the figure: one per busy worker). Appends one JSON
# object per run to OUT, and removes its hosts.
#   usage: bench/database.sh OUT
#   env: BENCH_DURATION (s, default 10), BENCH_REPS (5), BENCH_CONNECTIONS (64), BENCH_THREADS (2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1
duration=${BENCH_DURATION:-10} reps=${BENCH_REPS:-5}
conns=${BENCH_CONNECTIONS:-64} threads=${BENCH_THREADS:-2}
sqlite_host=bench-db-sqlite app_host=bench-db-app db_host=bench-db-pg
tmp="$BENCH_TMP/database"
trap 'remove_hosts "$sqlite_host" "$app_host" "$db_host"' EXIT
mkdir -p "$tmp"

log "database hosts: $sqlite_host (SQLite), $app_host + $db_host (PostgreSQL)"
for h in "$sqlite_host" "$app_host" "$db_host"; do start_host "$h" bookworm; done
write_inventory "$tmp/inv-sqlite" "$sqlite_host"
mkdir -p "$tmp/inv-pg"
ln -sfn "$PROJECT_DIR/inventory/sandbox/group_vars" "$tmp/inv-pg/group_vars"
password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
cat >"$tmp/inv-pg/hosts.yml" <<EOF
all:
  children:
    web: {hosts: {$app_host: null}}
    app: {hosts: {$app_host: null}}
    db: {hosts: {$db_host: null}}
  vars:
    ansible_connection: docker
    notes_database: {password: "$password"}
EOF
chmod 0600 "$tmp/inv-pg/hosts.yml"
secs=$(converge "$tmp/inv-sqlite" "$tmp/converge-sqlite.log"); log "SQLite host converged in $secs s"
secs=$(converge "$tmp/inv-pg" "$tmp/converge-pg.log"); log "PostgreSQL hosts converged in $secs s"

for h in "$sqlite_host" "$app_host"; do
  docker exec "$h" mkdir -p /tmp/bench
  docker cp "$BENCH_DIR/wrk-report.lua" "$h:/tmp/bench/"
  docker cp "$BENCH_DIR/post-note.lua" "$h:/tmp/bench/"
  docker cp "$BENCH_DIR/client-setup.sh" "$h:/tmp/bench/"
  docker exec "$h" /tmp/bench/client-setup.sh
  # A page of 50 to read from the first round on: the same 200 notes in both.
  docker exec "$h" sh -c 'for i in $(seq 200); do
    curl -sS -k -o /dev/null -H "Content-Type: application/json" --data "{\"text\": \"seed $i\"}" https://localhost:443/api/notes
  done'
done
processes=$(docker exec "$app_host" awk -F' *= *' '$1 == "processes" {print $2}' /etc/uwsgi/vassals/notes.ini)

# run_case NAME HOST SCRIPT URL: one wrk run, its BENCH_JSON line and, on PostgreSQL, the most
# connections the app held, as one JSON object in OUT.
run_case() {
  local name=$1 host=$2 script=$3 url=$4 round=$5 raw peak=""
  local counter="$tmp/peak.$name"
  if [ "$host" = "$app_host" ]; then
    docker exec "$db_host" sh -c "end=\$((\$(date +%s) + $duration)); max=0
      while [ \$(date +%s) -lt \$end ]; do
        n=\$(runuser -u postgres -- psql -AtX -c \"SELECT count(*) FROM pg_stat_activity WHERE datname = 'notes' AND usename = 'notes'\")
        [ \"\$n\" -gt \"\$max\" ] && max=\$n; sleep 0.2
      done; echo \$max" >"$counter" &
  fi
  raw=$(docker exec "$host" timeout $((duration + 30)) wrk -t"$threads" -c"$conns" -d"${duration}s" --timeout 5s \
    --latency -s "/tmp/bench/$script" "$url" 2>&1) || die "wrk failed on $name: $raw"
  wait
  [ -f "$counter" ] && peak=$(cat "$counter") && rm -f "$counter"
  python3 - "$name" "$round" "$duration" "$conns" "${peak:-}" "$(sed -n 's/^BENCH_JSON //p' <<<"$raw")" >>"$out" <<'PY'
import json, sys
name, rnd, duration, conns, peak, line = sys.argv[1:]
run = json.loads(line)
errors = run["connect"] + run["read"] + run["write"] + run["timeout"] + run["status"]
if errors:
    sys.exit(f"{name}: {errors} errors ({line})")
print(json.dumps({"case": name, "round": int(rnd), "duration": int(duration), "connections": int(conns),
                  "rps": run["requests"] / (run["duration_us"] / 1e6), "p99_ms": run["p99_us"] / 1000,
                  "p50_ms": run["p50_us"] / 1000, "db_connections_peak": int(peak) if peak else None}))
PY
}

cases=(
  "sqlite-post|$sqlite_host|post-note.lua|https://localhost:443/api/notes"
  "postgresql-post|$app_host|post-note.lua|https://localhost:443/api/notes"
  "sqlite-page|$sqlite_host|wrk-report.lua|https://localhost:443/api/notes?limit=50"
  "postgresql-page|$app_host|wrk-report.lua|https://localhost:443/api/notes?limit=50"
)
: >"$out"
for rep in $(seq "$reps"); do
  mapfile -t order < <(printf '%s\n' "${cases[@]}" | shuf)
  for c in "${order[@]}"; do
    IFS='|' read -r name host script url <<<"$c"
    log "database round $rep/$reps: $name (-t$threads -c$conns -d${duration}s)"
    run_case "$name" "$host" "$script" "$url" "$rep"
  done
done
python3 - "$out" "$processes" <<'PY'
import json, sys, time
# The app host's workers, for the report (PostgreSQL holds one connection per worker), and when.
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"case": "meta", "processes": int(sys.argv[2]),
                         "date": time.strftime("%Y-%m-%d %H:%M %Z")}) + "\n")
PY
log "database figures in $out"
