#!/usr/bin/env bash
# Thread scaling and thread-count independence of the results.
#
# Usage: bench/threads.sh [--with-brian] [--help]
#
# Runs COBA (experiments/coba.yaml, 4,000 neurons, 10 s) and COBA scaled tenfold
# (experiments/coba_large.yaml, 40,000 neurons, same in-degree, 2 s) with --threads 1 and
# --threads 2, REPEATS times each, configurations interleaved within every repeat, same
# seed throughout. COBA is also run with --threads 2 --set
# simulation.min_neurons_per_thread=1: by default a network this small runs its 2 parts on
# 1 worker (engram's "note:" line), and forcing a second worker shows what that would cost.
#
# "coba_large 1t x2" runs two 1-thread processes of coba_large at the same time: what two
# cores give when nothing is shared between them but the machine (its last-level cache,
# memory bandwidth, and on a virtual machine the host). Its "speed-up" column is 2 x the
# 1-thread loop time / the mean loop time of the two: about what a 2-thread run could
# reach on this machine if its work split perfectly and cost nothing to coordinate (the
# ceiling that coba_large 2t is read against; the line under the table gives coba_large
# 2t's speed-up as a share of it). An estimate, not a strict bound: the processes are not
# pinned, and each also has its background HDF5 writer thread.
#
# "lockstep 1t", "lockstep 2t" and "lockstep 2t w" (LOCKSTEP=1, the default) run
# bench/lockstep.c: a synthetic step of about coba_large's cost, on one thread and as two
# threads that meet every step as engram's workers do, with nothing else shared ("w":
# one of them also appends coba_large's spike chunks to a file, as engram's two workers
# do). Their speed-ups are what stepping in lockstep alone gets on this machine in the
# same minutes (every stall of either core holds up both): the lines under the table give
# them as a share of the ceiling, and engram's 2-thread speed-up as a share of them.
#
# Prints per configuration the medians of run-loop seconds per simulated second, whole
# process seconds per simulated second and synaptic events per second, the number of
# worker threads engram actually used, and the speed-up over 1 thread three ways: the
# ratio of median run-loop times; "paired", the median over repeats of the ratio within
# each repeat (the runs of one repeat are seconds apart, so it follows a host whose speed
# drifts during the pass); and "best", fastest against fastest. Then it checks that
# every spike file of a network (every configuration, every repeat) is identical to the
# 1-thread file of repeat 1: /spikes/<population>/timestamps and node_ids, compared
# exactly with h5py. Exit status 1 if any file differs.
#
# With --with-brian, every repeat also runs the Brian2 cpp_standalone peers of both
# networks with 1 and with 2 OpenMP threads: ../shared/peers/brian2_coba.py and
# bench/brian2_coba_large.py (the same network scaled tenfold, in-degree kept). Brian's
# scripts integrate with forward Euler, engram's files with exponential Euler, so each
# simulator's speed-up is read against its own 1-thread run; the last table also gives
# engram's time over Brian2's at the same thread count (run loop against Brian's run_s,
# whole process against Brian's whole ./main, binary_s; Brian's code generation and
# compile, ~8 s a run, are left out). Brian2's spikes are compared with its own 1-thread
# run of the same repeat by count: OpenMP changes which random numbers a neuron gets.
#
# Environment:
#   ENGRAM          engram binary (default build/bin/engram, relative to the repo root)
#   REPEATS         repetitions (default 3)
#   SEED            seed for every run (default 1)
#   COBA_DURATION   seconds simulated for coba.yaml (default 10)
#   LARGE_DURATION  seconds simulated for coba_large.yaml (default 2)
#   OUT_DIR         where threads.json goes (default bench/out)
#   PROFILE         1 (default): after the table, one more 1-thread and 2-thread run of
#                   coba_large with engram run --profile, whose tables show where each
#                   worker's loop went (update, deliver, record, wait); 0: skip them
#   NO_RECORD       1: every repeat also runs coba_large on 1 and 2 threads without spike
#                   recording (--set record.spikes=[]; "coba_large 1t nr", "2t nr"), the
#                   2-thread speed-up then taken against the 1-thread run without it. Two
#                   workers record serially (one writes a step's spikes, and a chunk to the
#                   file, while the other waits), where a 1-thread run leaves the file to a
#                   thread on the idle core: the difference is what recording costs two
#                   workers. Their files hold no spikes, so they are not compared. Default 0
#   SYNC            1: `sync` before every run, so that no earlier run's file is being
#                   written back to disk while a run is timed. Default 0
#   LOCKSTEP        1 (default): every repeat also runs bench/lockstep.c (built here with
#                   $CC, default cc) on 1 thread and as a lockstep pair of 2 threads
#                   ("lockstep 1t", "lockstep 2t"): a synthetic step of about coba_large's
#                   cost per step, with nothing shared between the threads but a counter
#                   each, where a thread may run one step ahead of the other, as engram's
#                   workers may; "lockstep 2t w" also appends coba_large's spike chunks
#                   to a file from one thread, as engram's two workers do. Their speed-ups
#                   are what stepping in lockstep alone gets on this machine in the same
#                   minutes; the lines under the table give engram's 2-thread speed-up as
#                   a share of them. Every 2-thread run is also bracketed by the round
#                   trip of a cache line between the two CPUs (`lockstep --pingpong`,
#                   printed after the run's line): on the 2-core EPYC VMs it is either
#                   below about 200 ns or above about 340 ns, and in the second state
#                   coba_large's 2-thread runs gain little or nothing over one thread
#                   (docs/performance-history.md, "Twenty-ninth session"); the state can change
#                   within a run. 0: skip them
#   PIN             1: the 2-thread engram runs pin each worker to a CPU of its own
#                   (--set simulation.pin_threads=true). Default 0
#   XL              1: every repeat also runs experiments/coba_xl.yaml (COBA at 80,000
#                   neurons, twice coba_large, same in-degree) on 1 and 2 threads and as two
#                   1-thread processes ("coba_xl 1t", "2t", "1t x2"), for XL_DURATION
#                   seconds (default LARGE_DURATION); a line under the table gives its
#                   2-thread speed-up as a share of its ceiling. Default 0
#   BRUNEL          1 (default): every repeat also runs experiments/brunel.yaml (12,500
#                   neurons, 15.6 million synapses, delays of 15 steps and Poisson inputs,
#                   so its workers meet at a barrier every step) on 1 and 2 threads
#                   ("brunel 1t", "brunel 2t") for BRUNEL_DURATION seconds (default 1). 0: skip
#   PYTHON          interpreter with numpy and h5py (default /usr/bin/python3)
#   PEERS           where brian2_coba.py and brian2_common.py are (default ../shared/peers
#                   relative to the repo root)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_brian_arg "${BASH_SOURCE[0]}" threads.sh "$@"

