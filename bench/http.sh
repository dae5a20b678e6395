#!/usr/bin/env bash
# HTTP figures: runs wrk INSIDE the bench host against 127.0.0.1 only, every case with the
# same settings, BENCH_REPS rounds, the cases interleaved within each round (in a new order
# each round) so drift on the machine hits every case alike. Appends one JSON object per run to OUT.
#   usage: bench/http.sh HOST OUT
#   env: BENCH_DURATION (s, default 10), BENCH_REPS (5), BENCH_CONNECTIONS (64), BENCH_THREADS (2)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
host=$1 out=$2
duration=${BENCH_DURATION:-10} reps=${BENCH_REPS:-5}
conns=${BENCH_CONNECTIONS:-64} threads=${BENCH_THREADS:-2}

# name|url|connections|errors allowed (only the backlog stress pair: its errors are the figure)
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
)
[ -z "${BENCH_CASES:-}" ] || mapfile -t cases < <(printf '%s\n' "${cases[@]}" | grep -E "^(${BENCH_CASES// /|})\|")

# Every endpoint loaded answers 200 before the first round (the variants' vassals and the
# servers bench/host-setup.sh started may still be coming up).
for url in $(printf '%s\n' "${cases[@]}" | cut -d'|' -f2 | sort -u); do
  code=""
  for _ in $(seq 20); do
    code=$(docker exec "$host" curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
             --cacert /etc/nginx/tls/notes.crt "$url" || true)
    [ "$code" = 200 ] && break
    sleep 1
  done
  [ "$code" = 200 ] || die "$url answers ${code:-nothing}, not 200"
done
log "every endpoint answers 200"

# A new order every round (seeded by the round, so a rerun repeats it): a case never always
# follows the same neighbour, whose leftovers (TIME_WAIT sockets, a busy emperor) it would inherit.
for rep in $(seq "$reps"); do
  mapfile -t order < <(printf '%s\n' "${cases[@]}" | shuf --random-source=<(yes "bench round $rep"))
  for spec in "${order[@]}"; do
    IFS='|' read -r name url c allow <<<"$spec"
    log "wrk round $rep/$reps: $name (-t$threads -c$c -d${duration}s $url)"
    raw=$(docker exec "$host" timeout $((duration + 30)) wrk -t"$threads" -c"$c" -d"${duration}s" \
            --timeout 5s --latency -s /tmp/bench/wrk-report.lua "$url") || die "wrk failed on $name: $raw"
    json=$(sed -n 's/^BENCH_JSON //p' <<<"$raw")
    [ -n "$json" ] || die "no report from wrk on $name: $raw"
    python3 - "$name" "$rep" "$c" "$duration" "$allow" "$json" >>"$out" <<'PY'
import json, sys
name, rep, conns, duration, allow, raw = sys.argv[1:]
run = json.loads(raw)
errors = sum(run[k] for k in ("connect", "read", "write", "status", "timeout"))
if run["requests"] <= 0:
    sys.exit(f"{name}: no request completed")
if errors and allow != "yes":
    sys.exit(f"{name}: {errors} errors (non-2xx/3xx or socket errors): {raw}")
run.update(case=name, rep=int(rep), connections=int(conns), duration_s=int(duration),
           errors=errors, rps=run["requests"] / (run["duration_us"] / 1e6))
print(json.dumps(run))
PY
  done
done
