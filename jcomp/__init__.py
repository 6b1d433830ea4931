"""jcomp: learned image compression in JAX/Flax. Python API (`jcomp.api`, imported on first use so that
`import jcomp` stays fast):

  codec = jcomp.load("mentzer2018-compact-0.30"); data = codec.compress(x); y = codec.decompress(data)
  jcomp.load_family("mentzer2018-compact").compress(x, target_bpp=0.4)
"""

_API = ("load", "load_family", "Model", "Family")


def __getattr__(name: str):
  if name in _API:
    from jcomp import api  # pylint: disable=g-import-not-at-top
    return getattr(api, name)
  raise AttributeError(f"module 'jcomp' has no attribute {name!r}")


def __dir__():
  return sorted(list(globals()) + list(_API))