REPEATS="${REPEATS:-3}"
SEED="${SEED:-1}"
COBA_DURATION="${COBA_DURATION:-10}"
LARGE_DURATION="${LARGE_DURATION:-2}"
PROFILE="${PROFILE:-1}"
NO_RECORD="${NO_RECORD:-0}"
SYNC="${SYNC:-0}"
LOCKSTEP="${LOCKSTEP:-1}"
PIN="${PIN:-0}"
XL="${XL:-0}"
XL_DURATION="${XL_DURATION:-$LARGE_DURATION}"
BRUNEL="${BRUNEL:-1}"
BRUNEL_DURATION="${BRUNEL_DURATION:-1}"
bench_setup threads
if [ "$LOCKSTEP" = 1 ]; then
  "${CC:-cc}" -O3 -march=native -pthread -o "$tmp/lockstep" "$here/lockstep.c" \
    || { echo "threads.sh: cannot build bench/lockstep.c with ${CC:-cc} (set CC, or LOCKSTEP=0)" >&2; exit 1; }
fi
PEERS="${PEERS:-$root/../shared/peers}"
export PEERS
export BRIAN_WORK="$tmp/brian-work"
brian_runs="$tmp/brian.tsv"
: > "$brian_runs"
if [ "$with_brian" = 1 ]; then
  for n in coba coba_large; do
    [ -n "$(bench_peer $n)" ] || { echo "threads.sh: no Brian2 peer for $n: neither bench/brian2_$n.py nor $PEERS/brian2_$n.py (set PEERS)" >&2; exit 1; }
  done
  "$PYTHON" -c 'import brian2' 2>/dev/null \
    || { echo "threads.sh: --with-brian needs Brian2 importable by $PYTHON (scripts/install-deps.sh with ENGRAM_WITH_PEERS=1)" >&2; exit 1; }
