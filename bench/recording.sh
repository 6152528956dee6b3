#!/usr/bin/env bash
# Cost of recording spikes.
#
# Usage: bench/recording.sh [--help]
#
# Runs COBA (experiments/coba.yaml, 10 s simulated, 1 thread) REPEATS times with spike
# recording on (record.spikes: all, the experiment's default; about 700,000 spikes go to
# the HDF5 file) and REPEATS times with --set record.spikes=none, the two alternated
# back to back, same seed. Prints the medians of engram's run-loop time and of the whole
# process (timed from outside: includes writing and closing the HDF5 file), and the
# recording overhead (recorded - none) / none in percent, for both.
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   REPEATS   repetitions of each variant (default 5)
#   DURATION  seconds simulated (default 10)
#   THREADS   engram threads (default 1)
#   CPUS      run engram on these CPUs only (taskset -c, e.g. 0): with one CPU a 1-thread
#             run has no idle core for a recording thread, and its worker writes the file
#             itself (default: every CPU)
#   SEED      seed (default 1)
#   OUT_DIR   where recording.json goes (default bench/out)
#   PYTHON    interpreter for the summary (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_no_args "${BASH_SOURCE[0]}" recording.sh "$@"

REPEATS="${REPEATS:-5}"
DURATION="${DURATION:-10}"
THREADS="${THREADS:-1}"
SEED="${SEED:-1}"
CPUS="${CPUS:-}"
pin=()
if [ -n "$CPUS" ]; then
  command -v taskset > /dev/null || { echo "recording.sh: CPUS needs taskset (util-linux)" >&2; exit 2; }
  taskset -c "$CPUS" true 2> /dev/null || { echo "recording.sh: CPUS='$CPUS' is not a CPU list this machine has" >&2; exit 2; }
  pin=(taskset -c "$CPUS")
fi
bench_setup recording
echo "coba.yaml, $DURATION s simulated, $REPEATS repeats per variant, seed $SEED, $THREADS thread(s)${CPUS:+, on CPU(s) $CPUS}"
echo

for ((r = 1; r <= REPEATS; r++)); do
  for variant in all none; do
    log="$tmp/$variant.$r.log"
    h5="$tmp/$variant.h5"
    t0=$EPOCHREALTIME
    "${pin[@]}" "$ENGRAM" run "$root/experiments/coba.yaml" -o "$h5" --seed "$SEED" --threads "$THREADS" \
      --set simulation.duration="$DURATION s" --set record.spikes="$variant" > "$log" 2>&1 \
      || { echo "engram failed (record.spikes=$variant):" >&2; cat "$log" >&2; exit 1; }
    t1=$EPOCHREALTIME
    size=$(stat -c %s "$h5")
    rm -f "$h5"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
    sim_ms=$(sed -n 's/^simulated \([0-9.]*\) ms in .*/\1/p' "$log")
    spikes=$(awk '/^population/ { on = 1; next } on && NF == 5 && $2 ~ /^[0-9,]+$/ { gsub(",", "", $3); s += $3; next } on { on = 0 } END { print s + 0 }' "$log")
    [ -n "$loop" ] && [ -n "$sim_ms" ] || { echo "recording.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1; }
    printf '%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$variant" "$r" "$sim_ms" "$wall" "$loop" "$spikes" "$size" >> "$runs"
    printf '  rep %d  record.spikes=%-4s  whole %6.3f s  loop %6.3f s  %s spikes  file %s bytes\n' \
      "$r" "$variant" "$wall" "$loop" "$spikes" "$size"
  done
done

echo
"$PYTHON" - "$runs" "$OUT_DIR/recording.json" "$ENGRAM" "$CPUS" <<'PYEOF'
import json, os, statistics as st, sys, time
runs_path, out_path, engram, cpus = sys.argv[1:5]
v = {}
for l in open(runs_path):
    variant, rep, sim_ms, wall, loop, spikes, size = l.split('\t')
    v.setdefault(variant, []).append(dict(rep=int(rep), sim_s=float(sim_ms) / 1e3, whole_s=float(wall),
                                          loop_s=float(loop), spikes=int(spikes), file_bytes=int(size)))
s = {}
for k, rs in v.items():
    s[k] = dict(loop_s=st.median(x['loop_s'] for x in rs), whole_s=st.median(x['whole_s'] for x in rs),
                loop_min_max=[min(x['loop_s'] for x in rs), max(x['loop_s'] for x in rs)],
                spikes=rs[0]['spikes'], file_bytes=rs[0]['file_bytes'], simulated_s=rs[0]['sim_s'], runs=rs)
a, n = s['all'], s['none']
over = dict(loop_pct=100 * (a['loop_s'] - n['loop_s']) / n['loop_s'],
            whole_pct=100 * (a['whole_s'] - n['whole_s']) / n['whole_s'])
print(f"Medians of {len(v['all'])} runs each ({a['simulated_s']:g} s simulated, {a['spikes']:,} spikes)")
print(f"{'record.spikes':14} {'run loop s':>10} {'(min-max)':>15} {'whole s':>8} {'HDF5 file':>12}")
for k, label in (('all', 'all'), ('none', 'none')):
    x = s[k]
    print(f"{label:14} {x['loop_s']:10.3f} {x['loop_min_max'][0]:7.3f}-{x['loop_min_max'][1]:.3f} "
          f"{x['whole_s']:8.3f} {x['file_bytes'] / 1e6:9.2f} MB")
print(f"recording overhead: run loop {over['loop_pct']:+.1f} %, whole process {over['whole_pct']:+.1f} %")
with open(out_path, 'w') as f:
    json.dump(dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, nproc=os.cpu_count(), cpus=cpus or 'all',
                   variants=s, overhead=over), f, indent=1)
print(f'wrote {out_path}')
PYEOF
