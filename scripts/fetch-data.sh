#!/usr/bin/env bash
# Fills the data folder (default <repo>/data, git-ignored) with optdigits data:
#   --from DIR (or SCRATCHCNN_UCI_DIR): copies the UCI pair optdigits.tra + optdigits.tes from DIR;
#   otherwise: extracts digits.csv.gz (the 1,797 UCI test rows) from Debian's python3-sklearn .deb,
#   fetched with `apt-get download` and unpacked with `dpkg -x` in a temporary folder. Nothing is
#   installed; only `apt-get update` needs root (sudo is used when not root).
# Running it again when the data is there does nothing.
#
#   fetch-data.sh fashion-mnist: installs Debian's dataset-fashion-mnist package (apt-get update and
#   apt-get install, as root or through sudo): the four IDX files under
#   /usr/share/datasets/fashion-mnist, for `scratchcnn train --model lenet5`.
set -euo pipefail

readonly TRA_ROWS=3823
readonly TES_ROWS=1797
readonly UCI_URL="https://archive.ics.uci.edu/dataset/80/optical+recognition+of+handwritten+digits"

script_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_dir=$(dirname "$script_dir")

readonly FASHION_DIR=/usr/share/datasets/fashion-mnist
readonly FASHION_PKG=dataset-fashion-mnist
readonly FASHION_FILES=(train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
                        t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz)

usage() {
  cat <<EOF
usage: $(basename "$0") [--from DIR] [--dest DIR]
       $(basename "$0") fashion-mnist

  --from DIR   copy optdigits.tra and optdigits.tes from DIR (default: \$SCRATCHCNN_UCI_DIR if set)
  --dest DIR   where to put the data (default: $repo_dir/data)

Without --from, digits.csv.gz (1,797 rows) is taken from Debian's python3-sklearn package.
The full UCI files (3,823 train + 1,797 test rows) can be downloaded from
  $UCI_URL

fashion-mnist: installs Debian's $FASHION_PKG package (needs root or sudo): Fashion-MNIST as
IDX files in $FASHION_DIR (60,000 train + 10,000 test images, 28x28).
EOF
}

say() { printf 'fetch-data: %s\n' "$*"; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }

# apt-get update and install write system files, so they need root.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "'$*' needs root and sudo is not available: run it as root, then run this script again"
  fi
}

have_fashion() {
  local f
  for f in "${FASHION_FILES[@]}"; do [[ -s "$FASHION_DIR/$f" ]] || return 1; done
}

fetch_fashion() {
  if have_fashion; then
    say "$FASHION_DIR already holds Fashion-MNIST: nothing to do"
    exit 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "apt-get is needed to install $FASHION_PKG; on other systems put the four Fashion-MNIST IDX files (${FASHION_FILES[*]}) in a folder and pass it to scratchcnn with --data"
  say "installing Debian's $FASHION_PKG package (about 30 MB)"
  as_root apt-get -q update || die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get -q install -y "$FASHION_PKG" ||
    die "apt-get install $FASHION_PKG failed (is a Debian/Ubuntu package source with $FASHION_PKG configured?)"
  have_fashion || die "$FASHION_PKG is installed but $FASHION_DIR lacks some of ${FASHION_FILES[*]}"
  say "Fashion-MNIST is in $FASHION_DIR"
  say "train LeNet-5 on it with: scratchcnn train --model lenet5 --data $FASHION_DIR"
  exit 0
}

