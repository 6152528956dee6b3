#!/usr/bin/env bash
# Interleaved A/B comparison of two engram binaries, or of one binary under two sets of
# options, on the same experiment in the same minutes.
#
# Usage: bench/ab.sh [--help] EXPERIMENT [engram run options...]
#   e.g. A=/tmp/engram_before B=build/bin/engram PAIRS=11 bench/ab.sh experiments/coba_large.yaml --threads 2
#        A_ARGS="--threads 1" B_ARGS="--threads 2" bench/ab.sh experiments/coba.yaml      (1 thread vs 2)
#        B_ARGS="--set record.spikes=[]" bench/ab.sh experiments/coba.yaml     (recording all vs none)
#        PAIRS=40 bench/ab.sh experiments/coba.yaml --set simulation.duration=0.1ms
#            (the fixed costs: start-up, construction, the file; a loop that short prints
#            0 s, so only the whole process is compared)
#
# On a shared host the speed drifts by 10-30 % between minutes, far more than most changes
# this is meant to measure, so one median per side taken minutes apart says little. Here
# the two sides run in turn, PAIRS times; within each pair the order alternates (A first
# in odd pairs, B first in even ones), so a drift within a pair favours neither side. Each
# pair gives one ratio B/A of the "run loop" figure engram prints, one of whole process
# wall time and one of the network's construction ("built ... in T s"); the result is the
# median of those ratios, with the pairs where B was faster counted and the interquartile
# range of the ratios, so a reader can tell a shift from noise.
#
# Every run of a pair writes its own results file; the spikes of B and A are compared
# exactly (h5py) in each pair unless B_ARGS or A_ARGS is set, since options such as
# record.spikes change the file on purpose (COMPARE=1 compares them anyway, e.g. for
# --threads 1 against --threads 2). Exit status 1 if any pair's spikes differ or a run
# fails, 2 for a bad argument.
#
# Environment:
#   A, B            engram binaries (default build/bin/engram for both; relative paths are
#                   taken from the repository root, EXPERIMENT from the current folder)
#   A_ARGS, B_ARGS  extra options for one side only (split at spaces; default empty)
#   COMPARE         1: compare spikes even with A_ARGS/B_ARGS; 0: never (default: 1
#                   without them, 0 with them)
#   PAIRS           number of pairs (default 9)
#   OUT_DIR         where ab.json goes (default bench/out)
#   PYTHON          interpreter with numpy and h5py (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
case "${1:-}" in
  -h|--help) bench_usage "${BASH_SOURCE[0]}"; exit 0 ;;
  "") echo "ab.sh: give the experiment file (try --help)" >&2; exit 2 ;;
esac
exp="$1"
shift
[ -f "$exp" ] || { echo "ab.sh: no such experiment file: $exp" >&2; exit 2; }

PAIRS="${PAIRS:-9}"
[[ "$PAIRS" =~ ^[1-9][0-9]*$ ]] || { echo "ab.sh: PAIRS must be a positive integer, got '$PAIRS'" >&2; exit 2; }
A="${A:-build/bin/engram}"
B="${B:-build/bin/engram}"
case "$A" in /*) ;; *) A="$root/$A" ;; esac
case "$B" in /*) ;; *) B="$root/$B" ;; esac
[ -x "$A" ] || { echo "ab.sh: binary A not found: $A" >&2; exit 1; }
[ -x "$B" ] || { echo "ab.sh: binary B not found: $B" >&2; exit 1; }
ENGRAM="$B"
bench_setup ab
read -r -a a_args <<< "${A_ARGS:-}"
read -r -a b_args <<< "${B_ARGS:-}"
compare=1
[ -n "${A_ARGS:-}${B_ARGS:-}" ] && compare=0
case "${COMPARE:-}" in
  "") ;;
  0|1) compare="$COMPARE" ;;
  *) echo "ab.sh: COMPARE must be 0 or 1, got '$COMPARE'" >&2; exit 2 ;;
esac

echo "A: $A ${A_ARGS:-}"
echo "B: $B ${B_ARGS:-}"
echo "experiment: $exp $*; $PAIRS pairs"
echo

run_side() {  # SIDE PAIR RUN-OPTIONS... -> appends a line to $runs
  local side="$1" pair="$2" bin h5 log t0 t1 wall loop build
  shift 2
  local -a extra
  if [ "$side" = A ]; then bin="$A"; extra=("${a_args[@]}"); else bin="$B"; extra=("${b_args[@]}"); fi
  h5="$tmp/$side.$pair.h5"
  log="$tmp/$side.$pair.log"
  t0=$EPOCHREALTIME
  "$bin" run "$exp" "$@" "${extra[@]}" -o "$h5" > "$log" 2>&1 || { echo "ab.sh: engram ($side) failed:" >&2; cat "$log" >&2; exit 1; }
  t1=$EPOCHREALTIME
  wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
  loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
  [ -n "$loop" ] || { echo "ab.sh: could not read the run loop time from engram ($side):" >&2; cat "$log" >&2; exit 1; }
  build=$(sed -n 's/^built .* in \([0-9.]*\) s .*/\1/p' "$log")
  [ -n "$build" ] || { echo "ab.sh: could not read the construction time from engram ($side):" >&2; cat "$log" >&2; exit 1; }
  printf '%s\t%d\t%s\t%s\t%s\t%s\n' "$side" "$pair" "$loop" "$wall" "$h5" "$build" >> "$runs"
}

