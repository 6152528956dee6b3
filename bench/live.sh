#!/usr/bin/env bash
# Cost of drawing the run live (engram run --live) on the simulation.
#
# Usage: bench/live.sh [--help]
#
# Runs COBA (experiments/coba.yaml, 10 s simulated, 1 thread) REPEATS times plain and
# REPEATS times with --live --live-close (the window opens, draws at its frame-rate limit
# while the run goes, and closes when it ends), the two alternated back to back, same
# seed, both under the same X server: the one DISPLAY names, or an Xvfb started here
# (1600x1200x24) when DISPLAY is unset. Prints the medians of engram's run-loop time and
# of the whole process (timed from outside), and the ratio live / plain for both.
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   REPEATS   repetitions of each variant (default 5)
#   DURATION  seconds simulated (default 10)
#   THREADS   engram threads (default 1)
#   SEED      seed (default 1)
#   OUT_DIR   where live.json goes (default bench/out)
#   PYTHON    interpreter for the summary (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_no_args "${BASH_SOURCE[0]}" live.sh "$@"

REPEATS="${REPEATS:-5}"
DURATION="${DURATION:-10}"
THREADS="${THREADS:-1}"
SEED="${SEED:-1}"
bench_setup live
xvfb_pid=""
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
  command -v Xvfb > /dev/null || { echo "live.sh: no DISPLAY and no Xvfb (apt-get install xvfb)" >&2; exit 1; }
  Xvfb -displayfd 3 -screen 0 1600x1200x24 -nolisten tcp 3> "$tmp/display" 2> /dev/null &
  xvfb_pid=$!
  for _ in $(seq 100); do [ -s "$tmp/display" ] && break; sleep 0.1; done
  [ -s "$tmp/display" ] || { echo "live.sh: Xvfb did not start" >&2; exit 1; }
  export DISPLAY=":$(head -n1 "$tmp/display")"
  trap 'kill "$xvfb_pid" 2> /dev/null; rm -rf "$tmp"' EXIT
  echo "started Xvfb on $DISPLAY"
fi
echo "coba.yaml, $DURATION s simulated, $REPEATS repeats per variant, seed $SEED, $THREADS thread(s), DISPLAY=$DISPLAY"
echo

for ((r = 1; r <= REPEATS; r++)); do
  for variant in plain live; do
    log="$tmp/$variant.$r.log"
    h5="$tmp/$variant.h5"
    extra=()
    [ "$variant" = live ] && extra=(--live --live-close)
    t0=$EPOCHREALTIME
    "$ENGRAM" run "$root/experiments/coba.yaml" -o "$h5" --seed "$SEED" --threads "$THREADS" \
      --set simulation.duration="$DURATION s" "${extra[@]}" > "$log" 2>&1 \
      || { echo "engram failed ($variant):" >&2; cat "$log" >&2; exit 1; }
    t1=$EPOCHREALTIME
    rm -f "$h5"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
    [ -n "$loop" ] || { echo "live.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1; }
    printf '%s\t%d\t%s\t%s\n' "$variant" "$r" "$wall" "$loop" >> "$runs"
    printf '  rep %d  %-5s  whole %6.3f s  loop %6.3f s\n' "$r" "$variant" "$wall" "$loop"
  done
done

echo
"$PYTHON" - "$runs" "$OUT_DIR/live.json" "$ENGRAM" "$DURATION" <<'PYEOF'
import json, os, statistics as st, sys, time
runs_path, out_path, engram, duration = sys.argv[1:5]
v = {}
for l in open(runs_path):
    variant, rep, wall, loop = l.split('\t')
    v.setdefault(variant, []).append(dict(rep=int(rep), whole_s=float(wall), loop_s=float(loop)))
s = {k: dict(loop_s=st.median(x['loop_s'] for x in rs), whole_s=st.median(x['whole_s'] for x in rs),
             loop_min_max=[min(x['loop_s'] for x in rs), max(x['loop_s'] for x in rs)], runs=rs)
     for k, rs in v.items()}
p, l = s['plain'], s['live']
ratio = dict(loop=l['loop_s'] / p['loop_s'], whole=l['whole_s'] / p['whole_s'])
print(f"Medians of {len(v['plain'])} runs each ({duration} s simulated)")
print(f"{'variant':8} {'run loop s':>10} {'(min-max)':>15} {'whole s':>8}")
for k in ('plain', 'live'):
    x = s[k]
    print(f"{k:8} {x['loop_s']:10.3f} {x['loop_min_max'][0]:7.3f}-{x['loop_min_max'][1]:.3f} {x['whole_s']:8.3f}")
print(f"live / plain: run loop {ratio['loop']:.3f} ({100 * (ratio['loop'] - 1):+.1f} %), "
      f"whole process {ratio['whole']:.3f} ({100 * (ratio['whole'] - 1):+.1f} %)")
with open(out_path, 'w') as f:
    json.dump(dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, nproc=os.cpu_count(),
                   display=os.environ.get('DISPLAY'), variants=s, ratio=ratio), f, indent=1)
print(f'wrote {out_path}')
PYEOF
