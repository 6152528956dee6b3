#!/usr/bin/env bash
# Liquid-state machines at full size: LSM (fixed weights), LSM + STDP and NALSM with 1000
# liquid neurons on MNIST and Fashion-MNIST (train 50,000 / valid 10,000 / test 10,000), as
# in Ivanov & Michmizos 2021. The fixed-weight LSM's liquid weight is chosen first by a
# sweep on a reduced set (the paper takes the best weight per network).
#
#   bench/lsm.sh [--datasets "mnist fmnist"] [--models "lsm stdp nalsm"] [--size 1000] [--out DIR]
#
# Needs scripts/fetch-data.sh mnist and fashion-mnist. Wall time on 2 cores: about 10-15
# minutes per run (docs/results.md). Prints one line per run and writes DIR/*.h5, DIR/*.log.
set -euo pipefail
cd "$(dirname "$0")/.."
datasets="mnist fmnist"; models="lsm stdp nalsm"; size=1000; out=bench/out/lsm; sweep=1
while [ $# -gt 0 ]; do
  case "$1" in
    --datasets) datasets=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --size) size=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-sweep) sweep=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
engram=${ENGRAM:-build/bin/engram}
[ -x "$engram" ] || { echo "build first: cmake --preset release && cmake --build --preset release" >&2; exit 1; }
threads=$(nproc)
summary() {  # name log: the console table's rows
  awk -v n="$1" '/^(train|valid|test) +[0-9]/{printf "%s %s acc %s bf %s rate %s Hz wall %s s | ", n, $1, $3, $4, $5, $6}
                 /^initialisation:.*samples in/{printf "init %s s | ", $5} /Elapsed/{printf "total %s\n", $8}' "$2"
}
valid_acc() { awk '/^valid +[0-9]/{gsub("%","",$3); print $3}' "$1"; }
for d in $datasets; do
  w_set=()
  if [[ " $models " == *" lsm "* ]] && [ "$sweep" = 1 ]; then
    best=""; best_acc=-1
    for w in 1.0 2.0 3.0; do
      f="$out/sweep_lsm${size}_${d}_w$w.h5"
      "$engram" run "experiments/lsm/lsm${size}_${d}.yaml" --threads "$threads" -o "$f" \
        --set "projections.exc_exc.weight=$w mV" --set "projections.exc_inh.weight=$w mV" \
        --set "projections.inh_exc.weight=-$w mV" --set "projections.inh_inh.weight=-$w mV" \
        --set "classification.train={split: train, subset: {from: 0, to: 3000}}" \
        --set "classification.valid={split: train, subset: {from: 50000, to: 51000}}" \
        --set "classification.test={split: test, subset: {from: 0, to: 100}}" > "${f%.h5}.log" 2>&1
      acc=$(valid_acc "${f%.h5}.log")
      echo "sweep lsm${size}_${d} w=$w: valid $acc%"
      if python3 -c "import sys; sys.exit(0 if $acc > $best_acc else 1)"; then best=$w; best_acc=$acc; fi
    done
    echo "lsm${size}_${d}: best liquid weight $best mV"
    w_set=(--set "projections.exc_exc.weight=$best mV" --set "projections.exc_inh.weight=$best mV"
           --set "projections.inh_exc.weight=-$best mV" --set "projections.inh_inh.weight=-$best mV")
  fi
  for m in $models; do
    name="${m}${size}_${d}"
    extra=()
    [ "$m" = lsm ] && extra=("${w_set[@]}")
    /usr/bin/time -v "$engram" run "experiments/lsm/$name.yaml" --threads "$threads" -o "$out/$name.h5" "${extra[@]}" > "$out/$name.log" 2>&1
    summary "$name" "$out/$name.log"
  done
done
