#!/usr/bin/env bash
# Speed benchmark: the Vogels-Abbott COBA and CUBA networks (Brette et al. 2007,
# benchmarks 1 and 2) and the Brunel (2000) model-A network (delta synapses, 12,500
# neurons, 15.6 M synapses, Poisson drive), 10 s of biological time (Brunel 2 s), N repetitions, medians.
#
# Usage: bench/run_bench.sh [--with-brian] [--help]
#
# Environment:
#   ENGRAM     engram binary (default: build/bin/engram, relative to the repo root)
#   REPEATS    repetitions per network (default 5)
#   DURATION   biological time in seconds (default 10)
#   DURATION_<net>  per-network override of DURATION; DURATION_brunel defaults to 2
#              (Brunel costs ~120x COBA per simulated second in engram, ~140x in Brian2)
#   THREADS    engram worker threads (default 1)
#   SEED       seed used for every repetition, so each repeat does the same work (default 1)
#   NETWORKS   networks to run (default "coba cuba"; experiments/<name>.yaml; also "brunel", and
#              "coba_euler": COBA with forward Euler, Brian's scheme, against the same peer)
#   OUT_DIR    results dir for the JSON summary (default bench/out)
#   PEERS      Brian2 peer scripts (default ../shared/peers relative to the repo root);
#              bench/brian2_<net>.py (brunel) is used before $PEERS/brian2_<net>.py
#   PYTHON     interpreter with numpy for the Brian2 peers and the summary (default /usr/bin/python3)
#
# Per network it prints the median over repeats of
#   - whole-process wall seconds per simulated second (the whole engram command timed,
#     including start-up, network construction and writing the HDF5 file),
#   - run-loop seconds per simulated second (engram's own "run loop" figure),
#   - spikes and synaptic events per second of run loop (engram's "synaptic events" line),
#   - network construction time, peak memory (MiB, engram's "peak memory" line: the
#     process's maximum resident set size) and bytes per synapse (engram's "built" line:
#     connectivity storage / synapses).
# With --with-brian, each engram run is followed by the Brian2 cpp_standalone peer
# (1 OpenMP thread) on the same network, back to back, and the ratios
# engram/Brian2 are printed: loop time vs Brian's run_s (the network main loop) and
# engram whole process vs Brian's binary_s (the whole compiled ./main; Brian's code
# generation and C++ compile, ~10 s, are reported separately and not in the ratio).
# Brian2's peak memory is measured once per network: after the first repeat its compiled
# ./main runs once more as the only child of a fresh interpreter, whose children's maximum
# resident set size is then that of ./main; the ratio of peak memories is printed too.
# A network without a Brian2 peer runs engram only.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"

bench_brian_arg "${BASH_SOURCE[0]}" run_bench.sh "$@"

REPEATS="${REPEATS:-5}"
DURATION="${DURATION:-10}"
DURATION_brunel="${DURATION_brunel:-2}"   # Brunel: ~120x the cost of COBA per simulated second
THREADS="${THREADS:-1}"
SEED="${SEED:-1}"
NETWORKS="${NETWORKS:-coba cuba}"
PEERS="${PEERS:-$root/../shared/peers}"
bench_setup bench
if [ "$with_brian" = 1 ]; then
  for n in $NETWORKS; do
    [ -n "$(bench_peer "$n")" ] || echo "run_bench.sh: no Brian2 peer for $n (bench/ or $PEERS); engram only" >&2
  done
fi
export PEERS

export BRIAN_WORK="$tmp/brian-work"
echo "networks: $NETWORKS; $DURATION s simulated$(for n in $NETWORKS; do v="DURATION_$n"; [ -n "${!v:-}" ] && printf ' (%s: %s s)' "$n" "${!v}"; done), $REPEATS repeats, seed $SEED, $THREADS thread(s)$([ "$with_brian" = 1 ] && echo ', with Brian2 cpp_standalone (1 thread)')"
echo