for ((p = 1; p <= PAIRS; p++)); do
  if ((p % 2)); then run_side A "$p" "$@"; run_side B "$p" "$@"; else run_side B "$p" "$@"; run_side A "$p" "$@"; fi
  printf '  pair %2d  A loop %s s  B loop %s s\n' "$p" "$(awk -F'\t' -v p="$p" '$1=="A" && $2==p {print $3}' "$runs")" \
    "$(awk -F'\t' -v p="$p" '$1=="B" && $2==p {print $3}' "$runs")"
done

echo
"$PYTHON" - "$runs" "$OUT_DIR/ab.json" "$compare" "$A" "$B" "${A_ARGS:-}" "${B_ARGS:-}" "$exp $*" <<'PYEOF'
import json, statistics as st, sys, time

runs_path, out_path, compare, a_bin, b_bin, a_args, b_args, what = sys.argv[1:9]
side = {}
for line in open(runs_path):
    s, p, loop, wall, h5, build = line.rstrip('\n').split('\t')
    side[(s, int(p))] = dict(loop=float(loop), wall=float(wall), file=h5, build=float(build))
pairs = sorted({p for _, p in side})


def quartiles(x):
    q = st.quantiles(x, n=4) if len(x) > 1 else [x[0]] * 3
    return q[0], q[2]


def summary(key):
    # engram prints the run loop and the construction in ms: a shorter one is not compared
    if any(side[(s, p)][key] <= 0 for s in 'AB' for p in pairs):
        return None
    r = [side[('B', p)][key] / side[('A', p)][key] for p in pairs]
    lo, hi = quartiles(r)
    return dict(ratios=r, median=st.median(r), q1=lo, q3=hi, b_faster=sum(x < 1 for x in r),
                a_median=st.median(side[('A', p)][key] for p in pairs),
                b_median=st.median(side[('B', p)][key] for p in pairs))


res = dict(loop=summary('loop'), whole=summary('wall'), build=summary('build'))
same = None
if compare == '1':
    import h5py
    import numpy as np

    def spikes(path):
        with h5py.File(path, 'r') as f:
            g = f['spikes']
            return {k: (g[k]['timestamps'][()], g[k]['node_ids'][()]) for k in sorted(g)}

    same = []
    for p in pairs:
        a, b = spikes(side[('A', p)]['file']), spikes(side[('B', p)]['file'])
        same.append(a.keys() == b.keys() and all(np.array_equal(a[k][0], b[k][0]) and np.array_equal(a[k][1], b[k][1]) for k in a))

print('ratio = B / A per pair (below 1: B faster); median and interquartile range over pairs')
for name, label in (('loop', 'run loop'), ('whole', 'whole process'), ('build', 'construction')):
    s = res[name]
    if s is None:
        print(f"{label:14} not compared: some runs printed 0 s (shorter than engram's 1 ms resolution)")
        continue
    print(f"{label:14} A median {s['a_median']:.4f} s  B median {s['b_median']:.4f} s  "
          f"ratio {s['median']:.3f} (IQR {s['q1']:.3f}-{s['q3']:.3f}), B faster in {s['b_faster']} of {len(pairs)} pairs")
if same is not None:
    print('spikes of B identical to A:', 'yes, every pair' if all(same) else f'NO, in {len(same) - sum(same)} pairs')
meta = dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), a=a_bin, b=b_bin, a_args=a_args, b_args=b_args,
            run=what, pairs=len(pairs))
with open(out_path, 'w') as f:
    json.dump(dict(meta=meta, **res, spikes_identical=same), f, indent=1)
print(f'wrote {out_path}')
sys.exit(0 if same is None or all(same) else 1)
PYEOF