fi

# label | experiment | seconds simulated | --threads | extra --set (or empty)
configs=(
  "coba 1t|coba|$COBA_DURATION|1|"
  "coba 2t|coba|$COBA_DURATION|2|"
  "coba 2t forced|coba|$COBA_DURATION|2|simulation.min_neurons_per_thread=1"
  "coba_large 1t|coba_large|$LARGE_DURATION|1|"
  "coba_large 2t|coba_large|$LARGE_DURATION|2|"
  "coba_large 1t x2|coba_large|$LARGE_DURATION|1|"
)
if [ "$LOCKSTEP" = 1 ]; then
  configs+=("lockstep 1t|lockstep|$LARGE_DURATION|1|" "lockstep 2t|lockstep|$LARGE_DURATION|2|"
            "lockstep 2t w|lockstep|$LARGE_DURATION|2|w")
fi
if [ "$BRUNEL" = 1 ]; then
  configs+=("brunel 1t|brunel|$BRUNEL_DURATION|1|" "brunel 2t|brunel|$BRUNEL_DURATION|2|")
fi
if [ "$XL" = 1 ]; then
  configs+=("coba_xl 1t|coba_xl|$XL_DURATION|1|" "coba_xl 2t|coba_xl|$XL_DURATION|2|"
            "coba_xl 1t x2|coba_xl|$XL_DURATION|1|")
fi
if [ "$NO_RECORD" = 1 ]; then
  configs+=("coba_large 1t nr|coba_large|$LARGE_DURATION|1|record.spikes=[]"
            "coba_large 2t nr|coba_large|$LARGE_DURATION|2|record.spikes=[]")
fi

echo "$REPEATS repeats, seed $SEED; coba $COBA_DURATION s, coba_large $LARGE_DURATION s$([ "$BRUNEL" = 1 ] && echo ", brunel $BRUNEL_DURATION s")$([ "$XL" = 1 ] && echo ", coba_xl $XL_DURATION s")$([ "$PIN" = 1 ] && echo "; 2-thread runs with pinned workers")$([ "$with_brian" = 1 ] && echo '; with Brian2 cpp_standalone, 1 and 2 OpenMP threads')$([ "$NO_RECORD" = 1 ] && echo '; coba_large also without spike recording')$([ "$SYNC" = 1 ] && echo '; sync before each run')"
echo

