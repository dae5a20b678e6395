#!/usr/bin/env bash
# Failover routing (issue #31 item 3): how an app host finds the new primary, measured side by side
# in one run. One bookworm app host on three trixie database hosts converged by site.yml as a
# cluster (Patroni, etcd, synchronous commits), as bench/cluster.sh does. On the app host two
# writers run at once, each a loop of INSERTs into a scratch table with the app's own connection
# (notes.db.connect_postgresql from the release, its timeouts and its statement watchdog):
#   multihost: the app's DATABASE_URL as the role writes it (host=a,b,c, target_session_attrs=read-write);
#   haproxy:   HAProxy on 127.0.0.1:5000 (Debian's package, installed here, not by the roles), one server
#              per member, health-checked with GET /primary on Patroni's REST API (port 8008, plain HTTP:
#              the role gives it no certificate), mode tcp, so PostgreSQL's own TLS passes through and
#              libpq verifies the member's certificate (sslmode=verify-full against 127.0.0.1, a name
#              every member's certificate carries).
# First a steady state without faults (latency p50/p99 per path), then each fault FAILOVER_ROUNDS
# times while both write: kill -9 of the leader's postmaster (Patroni restarts it), and the leader's
# host killed (docker kill, then started again and waited for as a replica), and the leader cut off
# from the other members by nftables while the app host still reaches it (then let back). Every acknowledged
# write is kept in a ledger on the app host and compared with the table at the end.
# Appends one JSON object per client and round to OUT, and removes its hosts and network.
#   usage: bench/failover-routing.sh OUT
#   env: FAILOVER_ROUNDS (3), FAILOVER_STEADY (s, 20), FAILOVER_PREFIX (host and network names, bench-fo),
#        FAILOVER_FAULTS ("kill-postmaster host-killed partition"),
#        FAILOVER_REUSE=1 (keep converged hosts of that prefix and skip the converge; leave them running
#        after: for developing the harness)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1
rounds=${FAILOVER_ROUNDS:-3} steady=${FAILOVER_STEADY:-20}
faults=${FAILOVER_FAULTS:-kill-postmaster host-killed partition}
prefix=${FAILOVER_PREFIX:-bench-fo}
reuse=${FAILOVER_REUSE:-}
network=$prefix
app_host=$prefix-app db_hosts=("$prefix-db1" "$prefix-db2" "$prefix-db3")
hosts=("$app_host" "${db_hosts[@]}")
tmp="$BENCH_TMP/failover-routing"
# How long a fault may take before the round fails, and how long a killed host gets to come back.
recover_timeout=120
if [ -z "$reuse" ]; then
  trap 'remove_hosts "${hosts[@]}"; docker network rm "$network" >/dev/null 2>&1 || true' EXIT
fi
mkdir -p "$tmp"

address() { docker inspect -f "{{(index .NetworkSettings.Networks \"$network\").IPAddress}}" "$1"; }

log "failover routing hosts: $app_host (bookworm) on ${db_hosts[*]} (trixie)"
for h in "${hosts[@]}"; do
  [ -n "$reuse" ] || docker rm -f "$h" >/dev/null 2>&1 || true
  case $h in *db*) release=trixie ;; *) release=bookworm ;; esac
  "$PROJECT_DIR/scripts/start-host" "$h" "flaskdeploy/debian:$release" --network "$network" \
    || die "host $h did not boot"
done
app_address=$(address "$app_host")
[ -n "$app_address" ] || die "$app_host has no address on $network"

# The inventory of bench/cluster.sh, and the app host among the sources that may read Patroni's REST
# API (metrics_allowed_sources, which playbooks/vars/stack.yml gives the role as postgresql_server_metrics_allowed_sources,
# and the db hosts' other metrics): HAProxy's health checks need it.
inv="$tmp/inv"
mkdir -p "$inv"
ln -sfn "$PROJECT_DIR/inventory/sandbox/group_vars" "$inv/group_vars"
if [ -z "$reuse" ] || [ ! -s "$inv/hosts.yml" ]; then
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  {
    echo "all:"
    echo "  children:"
    echo "    web: {hosts: {$app_host: null}}"
    echo "    app: {hosts: {$app_host: null}}"
    echo "    db:"
    echo "      hosts:"
    for h in "${db_hosts[@]}"; do echo "        $h:"; done
    echo "      vars:"
    echo "        metrics_allowed_sources: [$app_address]"
    echo "  vars:"
    echo "    ansible_connection: docker"
    echo "    notes_database: {password: \"$password\"}"
  } >"$inv/hosts.yml"
  chmod 0600 "$inv/hosts.yml"
  secs=$(converge "$inv" "$tmp/converge.log"); log "cluster converged in $secs s"
