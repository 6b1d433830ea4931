#!/usr/bin/env bash
# Trains the shipped model family on one machine: configs/compact.py at the given target rates, with the
# settings of the shipped 0.30 model (beta = 5000, context LR 1e-3, LR x0.1 at 3/4 of the steps), then
# exports each run's last checkpoint as a model directory (float16 weights, config.json, card.md stub) that
# `jcomp compress --model=DIR` and `jcomp eval --models=DIR` load.
#
#   launch/train_zoo.sh DATA OUT RATE...
#   launch/train_zoo.sh ../shared/data/imagenet-sample-256 workdirs/zoo 0.15 0.55
#   PARALLEL=1 launch/train_zoo.sh ...   # all rates at once on one accelerator (the shipped models ran 4 to an H100)
#
# DATA: a folder/glob of images (first 90 % trained on, last 10 % held out), tfds:NAME, or imagenet.
# Runs go to OUT/run-RATE (resumable: run the same command again), logs to OUT/run-RATE.log, models to
# OUT/mentzer2018-compact-RATE. Environment: STEPS (default 8000), PYTHON (default python), EXTRA (more
# --config.* overrides, e.g. "--config.batch_size=60"). Then measure the card's figures with `jcomp eval`.
set -euo pipefail
usage="usage: $0 DATA OUT RATE..."
data="${1:?$usage}"; out="${2:?$usage}"; shift 2 || true
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
steps="${STEPS:-8000}"
python="${PYTHON:-python}"

train() {  # train RATE
  # shellcheck disable=SC2086  # EXTRA is a list of flags
  "$python" -m jcomp.main --config="configs/compact.py:bpp=$1,data=$data" --workdir="$out/run-$1" \
    --config.loss.beta=5000 --config.optim.context_lr=1e-3 --config.num_train_steps="$steps" \
    --config.optim.lr_decay_steps=$(( steps * 3 / 4 > 0 ? steps * 3 / 4 : 1 )) ${EXTRA:-}
}

mkdir -p "$out"
if [ "${PARALLEL:-0}" = 1 ]; then
  XLA_PYTHON_CLIENT_MEM_FRACTION=$("$python" -c "print(round(0.9 / $#, 3))")
  export XLA_PYTHON_CLIENT_MEM_FRACTION
  pids=()
  for rate in "$@"; do train "$rate" >> "$out/run-$rate.log" 2>&1 & pids+=($!); done
  failed=0
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  [ "$failed" = 0 ] || { echo "a run failed: see $out/run-*.log" >&2; exit 1; }
else
  for rate in "$@"; do train "$rate" 2>&1 | tee -a "$out/run-$rate.log"; done
fi

for rate in "$@"; do
  "$python" -c "import sys; from jcomp import zoo; print('exported', zoo.export(sys.argv[1], sys.argv[2]))" \
    "$out/run-$rate" "$out/mentzer2018-compact-$rate"
done
