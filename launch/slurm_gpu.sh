#!/usr/bin/env bash
# Trains jcomp on Slurm GPU nodes: one process per GPU, started by srun; jax.distributed auto-detects them.
#
#   sbatch launch/slurm_gpu.sh [--config.overrides ...]
#   CONFIG=configs/high.py WORKDIR=workdirs/high sbatch --nodes=2 launch/slurm_gpu.sh --config.batch_size=32
#
# srun gives every task SLURM_JOB_ID, SLURM_NTASKS, SLURM_PROCID, SLURM_LOCALID and SLURM_STEP_NODELIST: with
# SLURM_NTASKS > 1, jcomp.sharding.initialize_distributed calls jax.distributed.initialize(), which reads them
# (coordinator = the first node, port derived from the job id) and gives task SLURM_LOCALID the GPU of that
# index. So every task sees all GPUs of its node (--gres), not one bound GPU (--gpus-per-task).
# Adjust the #SBATCH lines to the cluster (partition, account, GPUs per node = tasks per node).
#SBATCH --job-name=jcomp
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=8
#SBATCH --gres=gpu:8
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --output=%x-%j.out
set -euo pipefail

CONFIG=${CONFIG:-configs/med.py}
WORKDIR=${WORKDIR:-workdirs/${SLURM_JOB_NAME:-jcomp}}
PYTHON=${PYTHON:-python}
cd "${SLURM_SUBMIT_DIR:-.}"

# Explicit coordinates would take precedence over Slurm's: drop any left in the environment.
unset JAX_COORDINATOR_ADDRESS JAX_NUM_PROCESSES JAX_PROCESS_ID
# srun forwards SIGTERM (scancel, time limit with --signal) to every task: each saves a checkpoint and exits.
srun --kill-on-bad-exit=1 "$PYTHON" -m jcomp.main --config="$CONFIG" --workdir="$WORKDIR" "$@"