else
  log "reusing the converged hosts (FAILOVER_REUSE)"
fi

# The app's code in its release, the release's virtualenv's python, and the app's URL (systemd's
# environment file: KEY=value lines, read, not sourced: the URL holds '&').
release_dir=$(docker exec "$app_host" readlink -f /srv/notes/current)
venv_python=$release_dir/venv/bin/python
docker exec "$app_host" test -x "$venv_python" -a -d "$release_dir/app/notes" || die "no app or virtualenv in $release_dir on $app_host"
app_url=$(docker exec "$app_host" sed -n 's/^NOTES_DATABASE_URL=//p' /etc/notes/environment)
case $app_url in *target_session_attrs=read-write*) ;; *) die "the app's URL is not a multi-host read-write one: $app_url" ;; esac
# Through HAProxy: the same URL on 127.0.0.1:5000 and HAProxy alone choosing the member.
haproxy_url=$(sed -E 's#@[^/]+/#@127.0.0.1:5000/#; s#target_session_attrs=read-write#target_session_attrs=any#' <<<"$app_url")
db_name=$(sed -E 's#^[^/]+//[^/]+/([^?]+).*#\1#' <<<"$app_url")
app_user=$(sed -E 's#^[^/]+//([^@]+)@.*#\1#' <<<"$app_url")
log "app's URL: $app_url"

# HAProxy on the app host: Debian's package, one server per member checked on Patroni's REST API.
# /primary answers 200 on the leader only (503 elsewhere, or nothing from a host that is gone);
# a server marked down has its sessions cut at once (on-marked-down shutdown-sessions) instead of
# waiting for TCP to give up. The REST API speaks plain HTTP here (the role gives it no certificate),
# so the checks use no check-ssl. Patroni's docs' example checks every 3 s (fall 3, rise 2); 1 s and
# fall 2 here detect a lost leader within 2-3 s, well under the 20 s TTL that drives a failover.
docker exec "$app_host" sh -c 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends haproxy >/dev/null' \
  || die "could not install haproxy on $app_host"
{
  cat <<CFG
global
    log /dev/log local0
    maxconn 512
defaults
    log global
    mode tcp
    retries 2
    timeout connect 2s
    timeout client 30m
    timeout server 30m
    timeout check 2s
listen postgresql-primary
    bind 127.0.0.1:5000
    option httpchk
    http-check send meth GET uri /primary
    http-check expect status 200
    default-server inter 1s fastinter 500ms downinter 1s fall 2 rise 2 on-marked-down shutdown-sessions
CFG
  for h in "${db_hosts[@]}"; do
    echo "    server $h $(address "$h"):5432 check port 8008"
  done
} >"$tmp/haproxy.cfg"
docker cp "$tmp/haproxy.cfg" "$app_host:/etc/haproxy/haproxy.cfg"
docker exec "$app_host" sh -c 'haproxy -c -q -f /etc/haproxy/haproxy.cfg && systemctl restart haproxy' \
  || die "haproxy refused its configuration"
haproxy_version=$(docker exec "$app_host" dpkg-query -W -f='${Version}' haproxy)

