# Shared set-up of the bench scripts; source it after `set -euo pipefail`.
#   bench_usage SCRIPT        prints the script's header comment (its --help)
#   bench_no_args SCRIPT NAME "$@"   accepts only --help
#   bench_brian_arg SCRIPT NAME "$@" accepts --with-brian (sets with_brian to 1, else 0)
#                             and --help
#   bench_peer NETWORK        the Brian2 peer script of a network (bench/brian2_<net>.py,
#                             else $PEERS/brian2_<net>.py), or nothing
#   bench_setup NAME          sets root, ENGRAM (absolute), OUT_DIR, PYTHON, a temporary
#                             folder $tmp (removed on exit) with an empty $runs file, and
#                             prints the binary and the machine
# Environment: ENGRAM (default build/bin/engram), OUT_DIR (default bench/out),
# PYTHON (default /usr/bin/python3).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

bench_usage() {
  sed -n '2,/^set -euo/p' "$1" | sed '$d; s/^# \{0,1\}//'
}

# For scripts that take no arguments but --help.
bench_no_args() {  # SCRIPT NAME ARGS...
  local script="$1" name="$2"
  shift 2
  for a in "$@"; do
    case "$a" in
      -h|--help) bench_usage "$script"; exit 0 ;;
      *) echo "$name: unknown argument '$a' (try --help)" >&2; exit 2 ;;
    esac
  done
}

# For scripts whose only option is --with-brian (and --help).
bench_brian_arg() {  # SCRIPT NAME ARGS...
  local script="$1" name="$2"
  shift 2
  with_brian=0
  for a in "$@"; do
    case "$a" in
      --with-brian) with_brian=1 ;;
      -h|--help) bench_usage "$script"; exit 0 ;;
      *) echo "$name: unknown argument '$a' (try --help)" >&2; exit 2 ;;
    esac
  done
}

# The Brian2 peer of a network: bench/brian2_<net>.py, else $PEERS/brian2_<net>.py (PEERS
# defaults to ../shared/peers), else nothing. coba_euler is Brian's COBA script itself
# (the same network and scheme).
bench_peer() {  # NETWORK
  local net="$1" peers="${PEERS:-$root/../shared/peers}"
  [ "$net" = coba_euler ] && net=coba
  if [ -f "$root/bench/brian2_$net.py" ]; then echo "$root/bench/brian2_$net.py"
  elif [ -f "$peers/brian2_$net.py" ]; then echo "$peers/brian2_$net.py"
  fi
}

bench_setup() {
  local name="$1"
  ENGRAM="${ENGRAM:-build/bin/engram}"
  case "$ENGRAM" in /*) ;; *) ENGRAM="$root/$ENGRAM" ;; esac
  OUT_DIR="${OUT_DIR:-$root/bench/out}"
  PYTHON="${PYTHON:-/usr/bin/python3}"
  [ -x "$PYTHON" ] || PYTHON="$(command -v python3)"
  [ -x "$ENGRAM" ] || { echo "$name: engram binary not found: $ENGRAM (set ENGRAM)" >&2; exit 1; }
  mkdir -p "$OUT_DIR"
  tmp="$(mktemp -d "${TMPDIR:-/tmp}/engram-$name.XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  runs="$tmp/runs.tsv"
  : > "$runs"
  echo "engram: $ENGRAM ($("$ENGRAM" --version 2>/dev/null | sed -n 's/^float LIF kernels: //p'))"
  local simd=AVX2
  grep -qw avx512f /proc/cpuinfo && simd=AVX-512
  grep -qw avx2 /proc/cpuinfo || simd="no AVX2"
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') ($simd), load $(cut -d' ' -f1-3 /proc/loadavg)"
}
