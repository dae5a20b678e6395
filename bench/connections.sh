#!/usr/bin/env bash
# The idempotent re-run of one converged host over each connection Ansible uses here, side by
# side: the docker connection of the test hosts and SSH as a sudo user (the production path).
# One bare host with sshd, sudo and a `deploy` user with a key (as the production scenario
# prepares its hosts), converged once over SSH, then ROUNDS re-runs on each connection in
# alternation, each one changed=0. Each round also runs Ansible's own floor on each connection: a
# playbook of as many trivial tasks as the first re-run ran (`stat` of one file, with become, as
# site.yml's tasks run): what any task costs before it does any work, start-up included in both.
# Writes JSON to OUT: the fresh converge over SSH,
# the wall and controller CPU seconds of every run, the tasks each ran, and seconds per task.
#   usage: bench/connections.sh OUT [ROUNDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1 rounds=${2:-3}
work="$BENCH_TMP/connections"
host=bench-conn
rm -rf "$work"; mkdir -p "$work"
ssh-keygen -q -t ed25519 -N '' -f "$work/id_ed25519"
start_host "$host" bookworm
docker network connect bridge "$host" 2>/dev/null || true
docker exec "$host" sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server sudo >/dev/null
  id deploy >/dev/null 2>&1 || useradd -m -s /bin/bash deploy
  install -d -o deploy -g deploy -m 0700 /home/deploy/.ssh
  echo "deploy ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy
  systemctl enable --now ssh >/dev/null 2>&1'
docker cp "$work/id_ed25519.pub" "$host:/home/deploy/.ssh/authorized_keys"
docker exec "$host" chown deploy:deploy /home/deploy/.ssh/authorized_keys
address=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}' "$host" | cut -d' ' -f1)
for conn in ssh docker; do
  mkdir -p "$work/$conn"
  ln -sfn "$PROJECT_DIR/inventory/sandbox/group_vars" "$work/$conn/group_vars"
  {
    echo "all:"
    echo "  children:"
    for g in web app; do echo "    $g:"; echo "      hosts:"; echo "        $host:"; done
    echo "  vars:"
    if [ "$conn" = ssh ]; then
      echo "    ansible_connection: ssh"
      echo "    ansible_host: $address"
      echo "    ansible_user: deploy"
      echo "    ansible_ssh_private_key_file: $work/id_ed25519"
      echo "    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null"
    else
      echo "    ansible_connection: docker"
    fi
  } >"$work/$conn/hosts.yml"
done
# write_floor N: the floor playbook, N trivial tasks.
write_floor() {
  {
    echo "- name: Ansible's floor, $1 trivial tasks"
    echo "  hosts: all"
    echo "  become: true"
    echo "  gather_facts: false"
    echo "  tasks:"
    for i in $(seq "$1"); do
      printf '    - name: Floor task %s\n      ansible.builtin.stat:\n        path: /etc/hostname\n' "$i"
    done
  } >"$work/floor.yml"
}
# floor CONN LOG: the floor playbook on one connection, wall seconds printed, controller CPU in LOG.ctl.
floor() {
  local t0 t1
  t0=$(date +%s.%N)
  (cd "$PROJECT_DIR" && ANSIBLE_NOCOLOR=1 python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.2f}\n")
sys.exit(rc)' "$2.ctl" .venv/bin/ansible-playbook "$work/floor.yml" -i "$work/$1/hosts.yml") >"$2" 2>&1 \
    || die "the floor playbook failed over $1, log: $2"
  t1=$(date +%s.%N)
  python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$t1"
}
log "connections: converging $host over SSH"
fresh=$(converge "$work/ssh" "$work/converge.log")
fresh_tasks=$(tasks_run "$work/converge.log")
log "connections: fresh converge over SSH: $fresh s, $fresh_tasks tasks"
results=()
for round in $(seq "$rounds"); do
  for conn in docker ssh; do
    seconds=$(converge "$work/$conn" "$work/rerun-$conn-$round.log")
    [ "$(changed_total "$work/rerun-$conn-$round.log")" = 0 ] || die "re-run over $conn changed something"
    tasks=$(tasks_run "$work/rerun-$conn-$round.log")
    ctl=$(cat "$work/rerun-$conn-$round.log.ctl")
    log "connections: round $round, $conn: $seconds s, $tasks tasks, controller CPU $ctl s"
    results+=("$conn $seconds $tasks $ctl")
    [ -f "$work/floor.yml" ] || { floor_tasks=$tasks; write_floor "$floor_tasks"; }
    seconds=$(floor "$conn" "$work/floor-$conn-$round.log")
    log "connections: round $round, $conn, floor: $seconds s for $floor_tasks tasks"
    results+=("$conn-floor $seconds $floor_tasks $(cat "$work/floor-$conn-$round.log.ctl")")
  done
done
remove_hosts "$host"
printf '%s\n' "${results[@]}" | FRESH="$fresh $fresh_tasks $(cat "$work/converge.log.ctl")" python3 -c '
import json, os, statistics, sys
runs = {}
for line in sys.stdin:
    conn, seconds, tasks, ctl = line.split()
    runs.setdefault(conn, []).append({"wall_s": float(seconds), "tasks": int(tasks), "controller_cpu_s": float(ctl)})
summary = {conn: {"runs": r, "median_wall_s": statistics.median(x["wall_s"] for x in r),
                  "median_controller_cpu_s": statistics.median(x["controller_cpu_s"] for x in r),
                  "s_per_task": round(statistics.median(x["wall_s"] / x["tasks"] for x in r), 3)}
           for conn, r in runs.items()}
wall, tasks, ctl = os.environ["FRESH"].split()
summary["ssh_fresh"] = {"wall_s": float(wall), "tasks": int(tasks), "controller_cpu_s": float(ctl)}
for conn in ("docker", "ssh"):  # a task of site.yml over a trivial one, per task
    summary[conn]["over_floor"] = round(summary[conn]["s_per_task"] / summary[conn + "-floor"]["s_per_task"], 3)
summary["ssh_over_docker"] = round(summary["ssh"]["median_wall_s"] / summary["docker"]["median_wall_s"], 3)
json.dump(summary, open(sys.argv[1], "w"), indent=2)
print(json.dumps(summary))
' "$out"
