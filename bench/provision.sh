#!/usr/bin/env bash
# Provisioning figures, written as JSON to OUT:
#   fresh converge of site.yml on 1, 2 and 4 fresh bare hosts (bookworm, both tiers each, each
#   host independent: bench/lib.sh write_inventory), with the machine's CPU seconds meanwhile,
#   the idempotent re-run on the 1-host and the 4-host sets (must report changed=0),
#   the whole `molecule test -s default` on a copy of the scenario whose hosts are named
#   bench-mol-* (so it never touches anyone else's notes-debian* hosts), with its phases timed.
#   The copy is the scenario as it is in the checkout (molecule.yml with its platforms'
#   capabilities, volumes and provisioner settings, converge, prepare, tests); only the host
#   names change.
#   env: BENCH_SKIP_MOLECULE=1 leaves the Molecule timing out (a shorter run when the machine
#        is busy); `make bench` runs it by default.
# The controller's wheelhouse cache must be warm (scripts/bench converges the HTTP host first),
# so every timed converge does the same controller work.
#   usage: bench/provision.sh OUT
set -euo pipefail
source "$(dirname "$0")/lib.sh"
out=$1
work="$BENCH_TMP/provision"
rm -rf "$work"; mkdir -p "$work"
declare -A t

for n in 1 2 4; do
  hosts=()
  for i in $(seq "$n"); do hosts+=("${BENCH_PREFIX}p$n-$i"); done
  log "provisioning: $n fresh host(s): ${hosts[*]}"
  for h in "${hosts[@]}"; do start_host "$h" & done
  wait
  for h in "${hosts[@]}"; do
    [ "$(docker inspect -f '{{.State.Running}}' "$h")" = true ] || die "host $h is not running"
  done
  write_inventory "$work/inv-$n" "${hosts[@]}"
  t[converge_$n]=$(converge "$work/inv-$n" "$work/converge-$n.log")
  t[cpu_converge_$n]=$(cat "$work/converge-$n.log.cpu")
  t[ctl_converge_$n]=$(cat "$work/converge-$n.log.ctl")
  log "provisioning: converge of $n host(s): ${t[converge_$n]} s (machine CPU: ${t[cpu_converge_$n]} s)"
  if [ "$n" = 1 ]; then
    t[idempotent_1]=$(converge "$work/inv-1" "$work/idempotent-1.log")
    t[cpu_idempotent_1]=$(cat "$work/idempotent-1.log.cpu")
    t[ctl_idempotent_1]=$(cat "$work/idempotent-1.log.ctl")
    changed=$(changed_total "$work/idempotent-1.log")
    [ "$changed" = 0 ] || die "the re-run changed $changed task(s), log: $work/idempotent-1.log"
    log "provisioning: idempotent re-run: ${t[idempotent_1]} s, changed=0"
    # The same re-run with Ansible's own strategy instead of the shipped Mitogen one (ansible.cfg),
    # in alternation with it: linear, Mitogen, linear. Each figure is the mean of its two runs
    # (the Mitogen one above and the one here).
    lin=() mit=("${t[idempotent_1]}")
    for strategy in linear mitogen_linear linear; do
      secs=$(ANSIBLE_STRATEGY=$strategy converge "$work/inv-1" "$work/rerun-$strategy.log")
      changed=$(changed_total "$work/rerun-$strategy.log")
      [ "$changed" = 0 ] || die "the $strategy re-run changed $changed task(s), log: $work/rerun-$strategy.log"
      if [ "$strategy" = linear ]; then lin+=("$secs"); else mit+=("$secs"); fi
      log "provisioning: idempotent re-run, strategy $strategy: $secs s, changed=0"
    done
    mean() { python3 -c 'import sys; v = [float(x) for x in sys.argv[1:]]; print(f"{sum(v) / len(v):.3f}")' "$@"; }
    t[idempotent_1_linear]=$(mean "${lin[@]}")
    t[idempotent_1_mitogen_mean]=$(mean "${mit[@]}")
    t[cpu_idempotent_1_linear]=$(cat "$work/rerun-linear.log.cpu")
    t[ctl_idempotent_1_linear]=$(cat "$work/rerun-linear.log.ctl")
    # Tasks a host ran (ok + skipped in the recap), for seconds per task.
    t[tasks_idempotent_1]=$(tasks_run "$work/idempotent-1.log")
    t[tasks_converge_1]=$(tasks_run "$work/converge-1.log")
  fi
  # The changed=0 re-run on 4 hosts too: the controller's CPU per host of the run users repeat, once
  # its fixed part (start-up, the validation play, the controller's own tasks) is shared (#33).
  if [ "$n" = 4 ]; then
    t[idempotent_4]=$(converge "$work/inv-4" "$work/idempotent-4.log")
    t[ctl_idempotent_4]=$(cat "$work/idempotent-4.log.ctl")
    changed=$(changed_total "$work/idempotent-4.log")
    [ "$changed" = 0 ] || die "the 4-host re-run changed $changed task(s), log: $work/idempotent-4.log"
    log "provisioning: idempotent re-run of 4 hosts: ${t[idempotent_4]} s (controller CPU ${t[ctl_idempotent_4]} s), changed=0"
  fi
  remove_hosts "${hosts[@]}"
done

# molecule test -s default, on a copy of the scenario in a project of its own (links to
# this checkout's roles, playbooks, inventory and app), host names prefixed bench-mol-.
hosts_in_scenario=0
if [ "${BENCH_SKIP_MOLECULE:-}" = 1 ]; then
  log "BENCH_SKIP_MOLECULE=1: no molecule timing"
  : >"$work/molecule.log"
