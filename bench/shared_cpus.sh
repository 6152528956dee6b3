#!/usr/bin/env bash
# Several simulations sharing the machine's CPUs.
#
# Usage: bench/shared_cpus.sh [--help]
#
# Starts RUNS engram processes of EXPERIMENT (default experiments/coba_large.yaml; no spike
# recording, seeds 1, 2, ...) at the same moment and waits for all of them; once with each
# at --threads THREADS, once with each at --threads 1; the two alternated, REPEATS times.
# With RUNS x THREADS above the CPUs (the default on a 2-CPU machine: two runs of 2 threads)
# the workers of a run cannot all be running at once: engram's workers then step alone
# (docs/architecture.md, "Stepping alone"), and each run's note says for how many steps.
# Prints the median run loop of a run in each configuration, their ratio, and the steps
# stepped alone.
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   EXPERIMENT  the experiment (default experiments/coba_large.yaml, relative to the repo
#             root; experiments/brunel.yaml has ring inputs: its workers meet every step)
#   RUNS      processes started together (default 2)
#   THREADS   threads of each in the first configuration (default 2)
#   DURATION  seconds simulated by each (default 3)
#   REPEATS   passes (default 3)
#   OUT_DIR   where shared_cpus.json goes (default bench/out)
#   PYTHON    interpreter for the summary (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_no_args "${BASH_SOURCE[0]}" shared_cpus.sh "$@"

RUNS="${RUNS:-2}"
EXPERIMENT="${EXPERIMENT:-experiments/coba_large.yaml}"
case "$EXPERIMENT" in /*) ;; *) EXPERIMENT="$root/$EXPERIMENT" ;; esac
[ -f "$EXPERIMENT" ] || { echo "shared_cpus.sh: no experiment file $EXPERIMENT" >&2; exit 2; }
THREADS="${THREADS:-2}"
DURATION="${DURATION:-3}"
REPEATS="${REPEATS:-3}"
for v in RUNS THREADS REPEATS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "shared_cpus.sh: $v must be a positive integer, not '${!v}'" >&2; exit 2; }
done
bench_setup shared_cpus
echo "$(basename "$EXPERIMENT"), $DURATION s simulated, $RUNS runs at a time, --threads $THREADS against --threads 1, $REPEATS passes"
echo

for ((r = 1; r <= REPEATS; r++)); do
  for threads in "$THREADS" 1; do
    pids=()
    for ((i = 1; i <= RUNS; i++)); do
      "$ENGRAM" run "$EXPERIMENT" -o "$tmp/run$i.h5" --seed "$i" --threads "$threads" \
        --set simulation.duration="$DURATION s" --set record.spikes=none > "$tmp/run$i.log" 2>&1 &
      pids+=($!)
    done
    for ((i = 1; i <= RUNS; i++)); do
      wait "${pids[$((i - 1))]}" || { echo "engram failed:" >&2; cat "$tmp/run$i.log" >&2; exit 1; }
    done
    line="  pass $r  --threads $threads:"
    for ((i = 1; i <= RUNS; i++)); do
      log="$tmp/run$i.log"
      loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
      [ -n "$loop" ] || { echo "shared_cpus.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1; }
      alone=$(sed -n 's/^note: worker 0 stepped alone for \([0-9,]*\) of.*/\1/p' "$log" | tr -d ,)
      printf '%s\t%d\t%d\t%s\t%s\n' "$threads" "$r" "$i" "$loop" "${alone:-0}" >> "$runs"
      line+="  $(printf 'loop %.3f s' "$loop")${alone:+ (alone $alone steps)}"
    done
    echo "$line"
  done
done

echo
EXPERIMENT="$EXPERIMENT" "$PYTHON" - "$runs" "$OUT_DIR/shared_cpus.json" "$ENGRAM" "$THREADS" "$RUNS" "$DURATION" <<'PYEOF'
import json, os, statistics as st, sys, time
runs_path, out_path, engram, threads, n_runs, duration = sys.argv[1:7]
v = {}
for l in open(runs_path):
    t, rep, i, loop, alone = l.split('\t')
    v.setdefault(int(t), []).append(dict(rep=int(rep), run=int(i), loop_s=float(loop), alone_steps=int(alone)))
s = {t: dict(loop_s=st.median(x['loop_s'] for x in rs), loop_min_max=[min(x['loop_s'] for x in rs), max(x['loop_s'] for x in rs)],
             alone_steps_median=st.median(x['alone_steps'] for x in rs), runs=rs) for t, rs in v.items()}
T = int(threads)
print(f"Run loop of one of {n_runs} runs started together, median over {len(v[T])} runs ({duration} s simulated each)")
print(f"{'threads':>8} {'run loop s':>11} {'(min-max)':>15} {'steps alone':>12}")
for t in sorted(s, reverse=True):
    x = s[t]
    print(f"{t:8d} {x['loop_s']:11.3f} {x['loop_min_max'][0]:7.3f}-{x['loop_min_max'][1]:.3f} {x['alone_steps_median']:12,.0f}")
ratio = s[T]['loop_s'] / s[1]['loop_s'] if T != 1 else 1.0
print(f"--threads {T} / --threads 1: {ratio:.2f} x")
with open(out_path, 'w') as f:
    json.dump(dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, experiment=os.environ.get('EXPERIMENT', ''), nproc=os.cpu_count(), runs_at_once=int(n_runs),
                   simulated_s=float(duration), configurations={str(k): x for k, x in s.items()}, ratio=ratio), f, indent=1)
print(f'wrote {out_path}')
PYEOF
