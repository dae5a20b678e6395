# Helpers shared by the benchmark scripts (sourced, not run).
# Bench hosts are systemd containers named bench-*, like scripts/deploy's sandbox.

BENCH_DIR="${BENCH_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
BENCH_TMP="${BENCH_TMP:-$BENCH_DIR/tmp}"
PROJECT_DIR="$(cd "$BENCH_DIR/.." && pwd)"
# What the hosts' names start with (bench/provision.sh and bench/code-deploy.sh): bench- unless told,
# so that a run beside others' containers on a shared docker can keep to its own names.
BENCH_PREFIX="${BENCH_PREFIX:-bench-}"

log() { printf '%s bench: %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# start_host NAME [RELEASE]: a fresh bare Debian host running systemd (any old one is removed),
# started as every test host is (scripts/start-host).
start_host() {
  local name=$1 release=${2:-bookworm}
  docker rm -f "$name" >/dev/null 2>&1 || true
  "$PROJECT_DIR/scripts/start-host" "$name" "flaskdeploy/debian:$release" || die "host $name did not boot"
}

remove_hosts() { [ $# -eq 0 ] || docker rm -f "$@" >/dev/null 2>&1 || true; }

# write_inventory DIR HOST...: every host in both tiers, with the sandbox's group_vars, and each
# one independent as in the default scenario (its nginx serves its own app over the unix socket,
# no uwsgi port opens): N hosts do N times the work of one, so N / 1 measures how the playbook
# scales out, not a bigger topology (the production scenario tests that one).
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
      for h in "$@"; do
        echo "        $h:"
        [ "$group" = app ] || continue
        echo "          upstream_app_hosts: [$h]"
      done
    done
    echo "  vars:"
    echo "    ansible_connection: docker"
  } >"$dir/hosts.yml"
}

# cpu_busy: seconds of CPU time the whole machine has spent busy since boot (/proc/stat).
cpu_busy() {
  awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" {print ($2 + $3 + $4 + $7 + $8) / hz}' /proc/stat
}

# converge INVENTORY_DIR LOG [ansible-playbook args...]: prints the wall time in seconds
# (3 decimals); writes the CPU seconds the machine spent meanwhile (controller, dockerd and
# every host: they share its cores) to LOG.cpu, and the controller's own CPU seconds
# (ansible-playbook and every process it started and waited for: its forks, Mitogen's, the
# docker or ssh clients) to LOG.ctl; fails when the run fails or any host is unreachable or failed.
# BENCH_PLAYBOOK runs another playbook than site.yml (bench/code-deploy.sh: playbooks/deploy.yml).
converge() {
  local inv=$1 out=$2 t0 t1 c0; shift 2
  c0=$(cpu_busy)
  t0=$(date +%s.%N)
  if ! (cd "$PROJECT_DIR" && ANSIBLE_NOCOLOR=1 python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.2f}\n")
sys.exit(rc)' "$out.ctl" .venv/bin/ansible-playbook "${BENCH_PLAYBOOK:-site.yml}" -i "$inv/hosts.yml" "$@") >"$out" 2>&1; then
    tail -n 30 "$out" >&2
    die "ansible-playbook failed, log: $out"
  fi
  t1=$(date +%s.%N)
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" "$c0" "$(cpu_busy)" >"$out.cpu"
  grep -Eq 'unreachable=[1-9]|failed=[1-9]' "$out" && die "a host failed, log: $out"
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$t1"
}

# tasks_run LOG: tasks the first host of the recap ran (ok + skipped), for seconds per task.
tasks_run() {
  grep -E 'ok=[0-9]+' "$1" | head -n 1 | grep -Eo '(ok|skipped)=[0-9]+' | cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}

# changed_total LOG: the sum of changed= over the play recap.
changed_total() {
  grep -Eo 'changed=[0-9]+' "$1" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'
}
