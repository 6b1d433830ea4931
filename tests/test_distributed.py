"""Data parallelism: a step sharded over 4 devices equals the 1-device step; 2 processes stay in lockstep.

Both run in subprocesses: the number of CPU devices (XLA_FLAGS) and `jax.distributed` must be set before JAX
initialises its backend, which the test process has already done.

The sharded-vs-single comparison steps with SGD (momentum), not the config's Adam: the biases of convolutions
that feed a BatchNorm have a gradient of exactly zero in theory (the norm subtracts them) and of ~1e-5 in float
arithmetic, which differs with the reduction order; Adam normalises that noise into steps of size lr, so those
(inert) biases would differ by ~lr between the two runs. With SGD every parameter and BatchNorm statistic agrees
to float rounding (the batch reductions run in another order: ~5e-5 of the step). Each of
the 2 steps starts both runs from the same state, since rounding differences, compounded through the hard
quantizer, importance mask and ReLUs, can grow to a few percent of a step after a second step.
"""

import os
import signal
import socket
import subprocess
import textwrap
import time

import numpy as np

from tests.conftest import PYTHON, REPO_ROOT, subprocess_env

TIMEOUT_S = 300

SHARDED_VS_SINGLE = textwrap.dedent("""
  import sys
  import jax
  import numpy as np
  import optax
  from jax.sharding import Mesh
  from configs import tiny
  from jcomp import sharding, systems, train
  from jcomp.data import sources

  assert jax.device_count() == 4, jax.devices()
  c = tiny.get_config()
  system, tx = systems.build(c), optax.sgd(1e-4, momentum=0.9)
  batches = sources.TrainBatches(sources.open_source("synthetic", "train"), c.batch_size, c.crop_size, 0)
  state = jax.device_get(jax.jit(lambda r: train.create_train_state(system, tx, r))(jax.random.PRNGKey(0)))
  meshes = {"four": Mesh(np.array(jax.devices()), ("data",)),
            "one": Mesh(np.array(jax.devices()[:1]), ("data",))}
  steps = {name: train.jit_train_step(system, c, tx, mesh) for name, mesh in meshes.items()}
  leaves = lambda s: [np.asarray(x) for x in jax.tree_util.tree_leaves((s.params, s.batch_stats))]
  out = {}
  for i in range(2):  # both steps start from the same state: float differences do not compound
    out.update({f"before{i}_{j}": x for j, x in enumerate(leaves(state))})
    new = {}
    for name, mesh in meshes.items():
      batch = sharding.global_batch(batches.batch(i), mesh)
      assert len(batch.addressable_shards) == mesh.size
      new[name], m = steps[name](jax.device_put(state, sharding.replicated(mesh)), batch)
      assert jax.tree_util.tree_leaves(new[name].params)[0].sharding.device_set == set(mesh.devices.flat)
      out[f"{name}{i}_loss"] = np.asarray(m["loss"])
      out.update({f"{name}{i}_{j}": x for j, x in enumerate(leaves(jax.device_get(new[name])))})
    state = jax.device_get(new["one"])
  np.savez(sys.argv[1], **out)
""")


TRAIN_AND_DUMP = textwrap.dedent("""
  import sys
  import jax
  import numpy as np
  from configs import tiny
  from jcomp import train

  c = tiny.get_config()
  c.num_train_steps, c.log_every_steps, c.eval_every_steps, c.checkpoint_every_steps = 10**6, 1, 10**6, 10**6
  state = train.train_and_evaluate(c, sys.argv[1])  # until SIGTERM
  assert jax.process_count() == 2 and jax.device_count() == 2, (jax.process_count(), jax.devices())
  leaves = jax.tree_util.tree_leaves(jax.device_get((state.params, state.batch_stats)))
  np.savez(sys.argv[2] + f"/params_{jax.process_index()}.npz", step=int(state.step),
           **{str(i): np.asarray(x) for i, x in enumerate(leaves)})
""")


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def test_step_sharded_over_four_devices_equals_the_single_device_step(tmp_path):
  out = tmp_path / "states.npz"
  env = subprocess_env(XLA_FLAGS="--xla_force_host_platform_device_count=4")
  proc = subprocess.run([PYTHON, "-c", SHARDED_VS_SINGLE, str(out)], cwd=REPO_ROOT, env=env,
                        capture_output=True, text=True, timeout=TIMEOUT_S)
  assert proc.returncode == 0, proc.stderr[-3000:]
  data = np.load(out)
  for i in range(2):
    np.testing.assert_allclose(data[f"four{i}_loss"], data[f"one{i}_loss"], rtol=1e-5)
    n = len([k for k in data.files if k.startswith(f"before{i}_")])
    assert n > 10
    for j in range(n):
      before, one, four = data[f"before{i}_{j}"], data[f"one{i}_{j}"], data[f"four{i}_{j}"]
      step = np.abs(one - before).max()  # reductions over the batch in another order: ~5e-5 of the step
      np.testing.assert_allclose(four, one, rtol=0, atol=2e-4 * step + 1e-7, err_msg=f"step {i}, leaf {j}")


def test_processes_train_in_lockstep_and_stop_together_on_sigterm_to_one(tmp_path):
  """2 processes on 127.0.0.1 (JAX_COORDINATOR_ADDRESS, ...): SIGTERM to process 1 alone stops both at the
  same step with one checkpoint, and both hold identical parameters."""
  workdir, dumps = tmp_path / "workdir", tmp_path / "dumps"
  dumps.mkdir()
  port, n = _free_port(), 2
  procs, logs = [], [tmp_path / f"process_{i}.log" for i in range(n)]
  try:
    for i in range(n):
      env = subprocess_env(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(n),
                           JAX_PROCESS_ID=str(i))
      with open(logs[i], "w") as log:
        procs.append(subprocess.Popen([PYTHON, "-c", TRAIN_AND_DUMP, str(workdir), str(dumps)],
                                      cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT))
    deadline = time.time() + TIMEOUT_S
    while "step       2 |" not in logs[0].read_text():  # both are past step 1: handlers installed
      assert time.time() < deadline and all(p.poll() is None for p in procs), logs[0].read_text()[-3000:]
      time.sleep(0.5)
    procs[1].send_signal(signal.SIGTERM)
    codes = [p.wait(timeout=max(deadline - time.time(), 60)) for p in procs]
  finally:
    for p in procs:
      if p.poll() is None:
        p.kill()
        p.wait()
  output = [log.read_text() for log in logs]
  assert codes == [0] * n, [o[-3000:] for o in output]
  params = [np.load(dumps / f"params_{i}.npz") for i in range(n)]
  step = int(params[0]["step"])
  assert step >= 2 and all(int(p["step"]) == step for p in params)
  for p in params[1:]:
    assert p.files == params[0].files
    for k in p.files:
      np.testing.assert_array_equal(p[k], params[0][k], err_msg=k)
  assert os.listdir(workdir / "checkpoints") == [str(step)]
  assert f"received signal 15: saved step {step}, exiting" in output[0]
  assert "step       2 |" not in output[1]  # only process 0 logs


def test_launchers_are_valid_bash():
  for script in sorted((REPO_ROOT / "launch").glob("*.sh")):
    proc = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert proc.returncode == 0, (script.name, proc.stderr)