for ((r = 1; r <= REPEATS; r++)); do
  for c in "${configs[@]}"; do
    IFS='|' read -r label exp dur thr extra <<< "$c"
    probe=0
    tag="${label// /_}.$r"
    h5="$tmp/$tag.h5"
    log="$tmp/$tag.log"
    args=(run "$root/experiments/$exp.yaml" -o "$h5" --seed "$SEED" --threads "$thr"
          --set simulation.duration="$dur s")
    [ -n "$extra" ] && args+=(--set "$extra")
    [ "$PIN" = 1 ] && [ "$thr" = 2 ] && args+=(--set simulation.pin_threads=true)
    [ "$SYNC" = 1 ] && sync
    t0=$EPOCHREALTIME
    if [ "$exp" = lockstep ]; then  # the synthetic pair: as many steps as coba_large at dt 0.1 ms
      form=1t
      [ "$thr" = 2 ] && form=lock2
      [ "$extra" = w ] && form=lock2w
      steps=$(awk -v d="$dur" 'BEGIN { printf "%d", d * 10000 + 0.5 }')
      LOCKSTEP_DIR="$tmp" "$tmp/lockstep" --form "$form" "$steps" > "$log" 2>&1 || { echo "lockstep failed ($label):" >&2; cat "$log" >&2; exit 1; }
      t1=$EPOCHREALTIME
      wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
      loop=$(sed -n 's/.*: loop \([0-9.]*\) s$/\1/p' "$log")
      [ -n "$loop" ] || { echo "threads.sh: could not parse lockstep output:" >&2; cat "$log" >&2; exit 1; }
      printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$exp" "$r" "$thr" "$thr" \
        "$(awk -v d="$dur" 'BEGIN { print d * 1000 }')" "$wall" "$loop" 0 - >> "$runs"
      printf '  rep %d  %-15s  %d thread(s)   whole %7.3f s  loop %7.3f s\n' "$r" "$label" "$thr" "$wall" "$loop"
      continue
    fi
    if [[ "$label" == *x2 ]]; then  # a second process beside it, the same run into another file
      twin=("${args[@]}")
      twin[3]="$tmp/$tag.twin.h5"
      "$ENGRAM" "${twin[@]}" > "$log.twin" 2>&1 &
      twin_pid=$!
      "$ENGRAM" "${args[@]}" > "$log" 2>&1 || { echo "engram failed ($label):" >&2; cat "$log" >&2
                                                kill "$twin_pid" 2>/dev/null; wait "$twin_pid" 2>/dev/null; exit 1; }
      wait "$twin_pid" || { echo "engram failed ($label, second process):" >&2; cat "$log.twin" >&2; exit 1; }
    else
      [ "$LOCKSTEP" = 1 ] && [ "$thr" = 2 ] && probe=1
      # the host's placement of the two vCPUs just before and after the run (round trip of
      # a cache line between them, ns); outside the timed span of the run itself
      if [ "$probe" = 1 ]; then rt0=$("$tmp/lockstep" --pingpong 20000 | sed -n 's/.*: \([0-9]*\) ns each$/\1/p'); t0=$EPOCHREALTIME; fi
      "$ENGRAM" "${args[@]}" > "$log" 2>&1 || { echo "engram failed ($label):" >&2; cat "$log" >&2; exit 1; }
      if [ "$probe" = 1 ]; then
        t1p=$EPOCHREALTIME
        rt1=$("$tmp/lockstep" --pingpong 20000 | sed -n 's/.*: \([0-9]*\) ns each$/\1/p')
        printf '%s\t%d\t%s\t%s\n' "$label" "$r" "${rt0:-0}" "${rt1:-0}" >> "$tmp/round_trip.tsv"
      fi
    fi
    t1=$EPOCHREALTIME
    [ "$probe" = 1 ] && t1=$t1p
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    sim_ms=$(sed -n 's/^simulated \([0-9.]*\) ms in .*/\1/p' "$log")
    loop=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log")
    if [[ "$label" == *x2 ]]; then  # the mean of the two processes' loops
      loop2=$(sed -n 's/.*(run loop \([0-9.]*\) s).*/\1/p' "$log.twin")
      [ -n "$loop2" ] || { echo "threads.sh: could not parse the second process's output:" >&2; cat "$log.twin" >&2; exit 1; }
      [ -n "$loop" ] && loop=$(awk -v a="$loop" -v b="$loop2" 'BEGIN { printf "%.4f", (a + b) / 2 }')
    fi
    events=$(sed -n 's/^synaptic events: \([0-9,]*\) .*/\1/p' "$log" | tr -d ,)
    # "note: 2 threads asked for, 1 used: ..." appears only when fewer workers than threads
    workers=$(sed -n 's/^note: [0-9]* threads\{0,1\} asked for, \([0-9]*\) used.*/\1/p' "$log")
    workers="${workers:-$thr}"
    if [ -z "$sim_ms" ] || [ -z "$loop" ] || [ -z "$events" ]; then
      echo "threads.sh: could not parse engram output:" >&2; cat "$log" >&2; exit 1
    fi
    printf '%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$label" "$exp" "$r" "$thr" "$workers" \
      "$sim_ms" "$wall" "$loop" "$events" "$h5" >> "$runs"
    # "note: worker 0 stepped alone for N of M steps ...": a worker got too little CPU time
    alone=$(sed -n 's/^note: worker 0 stepped alone for \([0-9,]*\) of .*/\1/p' "$log")
    printf '  rep %d  %-15s  %d worker(s)  whole %7.3f s  loop %7.3f s%s%s\n' "$r" "$label" "$workers" "$wall" "$loop" \
      "$([ "$probe" = 1 ] && echo "  (cross-core round trip ${rt0:-?} / ${rt1:-?} ns before / after)")" \
      "${alone:+  (worker 0 alone for $alone steps)}"
  done
  if [ "$with_brian" = 1 ]; then
    for exp in coba coba_large; do
      dur=$COBA_DURATION
      [ "$exp" = coba_large ] && dur=$LARGE_DURATION
      for thr in 1 2; do
        bjson="$tmp/brian_$exp.$thr.$r.json"
        "$PYTHON" "$(bench_peer "$exp")" --device cpp_standalone --duration "$dur" --threads "$thr" \
          --seed "$SEED" --out "$bjson" > "$bjson.log" 2>&1 \
          || { echo "Brian2 peer failed ($exp, $thr threads):" >&2; tail -30 "$bjson.log" >&2; exit 1; }
        "$PYTHON" - "$bjson" "$exp" "$r" "$thr" >> "$brian_runs" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