for net in $NETWORKS; do
  yaml="$root/experiments/$net.yaml"
  [ -f "$yaml" ] || { echo "run_bench.sh: no experiment $yaml" >&2; exit 1; }
  dvar="DURATION_$net"
  dur="${!dvar:-$DURATION}"
  peer=""
  if [ "$with_brian" = 1 ]; then peer="$(bench_peer "$net")"; fi
  for ((r = 1; r <= REPEATS; r++)); do
    log="$tmp/$net.$r.log"
    t0=$EPOCHREALTIME
    "$ENGRAM" run "$yaml" -o "$tmp/$net.h5" --seed "$SEED" --threads "$THREADS" \
      --set simulation.duration="$dur s" > "$log" 2>&1 \
      || { echo "engram failed on $net:" >&2; cat "$log" >&2; exit 1; }
    t1=$EPOCHREALTIME
    rm -f "$tmp/$net.h5"
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    # "simulated 10000 ms in 2.476 s wall (run loop 2.458 s): ..."
    sim_ms=$(sed -n 's/^simulated \([0-9.]*\) ms in .*/\1/p' "$log")
    loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
    # "synaptic events: 56,554,539 (23.0 M/s)"
    events=$(sed -n 's/^synaptic events: \([0-9,]*\) .*/\1/p' "$log" | tr -d ,)
    # population table rows: name neurons spikes rate cv
    spikes=$(awk '/^population/ { on = 1; next } on && NF == 5 && $2 ~ /^[0-9,]+$/ { gsub(",", "", $3); s += $3; next } on { on = 0 } END { print s + 0 }' "$log")
    # "built 4,000 neurons and 319,891 synapses in 0.013 s (4.2 bytes per synapse)"
    synapses=$(sed -n 's/^built [0-9,]* neurons and \([0-9,]*\) synapses in .*/\1/p' "$log" | tr -d ,)
    build=$(sed -n 's/^built .* synapses in \([0-9.]*\) s .*/\1/p' "$log")
    bps=$(sed -n 's/^built .*(\([0-9.]*\) bytes per synapse).*/\1/p' "$log")
    # "peak memory: 22.5 MiB"
    peak=$(sed -n 's/^peak memory: \([0-9.]*\) MiB.*/\1/p' "$log")
    if [ -z "$sim_ms" ] || [ -z "$loop" ] || [ -z "$events" ] || [ -z "$synapses" ] || [ -z "$build" ] \
       || [ -z "$bps" ] || [ -z "$peak" ]; then
      echo "run_bench.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1
    fi
    # columns: simulator net rep sim_ms whole loop spikes events compile peak_MiB B/syn synapses build_s
    printf 'engram\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t\t%s\t%s\t%s\t%s\n' "$net" "$r" "$sim_ms" "$wall" "$loop" \
      "$spikes" "$events" "$peak" "$bps" "$synapses" "$build" >> "$runs"
    printf '  %-6s rep %d  engram: whole %6.3f s, loop %6.3f s, %s spikes, build %.3f s, peak %s MiB, %s B/syn\n' \
      "$net" "$r" "$wall" "$loop" "$spikes" "$build" "$peak" "$bps"

    if [ -n "$peer" ]; then
      bjson="$tmp/brian_$net.$r.json"
      "$PYTHON" "$peer" --device cpp_standalone --duration "$dur" \
        --threads 1 --seed "$SEED" --out "$bjson" > "$tmp/brian_$net.$r.log" 2>&1 \
        || { echo "Brian2 peer failed on $net:" >&2; tail -30 "$tmp/brian_$net.$r.log" >&2; exit 1; }
      # Brian's peak memory: its compiled ./main run once more, in the first repeat only
      # (the same binary and data every repeat), as the only child of a fresh interpreter
      "$PYTHON" - "$bjson" "$net" "$r" >> "$runs" <<'EOF'
import json, resource, subprocess, sys
j = json.load(open(sys.argv[1]))
ev = j['total_spikes'] * j['mean_out_degree']
peak = ''
if sys.argv[3] == '1':
    subprocess.run(['./main'], cwd=j['build_dir'], check=True, stdout=subprocess.DEVNULL)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
print('\t'.join(map(str, ['brian2', sys.argv[2], sys.argv[3], j['duration_s'] * 1e3,
                          j['binary_s'], j['run_s'], j['total_spikes'], round(ev),
                          j.get('compile_s', 0.0) + j.get('codegen_s', 0.0), peak, '',
                          j.get('n_synapses', ''), ''])))
EOF
      tail -1 "$runs" | awk -F'\t' '{ printf "  %-6s rep %d  brian2: binary %6.3f s, loop %6.3f s, %s spikes (+%.1f s codegen/compile)\n", $2, $3, $5, $6, $7, $9 }'
    fi
  done
done

echo
"$PYTHON" - "$runs" "$OUT_DIR/bench.json" "$ENGRAM" "$REPEATS" "$SEED" "$THREADS" <<'EOF'
import json, os, platform, statistics as st, subprocess, sys, time
runs_path, out_path, engram, repeats, seed, threads = sys.argv[1:7]
rows = [l.rstrip('\n').split('\t') for l in open(runs_path) if l.strip()]
data = {}
for r in rows:
    sim, net = r[0], r[1]
    sim_s = float(r[3]) / 1e3
    rec = dict(sim_s=sim_s, whole_s=float(r[4]), loop_s=float(r[5]),
               spikes=int(float(r[6])), events=int(float(r[7])))
    for k, col in (('compile_s', 8), ('peak_mib', 9), ('bytes_per_synapse', 10),
                   ('synapses', 11), ('build_s', 12)):
        if len(r) > col and r[col] != '':
            rec[k] = float(r[col])
    data.setdefault(net, {}).setdefault(sim, []).append(rec)

def med(xs):
    return st.median(xs)

def med_opt(recs, k):
    xs = [x[k] for x in recs if k in x]
    return med(xs) if xs else None

def fmt(v, f):
    return format(v, f) if v is not None else '-'

