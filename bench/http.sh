#!/usr/bin/env bash
# HTTP figures: runs wrk INSIDE the bench host against 127.0.0.1 only, every case with the
# same settings, BENCH_REPS rounds, the cases interleaved within each round (in a new order
# each round) so drift on the machine hits every case alike. Appends one JSON object per run to OUT.
#   usage: bench/http.sh HOST APPS_HOST OUT
#   HOST: the one-app host, set up by bench/host-setup.sh; APPS_HOST: the host with two apps
#   (bench/two-apps.yml), loaded in the same rounds.
#   env: BENCH_DURATION (s, default 10), BENCH_REPS (5), BENCH_CONNECTIONS (64), BENCH_THREADS (2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
host=$1 apps_host=$2 out=$3
duration=${BENCH_DURATION:-10} reps=${BENCH_REPS:-5}
conns=${BENCH_CONNECTIONS:-64} threads=${BENCH_THREADS:-2}

# name|url|connections|errors allowed (only the backlog stress pair: its errors are the figure)|host
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
  "stack-http|http://127.0.0.1:8085/livez|$conns|no"
  "uwsgi-alone|http://127.0.0.1:8082/livez|$conns|no"
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
  "stress-stack|https://localhost:443/livez|$((conns * 4))|yes"
  "stress-listen-100|https://localhost:8094/livez|$((conns * 4))|yes"
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
  IFS='|' read -r _ urls _ _ on <<<"$spec"
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

# A new order every round (seeded by the round, so a rerun repeats it): a case never always
# follows the same neighbour, whose leftovers (TIME_WAIT sockets, a busy emperor) it would inherit.
for rep in $(seq "$reps"); do
  mapfile -t order < <(printf '%s\n' "${cases[@]}" | shuf --random-source=<(yes "bench round $rep"))
  for spec in "${order[@]}"; do
    IFS='|' read -r name urls c allow on <<<"$spec"
    read -ra targets <<<"$urls"
    n=${#targets[@]}
    # Each URL gets an equal share of the connections and threads (the same load in total).
    (( c % n == 0 && threads % n == 0 && c / n >= threads / n )) \
      || die "$name: $c connections and $threads threads do not split evenly over $n URLs"
    log "wrk round $rep/$reps: $name (-t$((threads / n)) -c$((c / n)) -d${duration}s each: $urls)"
    runs=$(mktemp -d "$BENCH_TMP/wrk.XXXXXX")
    pids=()
    for i in "${!targets[@]}"; do
      docker exec "${on:-$host}" timeout $((duration + 30)) wrk -t"$((threads / n))" -c"$((c / n))" \
        -d"${duration}s" --timeout 5s --latency -s /tmp/bench/wrk-report.lua "${targets[$i]}" >"$runs/$i" 2>&1 &
      pids+=($!)
    done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    raw=$(cat "$runs"/*); rm -rf "$runs"
    [ "$failed" = 0 ] || die "wrk failed on $name: $raw"
    json=$(sed -n 's/^BENCH_JSON //p' <<<"$raw" | paste -sd'|' -)
    [ "$(grep -c '^BENCH_JSON ' <<<"$raw")" = "$n" ] || die "$name: not every wrk reported: $raw"
    python3 - "$name" "$rep" "$c" "$duration" "$allow" "$json" >>"$out" <<'PY'
import json, sys
name, rep, conns, duration, allow, raw = sys.argv[1:]
parts = [json.loads(p) for p in raw.split("|")]
# Several wrk at once: requests and errors add up; the slower percentile of the parts is kept.
run = {k: sum(p[k] for p in parts) for k in ("requests", "connect", "read", "write", "status", "timeout")}
run.update({k: max(p[k] for p in parts) for k in ("duration_us", "p50_us", "p99_us")})
run["parts_rps"] = [p["requests"] / (p["duration_us"] / 1e6) for p in parts]
errors = sum(run[k] for k in ("connect", "read", "write", "status", "timeout"))
if run["requests"] <= 0:
    sys.exit(f"{name}: no request completed")
if errors and allow != "yes":
    sys.exit(f"{name}: {errors} errors (non-2xx/3xx or socket errors): {raw}")
run.update(case=name, rep=int(rep), connections=int(conns), duration_s=int(duration),
           errors=errors, rps=sum(run["parts_rps"]))
print(json.dumps(run))
PY
  done
done
