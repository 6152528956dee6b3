#!/usr/bin/env bash
# Installs everything engram needs to build, test and benchmark, from Debian 12's packages.
# Run as root (or with sudo). Safe to run again.
set -euo pipefail
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
pkgs=(
  g++ cmake ninja-build pkg-config
  libboost-graph-dev libtbb-dev libhdf5-dev hdf5-tools libyaml-cpp-dev zlib1g-dev
  catch2 libsfml-dev libeigen3-dev libcli11-dev
  dataset-fashion-mnist   # Fashion-MNIST (30 MB): the reduced LSM check in the test suite reads it
  # engram::viz (docs/visualisation.md): a virtual X server for `engram plot`, `--live` and
  # the [viz] tests on machines without a display, Mesa's software OpenGL for it, the label
  # font, and Xlib for the tests that press keys in the live window.
  xvfb xauth libgl1-mesa-dri fonts-dejavu-core libx11-dev
  python3   # the SpiNNaker2 tests check that the py-spinnaker2 script engram map writes parses
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all build dependencies present"
fi
# Optional: the Brian2 peer used by bench/ (not needed to build or test).
if [ "${ENGRAM_WITH_PEERS:-0}" = "1" ]; then
  $SUDO apt-get install -y -qq --no-install-recommends python3-brian python3-numpy python3-scipy python3-h5py
fi
