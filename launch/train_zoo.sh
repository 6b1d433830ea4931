#!/usr/bin/env bash
# Rebuilds shipped models on one machine: runs the commands of their recipes (configs/zoo.py, the same commands
# their cards list), every stage of a model in order, then exports its last workdir as a model directory
# (float16 weights, config.json, card.md stub) that `jcomp compress --model=DIR` and `jcomp eval --models=DIR`
# load. This script holds no training settings: those are in configs/zoo.py.
#
#   launch/train_zoo.sh DATA OUT MODEL...
#   launch/train_zoo.sh ../shared/data/imagenet-sample-256 workdirs/zoo mentzer2018-compact-0.30
#   PARALLEL=1 launch/train_zoo.sh DATA OUT mentzer2018-compact-{0.30,0.90,0.15,0.50,1.10}   # the whole zoo
#
# DATA: a folder/glob of images (first 90 % trained on, last 10 % held out), tfds:NAME, or imagenet.
# MODEL: a name of `jcomp models` / configs/zoo.py's RECIPES. A fine-tune starts from the shipped parent, or from
# the rebuilt one if its parent is listed too (trained first). Workdirs go to OUT/runs/MODEL/stageN (resumable:
# run the same command again), logs to OUT/MODEL.log, models to OUT/MODEL.
# Environment: PYTHON (default python); PARALLEL=1 trains the models of a wave (those whose parents are done) at
# once on one accelerator, each with an equal share of its memory (the shipped parents ran 4 to an H100);
# EXTRA, --config.* flags added to every stage (a smoke test's tiny model: tests/test_train_zoo_launcher.py).
# Then measure the card's figures with `jcomp eval`.
set -euo pipefail
usage="usage: $0 DATA OUT MODEL..."
data="${1:?$usage}"; out="${2:?$usage}"; shift 2 || true
[ $# -ge 1 ] || { echo "$usage" >&2; exit 2; }
python="${PYTHON:-python}"

plan=$("$python" configs/zoo.py "$data" "$out" "$@")  # WAVE<tab>MODEL<tab>COMMAND, parents' waves first

run_model() {  # run_model MODEL: its commands in order (EXTRA after each training stage's)
  local wave model cmd
  while IFS=$'\t' read -r wave model cmd; do
    [ "$model" = "$1" ] || continue
    case "$cmd" in *" -m jcomp.main "*) cmd+=" ${EXTRA:-}" ;; esac
    echo "+ $cmd"
    eval "$cmd"
  done <<< "$plan"
}

mkdir -p "$out"
for wave in $(cut -f1 <<< "$plan" | sort -un); do
  models=$(awk -F'\t' -v w="$wave" '$1 == w && !seen[$2]++ {print $2}' <<< "$plan")
  if [ "${PARALLEL:-0}" = 1 ]; then
    XLA_PYTHON_CLIENT_MEM_FRACTION=$("$python" -c "print(round(0.9 / $(wc -w <<< "$models"), 3))")
    export XLA_PYTHON_CLIENT_MEM_FRACTION
    pids=()
    for model in $models; do run_model "$model" >> "$out/$model.log" 2>&1 & pids+=($!); done
    failed=0
    for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
    [ "$failed" = 0 ] || { echo "a run failed: see $out/*.log" >&2; exit 1; }
  else
    for model in $models; do run_model "$model" 2>&1 | tee -a "$out/$model.log"; done
  fi
done
