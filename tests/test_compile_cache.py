"""The persistent compilation cache of the CLI and the API: where it lives, how it is turned off, and that a
second `jcomp compress` in a new process finds every program it needs on disk. Every cache here is a temporary
folder (never the user's)."""

import os
import subprocess

import pytest
from PIL import Image

from jcomp import compile_cache, config_lib, zoo
from jcomp.data.synthetic_images import synthetic_image
from tests.conftest import PYTHON, random_variables, subprocess_env


def test_cache_dir_follows_the_environment():
  home = os.path.expanduser("~")
  assert compile_cache.cache_dir({}) == os.path.join(home, ".cache", "jcomp", "jax")
  assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x/cache"}) == "/x/cache/jcomp/jax"
  assert compile_cache.cache_dir({"XDG_CACHE_HOME": "/x", "JCOMP_CACHE_DIR": "/y/c"}) == "/y/c"
  assert compile_cache.cache_dir({"JCOMP_CACHE_DIR": "~/c"}) == os.path.join(home, "c")
  for off in ("off", "OFF", ""):
    assert compile_cache.cache_dir({"JCOMP_CACHE_DIR": off, "XDG_CACHE_HOME": "/x"}) is None


def _env(tmp_path, **extra):
  env = subprocess_env(HOME=str(tmp_path / "home"), **extra)
  for k in ("JAX_COMPILATION_CACHE_DIR", "JCOMP_CACHE_DIR", "XDG_CACHE_HOME"):
    env.pop(k, None)
  env.update(extra)
  return env


_PROBE = ("import jax, jax.numpy as jnp; from jcomp import compile_cache; print(compile_cache.enable()); "
          "jax.jit(lambda x: jnp.sin(x) * 3)(jnp.ones(7)).block_until_ready(); "
          "print(jax.config.jax_compilation_cache_dir)")


@pytest.mark.parametrize("extra, where", [
    ({}, "home/.cache/jcomp/jax"),                                # the default: the user's cache folder
    ({"XDG_CACHE_HOME": "{tmp}/xdg"}, "xdg/jcomp/jax"),
    ({"JAX_COMPILATION_CACHE_DIR": "{tmp}/jax"}, "jax"),          # JAX's own setting is kept, thresholds too
    ({"JAX_COMPILATION_CACHE_DIR": "{tmp}/jax", "JCOMP_CACHE_DIR": "{tmp}/mine"}, "mine"),
    ({"JCOMP_CACHE_DIR": "off"}, None)])
def test_enable_caches_even_a_tiny_program_where_the_environment_says(tmp_path, extra, where):
  extra = {k: v.format(tmp=tmp_path) for k, v in extra.items()}
  out = subprocess.run([PYTHON, "-c", _PROBE], env=_env(tmp_path, **extra), capture_output=True, text=True,
                       timeout=300)
  assert out.returncode == 0, out.stderr[-2000:]
  enabled, used = out.stdout.split()
  if where is None:
    assert enabled == used == "None" and not (tmp_path / "home").exists()
    return
  assert enabled == used == str(tmp_path / where)
  if "JCOMP_CACHE_DIR" in extra or "JAX_COMPILATION_CACHE_DIR" not in extra:  # jcomp's thresholds: none
    assert any(f.endswith("-cache") for f in os.listdir(tmp_path / where))  # compiled in ms, cached anyway
  assert not (tmp_path / "home").exists() or where.startswith("home")


def test_a_second_compress_in_a_new_process_compiles_nothing(tmp_path):
  c = config_lib.base()
  c.model.num_channels, c.model.features, c.model.num_blocks, c.model.units_per_block = 4, 8, 1, 1
  c.model.upsample, c.model.context.features = "subpixel", 8
  model = str(tmp_path / "model")
  zoo.save(c, random_variables(c, 0), model, dtype="float32")
  Image.fromarray(synthetic_image(1, 24, 40)).save(tmp_path / "a.png")
  cache = tmp_path / "cache"
  env = _env(tmp_path, JCOMP_CACHE_DIR=str(cache))
  entries, files = [], []
  for i in range(2):
    out = subprocess.run([PYTHON, "-m", "jcomp", "compress", f"--model={model}", "a.png", "-o", f"{i}.jcomp"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    entries.append(sorted(os.listdir(cache)))
    files.append((tmp_path / f"{i}.jcomp").read_bytes())
  assert entries[0] and entries[1] == entries[0]  # the second process found every program on disk
  assert files[1] == files[0]