if [[ "${1:-}" == "fashion-mnist" ]]; then
  shift
  [[ $# -eq 0 ]] || { usage >&2; die "fashion-mnist takes no further arguments (got: $*)"; }
  fetch_fashion
fi

from="${SCRATCHCNN_UCI_DIR:-}"
from_origin="SCRATCHCNN_UCI_DIR"
dest="$repo_dir/data"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --from)
      [[ $# -ge 2 && -n "$2" ]] || die "--from needs a folder"
      from="$2"; from_origin="--from"; shift 2 ;;
    --from=*) from="${1#--from=}"; from_origin="--from"; shift ;;
    --dest)
      [[ $# -ge 2 && -n "$2" ]] || die "--dest needs a folder"
      dest="$2"; shift 2 ;;
    --dest=*) dest="${1#--dest=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -rf -- "$tmp"; fi; }
trap cleanup EXIT

# Counts lines of a plain or gzip file.
rows_in() { gzip -cdf -- "$1" | wc -l | tr -d ' '; }

# Copies src to dest/name through a temporary name, so an interrupted run leaves no half file.
# cat rather than cp: the copy gets default permissions, not those of a read-only source.
install_file() {
  local src="$1" name="$2"
  cat -- "$src" >"$dest/.$name.partial"
  mv -f -- "$dest/.$name.partial" "$dest/$name"
}

have_pair() { [[ -s "$dest/optdigits.tra" && -s "$dest/optdigits.tes" ]]; }

mkdir -p -- "$dest" || die "cannot create $dest"
dest=$(cd "$dest" && pwd)

if have_pair; then
  say "$dest already holds optdigits.tra and optdigits.tes: nothing to do"
  exit 0
fi

if [[ -n "$from" ]]; then
  [[ -d "$from" ]] || die "$from_origin: $from is not a folder"
  missing=()
  for f in optdigits.tra optdigits.tes; do
    [[ -r "$from/$f" && -s "$from/$f" ]] || missing+=("$f")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    die "$from_origin: $from lacks ${missing[*]} (expected the UCI pair optdigits.tra + optdigits.tes; get them from $UCI_URL)"
  fi
  tra_rows=$(rows_in "$from/optdigits.tra")
  tes_rows=$(rows_in "$from/optdigits.tes")
  install_file "$from/optdigits.tra" optdigits.tra
  install_file "$from/optdigits.tes" optdigits.tes
  say "copied optdigits.tra ($tra_rows rows) and optdigits.tes ($tes_rows rows) from $from to $dest"
  if [[ "$tra_rows" != "$TRA_ROWS" || "$tes_rows" != "$TES_ROWS" ]]; then
    say "warning: the UCI files have $TRA_ROWS and $TES_ROWS rows; these differ"
  fi
  exit 0
fi

if [[ -s "$dest/digits.csv.gz" ]]; then
  say "$dest/digits.csv.gz is already there: nothing to do"
  say "(for the full UCI set, run again with --from DIR holding optdigits.tra and optdigits.tes)"
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
  die "apt-get and dpkg are needed to take digits.csv.gz from Debian's python3-sklearn; on other systems download optdigits.tra and optdigits.tes from $UCI_URL and run: $0 --from DIR"
fi

# apt-get update writes the package lists, so it needs root (as_root); apt-get download does not.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/scratchcnn-fetch.XXXXXX")
# As root, apt hands downloads to the _apt user, which cannot write into a private temp folder;
# downloading as root keeps it from printing a warning about that.
apt_opts=()
if [[ $(id -u) -eq 0 ]]; then apt_opts=(-o APT::Sandbox::User=root); fi

download() { (cd "$tmp" && apt-get "${apt_opts[@]}" -q download python3-sklearn); }

say "downloading Debian's python3-sklearn package (for its digits.csv.gz; nothing is installed)"
if ! download; then
  say "download failed; refreshing the package lists with apt-get update and trying again"
  as_root apt-get -q update || die "apt-get update failed"
  download || die "apt-get download python3-sklearn failed (is a Debian/Ubuntu package source with python3-sklearn configured?)"
fi

deb=$(find "$tmp" -maxdepth 1 -name 'python3-sklearn_*.deb' -print -quit)
[[ -n "$deb" ]] || die "apt-get download left no python3-sklearn .deb in $tmp"
dpkg -x "$deb" "$tmp/x" || die "dpkg -x $deb failed"

csv=$(find "$tmp/x" -path '*/sklearn/datasets/data/digits.csv.gz' -print -quit)
[[ -n "$csv" ]] || die "no sklearn/datasets/data/digits.csv.gz inside $(basename "$deb")"
gzip -t -- "$csv" || die "$(basename "$deb"): digits.csv.gz is not a valid gzip file"
rows=$(rows_in "$csv")
[[ "$rows" == "$TES_ROWS" ]] || die "digits.csv.gz in $(basename "$deb") has $rows rows, expected $TES_ROWS"

install_file "$csv" digits.csv.gz
say "wrote $dest/digits.csv.gz ($rows rows, from $(basename "$deb"))"
say "note: these are only the 1,797 UCI test rows; the loader splits them 80/20 (stratified, seeded)."
say "For the full set (3,823 train + 1,797 test rows), download optdigits.tra and optdigits.tes from"
say "  $UCI_URL"
say "and run: $0 --from DIR"