# cluster: Patroni's view, asked from the app host (it may read the REST API): "LEADER SYNC STREAMING"
# (the leader's name, how many synchronous standbys stream, how many members run or stream).
members=()
for h in "${db_hosts[@]}"; do members+=("$(address "$h")"); done
cluster() {
  docker exec -i "$app_host" python3 - "${members[@]}" <<'PY'
import json, sys, urllib.request
for ip in sys.argv[1:]:
    try:
        with urllib.request.urlopen(f"http://{ip}:8008/cluster", timeout=2) as r:
            ms = json.load(r)["members"]
        break
    except OSError:
        continue
else:
    print("- 0 0"); sys.exit()
leader = next((m["name"] for m in ms if m["role"] == "leader" and m["state"] == "running"), "-")
sync = sum(m["role"] == "sync_standby" and m["state"] == "streaming" for m in ms)
up = sum(m["state"] in ("running", "streaming") for m in ms)
print(leader, sync, up)
PY
}
# wait_healthy: a leader, a streaming synchronous standby, every member up.
wait_healthy() {
  local state
  for _ in $(seq "$recover_timeout"); do
    state=$(cluster)
    case $state in "- "*) ;; *" 1 3") echo "${state%% *}"; return 0 ;; esac
    sleep 1
  done
  die "the cluster is not whole after $recover_timeout s: $state"
}
leader=$(wait_healthy)
log "leader: $leader"

# The scratch table, the app's role its owner (dropped with the hosts).
docker exec "$leader" runuser -u postgres -- psql -d "$db_name" -qAtX -v ON_ERROR_STOP=1 \
  -c "DROP TABLE IF EXISTS failover_bench" \
  -c "CREATE TABLE failover_bench (client text, seq integer, at timestamptz DEFAULT now(), PRIMARY KEY (client, seq))" \
  -c "ALTER TABLE failover_bench OWNER TO $app_user" >/dev/null || die "could not create the scratch table"

# The writers, one per path, from now until the end.
clients=(multihost haproxy)
# Writers of an earlier run that failed (FAILOVER_REUSE) stop first: their loop ends once the stop file exists.
docker exec "$app_host" sh -c 'if [ -d /tmp/failover ]; then touch /tmp/failover/stop; sleep 7; fi; rm -rf /tmp/failover && mkdir -p /tmp/failover'
docker cp "$BENCH_DIR/failover_routing.py" "$app_host:/tmp/failover/"
start_writer() {
  docker exec -d -u notes "$app_host" sh -c "cd /tmp/failover && exec $venv_python failover_routing.py write \
    $release_dir/app /tmp/failover/$1.tsv /tmp/failover/stop '$2' /etc/notes/environment 2>/tmp/failover/$1.err"
}
docker exec "$app_host" chown notes /tmp/failover 2>/dev/null || docker exec "$app_host" chmod 1777 /tmp/failover
start_writer multihost "$app_url"
start_writer haproxy "$haproxy_url"
# acked_since T: true once every client has a write sent at or after T acknowledged.
acked_since() {
  local c
  for c in "${clients[@]}"; do
    docker exec "$app_host" awk -v t="$1" '$1 == "ok" && $3 >= t {found = 1; exit} END {exit !found}' \
      "/tmp/failover/$c.tsv" 2>/dev/null || return 1
  done
}
now() { date +%s.%N; }
# recovered_since T: true once every client has failed an attempt sent at or after T and then had a
# write acknowledged (a kill -9'd postmaster's orphaned backends still acknowledge writes for a moment
# after the kill: writes after T alone do not mean the outage is over).
recovered_since() {
  local c
  for c in "${clients[@]}"; do
    docker exec "$app_host" awk -v t="$1" '$3 >= t && $1 == "err" {failed = 1} failed && $1 == "ok" {found = 1; exit}
      END {exit !found}' "/tmp/failover/$c.tsv" 2>/dev/null || return 1
  done
}
# wait_for CHECK T: polls CHECK T every half second, for up to recover_timeout seconds.
wait_for() {
  local check=$1 t=$2
  for _ in $(seq $((recover_timeout * 2))); do
    "$check" "$t" && return 0
    sleep 0.5
  done
  return 1
}
wait_for acked_since "$(now)" || { docker exec "$app_host" sh -c 'tail -n 3 /tmp/failover/*.tsv /tmp/failover/*.err' >&2; die "the writers write nothing"; }
log "both writers write"

