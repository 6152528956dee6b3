#!/usr/bin/env bash
# Cost of double precision (simulation.precision: double) on COBA (exponential Euler, the
# default, and forward Euler, Brian's scheme for it) and CUBA.
#
# Usage: bench/precision.sh [--help]
#
# Runs each network (experiments/<network>.yaml, 10 s simulated, 1 thread) REPEATS times
# with simulation.precision=float and REPEATS times with double, the two alternated back
# to back, same seed. Prints per network and precision the medians of engram's run-loop
# and whole-process time (s per simulated second), the mean rate and CV ISI of the
# excitatory population as engram prints them, and the ratio double / float of the
# medians. (The firing statistics over 10 seeds against Brian2:
# bench/compare_stats.py --precision double.)
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   REPEATS   repetitions of each variant (default 5)
#   NETWORKS  networks (default "coba coba_euler cuba")
#   DURATION  seconds simulated (default 10)
#   SEED      seed (default 1)
#   OUT_DIR   where precision.json goes (default bench/out)
#   PYTHON    interpreter for the summary (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_no_args "${BASH_SOURCE[0]}" precision.sh "$@"

REPEATS="${REPEATS:-5}"
NETWORKS="${NETWORKS:-coba coba_euler cuba}"
DURATION="${DURATION:-10}"
SEED="${SEED:-1}"
bench_setup precision
echo "networks: $NETWORKS; $DURATION s simulated, $REPEATS repeats per precision, seed $SEED, 1 thread"
echo

for net in $NETWORKS; do
  for ((r = 1; r <= REPEATS; r++)); do
    for prec in float double; do
      log="$tmp/$net.$prec.$r.log"
      t0=$EPOCHREALTIME
      "$ENGRAM" run "$root/experiments/$net.yaml" -o "$tmp/out.h5" --seed "$SEED" --threads 1 \
        --set simulation.duration="$DURATION s" --set simulation.precision="$prec" > "$log" 2>&1 \
        || { echo "engram failed ($net, precision $prec):" >&2; cat "$log" >&2; exit 1; }
      t1=$EPOCHREALTIME
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
      loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
      sim_ms=$(sed -n 's/^simulated \([0-9.]*\) ms in .*/\1/p' "$log")
      stats=$(awk '$1 == "exc" && NF == 5 { print $4, $5 }' "$log")
      [ -n "$loop" ] && [ -n "$sim_ms" ] && [ -n "$stats" ] \
        || { echo "precision.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1; }
      printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\n' "$net" "$prec" "$r" "$sim_ms" "$wall" "$loop" "$stats" >> "$runs"
      printf '  %-5s rep %d  %-6s  whole %6.3f s  loop %6.3f s  exc rate / CV ISI %s\n' "$net" "$r" "$prec" "$wall" "$loop" "$stats"
    done
  done
done

echo
"$PYTHON" - "$runs" "$OUT_DIR/precision.json" "$ENGRAM" <<'PYEOF'
import json, statistics as st, sys, time
runs_path, out_path, engram = sys.argv[1:4]
v = {}
for l in open(runs_path):
    net, prec, rep, sim_ms, wall, loop, stats = l.rstrip('\n').split('\t')
    rate, cv = stats.split()
    sim_s = float(sim_ms) / 1e3
    v.setdefault(net, {}).setdefault(prec, []).append(
        dict(rep=int(rep), whole_s_per_sim_s=float(wall) / sim_s, loop_s_per_sim_s=float(loop) / sim_s,
             exc_rate_hz=float(rate), exc_cv_isi=float(cv)))
summary = {}
print('Medians (s per simulated second); exc rate and CV ISI as engram prints them (same seed)')
print(f"{'network':10} {'precision':9} {'loop':>8} {'whole':>8} {'exc Hz':>8} {'CV ISI':>7}")
for net, by in v.items():
    summary[net] = {}
    for prec in ('float', 'double'):
        rs = by[prec]
        m = dict(loop=st.median(x['loop_s_per_sim_s'] for x in rs), whole=st.median(x['whole_s_per_sim_s'] for x in rs),
                 rate=rs[0]['exc_rate_hz'], cv=rs[0]['exc_cv_isi'])
        summary[net][prec] = m
        print(f"{net:10} {prec:9} {m['loop']:8.4f} {m['whole']:8.4f} {m['rate']:8.3f} {m['cv']:7.3f}")
    f, d = summary[net]['float'], summary[net]['double']
    summary[net]['ratio_loop'] = d['loop'] / f['loop']
    summary[net]['ratio_whole'] = d['whole'] / f['whole']
    print(f"{net:10} {'ratio':9} {d['loop'] / f['loop']:7.2f}x {d['whole'] / f['whole']:7.2f}x   (double / float)")
json.dump(dict(engram=engram, date=time.strftime('%Y-%m-%d %H:%M'), summary=summary, runs=v), open(out_path, 'w'), indent=1)
print(f'wrote {out_path}')
PYEOF
