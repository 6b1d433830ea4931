"""The base config every `configs/*.py` starts from: each field once, with its default, symbol and unit.

Configs are Python files whose `get_config(arg)` returns an `ml_collections.ConfigDict`; they change only
what differs from `base()`. `jcomp.main` loads them with `config_flags` (`--config=configs/med.py` and
overrides such as `--config.batch_size=8`); the dict is locked, so a typo in an override fails. The packaged
configs (`jcomp/configs/`, also `configs/` in a checkout) are found by name from any folder: `--config=med`,
`med.py:rate=low`, `zoo:model=NAME` (`resolve`).
"""

from __future__ import annotations

import importlib.util
import os

import ml_collections


def base() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.system = "mentzer2018"            # system name stored in .jcomp headers and the zoo
  c.seed = 0

  # --- data (jcomp.data) ---
  c.data = ml_collections.ConfigDict()
  c.data.source = "synthetic"         # 'synthetic' (embedded, procedural), 'tfds:NAME', or a folder/glob
  c.data.train_split = "train"        # TFDS split string, e.g. 'train[:900]'
  c.data.eval_split = "test"          # held-out split, e.g. 'train[900:]'
  c.data.data_dir = ""                # TFDS data_dir ('' = TFDS default; folders are built under it)
  c.data.manual_dir = ""              # TFDS manual_dir (e.g. the ImageNet tars for 'tfds:imagenet2012')
  c.data.cache = True                 # keep decoded training images in RAM (small datasets)
  c.data.num_eval_images = 16
  c.data.eval_crop_size = 256         # center crop for periodic eval, pixels (multiple of 8)
  c.crop_size = 160                   # training crop, pixels (paper: 160)
  c.batch_size = 30                   # global batch (paper: 30)

  # --- model (jcomp.models) ---
  c.model = ml_collections.ConfigDict()
  c.model.num_channels = 32           # K, latent channels
  c.model.num_centers = 6             # L, quantization centers
  c.model.quantizer = "centers"       # 'centers' (Mentzer) | 'binarizer' (Li)
  c.model.importance = "mentzer"      # 'mentzer' (eq. 14) | 'li' | 'none'
  c.model.importance_levels = 4       # Li et al.: importance levels
  c.model.sigma = 1.0                 # soft-quantization temperature (eq. 3)
  c.model.features = 128              # n, autoencoder width
  c.model.num_blocks = 5              # B, residual blocks
  c.model.units_per_block = 3         # residual units per block
  c.model.kernel_size = 3             # kernel of the residual convs
  c.model.upsample = "transpose"      # 'transpose' (paper) | 'subpixel' (~1.4x faster on CPU)
  c.model.dtype = "float32"           # compute dtype of convs ('bfloat16' on GPU/TPU)
  c.model.context = ml_collections.ConfigDict()
  c.model.context.name = "masked3d"   # context model P
  c.model.context.features = 24
  c.model.context.num_residual_units = 1
  c.model.context.kernel_size = (2, 3, 3)

  # --- loss (jcomp.losses) ---
  c.loss = ml_collections.ConfigDict()
  c.loss.distortion = "ms_ssim"       # 'ms_ssim' (K_d (1 - MS-SSIM)) | 'mse' (K_d MSE / 255^2) | 'ms_ssim+mse'
  c.loss.distortion_weight = 5000.0   # K_d (reference code: 5000; paper text: 100)
  c.loss.beta = 500.0                 # rate weight
  c.loss.target_bits_per_symbol = 1.2  # t, bits per symbol; bpp = t K / 64
  c.loss.rate_warmup_steps = 0        # steps with beta = 0 (distortion-only warm start)
  c.loss.soft_rate_gradient = False   # rate gradient via the soft assignment's expected bits (centers only)

  # --- optimization (jcomp.train) ---
  c.optim = ml_collections.ConfigDict()
  c.optim.ae_lr = 4e-3                # E, D, Q (reference code: 4e-3 for the AE with Adam)
  c.optim.context_lr = 1e-4           # P (paper)
  c.optim.lr_decay = 0.1              # staircase factor
  c.optim.lr_decay_steps = 60000      # paper: every 2 epochs of ImageNet at batch 30 ~ 85k steps
  c.optim.warmup_steps = 0            # linear LR ramp (use ~50 when fine-tuning from `init_from`)
  c.optim.ae_weight_decay = 0.005     # L2 on E, D
  c.optim.centers_weight_decay = 0.1  # L2 on the centers
  c.optim.context_weight_decay = 0.0
  c.optim.grad_clip = 0.0             # global-norm clip (0 = off)
  c.optim.schedule = "staircase"      # 'staircase' (x lr_decay every lr_decay_steps) | 'cosine' (to lr x lr_decay)
  c.optim.freeze = ()                 # groups kept fixed (encoder, decoder, centers, context; 'ae' = encoder and
                                      # decoder): ('ae', 'centers') trains P alone, ('encoder', 'centers', 'context')
                                      # the decoder alone (symbols and rate unchanged)

  # --- loop ---
  c.num_train_steps = 100000
  c.log_every_steps = 50
  c.eval_every_steps = 1000
  c.checkpoint_every_steps = 1000
  c.keep_checkpoints = 3
  c.max_train_minutes = 0.0           # wall-clock limit of a run (setup and compile included; 0 = none): at
                                      # the limit it saves and stops as on SIGTERM (jcomp.zoo_refresh's deadline)
  c.init_from = ""                    # workdir or checkpoint to initialise params from (Li stage 2)

  # --- report (jcomp.train: after the last step) ---
  c.report = ml_collections.ConfigDict()
  c.report.images = ""                # images (a `jcomp eval --images` spec) to code with the trained model into
                                      # real files: an RD report in WORKDIR/rd/ ("" = none)
  c.report.codecs = "jpeg420"         # the classical codecs the report compares with (`jcomp eval --codecs`)
  return c