else
  proj="$work/bench-molecule"
  mkdir -p "$proj/molecule" "$proj/.cache"
  for f in ansible.cfg site.yml playbooks roles inventory app plugins collections meta galaxy.yml scripts .config; do
    ln -s "$PROJECT_DIR/$f" "$proj/$f"
  done
  cp -r "$PROJECT_DIR/molecule/default" "$PROJECT_DIR/molecule/shared" "$PROJECT_DIR/molecule/pytest.ini" "$proj/molecule/"
  # Every file of the copy that names the hosts (molecule.yml, host_vars, tests that pick a host).
  grep -rlZ 'notes-debian' "$proj/molecule/default" | xargs -0 -r sed -i 's/notes-debian/bench-mol-debian/g'
  for f in "$proj"/molecule/default/host_vars/notes-debian*; do
    if [ -e "$f" ]; then mv "$f" "${f/\/notes-debian/\/bench-mol-debian}"; fi
  done
  ! grep -rq 'notes-debian' "$proj/molecule/default" || die "the scenario copy still names notes-debian hosts"
  [ -z "$(find "$proj/molecule/default" -name 'notes-debian*')" ] \
    || die "the scenario copy still has files named for notes-debian hosts"
  hosts_in_scenario=$(grep -c '^  - name: ' "$proj/molecule/default/molecule.yml")
  [ "$hosts_in_scenario" -gt 0 ] || die "no platform found in the scenario copy"
  log "molecule test -s default ($hosts_in_scenario hosts) in $proj"
  (cd "$proj" && PATH="$PROJECT_DIR/.venv/bin:$PATH" NO_COLOR=1 ANSIBLE_NOCOLOR=1 PYTHONDONTWRITEBYTECODE=1 \
     "$PROJECT_DIR/.venv/bin/python" "$BENCH_DIR/timestamp_lines.py" molecule test -s default) \
     >"$work/molecule.log" 2>&1 || { tail -n 40 "$work/molecule.log" >&2; die "molecule test failed, log: $work/molecule.log"; }
fi

python3 - "$out" "$work/molecule.log" "$hosts_in_scenario" \
  "${t[converge_1]}" "${t[idempotent_1]}" "${t[converge_2]}" "${t[converge_4]}" \
  "${t[cpu_converge_1]}" "${t[cpu_idempotent_1]}" "${t[cpu_converge_2]}" "${t[cpu_converge_4]}" \
  "${t[idempotent_1_linear]}" "${t[cpu_idempotent_1_linear]}" "${t[tasks_idempotent_1]}" \
  "${t[idempotent_1_mitogen_mean]}" "${t[ctl_converge_1]}" "${t[ctl_converge_2]}" "${t[ctl_converge_4]}" \
  "${t[ctl_idempotent_1]}" "${t[tasks_converge_1]}" "${t[ctl_idempotent_1_linear]}" \
  "${t[idempotent_4]}" "${t[ctl_idempotent_4]}" <<'PY'
import json, re, sys
(out, mlog, mhosts, c1, i1, c2, c4, cc1, ci1, cc2, cc4, il1, cil1, tasks1, im1,
 k1, k2, k4, ki1, ctasks1, kil1, i4, ki4) = sys.argv[1:]
stamped = [line.split(" ", 1) for line in open(mlog, encoding="utf-8", errors="replace")]
base = {"converge_1": float(c1), "idempotent_1": float(i1),
        "idempotent_1_linear": float(il1), "tasks_idempotent_1": int(tasks1),
        "idempotent_1_mitogen_mean": float(im1), "tasks_converge_1": int(ctasks1),
        # the controller's own CPU seconds (ansible-playbook and what it started)
        "controller_cpu": {"converge_1": float(k1), "converge_2": float(k2), "converge_4": float(k4),
                           "idempotent_1": float(ki1), "idempotent_1_linear": float(kil1),
                           "idempotent_4": float(ki4)},
        "converge_2": float(c2), "converge_4": float(c4), "idempotent_4": float(i4),
        "cpu": {"converge_1": float(cc1), "idempotent_1": float(ci1),
                "converge_2": float(cc2), "converge_4": float(cc4),
                "idempotent_1_linear": float(cil1)}}
if not stamped:  # BENCH_SKIP_MOLECULE=1
    json.dump({**base, "molecule_skipped": True}, open(out, "w"), indent=2)
    sys.exit(0)
marks = [(float(ts), m.group(1) or m.group(2)) for ts, *rest in stamped if rest
         for m in [re.search(r"(?:\[\S+ > (\w+)\]|(\w+):) Executing\s*$", rest[0])] if m]
end = float(stamped[-1][0])
phases: dict[str, float] = {}
for (ts, phase), nxt in zip(marks, [m[0] for m in marks[1:]] + [end]):
    phases[phase] = phases.get(phase, 0.0) + nxt - ts
for needed in ("create", "converge", "idempotence", "verify", "destroy"):
    if needed not in phases:
        sys.exit(f"molecule log has no '{needed}' phase: {mlog}")
json.dump({
    **base,
    "molecule_hosts": int(mhosts),
    "molecule_total": end - float(stamped[0][0]),
    "molecule_phases": phases,
}, open(out, "w"), indent=2)
PY
log "provisioning figures: $out"
