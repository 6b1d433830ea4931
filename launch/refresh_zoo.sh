#!/usr/bin/env bash
# One accelerator for MINUTES minutes: continues training every shipped model (or the NAMEs) at once, each from
# its shipped weights with the last stage of its recipe (configs/zoo.py), evaluates each on ImageNetTest crops
# before and after, and exports only the models whose recipe loss fell, as model directories (shipped config.json,
# float16 weights, updated card.json/card.md/train.log) packed into OUT/models-K.tar (<= 16 MiB each), with
# OUT/summary.json and OUT/summary.md: at most 8 files, what a device run returns. Details: jcomp/zoo_refresh.py.
#
#   launch/refresh_zoo.sh MINUTES OUT [NAME...]
#   launch/refresh_zoo.sh 12 "$OUT"                                   # the whole zoo, 12 minutes in all
#   launch/refresh_zoo.sh 8 out/refresh mentzer2018-compact-0.15 mentzer2018-compact-1.10
#   for t in out/refresh/models-*.tar; do tar -xf "$t" -C jcomp/pretrained; done   # then re-measure: jcomp eval
#
# Environment: PYTHON (default python); DATA, the images (default: the zoo's ImageNet sample, first 90 % trained
# on, last 10 % = ImageNetTest); WORK, the workdirs and per-model logs (default workdirs/zoo_refresh; re-running
# continues them); EXTRA, more flags of `python -m jcomp.zoo_refresh --help` (e.g. --set=batch_size=16,
# --lr=stage, --zoo=DIR). Run from the repository root. This script holds no training settings.
set -euo pipefail
usage="usage: $0 MINUTES OUT [NAME...]"
[ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
minutes="$1"; out="$2"; shift 2
args=("$minutes" "$out" "$@")
[ -n "${DATA:-}" ] && args+=("--data=$DATA")
[ -n "${WORK:-}" ] && args+=("--work=$WORK")
# shellcheck disable=SC2086  # EXTRA: flags, split on spaces
exec "${PYTHON:-python}" -m jcomp.zoo_refresh "${args[@]}" ${EXTRA:-}
