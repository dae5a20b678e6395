#!/usr/bin/env bash
# HTTP figures: runs wrk INSIDE the bench host against 127.0.0.1 only, every case with the
# same settings, BENCH_REPS rounds, the cases interleaved within each round (in a new order
# each round) so drift on the machine hits every case alike. Appends one JSON object per run to OUT.
#   usage: bench/http.sh HOST APPS_HOST OUT
#   HOST: the one-app host, set up by bench/host-setup.sh; APPS_HOST: the host with two apps
#   (bench/two-apps.yml), loaded in the same rounds.
#   env: BENCH_DURATION (s, default 10), BENCH_REPS (5), BENCH_CONNECTIONS (64), BENCH_THREADS (2),
#        BENCH_SET_DURATION (s per run of a group with sets, default 5)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
host=$1 apps_host=$2 out=$3
metrics_address=${METRICS_ADDRESS:-}
duration=${BENCH_DURATION:-10} reps=${BENCH_REPS:-5}
conns=${BENCH_CONNECTIONS:-64} threads=${BENCH_THREADS:-2}
set_duration=${BENCH_SET_DURATION:-5}

# name|url|connections|errors allowed (only the backlog stress pair: its errors are the figure)|host|flags
# flags (comma-separated): br = the client accepts compressed bodies (Accept-Encoding: br, gzip);
# scrape = both metrics endpoints are scraped every second meanwhile by one long-running process
# (bench/scrape.py; METRICS_ADDRESS, the host's address; Prometheus' default is every 15 s);
# probe = right after the load ends, five requests one after another, each one's time recorded
# (how soon the stack serves normally again); group=NAME = the cases of one group run one right
# after the other in every round (their order within it still changes), so a ratio between them
# compares runs made under the same state of the machine, not minutes apart; sets=K (on a
# group's cases) = the group runs K times in each round, in a new order each time, with runs of
# BENCH_SET_DURATION: K pairs per round, whose geometric mean and its interval the report gives, for a
# ratio whose target sits closer to 1 than one run's noise (a 5 % target, runs +-12 % apart).
# A case with several URLs loads them at once, one wrk each with its share of the connections
# and threads; its requests are the sum.
# Every nginx case is HTTPS as shipped: the name localhost (SNI and Host; it resolves to
# 127.0.0.1 only in the bench host), the site's certificate. uWSGI alone is plain HTTP.
# The trivial route is the app's /livez ({"status":"ok"}, nothing checked), which case 1's
# nginx answers with the same bytes; stack-healthz is the stack on /healthz (its SQLite query).
cases=(
  "nginx-static|https://localhost:8081/livez|$conns|no"
  "stack|https://localhost:443/livez|$conns|no"
  "stack-healthz|https://localhost:443/healthz|$conns|no"
  "stack-http|http://127.0.0.1:8085/livez|$conns|no||group=hop"
  "uwsgi-alone|http://127.0.0.1:8082/livez|$conns|no||group=hop"
  "gunicorn|https://localhost:8083/livez|$conns|no"
  "file-nginx|https://localhost:443/static/style.css|$conns|no"
  "file-flask|https://localhost:8084/static/style.css|$conns|no"
  "var-processes-1-per-core|https://localhost:8090/livez|$conns|no"
  "var-processes-4-per-core|https://localhost:8091/livez|$conns|no"
  "var-threads-2|https://localhost:8092/livez|$conns|no"
  "var-thunder-lock|https://localhost:8093/livez|$conns|no"
  "var-uwsgi-request-log|https://localhost:8095/livez|$conns|no"
  "var-nginx-access-log-off|https://localhost:8096/livez|$conns|no"
  "var-nginx-1-worker|https://localhost:8097/livez|$conns|no"
  "var-nginx-unbuffered|https://localhost:8099/livez|$conns|no"
  "ops-livez|https://localhost:443/livez|$conns|no||br,scrape,group=ops-livez,sets=8"
  "before-ops-livez|https://localhost:8098/livez|$conns|no||br,group=ops-livez,sets=8"
  "ops-page|https://localhost:443/|$conns|no||br,scrape,group=ops-page,sets=8"
  "before-ops-page|https://localhost:8098/|$conns|no||br,group=ops-page,sets=8"
  "ops-page-uncompressed|https://localhost:8100/|$conns|no||br,scrape,group=ops-page,sets=8"
  "stress-stack|https://localhost:443/livez|$((conns * 4))|yes||probe"
  "stress-listen-100|https://localhost:8094/livez|$((conns * 4))|yes||probe"
  "apps2-one-loaded|https://localhost:443/livez|$conns|no|$apps_host"
  "apps2-both-loaded|https://localhost:443/livez https://second.localhost:443/livez|$conns|no|$apps_host"
)
[ -z "${BENCH_CASES:-}" ] || mapfile -t cases < <(printf '%s\n' "${cases[@]}" | grep -E "^(${BENCH_CASES// /|})\|")

