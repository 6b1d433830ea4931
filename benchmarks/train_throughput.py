"""Training throughput, compile time and peak memory of configs (a benchmark script, not a test).

  python benchmarks/train_throughput.py configs/tiny.py configs/small.py configs/med.py [--steps 5] [--crop 160]

Times the jitted train step alone on a fixed random batch (no input pipeline): images/s at the given crop,
compile seconds (first call), and peak memory (device allocator on GPU/TPU; process peak RSS on CPU).
"""

from __future__ import annotations

import argparse
import functools
import resource
import time

import jax
import numpy as np

from jcomp import config_lib, sharding, systems, train


def measure(spec: str, steps: int, crop: int, batch: int | None, dtype: str | None) -> dict:
  config = config_lib.from_file(spec)
  config.crop_size = crop
  if batch:
    config.batch_size = batch
  if dtype:
    config.model.dtype = dtype
  mesh = sharding.make_mesh()
  system = systems.build(config)
  tx = train.make_optimizer(config, system)
  state = jax.jit(functools.partial(train.create_train_state, system, tx),
                  out_shardings=sharding.replicated(mesh))(jax.random.PRNGKey(0))
  step = train.jit_train_step(system, config, tx, mesh)
  rng = np.random.default_rng(0)
  x = sharding.global_batch(rng.integers(0, 256, (config.batch_size, crop, crop, 3), np.uint8), mesh)
  t = time.time()
  state, m = step(state, x)
  jax.block_until_ready(m)
  compile_s = time.time() - t
  t = time.time()
  for _ in range(steps):
    state, m = step(state, x)
  jax.block_until_ready(m)
  dt = time.time() - t
  n_params = sum(p.size for p in jax.tree_util.tree_leaves(state.params["autoencoder"]))
  stats = jax.devices()[0].memory_stats() or {}
  peak = stats.get("peak_bytes_in_use")
  peak_gib = peak / 2**30 if peak else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
  return dict(config=spec, params_m=n_params / 1e6, batch=config.batch_size, dtype=config.model.dtype,
              compile_s=compile_s, img_s=steps * config.batch_size / dt, peak_gib=peak_gib,
              peak_kind="device" if peak else "rss")


def main():
  p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("configs", nargs="+")
  p.add_argument("--steps", type=int, default=5)
  p.add_argument("--crop", type=int, default=160)
  p.add_argument("--batch", type=int, default=None)
  p.add_argument("--dtype", default=None)
  a = p.parse_args()
  print(f"devices: {jax.devices()}")
  print(f"{'config':40s} {'params(M)':>9s} {'batch':>5s} {'dtype':>8s} {'compile s':>9s} {'img/s':>8s} "
        f"{'peak GiB':>8s}")
  for spec in a.configs:
    r = measure(spec, a.steps, a.crop, a.batch, a.dtype)
    print(f"{r['config']:40s} {r['params_m']:9.2f} {r['batch']:5d} {r['dtype']:>8s} {r['compile_s']:9.1f} "
          f"{r['img_s']:8.1f} {r['peak_gib']:7.2f} ({r['peak_kind']})", flush=True)


if __name__ == "__main__":
  main()