summary = {}
for net, sims in data.items():
    summary[net] = {}
    for sim, recs in sims.items():
        s = dict(repeats=len(recs), simulated_s=recs[0]['sim_s'],
                 whole_s_per_sim_s=med([x['whole_s'] / x['sim_s'] for x in recs]),
                 loop_s_per_sim_s=med([x['loop_s'] / x['sim_s'] for x in recs]),
                 spikes=med([x['spikes'] for x in recs]),
                 syn_events_per_s=med([x['events'] / x['loop_s'] for x in recs]),
                 build_s=med_opt(recs, 'build_s'),
                 peak_memory_mib=med_opt(recs, 'peak_mib'),
                 bytes_per_synapse=med_opt(recs, 'bytes_per_synapse'),
                 synapses=med_opt(recs, 'synapses'),
                 runs=recs)
        if sim == 'brian2':
            s['whole_is'] = 'binary_s (compiled ./main: setup + run + write; excludes codegen/compile)'
            s['compile_s'] = med([x['compile_s'] for x in recs])
        summary[net][sim] = s
    if 'brian2' in sims:
        e, b = summary[net]['engram'], summary[net]['brian2']
        summary[net]['ratio_engram_over_brian2'] = dict(
            loop=e['loop_s_per_sim_s'] / b['loop_s_per_sim_s'],
            whole=e['whole_s_per_sim_s'] / b['whole_s_per_sim_s'])

hdr = (f"{'network':8} {'simulator':9} {'whole s/sim s':>13} {'loop s/sim s':>12} {'spikes':>10} "
       f"{'syn ev/s':>10} {'build s':>8} {'peak MiB':>9} {'B/syn':>6}")
print('Medians over repeats (s per simulated second; synaptic events per second of run loop;')
print('build s = network construction; peak MiB = max resident set; B/syn = connectivity bytes')
print('per synapse: build s and B/syn from engram\'s own output, not measured for Brian2; Brian2\'s')
print('peak MiB is its compiled ./main run once more after the first repeat)')
print(hdr)
print('-' * len(hdr))
for net, s in summary.items():
    for sim in ('engram', 'brian2'):
        if sim not in s:
            continue
        x = s[sim]
        whole = f"{x['whole_s_per_sim_s']:.4f}" + ('*' if sim == 'brian2' else ' ')
        print(f"{net:8} {sim:9} {whole:>13} {x['loop_s_per_sim_s']:12.4f} "
              f"{int(x['spikes']):10d} {x['syn_events_per_s'] / 1e6:8.1f} M "
              f"{fmt(x['build_s'], '.3f'):>8} {fmt(x['peak_memory_mib'], '.1f'):>9} "
              f"{fmt(x['bytes_per_synapse'], '.1f'):>6}")
    if 'ratio_engram_over_brian2' in s:
        q = s['ratio_engram_over_brian2']
        mem = ''
        if s['engram']['peak_memory_mib'] and s['brian2']['peak_memory_mib']:
            q['peak_memory'] = s['engram']['peak_memory_mib'] / s['brian2']['peak_memory_mib']
            mem = f"{'':33}{q['peak_memory']:8.2f}x"
        print(f"{net:8} {'ratio':9} {q['whole']:12.3f}x {q['loop']:11.3f}x{mem}   (engram / Brian2)")
if any('brian2' in s for s in summary.values()):
    print("* Brian2 'whole' = binary_s, the compiled ./main (setup + run + write),"
          " excluding code generation and C++ compile (median "
          + ', '.join(f"{n} {s['brian2']['compile_s']:.1f} s" for n, s in summary.items() if 'brian2' in s)
          + ').')
print('Anchors (COBA, literature): Auryn 0.147 s/sim s, Brian2 0.26 s/sim s.')

meta = dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, repeats=int(repeats),
            seed=int(seed), engram_threads=int(threads), brian2_threads=1,
            nproc=os.cpu_count(), platform=platform.platform())
try:
    meta['cpu'] = next(l.split(':', 1)[1].strip() for l in open('/proc/cpuinfo') if l.startswith('model name'))
except (OSError, StopIteration):
    pass
try:
    flags = next(l.split(':', 1)[1].split() for l in open('/proc/cpuinfo') if l.startswith('flags'))
    meta['cpu_simd'] = 'AVX-512' if 'avx512f' in flags else 'AVX2' if 'avx2' in flags else 'no AVX2'
except (OSError, StopIteration):
    pass
try:  # which hand-written kernels the binary runs: the second line of engram --version
    ver = subprocess.run([engram, '--version'], capture_output=True, text=True, check=True).stdout
    meta['engram_kernels'] = next(l.split(':', 1)[1].strip() for l in ver.splitlines() if l.startswith('float LIF kernels'))
except (OSError, subprocess.CalledProcessError, StopIteration):
    pass
with open(out_path, 'w') as f:
    json.dump(dict(meta=meta, networks=summary), f, indent=1)
print(f'wrote {out_path}')
EOF
