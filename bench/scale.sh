#!/usr/bin/env bash
# Large networks: construction time, memory per synapse and simulation speed of the
# Brunel (2000) network (experiments/brunel.yaml) scaled to 10^8 synapses.
#
# Usage: bench/scale.sh [--huge | --huge-log FILE] [--plastic] [--help]
#
# The 10^8 point: --set populations.exc.size=64000 --set populations.inh.size=16000
# (80,000 neurons, fixed in-degree 1000 + 250, so 10^8 synapses), 100 ms simulated,
# with --threads 1 and --threads 2, REPEATS times each (medians). For the memory figure,
# every run is paired with the same run at exc=640, inh=160 (800 neurons, 10^6 synapses):
# that baseline holds the process's fixed costs (binary, libraries, HDF5, thread stacks).
# 640 excitatory neurons cannot give 1000 distinct sources, so the baseline draws its
# sources with replacement (--set projections.<p>.connector.with_replacement=true for
# ee, ei, ie, ii); the in-degree, hence the synapse count, stays the same.
#
# Prints per point and thread count:
#   - build s: network construction (engram's "built ... in T s" line),
#   - build rate: synapses per second of construction,
#   - B/syn engram: engram's own "bytes per synapse" (connectivity storage / synapses),
#   - peak MiB: engram's "peak memory" (maximum resident set size of the process),
#   - B/syn RSS: (peak RSS - peak RSS of the baseline run) / synapses, i.e. everything the
#     large network costs (connectivity, neuron state, spike buffers, construction
#     scratch space), per synapse,
#   - loop s/sim s: run-loop seconds per simulated second, and synaptic events per second
#     of run loop (the first 100 ms include the onset transient of the network).
#
# --huge adds the 10^9-synapse point (exc 640000, inh 160000, 800,000 neurons, 20 ms,
# 2 threads, one run; about 4 GiB of memory and 100 s on 2 cores) and its baseline.
# --huge-log FILE takes that point from the log of an earlier run of exactly that command
# (engram's output, optionally followed by /usr/bin/time -v output) instead of running it;
# its baseline is still run.
#
# --plastic makes every synapse of both points plastic (additive STDP on ee, ei, ie, ii;
# inhibitory sources mirror the rule), so B/syn and B/syn RSS measure plastic synapses:
# target, weight, and the column entry used for updates at postsynaptic spikes.
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   REPEATS   repetitions of the 10^8 point per thread count (default 3)
#   SEED      seed (default 2000, the experiment's)
#   OUT_DIR   where scale.json goes (default bench/out)
#   PYTHON    interpreter for the summary (default /usr/bin/python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
huge=0
huge_log=""
plastic=()
while [ $# -gt 0 ]; do
  case "$1" in
    --huge) huge=1 ;;
    --huge-log) [ $# -ge 2 ] || { echo "scale.sh: --huge-log needs a FILE" >&2; exit 2; }
                huge=1; huge_log="$2"; shift ;;
    --plastic)
      for p in ee ei; do
        plastic+=(--set "projections.$p.plasticity={rule: stdp, tau_plus: 20 ms, tau_minus: 20 ms, a_plus: 0.001, a_minus: 0.00105, w_min: 0, w_max: 0.2}")
      done
      for p in ie ii; do
        plastic+=(--set "projections.$p.plasticity={rule: stdp, tau_plus: 20 ms, tau_minus: 20 ms, a_plus: 0.001, a_minus: 0.00105, w_min: -1, w_max: 0, presynaptic: inhibitory}")
      done ;;
    -h|--help) bench_usage "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "scale.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
  shift
done

REPEATS="${REPEATS:-3}"
SEED="${SEED:-2000}"
[ -z "$huge_log" ] || [ -f "$huge_log" ] || { echo "scale.sh: no such log: $huge_log" >&2; exit 1; }
bench_setup scale