print('\t'.join(map(str, [sys.argv[2], sys.argv[3], sys.argv[4], j['duration_s'], j['run_s'],
                          j['binary_s'], j['total_spikes'], j['mean_rate_hz']])))
EOF
        tail -1 "$brian_runs" | awk -F'\t' '{ printf "  rep %d  brian2 %-10s %d OpenMP thread(s)  binary %7.3f s  loop %7.3f s  %d spikes\n", $2, $1, $3, $6, $5, $7 }'
      done
    done
  fi
done

echo
status=0
touch "$tmp/round_trip.tsv"
"$PYTHON" - "$runs" "$OUT_DIR/threads.json" "$ENGRAM" "$REPEATS" "$SEED" "$brian_runs" "$tmp/round_trip.tsv" <<'PYEOF' || status=$?
import json, os, platform, statistics as st, sys, time
import h5py
import numpy as np

runs_path, out_path, engram, repeats, seed, brian_path, rt_path = sys.argv[1:8]
rows = [l.rstrip('\n').split('\t') for l in open(runs_path) if l.strip()]
cfg = {}
for label, exp, rep, thr, workers, sim_ms, wall, loop, events, h5 in rows:
    sim_s = float(sim_ms) / 1e3
    cfg.setdefault(label, dict(experiment=exp, threads=int(thr), workers=int(workers),
                               simulated_s=sim_s, runs=[]))
    cfg[label]['runs'].append(dict(rep=int(rep), whole_s=float(wall), loop_s=float(loop),
                                   events=int(events), file=h5))

for label, c in cfg.items():
    rs = c['runs']
    c['loop_s_per_sim_s'] = st.median(x['loop_s'] / c['simulated_s'] for x in rs)
    c['whole_s_per_sim_s'] = st.median(x['whole_s'] / c['simulated_s'] for x in rs)
    c['syn_events_per_s'] = st.median(x['events'] / x['loop_s'] for x in rs)
    c['loop_s_min_max'] = [min(x['loop_s'] for x in rs), max(x['loop_s'] for x in rs)]
    nr = label.endswith(' nr')  # without spike recording: against the 1-thread run without it
    base = cfg[f"{c['experiment']} 1t" + (' nr' if nr else '')]
    k = 2 if label.endswith('x2') else 1  # two processes: the machine's ceiling for two workers
    c['speedup_vs_1t'] = k * base['loop_s_per_sim_s'] / c['loop_s_per_sim_s']
    # the same within each repeat (the 1-thread run a few seconds before), then the median:
    # follows the host's drifts in speed that a ratio of medians over the whole pass mixes in
    base_by_rep = {x['rep']: x['loop_s'] for x in base['runs']}
    c['speedup_vs_1t_paired'] = st.median(k * base_by_rep[x['rep']] / x['loop_s'] for x in rs)
    # fastest against fastest: noise from other processes only slows a run down
    c['speedup_vs_1t_best'] = k * min(base_by_rep.values()) / c['loop_s_min_max'][0]


