#!/usr/bin/env bash
# The SpiNNaker2 target model: cost of running a mapped network, and convergence of its
# spikes to the float engine's as the weight bits grow.
#
# Usage: bench/s2_bench.sh [--help]
#
# 1. Runs CUBA (experiments/cuba.yaml: 4000 lif_curr_exp neurons, at the machine's 1 ms
#    tick) for DURATION seconds through `engram run --backend spinnaker2` on one chip,
#    and on the 48-chip board with 4 PEs per chip (so that the 17 PEs spread over chips
#    and packets cross links), and prints what engram reports: rates float vs target, PE
#    cycles per tick against the budget, traffic, energy, and the wall time of the
#    target model against the float engine at the same dt.
# 2. Sweeps spinnaker2.weight_bits (--set spinnaker2.weight_bits=N) over BITS on a
#    feedforward network (Poisson 1000 -> lif_curr_exp 400, p = 0.1, normally
#    distributed weights and 1-5 ms delays; 2 s) and on CUBA with normally distributed
#    weights (its own are one value per projection, exact at any bit count; DURATION),
#    printing the rate error and the van Rossum distance (tau 10 ms) per population and
#    bit count. CUBA is chaotic: any perturbation (the fixed-point state alone)
#    decorrelates its spike trains, so its distance stays near 1 at every bit count; the
#    feedforward network converges in both measures.
# A few tens of seconds on 2 cores.
#
# Environment:
#   ENGRAM    engram binary (default build/bin/engram, relative to the repo root)
#   DURATION  seconds of CUBA simulated in part 1 (default 10)
#   BITS      weight bit counts of the sweep (default "1 2 3 4 6 8 10 12")
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$here/common.sh"
bench_no_args "${BASH_SOURCE[0]}" s2_bench.sh "$@"

DURATION="${DURATION:-10}"
BITS="${BITS:-1 2 3 4 6 8 10 12}"
bench_setup s2_bench

run_s2() {  # LOG ARGS...: engram run --backend spinnaker2, output to LOG; prints the seconds taken
  local log="$1"
  shift
  local t0=$EPOCHREALTIME
  "$ENGRAM" run "$@" --backend spinnaker2 > "$log" 2>&1 || { echo "engram failed:" >&2; cat "$log" >&2; exit 1; }
  awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }'
}

echo
echo "== 1. CUBA, $DURATION s at a 1 ms tick"
for machine in chip "{preset: board48, pes_per_chip: 4}"; do
  log="$tmp/cuba.log"
  secs=$(run_s2 "$log" "$root/experiments/cuba.yaml" -o "$tmp/cuba.h5" --set simulation.duration="$DURATION s" \
    --set spinnaker2.machine="$machine")
  echo "-- machine $machine (whole process $secs s)"
  sed -n '/^mapped onto/,/^wall:/p' "$log"
done

cat > "$tmp/ff.yaml" <<'EOF'
simulation: {dt: 1 ms, duration: 2 s, seed: 7}
populations:
  input: {size: 1000, model: poisson, params: {rate: 20 Hz}}
  out:
    size: 400
    model: lif_curr_exp
    params: {C_m: 250 pF, tau_m: 10 ms, E_L: -70 mV, V_th: -55 mV, V_reset: -70 mV,
             t_ref: 2 ms, tau_syn_ex: 2 ms, tau_syn_in: 2 ms}
projections:
  ff:
    source: input
    target: out
    receptor: ex
    connector: {rule: fixed_probability, p: 0.1}
    weight: {distribution: normal, mean: 90 pA, std: 40 pA, min: 0 pA}
    delay: {distribution: uniform, low: 1 ms, high: 5 ms}
spinnaker2: {reference: 0 ms}
EOF

echo
echo "== 2. weight bits (magnitude bits of the delayed format's weights; 4 is the chip's -15..15)"
printf '%-12s %4s  %-6s %10s %10s %9s %11s\n' network bits pop "float Hz" "target Hz" "rate err" "van Rossum"
for net in feedforward cuba; do
  for b in $BITS; do
    log="$tmp/sweep.log"
    if [ "$net" = feedforward ]; then
      run_s2 "$log" "$tmp/ff.yaml" -o "$tmp/sweep.h5" --set spinnaker2.weight_bits="$b" > /dev/null
    else
      run_s2 "$log" "$root/experiments/cuba.yaml" -o "$tmp/sweep.h5" --set simulation.duration="$DURATION s" \
        --set "projections.ee.weight={distribution: normal, mean: 16.2 pA, std: 5 pA, min: 0 pA}" \
        --set "projections.ei.weight={distribution: normal, mean: 16.2 pA, std: 5 pA, min: 0 pA}" \
        --set "projections.ie.weight={distribution: normal, mean: -90 pA, std: 30 pA, max: 0 pA}" \
        --set "projections.ii.weight={distribution: normal, mean: -90 pA, std: 30 pA, max: 0 pA}" \
        --set spinnaker2.weight_bits="$b" > /dev/null
    fi
    awk -v net="$net" -v b="$b" '/^population/ { on = 1; next } /^PE cycles/ { on = 0 }
      on && NF == 5 { printf "%-12s %4s  %-6s %10s %10s %9s %11s\n", net, b, $1, $2, $3, $4, $5 }' "$log"
  done
done