# parse_log POINT KIND THREADS REP LOG WALL: one TSV row from an engram log
parse_log() {
  local point=$1 kind=$2 thr=$3 rep=$4 log=$5 wall=$6
  local neurons synapses build bps sim_ms loop events peak spikes
  neurons=$(sed -n 's/^built \([0-9,]*\) neurons and .*/\1/p' "$log" | tr -d ,)
  synapses=$(sed -n 's/^built [0-9,]* neurons and \([0-9,]*\) synapses in .*/\1/p' "$log" | tr -d ,)
  build=$(sed -n 's/^built .* synapses in \([0-9.]*\) s .*/\1/p' "$log")
  bps=$(sed -n 's/^built .*(\([0-9.]*\) bytes per synapse).*/\1/p' "$log")
  sim_ms=$(sed -n 's/^simulated \([0-9.]*\) ms in .*/\1/p' "$log")
  loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
  events=$(sed -n 's/^synaptic events: \([0-9,]*\) .*/\1/p' "$log" | tr -d ,)
  peak=$(sed -n 's/^peak memory: \([0-9.]*\) MiB.*/\1/p' "$log")
  spikes=$(awk '/^population/ { on = 1; next } on && NF == 5 && $2 ~ /^[0-9,]+$/ { gsub(",", "", $3); s += $3; next } on { on = 0 } END { print s + 0 }' "$log")
  if [ -z "$wall" ]; then   # from /usr/bin/time -v: "Elapsed (wall clock) time (h:mm:ss or m:ss): 1:38.28"
    wall=$(sed -n 's/.*Elapsed (wall clock) time[^:]*: *//p' "$log" \
           | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }')
  fi
  for v in neurons synapses build bps sim_ms loop events peak; do
    [ -n "${!v}" ] || { echo "scale.sh: could not parse '$v' from $log:" >&2; cat "$log" >&2; exit 1; }
  done
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$point" "$kind" "$thr" "$rep" "$neurons" \
    "$synapses" "$build" "$bps" "$sim_ms" "$loop" "$events" "$peak" "$spikes" "${wall:-}" >> "$runs"
  printf '  %-4s %-8s %dt rep %d: %s synapses built in %s s, %s B/syn, peak %s MiB, loop %s s for %s ms\n' \
    "$point" "$kind" "$thr" "$rep" "$synapses" "$build" "$bps" "$peak" "$loop" "$sim_ms"
}

# run_point POINT KIND EXC INH MS THREADS REP
run_point() {
  local point=$1 kind=$2 exc=$3 inh=$4 ms=$5 thr=$6 rep=$7
  local log="$tmp/$point.$kind.$thr.$rep.log" h5="$tmp/out.h5" t0 t1 extra=() p
  if [ "$kind" = baseline ]; then
    for p in ee ei ie ii; do extra+=(--set "projections.$p.connector.with_replacement=true"); done
  fi
  t0=$EPOCHREALTIME
  "$ENGRAM" run "$root/experiments/brunel.yaml" -o "$h5" --seed "$SEED" --threads "$thr" \
    --set populations.exc.size="$exc" --set populations.inh.size="$inh" \
    --set simulation.duration="$ms ms" "${extra[@]}" "${plastic[@]}" > "$log" 2>&1 \
    || { echo "engram failed ($point $kind, $thr threads):" >&2; cat "$log" >&2; exit 1; }
  t1=$EPOCHREALTIME
  rm -f "$h5"
  parse_log "$point" "$kind" "$thr" "$rep" "$log" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')"
}

echo "memory: $(free -g | awk '/^Mem:/ { print $2 }') GiB"
echo "Brunel$([ ${#plastic[@]} -gt 0 ] && echo ", every synapse plastic (STDP)"), seed $SEED; 1e8: 64000 + 16000 neurons, 100 ms, $REPEATS repeats per thread count$([ "$huge" = 1 ] && echo "; 1e9: 640000 + 160000 neurons, 20 ms, 2 threads$([ -n "$huge_log" ] && echo ", from $huge_log")")"
echo

for ((r = 1; r <= REPEATS; r++)); do
  for thr in 1 2; do
    run_point 1e8 baseline 640 160 100 "$thr" "$r"
    run_point 1e8 network 64000 16000 100 "$thr" "$r"
  done
done
if [ "$huge" = 1 ]; then
  run_point 1e9 baseline 640 160 20 2 1
  if [ -n "$huge_log" ]; then
    parse_log 1e9 network 2 1 "$huge_log" ""
  else
    run_point 1e9 network 640000 160000 20 2 1
  fi
fi

