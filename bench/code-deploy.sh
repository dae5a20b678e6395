#!/usr/bin/env bash
# Commit to healthy for a one-line change of the app's code, through playbooks/deploy.yml and through
# site.yml, side by side in one run (issue #33), as JSON lines to OUT:
#   on 1 fresh bookworm host (both tiers), and with BENCH_CODE_HOSTS="1 4" also on 4 independent
#   hosts, each playbook all at once and serially (python_app_serial=1), each host converged by
#   site.yml first;
#   every round changes one line of the page template of a copy of app/ (a new release), then runs
#   each case in a new order: the playbook's wall time (its health gate passed: the new release
#   answers on every host, checked again after it), the controller's CPU seconds (ansible-playbook
#   and everything it started), the machine's, the tasks a host ran (ok + skipped) and changed=.
#   env: BENCH_CODE_ROUNDS (rounds, default 3), BENCH_CODE_HOSTS (default "1")
#   usage: bench/code-deploy.sh OUT
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1
work="$BENCH_TMP/code-deploy"
rounds=${BENCH_CODE_ROUNDS:-3}
rm -rf "$work"; mkdir -p "$work"
: >"$out"
src="$work/app"
cp -r "$PROJECT_DIR/app" "$src"
rm -rf "$src/tests" "$src/instance"
find "$src" -name __pycache__ -prune -exec rm -rf {} +
template="$src/notes/templates/index.html"
[ -f "$template" ] || die "no page template at $template"

# change_line ROUND CASE: one line of the page template differs from every earlier run's.
change_line() { printf '<!-- bench %s %s -->\n' "$1" "$2" >>"$template"; }

# serves_release HOST...: every host's /healthz names a release of the same code (version and
# digest: a release's name starts with the time its batch packed it, so with serial 1 each host's
# differs there), printed: the last host's release name.
serves_release() {
  local h r seen=""
  for h in "$@"; do
    # The host's own Python (a bare host has no curl), its nginx at loopback, its self-signed certificate.
    r=$(docker exec "$h" python3 -c 'import json, ssl, urllib.request
print(json.load(urllib.request.urlopen("https://localhost/healthz", context=ssl._create_unverified_context()))["release"])') \
      || die "$h does not answer /healthz"
    [ -z "$seen" ] || [ "${r#*-}" = "${seen#*-}" ] || die "$h serves $r, another host $seen"
    seen=$r
  done
  echo "$seen"
}

for n in ${BENCH_CODE_HOSTS:-1}; do
  hosts=()
  for i in $(seq "$n"); do hosts+=("${BENCH_PREFIX}cd$n-$i"); done
  log "code deploy: $n fresh host(s): ${hosts[*]}"
  for h in "${hosts[@]}"; do start_host "$h" & done
  wait
  write_inventory "$work/inv-$n" "${hosts[@]}"
  secs=$(converge "$work/inv-$n" "$work/setup-$n.log" -e "python_app_src_dir=$src")
  log "code deploy: $n host(s) converged by site.yml in $secs s"
  cases=(deploy site)
  [ "$n" = 1 ] || cases=(deploy deploy-serial1 site site-serial1)
  for round in $(seq "$rounds"); do
    order=$(printf '%s\n' "${cases[@]}" | shuf)
    for c in $order; do
      before=$(serves_release "${hosts[@]}")
      change_line "$round" "$c"
      args=(-e "python_app_src_dir=$src")
      playbook=site.yml
      case $c in
        deploy) playbook=playbooks/deploy.yml ;;
        deploy-serial1) playbook=playbooks/deploy.yml; args+=(-e python_app_serial=1) ;;
        site-serial1) args+=(-e python_app_serial=1) ;;
      esac
      log_file="$work/$c-$n-$round.log"
      secs=$(BENCH_PLAYBOOK=$playbook converge "$work/inv-$n" "$log_file" "${args[@]}")
      after=$(serves_release "${hosts[@]}")
      [ "$after" != "$before" ] || die "$c did not switch to a new release ($before), log: $log_file"
      python3 - "$out" "$c" "$n" "$round" "$secs" "$(cat "$log_file.ctl")" "$(cat "$log_file.cpu")" \
        "$(tasks_run "$log_file")" "$(changed_total "$log_file")" <<'PY'
import json, sys
out, case, hosts, rnd, wall, ctl, cpu, tasks, changed = sys.argv[1:]
with open(out, "a") as fh:
    fh.write(json.dumps({"case": case, "hosts": int(hosts), "round": int(rnd), "wall_s": float(wall),
                         "controller_cpu_s": float(ctl), "machine_cpu_s": float(cpu), "tasks_per_host": int(tasks),
                         "changed": int(changed)}) + "\n")
PY
      log "code deploy: $c on $n host(s), round $round: $secs s (controller CPU $(cat "$log_file.ctl") s)"
    done
  done
  remove_hosts "${hosts[@]}"
done
python3 - "$out" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import json, sys, time
with open(sys.argv[1], "a") as fh:
    fh.write(json.dumps({"case": "meta", "date": time.strftime("%Y-%m-%d %H:%M %Z"), "cores": int(sys.argv[2]),
                         "load_end": sys.argv[3]}) + "\n")
PY