def spikes(path):
    with h5py.File(path, 'r') as f:
        g = f['spikes']
        return {p: (g[p]['timestamps'][()], g[p]['node_ids'][()]) for p in sorted(g)}


# identity: every file of a network against its 1-thread file of repeat 1
ok_all = True
ident = {}
for label, c in cfg.items():
    if c['experiment'] == 'lockstep':  # synthetic: no spikes
        ident[label] = dict(identical=True, files_compared=0, spikes=0, synthetic=True)
for exp in dict.fromkeys(c['experiment'] for c in cfg.values() if c['experiment'] != 'lockstep'):
    ref_run = next(x for x in cfg[f'{exp} 1t']['runs'] if x['rep'] == 1)
    ref = spikes(ref_run['file'])
    n_ref = sum(len(t) for t, _ in ref.values())
    for label, c in cfg.items():
        if c['experiment'] != exp:
            continue
        if label.endswith(' nr'):  # no spikes recorded
            ident[label] = dict(identical=True, files_compared=0, spikes=0, recorded=False)
            continue
        same = []
        for x in c['runs']:
            if x is ref_run:
                continue
            s = spikes(x['file'])
            eq = s.keys() == ref.keys() and all(
                np.array_equal(s[p][0], ref[p][0]) and np.array_equal(s[p][1], ref[p][1]) for p in ref)
            same.append(bool(eq))
        ident[label] = dict(identical=all(same), files_compared=len(same), spikes=n_ref)
        ok_all &= all(same)

print('Medians over repeats; loop = engram run loop, s per simulated second; speed-up = 1t loop / loop')
print('(1t x2: two 1-thread processes at once, loop = their mean; speed-up = 2 x 1t loop / loop, the ceiling for 2 threads)')
print('speed-up: ratio of the medians; paired: median over repeats of the ratio within the repeat;')
print('best: fastest 1t run / fastest run of the configuration')
hdr = (f"{'configuration':16} {'workers':>7} {'loop s/sim s':>12} {'whole s/sim s':>13} "
       f"{'syn ev/s':>10} {'speed-up':>8} {'paired':>6} {'best':>6}  spikes identical to 1t")
print(hdr)
print('-' * len(hdr))
for label, c in cfg.items():
    i = ident[label]
    idtxt = (('yes' if i['identical'] else 'NO, DIFFERENT') + f" ({i['files_compared']} files, "
             f"{i['spikes']:,} spikes)") if i['files_compared'] else 'reference'
    if i.get('recorded') is False:
        idtxt = 'not recorded (record.spikes=[])'
    elif i.get('synthetic'):
        idtxt = 'synthetic step, no simulator (bench/lockstep.c)'
    elif label.endswith('1t') and i['files_compared']:
        idtxt = ('yes' if i['identical'] else 'NO, DIFFERENT') + f" (repeats; {i['spikes']:,} spikes)"
    print(f"{label:16} {c['workers']:7d} {c['loop_s_per_sim_s']:12.4f} {c['whole_s_per_sim_s']:13.4f} "
          f"{c['syn_events_per_s'] / 1e6:8.1f} M {c['speedup_vs_1t']:7.2f}x {c['speedup_vs_1t_paired']:5.2f}x "
          f"{c['speedup_vs_1t_best']:5.2f}x  {idtxt}")
print('identity check:', 'PASS (all spike files identical)' if ok_all else 'FAIL')
# the 2-thread run against what this machine gave two independent processes in the same repeats
two, ceil = cfg['coba_large 2t'], cfg['coba_large 1t x2']
two['fraction_of_ceiling'] = two['speedup_vs_1t'] / ceil['speedup_vs_1t']
two['fraction_of_ceiling_paired'] = two['speedup_vs_1t_paired'] / ceil['speedup_vs_1t_paired']
print(f"coba_large 2t: {100 * two['fraction_of_ceiling']:.0f} % of the ceiling (two 1-thread processes) by medians, "
      f"{100 * two['fraction_of_ceiling_paired']:.0f} % paired")