echo
"$PYTHON" - "$runs" "$OUT_DIR/scale$([ ${#plastic[@]} -gt 0 ] && echo _plastic).json" "$ENGRAM" "$huge_log" <<'PYEOF'
import json, os, statistics as st, sys, time
runs_path, out_path, engram, huge_log = sys.argv[1:5]
keys = ['point', 'kind', 'threads', 'rep', 'neurons', 'synapses', 'build_s', 'bytes_per_synapse',
        'sim_ms', 'loop_s', 'events', 'peak_mib', 'spikes', 'wall_s']
rows = []
for l in open(runs_path):
    v = l.rstrip('\n').split('\t')
    r = dict(zip(keys, v))
    for k in keys[2:]:
        r[k] = float(r[k]) if r[k] != '' else None
    rows.append(r)

res = []
for point in dict.fromkeys(r['point'] for r in rows):
    for thr in sorted({r['threads'] for r in rows if r['point'] == point}):
        net = [r for r in rows if r['point'] == point and r['threads'] == thr and r['kind'] == 'network']
        base = [r for r in rows if r['point'] == point and r['threads'] == thr and r['kind'] == 'baseline']
        if not net:
            continue
        m = lambda k, rs=net: st.median(r[k] for r in rs)
        syn = m('synapses')
        base_peak = st.median(r['peak_mib'] for r in base)
        res.append(dict(
            point=point, threads=int(thr), runs=len(net), neurons=int(m('neurons')), synapses=int(syn),
            simulated_ms=m('sim_ms'), build_s=m('build_s'),
            build_rate_syn_per_s=st.median(r['synapses'] / r['build_s'] for r in net),
            bytes_per_synapse_engram=m('bytes_per_synapse'), peak_mib=m('peak_mib'),
            baseline_peak_mib=base_peak, baseline_synapses=int(base[0]['synapses']),
            bytes_per_synapse_rss=(m('peak_mib') - base_peak) * 2**20 / syn,
            loop_s_per_sim_s=st.median(r['loop_s'] / (r['sim_ms'] / 1e3) for r in net),
            syn_events_per_s=st.median(r['events'] / r['loop_s'] for r in net),
            rate_hz=m('spikes') / (m('neurons') * m('sim_ms') / 1e3),
            wall_s=st.median(r['wall_s'] for r in net) if all(r['wall_s'] is not None for r in net) else None,
            source=huge_log if (point == '1e9' and huge_log) else 'this run'))

hdr = (f"{'point':5} {'thr':>3} {'neurons':>9} {'synapses':>13} {'build s':>8} {'build rate':>11} "
       f"{'B/syn':>6} {'peak MiB':>9} {'base MiB':>8} {'B/syn RSS':>9} {'loop s/sim s':>12} "
       f"{'syn ev/s':>10} {'rate Hz':>7}")
print('Medians over repeats. build rate = synapses / build s; B/syn = engram\'s connectivity bytes per synapse;')
print('B/syn RSS = (peak RSS - peak RSS of the 640+160-neuron run) / synapses')
print(hdr)
print('-' * len(hdr))
for x in res:
    print(f"{x['point']:5} {x['threads']:3d} {x['neurons']:9,d} {x['synapses']:13,d} {x['build_s']:8.2f} "
          f"{x['build_rate_syn_per_s'] / 1e6:7.1f} M/s {x['bytes_per_synapse_engram']:6.1f} "
          f"{x['peak_mib']:9.1f} {x['baseline_peak_mib']:8.1f} {x['bytes_per_synapse_rss']:9.2f} "
          f"{x['loop_s_per_sim_s']:12.2f} {x['syn_events_per_s'] / 1e6:8.1f} M {x['rate_hz']:7.1f}")
for point in dict.fromkeys(x['point'] for x in res):
    t = {x['threads']: x for x in res if x['point'] == point}
    if 1 in t and 2 in t:
        print(f"{point}: 1 -> 2 threads speed-up: construction {t[1]['build_s'] / t[2]['build_s']:.2f}x, "
              f"run loop {t[1]['loop_s_per_sim_s'] / t[2]['loop_s_per_sim_s']:.2f}x")
if huge_log:
    print(f'1e9 network row from {huge_log} (earlier run); its baseline was run now.')
with open(out_path, 'w') as f:
    json.dump(dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, nproc=os.cpu_count(),
                   points=res, runs=rows), f, indent=1)
print(f'wrote {out_path}')
PYEOF
