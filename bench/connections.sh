#!/usr/bin/env bash
# The idempotent re-run of one converged host over each connection Ansible uses here, side by
# side: the docker connection of the test hosts and SSH as a sudo user (the production path).
# One bare host with sshd, sudo and a `deploy` user with a key (as the production scenario
# prepares its hosts), converged once over SSH, then ROUNDS re-runs on each connection in
# alternation, each one changed=0. Writes JSON to OUT: wall seconds of every run, the tasks
# each ran, and seconds per task.
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
log "connections: converging $host over SSH"
converge "$work/ssh" "$work/converge.log" >/dev/null
results=()
for round in $(seq "$rounds"); do
  for conn in docker ssh; do
    seconds=$(converge "$work/$conn" "$work/rerun-$conn-$round.log")
    [ "$(changed_total "$work/rerun-$conn-$round.log")" = 0 ] || die "re-run over $conn changed something"
    tasks=$(grep -Eo 'ok=[0-9]+' "$work/rerun-$conn-$round.log" | head -1 | cut -d= -f2)
    log "connections: round $round, $conn: $seconds s, $tasks tasks"
    results+=("$conn $seconds $tasks")
  done
done
remove_hosts "$host"
printf '%s\n' "${results[@]}" | python3 -c '
import json, statistics, sys
runs = {}
for line in sys.stdin:
    conn, seconds, tasks = line.split()
    runs.setdefault(conn, []).append({"wall_s": float(seconds), "tasks": int(tasks)})
summary = {conn: {"runs": r, "median_wall_s": statistics.median(x["wall_s"] for x in r),
                  "s_per_task": round(statistics.median(x["wall_s"] / x["tasks"] for x in r), 3)}
           for conn, r in runs.items()}
summary["ssh_over_docker"] = round(summary["ssh"]["median_wall_s"] / summary["docker"]["median_wall_s"], 3)
json.dump(summary, open(sys.argv[1], "w"), indent=2)
print(json.dumps(summary))
' "$out"