if 'coba_xl 2t' in cfg:
    xl, xl_ceil = cfg['coba_xl 2t'], cfg['coba_xl 1t x2']
    xl['fraction_of_ceiling'] = xl['speedup_vs_1t'] / xl_ceil['speedup_vs_1t']
    xl['fraction_of_ceiling_paired'] = xl['speedup_vs_1t_paired'] / xl_ceil['speedup_vs_1t_paired']
    print(f"coba_xl 2t: {xl['speedup_vs_1t']:.2f}x by medians, {xl['speedup_vs_1t_paired']:.2f}x paired: "
          f"{100 * xl['fraction_of_ceiling']:.0f} % of its ceiling by medians, {100 * xl['fraction_of_ceiling_paired']:.0f} % paired")
for key, what in (('lockstep 2t', 'no simulator'), ('lockstep 2t w', 'no simulator, chunk writes as coba_large 2t')):
    if key not in cfg:
        continue
    lk = cfg[key]
    lk['fraction_of_ceiling'] = lk['speedup_vs_1t'] / ceil['speedup_vs_1t']
    lk['fraction_of_ceiling_paired'] = lk['speedup_vs_1t_paired'] / ceil['speedup_vs_1t_paired']
    lk['coba_large_2t_fraction'] = two['speedup_vs_1t'] / lk['speedup_vs_1t']
    lk['coba_large_2t_fraction_paired'] = two['speedup_vs_1t_paired'] / lk['speedup_vs_1t_paired']
    print(f"{key} ({what}): {lk['speedup_vs_1t']:.2f}x by medians, {lk['speedup_vs_1t_paired']:.2f}x paired: "
          f"{100 * lk['fraction_of_ceiling']:.0f} % of the ceiling; coba_large 2t {100 * lk['coba_large_2t_fraction']:.0f} % "
          f"of it by medians, {100 * lk['coba_large_2t_fraction_paired']:.0f} % paired")

# The 2-thread runs by where the host had put the two vCPUs just before each run: the round
# trip of a cache line between them (lockstep --pingpong). It came out either below about
# 200 ns or above about 340 ns; over 60 runs of 2 s without recording, every run that
# started above took about 1.6 x as long as those that started below (docs/performance-history.md,
# "Twenty-ninth session"). The placement can change within a run, and the probe just after
# a run that wrote its file reads high whatever the placement (the kernel is still writing
# the file), so the classes are a guide, not a measurement of the state during the run.
far_ns = 250
for l in open(rt_path):
    if not l.strip():
        continue
    label, rep, before, after = l.rstrip('\n').split('\t')
    for x in cfg.get(label, {}).get('runs', []):
        if x['rep'] == int(rep):
            x['round_trip_ns'] = [int(before), int(after)]
            x['vcpus_before'] = 'near' if int(before) < far_ns else 'far'
if any('vcpus_before' in x for x in two['runs']):
    base_by_rep = {x['rep']: x['loop_s'] for x in cfg['coba_large 1t']['runs']}
    parts = []
    for state in ('near', 'far'):
        xs = [x for x in two['runs'] if x.get('vcpus_before') == state]
        if xs:
            q = sorted(base_by_rep[x['rep']] / x['loop_s'] for x in xs)
            two[f'speedup_vs_1t_paired_{state}'] = st.median(q)
            parts.append(f"{state} {st.median(q):.2f}x ({len(xs)} run{'s' if len(xs) > 1 else ''}: "
                         + ', '.join(f'{v:.2f}' for v in q) + ')')
    print(f"coba_large 2t by the vCPUs' round trip just before each run (near: below {far_ns} ns), "
          f"paired speed-ups: " + '; '.join(parts))

# Brian2 with 1 and 2 OpenMP threads (--with-brian)
brian = {}
for l in open(brian_path):
    if not l.strip():
        continue
    exp, rep, thr, dur, run_s, binary_s, spikes_n, rate = l.rstrip('\n').split('\t')
    b = brian.setdefault(f'{exp} {thr}t', dict(experiment=exp, openmp_threads=int(thr), simulated_s=float(dur), runs=[]))
    b['runs'].append(dict(rep=int(rep), loop_s=float(run_s), whole_s=float(binary_s), spikes=int(spikes_n),
                          rate_hz=float(rate)))
