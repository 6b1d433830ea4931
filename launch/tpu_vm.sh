#!/usr/bin/env bash
# Trains jcomp on a Cloud TPU VM (one host or a pod slice): the same jcomp.main command on every worker.
#
#   TPU_NAME=my-v4-32 ZONE=us-central2-b WORKDIR=gs://my-bucket/workdirs/med launch/tpu_vm.sh [--config.x=...]
#
# Environment: TPU_NAME, ZONE (required), PROJECT (gcloud's default), CONFIG (configs/med.py), WORKDIR
# (required; on a pod slice a path every worker shares, e.g. gs://...), REMOTE_DIR (~/jcomp: the repository on
# every worker, with its venv in .venv). The TPU runtime connects the workers of a slice; jax.distributed
# auto-detects TPU pods (jcomp.sharding.initialize_distributed). Each worker reads its slice of every batch.
set -euo pipefail

: "${TPU_NAME:?set TPU_NAME}" "${ZONE:?set ZONE}"
: "${WORKDIR:?set WORKDIR (shared by all workers, e.g. gs://...)}"
CONFIG=${CONFIG:-configs/med.py}
REMOTE_DIR=${REMOTE_DIR:-'~/jcomp'}

args=""
for a in "$@"; do args+=" $(printf '%q' "$a")"; done
remote="cd ${REMOTE_DIR} && . .venv/bin/activate && python -m jcomp.main"
remote+=" --config=$(printf '%q' "$CONFIG") --workdir=$(printf '%q' "$WORKDIR")${args}"

gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" ${PROJECT:+--project="$PROJECT"} \
  --worker=all --command="$remote"