def lookup(table: dict, kind: str, name: str):
  """`table[name]`, the part a config names; a ValueError listing the choices for an unknown name."""
  if name not in table:
    raise ValueError(f"unknown {kind} {name!r}; choose one of {sorted(table)}")
  return table[name]


def operating_point(c: ml_collections.ConfigDict, name: str) -> ml_collections.ConfigDict:
  """The reference code's operating points (SPEC §1): low K=32 t=0.4, med K=32 t=1.2, high K=64 t=1.0."""
  points = {"low": (32, 0.4), "med": (32, 1.2), "high": (64, 1.0)}
  if name not in points:
    raise ValueError(f"unknown operating point {name!r}; choose one of {sorted(points)}")
  c.model.num_channels, c.loss.target_bits_per_symbol = points[name]
  return c


CONFIGS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")  # the packaged configs


def config_names() -> list[str]:
  """The packaged configs' names ('med', 'zoo', ...)."""
  return sorted(f[:-3] for f in os.listdir(CONFIGS_DIR) if f.endswith(".py") and not f.startswith("_"))


def resolve(spec: str) -> str:
  """'med', 'med.py:rate=low', 'zoo:model=NAME' (a packaged config by name) or 'PATH.py[:ARG]' -> 'FILE[:ARG]'
  with FILE an existing file: a path that exists wins over a name. FileNotFoundError names the choices."""
  path, sep, arg = spec.partition(":")
  if os.path.isfile(path):
    return spec
  name = path[:-3] if path.endswith(".py") else path
  if name and "/" not in path and os.sep not in path and name in config_names():
    return os.path.join(CONFIGS_DIR, name + ".py") + sep + arg
  raise FileNotFoundError(f"config file {path!r} not found (nor a packaged config: {', '.join(config_names())})")


def from_file(spec: str, relative_to: str = "") -> ml_collections.ConfigDict:
  """'configs/med.py:rate=low' or 'med:rate=low' (`resolve`) -> that file's get_config('rate=low'); a relative
  path is taken from the folder of the file `relative_to` if given (a config building on a sibling:
  `from_file('compact.py', __file__)`)."""
  path, _, arg = spec.partition(":")
  if relative_to and not os.path.isabs(path):
    path = os.path.join(os.path.dirname(os.path.abspath(relative_to)), path)
  path = resolve(path)
  module_spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(path))[0], path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module.get_config(arg or None)


def parse_arg(arg: str | None, **defaults) -> ml_collections.ConfigDict:
  """'rate=med,data=synthetic' -> ConfigDict with `defaults` overridden (big_vision's parse_arg)."""
  out = ml_collections.ConfigDict(defaults)
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key not in defaults:
      raise ValueError(f"unknown config argument {key!r}; choose from {sorted(defaults)}")
    out[key] = value
  return out


def set_data(c: ml_collections.ConfigDict, data: str) -> ml_collections.ConfigDict:
  """Points the config at a dataset.

  'synthetic'      the embedded procedural images;
  'photos'         the photographs installed with scikit-image (15 to train on, 2 held out; `data.photos`);
  'imagenet'       TFDS imagenet2012 (train / validation), as the paper (needs `data.manual_dir`);
  'tfds:NAME'      a TFDS dataset with 'train' and 'test' splits;
  a folder/glob    all images, the first 90 % for training and the last 10 % held out (for the
                   1,000-image ImageNet sample: 900 / 100, the 'ImageNetTest' of jcomp's model cards).
  """
  if data in ("synthetic", "photos"):
    c.data.source, c.data.train_split, c.data.eval_split = data, "train", "test"
  elif data == "imagenet":
    c.data.source, c.data.train_split, c.data.eval_split = "tfds:imagenet2012", "train", "validation"
  elif data.startswith("tfds:"):
    c.data.source, c.data.train_split, c.data.eval_split = data, "train", "test"
  else:
    c.data.source, c.data.train_split, c.data.eval_split = data, "train[:90%]", "train[90%:]"
  return c


SMALL_RATES = {"low": (16, 0.8), "med": (16, 2.4), "high": (32, 2.0)}  # K, t (bits/symbol)


def small_family(c: ml_collections.ConfigDict, rate: str) -> ml_collections.ConfigDict:
  """The CPU-sized autoencoder (configs/small.py): n = 64, 1 block of 2 units, sub-pixel upsampling,
  K and t giving the low/med/high operating points' bpp (bpp = t K / 64: 0.2 / 0.6 / 1.0)."""
  if rate not in SMALL_RATES:
    raise ValueError(f"unknown rate {rate!r}; choose one of {sorted(SMALL_RATES)}")
  c.model.num_channels, c.loss.target_bits_per_symbol = SMALL_RATES[rate]
  c.model.features, c.model.num_blocks, c.model.units_per_block = 64, 1, 2
  c.model.upsample = "subpixel"
  c.batch_size = 8
  return c