ratios = {}
if brian:
    print()
    print("Brian2 cpp_standalone (forward Euler), medians over repeats: loop = Brian's run_s, whole = its ./main "
          "(binary_s), s per simulated second; speed-up and paired as above")
    hdr = (f"{'configuration':20} {'threads':>7} {'loop s/sim s':>12} {'whole s/sim s':>13} {'speed-up':>8} "
           f"{'paired':>6}  spikes against its 1t run")
    print(hdr)
    print('-' * len(hdr))
    for label, b in brian.items():
        rs = b['runs']
        b['loop_s_per_sim_s'] = st.median(x['loop_s'] / b['simulated_s'] for x in rs)
        b['whole_s_per_sim_s'] = st.median(x['whole_s'] / b['simulated_s'] for x in rs)
        base = brian[f"{b['experiment']} 1t"]
        by_rep = {x['rep']: x for x in base['runs']}
        b['speedup_vs_1t'] = base['loop_s_per_sim_s'] / b['loop_s_per_sim_s']
        b['speedup_vs_1t_paired'] = st.median(by_rep[x['rep']]['loop_s'] / x['loop_s'] for x in rs)
        b['spikes_as_1t'] = all(x['spikes'] == by_rep[x['rep']]['spikes'] for x in rs)
        if b is base:
            same = 'reference'
        elif b['spikes_as_1t']:
            same = 'same counts'
        else:
            pairs = dict.fromkeys(f"{x['spikes']:,} against {by_rep[x['rep']]['spikes']:,}" for x in rs)
            same = 'different: ' + ', '.join(list(pairs)[:2]) + (' ...' if len(pairs) > 2 else '')
        print(f"brian2 {label:13} {b['openmp_threads']:7d} {b['loop_s_per_sim_s']:12.4f} {b['whole_s_per_sim_s']:13.4f} "
              f"{b['speedup_vs_1t']:7.2f}x {b['speedup_vs_1t_paired']:5.2f}x  {same}")
    print()
    print('engram / Brian2 at the same thread count (ratio of medians; below 1: engram faster)')
    hdr = f"{'engram':16} {'Brian2':20} {'loop':>7} {'whole':>7}"
    print(hdr)
    print('-' * len(hdr))
    for label, c in cfg.items():
        b = brian.get(f"{c['experiment']} {c['threads']}t")
        if b is None or label.endswith('x2'):
            continue
        q = dict(loop=c['loop_s_per_sim_s'] / b['loop_s_per_sim_s'], whole=c['whole_s_per_sim_s'] / b['whole_s_per_sim_s'])
        ratios[label] = q
        print(f"{label:16} {'brian2 ' + c['experiment'] + ' ' + str(c['threads']) + 't':20} {q['loop']:6.3f}x {q['whole']:6.3f}x")
for c in cfg.values():
    for x in c['runs']:
        x.pop('file')
meta = dict(date=time.strftime('%Y-%m-%dT%H:%M:%S%z'), engram=engram, repeats=int(repeats),
            seed=int(seed), nproc=os.cpu_count(), platform=platform.platform())
with open(out_path, 'w') as f:
    out = dict(meta=meta, configurations=cfg, identity=ident, identical=ok_all)
    if brian:
        out.update(brian2=brian, engram_over_brian2=ratios)
    json.dump(out, f, indent=1)
print(f'wrote {out_path}')
sys.exit(0 if ok_all else 1)
PYEOF

if [ "$PROFILE" = 1 ]; then
  echo
  echo "Where the loop went: one more run each with --profile (not in the timings above)"
  for thr in 1 2; do
    log="$tmp/profile.$thr.log"
    "$ENGRAM" run "$root/experiments/coba_large.yaml" -o "$tmp/profile.$thr.h5" --seed "$SEED" --threads "$thr" \
      --set simulation.duration="$LARGE_DURATION s" --profile > "$log" 2>&1 \
      || { echo "engram failed (coba_large $thr thread(s), --profile):" >&2; cat "$log" >&2; exit 1; }
    echo "coba_large, $thr thread(s):"
    sed -n '/^where the run loop went/,/^wrote /p' "$log" | sed '$d'
  done
fi
exit "$status"