# Every endpoint loaded answers 200 before the first round (the variants' vassals and the
# servers bench/host-setup.sh started may still be coming up).
# The certificate of a URL's site: each app's site has its own (second.localhost: second.crt).
cert_of() {
  local h=${1#https://}; h=${h%%[:/]*}
  [ "${h%.localhost}" != "$h" ] && echo "/etc/nginx/tls/${h%.localhost}.crt" || echo /etc/nginx/tls/notes.crt
}
for spec in "${cases[@]}"; do
  IFS='|' read -r _ urls _ _ on _ <<<"$spec"
  for url in $urls; do
    code=""
    for _ in $(seq 20); do
      code=$(docker exec "${on:-$host}" curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
               --cacert "$(cert_of "$url")" "$url" || true)
      [ "$code" = 200 ] && break
      sleep 1
    done
    [ "$code" = 200 ] || die "$url on ${on:-$host} answers ${code:-nothing}, not 200"
  done
done
log "every endpoint answers 200"

# run_case HOST CONNECTIONS THREADS DURATION FLAGS URL...: one wrk per URL at once, each with its
# share of the connections and threads; sets RAW (their reports), CPU0/CPU1 (the host's CPU
# before and after: bench/cpu_snapshot.py) and PROBE (the probe's timings, if asked for).
run_case() {
  local on=$1 c=$2 t=$3 d=$4 flags=$5 runs i failed=0 pids=() hdr=() scraper="" cid; shift 5
  local n=$#
  [[ ",$flags," == *,br,* ]] && hdr=(-H "Accept-Encoding: br, gzip")
  cid=$(docker inspect -f '{{.Id}}' "$on")
  runs=$(mktemp -d "$BENCH_TMP/wrk.XXXXXX")
  if [[ ",$flags," == *,scrape,* ]]; then
    [ -n "$metrics_address" ] || die "a scraped case needs METRICS_ADDRESS"
    # Every second: nginx's exporter and the vassals' reader, each answer checked (bench/scrape.py).
    docker exec "$on" timeout "$d" python3 /tmp/bench/scrape.py "$metrics_address" >"$runs/scrape" 2>&1 &
    scraper=$!
  fi
  CPU0=$(python3 "$BENCH_DIR/cpu_snapshot.py" "$cid")
  for ((i = 1; i <= n; i++)); do
    docker exec "$on" timeout $((d + 30)) wrk -t"$((t / n))" -c"$((c / n))" -d"${d}s" --timeout 5s --latency \
      "${hdr[@]}" -s /tmp/bench/wrk-report.lua "${!i}" >"$runs/$i" 2>&1 &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  PROBE=""
  if [[ ",$flags," == *,probe,* ]]; then
    # Started as soon as the load has ended: five requests in a row on one connection.
    PROBE=$(docker exec "$on" curl -s -o /dev/null -o /dev/null -o /dev/null -o /dev/null -o /dev/null \
      --max-time 10 --cacert "$(cert_of "$1")" -w '%{http_code} %{time_total}\n' "$1" "$1" "$1" "$1" "$1" \
      | paste -sd' ' -) || die "the probe after the load got no answer: $PROBE"
    # Normal service means 200s, not fast errors.
    [ "$(tr ' ' '\n' <<<"$PROBE" | awk 'NR % 2 == 1 && $1 != 200' | wc -l)" = 0 ] \
      || die "the probe after the load got other answers than 200: $PROBE"
  fi
  CPU1=$(python3 "$BENCH_DIR/cpu_snapshot.py" "$cid")
  if [ -n "$scraper" ]; then
    wait "$scraper" || true   # ended by its timeout
    ! grep -q SCRAPE_FAILED "$runs/scrape" || die "a scrape failed: $(cat "$runs/scrape")"
    grep -q '^SCRAPES ' "$runs/scrape" || die "no scrape completed: $(cat "$runs/scrape")"
  fi
  RAW=$(cat "$runs"/[0-9]*); rm -rf "$runs"
  [ "$failed" = 0 ] || die "wrk failed: $RAW"
  [ "$(grep -c '^BENCH_JSON ' <<<"$RAW")" = "$n" ] || die "not every wrk reported: $RAW"
}

# record NAME ROUND CONNECTIONS DURATION ERRORS_ALLOWED SET: appends the run that run_case took to OUT.
record() {
  python3 "$BENCH_DIR/record_run.py" "${@:1:5}" "$(sed -n 's/^BENCH_JSON //p' <<<"$RAW" | paste -sd'|' -)" \
    "$CPU0" "$CPU1" "$PROBE" "$6" >>"$out"
}

# A new order every round (seeded by the round, so a rerun repeats it): a case never always
# follows the same neighbour, whose leftovers (TIME_WAIT sockets, a busy emperor) it would inherit.
# (Python's random, seeded with the round's name: shuf --random-source gave every round one order.)
# The cases of a group (flag group=NAME) are placed together where the first of them fell; a
# group with sets=K is placed there K times, each set in an order of its own.
# Each entry of the round's order is SET|spec (SET: 1 for a case outside a group with sets).
shuffle='import random, sys; c = sys.stdin.read().splitlines(); random.Random(sys.argv[1]).shuffle(c); print(*c, sep="\n")'
group_of() { sed -n 's/.*[|,]group=\([^,]*\).*/\1/p' <<<"$1"; }
sets_of() { local k; k=$(sed -n 's/.*[|,]sets=\([0-9]*\).*/\1/p' <<<"$1"); echo "${k:-1}"; }
for rep in $(seq "$reps"); do
  mapfile -t shuffled < <(printf '%s\n' "${cases[@]}" | python3 -c "$shuffle" "bench round $rep")
  order=() placed=","
  for spec in "${shuffled[@]}"; do
    g=$(group_of "$spec")
    if [ -z "$g" ]; then order+=("1|$spec"); continue; fi
    [[ $placed == *",$g,"* ]] && continue
    placed+="$g,"
    members=()
    for other in "${shuffled[@]}"; do [ "$(group_of "$other")" != "$g" ] || members+=("$other"); done
    for set in $(seq "$(sets_of "$spec")"); do
      mapfile -t ordered < <(printf '%s\n' "${members[@]}" | python3 -c "$shuffle" "bench round $rep set $set")
      for other in "${ordered[@]}"; do order+=("$set|$other"); done
    done
  done
  for entry in "${order[@]}"; do
    IFS='|' read -r set name urls c allow on flags <<<"$entry"
    d=$duration label=""
    [ "$(sets_of "|$flags")" = 1 ] || { d=$set_duration; label=", set $set"; }
    read -ra targets <<<"$urls"
    n=${#targets[@]}
    # Each URL gets an equal share of the connections and threads (the same load in total).
    (( c % n == 0 && threads % n == 0 && c / n >= threads / n )) \
      || die "$name: $c connections and $threads threads do not split evenly over $n URLs"
    log "wrk round $rep/$reps$label: $name (-t$((threads / n)) -c$((c / n)) -d${d}s each: $urls${flags:+; $flags})"
    run_case "${on:-$host}" "$c" "$threads" "$d" "$flags" "${targets[@]}"
    record "$name" "$rep" "$c" "$d" "$allow" "$set"
  done
done

# Saturation: the stack's req/s as the connections grow, two rounds (in opposite orders), shorter
# runs; the concurrency where req/s stops growing is what the overload case is 4x of.
sweep_duration=${BENCH_SWEEP_DURATION:-5}
sweep=(1 2 4 8 16 32 64 128 256)
if [ -z "${BENCH_CASES:-}" ]; then
  for rep in 1 2; do
    if [ "$rep" = 1 ]; then order=("${sweep[@]}"); else mapfile -t order < <(printf '%s\n' "${sweep[@]}" | tac); fi
    for c in "${order[@]}"; do
      t=$(( c < threads ? c : threads ))
      log "saturation sweep $rep/2: $c connection(s), $t thread(s), ${sweep_duration}s"
      run_case "$host" "$c" "$t" "$sweep_duration" "" https://localhost:443/livez
      # Errors are counted, not fatal: past saturation they are part of the figure (as in stress-*).
      record "sweep-c$c" "$rep" "$c" "$sweep_duration" yes 1
    done
  done
fi