rounds_file="$tmp/rounds.jsonl"
: >"$rounds_file"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
# record CASE ROUND START END [FAULT LEADER NEW_LEADER]
record() {
  python3 -c '
import json, sys
case, rnd, start, end, *rest = sys.argv[1:]
row = {"case": case, "round": int(rnd), "start": float(start), "end": float(end)}
if rest:
    row.update(fault=float(rest[0]), leader=rest[1], new_leader=rest[2])
print(json.dumps(row))' "$@" >>"$rounds_file"
}

# Steady state: both writers, no fault.
sleep 3
t0=$(now); log "steady state: ${steady} s"
sleep "$steady"
record steady 1 "$t0" "$(now)"

# fault NAME LEADER: what each fault does to the leader.
fault() {
  case $1 in
    kill-postmaster)
      docker exec "$2" sh -c 'kill -9 "$(head -n 1 /var/lib/postgresql/*/main/postmaster.pid)"' ;;
    host-killed)
      docker kill "$2" >/dev/null ;;
    partition)  # the other members' traffic dropped both ways, the app host's still admitted
      local others
      others=$(for h in "${db_hosts[@]}"; do [ "$h" = "$2" ] || address "$h"; done | paste -sd, -)
      docker exec -i "$2" nft -f - <<NFT
table inet bench_partition {
  chain input { type filter hook input priority -10; ip saddr { $others } drop; }
  chain output { type filter hook output priority -10; ip daddr { $others } drop; }
}
NFT
      ;;
  esac
}
for rnd in $(seq "$rounds"); do
  for name in $faults; do
    leader=$(wait_healthy)
    wait_for acked_since "$(now)" || die "the writers stopped before $name"
    old_address=$(address "$leader")
    log "round $rnd/$rounds: $name on $leader"
    # The fault's time is when its command has returned (the postmaster or the host is gone): on a
    # busy machine `docker kill` takes a second or more, and writes acknowledged meanwhile are not
    # writes after the fault. Errors are counted from when the command began.
    t_begin=$(now)
    fault "$name" "$leader"
    t_fault=$(now)
    wait_for recovered_since "$t_begin" || die "$name round $rnd: a writer had no write acknowledged after a failure within $((recover_timeout)) s"
    log "round $rnd/$rounds: $name: both writers write again after $(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$t_fault" "$(now)") s"
    if [ "$name" = partition ]; then
      docker exec "$leader" nft delete table inet bench_partition
    fi
    if [ "$name" = host-killed ]; then
      docker start "$leader" >/dev/null
      "$PROJECT_DIR/scripts/start-host" "$leader" "flaskdeploy/debian:trixie" --network "$network" || die "$leader did not boot again"
      [ "$(address "$leader")" = "$old_address" ] || die "$leader came back with another address"
    fi
    new_leader=$(wait_healthy)
    # A few seconds more in the window: errors right after the return count too.
    sleep 3
    record "$name" "$rnd" "$(python3 -c "import sys; print(float(sys.argv[1]) - 1)" "$t_begin")" "$(now)" \
      "$t_fault" "$leader" "$new_leader"
  done
done

# Stop the writers (a write in flight ends within the app's statement watchdog), then compare.
docker exec "$app_host" touch /tmp/failover/stop
sleep 7
leader=$(wait_healthy)
for c in "${clients[@]}"; do docker cp "$app_host:/tmp/failover/$c.tsv" "$tmp/$c.tsv"; done
docker exec "$leader" runuser -u postgres -- psql -d "$db_name" -AtX -F ' ' \
  -c "SELECT client, seq FROM failover_bench" >"$tmp/table.txt" || die "could not read the table"
: >"$out"
python3 "$BENCH_DIR/failover_routing.py" summarise "$rounds_file" \
  "multihost=$tmp/multihost.tsv" "haproxy=$tmp/haproxy.tsv" "$tmp/table.txt" >>"$out"
python3 - "$out" "$load_start" "$haproxy_version" "$rounds" <<'PY'
import json, os, sys, time
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"case": "meta", "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": os.cpu_count(),
                         "haproxy": sys.argv[3], "rounds": int(sys.argv[4]),
                         "load_start": sys.argv[2], "load_end": " ".join(open("/proc/loadavg").read().split()[:3])}) + "\n")
PY
log "failover routing figures in $out"
