"""A persistent XLA compilation cache for `jcomp` commands and the Python API: a process that finds a program it
needs on disk loads it instead of compiling it (a second `jcomp compress` of a same-size image).

Where: `$JCOMP_CACHE_DIR`, else `$XDG_CACHE_HOME/jcomp/jax`, else `~/.cache/jcomp/jax`; `JCOMP_CACHE_DIR=off`
turns it off. A cache already configured for JAX (`JAX_COMPILATION_CACHE_DIR`, `jax.config`) is used as it is,
unless `JCOMP_CACHE_DIR` is set. Every compiled program is cached (no minimum compile time or size). JAX's
file cache is shared safely by concurrent processes: an entry is one file named by the hash of the program,
the backend and the JAX version; an entry that cannot be read (e.g. a write in progress) is a cache miss.
"""

from __future__ import annotations

import os
from typing import Mapping

ENV = "JCOMP_CACHE_DIR"
OFF = "off"


def cache_dir(environ: Mapping[str, str] = os.environ) -> str | None:
  """The cache folder named by the environment (module doc), None when `JCOMP_CACHE_DIR=off`."""
  explicit = environ.get(ENV)
  if explicit is not None:
    return None if explicit.strip().lower() in (OFF, "") else os.path.expanduser(explicit)
  root = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
  return os.path.join(root, "jcomp", "jax")


def enable() -> str | None:
  """Points JAX's persistent compilation cache at `cache_dir()` (created if missing) and caches every program;
  returns the folder in use (None: off, or the folder cannot be created). Call before compiling."""
  import jax  # pylint: disable=g-import-not-at-top  # cache_dir() alone needs no JAX
  configured = jax.config.jax_compilation_cache_dir
  if configured and ENV not in os.environ:
    return configured
  path = cache_dir()
  if path is None:
    return None
  try:
    os.makedirs(path, exist_ok=True)
  except OSError:
    return None  # e.g. a read-only home: compile as without a cache
  jax.config.update("jax_compilation_cache_dir", path)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
  return path
