#!/usr/bin/env bash
# Trains with N jcomp.main processes on this machine, joined by jax.distributed over 127.0.0.1 (CPU devices).
# The multi-host code path without a cluster: for debugging sharding, data slicing and checkpointing.
#
#   launch/local_multiprocess.sh [--config.overrides ...]
#   NUM_PROCESSES=4 WORKDIR=workdirs/local4 launch/local_multiprocess.sh --config.num_train_steps=20
#
# Environment: NUM_PROCESSES (2), CONFIG (configs/tiny.py), WORKDIR (workdirs/local_multiprocess),
# DEVICES_PER_PROCESS (1: CPU devices per process), PORT (a free port), PYTHON (python).
# Every process gets JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and its JAX_PROCESS_ID, which
# jcomp.sharding.initialize_distributed passes to jax.distributed.initialize. Ctrl-C / SIGTERM is forwarded
# to every process (they save a checkpoint and exit). Exits with the first non-zero status of a process.
set -euo pipefail

NUM_PROCESSES=${NUM_PROCESSES:-2}
CONFIG=${CONFIG:-configs/tiny.py}
WORKDIR=${WORKDIR:-workdirs/local_multiprocess}
DEVICES_PER_PROCESS=${DEVICES_PER_PROCESS:-1}
PYTHON=${PYTHON:-python}
free_port='import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
PORT=${PORT:-$("$PYTHON" -c "$free_port")}

export JAX_PLATFORMS=cpu
export JAX_COORDINATOR_ADDRESS="127.0.0.1:${PORT}"
export JAX_NUM_PROCESSES="${NUM_PROCESSES}"
export XLA_FLAGS="--xla_force_host_platform_device_count=${DEVICES_PER_PROCESS} ${XLA_FLAGS:-}"

pids=()
forward() { kill -TERM "${pids[@]}" 2>/dev/null || true; }
trap forward INT TERM
for ((i = 0; i < NUM_PROCESSES; i++)); do
  JAX_PROCESS_ID=$i "$PYTHON" -m jcomp.main --config="$CONFIG" --workdir="$WORKDIR" "$@" &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do
  while true; do  # `wait` returns early when a trapped signal arrives: wait again
    set +e; wait "$pid"; s=$?; set -e
    kill -0 "$pid" 2>/dev/null || break
  done
  if [[ $status -eq 0 && $s -ne 0 ]]; then status=$s; fi
done
exit "$status"
