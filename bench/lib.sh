# Helpers shared by the benchmark scripts (sourced, not run).
# Bench hosts are systemd containers named bench-*, like scripts/deploy's sandbox.

BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
BENCH_TMP="${BENCH_TMP:-$BENCH_DIR/tmp}"
PROJECT_DIR="$(cd "$BENCH_DIR/.." && pwd)"

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# start_host NAME [RELEASE]: a fresh bare Debian host running systemd (any old one is removed).
# NET_ADMIN as in the cluster scenario: with several hosts in both tiers, each app host serves
# the others' nginx over TCP and loads its nftables table.
start_host() {
  local name=$1 release=${2:-bookworm} state=""
  docker rm -f "$name" >/dev/null 2>&1 || true
  docker run -d --name "$name" --hostname "$name" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN --security-opt seccomp=unconfined --cgroupns host \
    -v /sys/fs/cgroup:/sys/fs/cgroup:rw --tmpfs /run --tmpfs /run/lock \
    --stop-signal SIGRTMIN+3 "flaskdeploy/debian:$release" >/dev/null
  for _ in $(seq 60); do
    state=$(docker exec "$name" systemctl is-system-running 2>/dev/null || true)
    case $state in running|degraded) return 0 ;; esac
    sleep 1
  done
  die "host $name did not boot (systemd: $state)"
}

remove_hosts() { [ $# -eq 0 ] || docker rm -f "$@" >/dev/null 2>&1 || true; }

# write_inventory DIR HOST...: every host in both tiers, with the sandbox's group_vars.
write_inventory() {
  local dir=$1 h; shift
  mkdir -p "$dir"
  ln -sfn "$PROJECT_DIR/inventory/sandbox/group_vars" "$dir/group_vars"
  {
    echo "all:"
    echo "  children:"
    for group in web app; do
      echo "    $group:"
      echo "      hosts:"
      for h in "$@"; do echo "        $h:"; done
    done
    echo "  vars:"
    echo "    ansible_connection: community.docker.docker"
  } >"$dir/hosts.yml"
}

# converge INVENTORY_DIR LOG [ansible-playbook args...]: prints the wall time in seconds
# (3 decimals); fails when the run fails or any host is unreachable or failed.
converge() {
  local inv=$1 out=$2 t0 t1; shift 2
  t0=$(date +%s.%N)
  if ! (cd "$PROJECT_DIR" && ANSIBLE_NOCOLOR=1 .venv/bin/ansible-playbook site.yml -i "$inv/hosts.yml" "$@") >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "ansible-playbook failed, log: $out"
  fi
  t1=$(date +%s.%N)
  grep -Eq 'unreachable=[1-9]|failed=[1-9]' "$out" && die "a host failed, log: $out"
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$t1"
}

# changed_total LOG: the sum of changed= over the play recap.
changed_total() {
  grep -Eo 'changed=[0-9]+' "$1" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}
