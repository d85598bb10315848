#!/usr/bin/env bash
# Makes sure <repo>/data holds optdigits data and prints the folder to use:
# the full UCI files from $SCRATCHCNN_UCI_DIR or ../shared/data/optdigits when either is there,
# else whatever scripts/fetch-data.sh can get on this machine.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
from="${SCRATCHCNN_UCI_DIR:-}"
if [[ -z "$from" && -f "$repo/../shared/data/optdigits/optdigits.tra" ]]; then
  from="$repo/../shared/data/optdigits"
fi
if [[ -n "$from" ]]; then
  "$repo/scripts/fetch-data.sh" --from "$from" >&2
else
  "$repo/scripts/fetch-data.sh" >&2
fi
echo "$repo/data"
