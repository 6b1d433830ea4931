"""Every config file builds: get_config() with its defaults gives a ConfigDict whose models construct; the
zoo's recipes (configs/zoo.py) give each shipped model's config."""

import glob
import json
import os

import ml_collections
import pytest

from jcomp import checkpoint, config_lib, systems, zoo

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                        "configs", "*.py")))


JOB_CONFIGS = {"integer_context.py"}  # configs of other jobs than training (their own test below)


@pytest.mark.parametrize("path", [p for p in CONFIGS if os.path.basename(p) not in JOB_CONFIGS],
                         ids=os.path.basename)
def test_config_file_builds_with_its_defaults(path):
  c = config_lib.from_file(path)
  assert isinstance(c, ml_collections.ConfigDict)
  assert c.crop_size % 8 == 0 and c.num_train_steps > 0
  systems.build(c)  # module construction only: no compile


def test_integer_context_config_names_a_shipped_model_and_its_bits():
  c = config_lib.from_file("configs/integer_context.py:model=mentzer2018-compact-0.15")
  assert c.model == "mentzer2018-compact-0.15" and zoo.resolve(c.model)
  assert 2 <= c.weight_bits <= 16 and 2 <= c.activation_bits <= 16 and c.num_images > 0


def test_missing_config_file_is_a_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError, match="nope.py"):
    config_lib.from_file(str(tmp_path / "nope.py:bpp=1"))


def test_compact_channels_argument_sets_k_and_keeps_the_bpp_target():
  path = os.path.join(os.path.dirname(CONFIGS[0]), "compact.py")
  for channels in (32, 64):
    c = config_lib.from_file(f"{path}:bpp=1.0,channels={channels},data=synthetic")
    assert c.model.num_channels == channels
    assert abs(c.loss.target_bits_per_symbol * channels / 64 - 1.0) < 1e-9  # bpp = t K / 64


# ------------------------------------------------------------------------------------------------
# configs/zoo.py: the shipped models' recipes.
# ------------------------------------------------------------------------------------------------

def _zoo_stage(name: str, stage: int) -> ml_collections.ConfigDict:
  from configs import zoo as recipes  # pylint: disable=g-import-not-at-top
  needs_init = recipes.RECIPES[name].stages[stage - 1].start == "previous"
  return config_lib.from_file(os.path.join(os.path.dirname(CONFIGS[0]), "zoo.py") + f":model={name},"
                              f"stage={stage}" + (",init_from=workdirs/previous_stage" if needs_init else ""))


def _leaves(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
  return out


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_recipe_last_stage_is_the_shipped_models_config(name):
  from configs import zoo as recipes  # pylint: disable=g-import-not-at-top
  assert name in recipes.RECIPES, f"shipped model {name} has no recipe in configs/zoo.py"
  with open(os.path.join(zoo.ZOO_DIR, name, checkpoint.CONFIG_FILE)) as f:
    shipped = json.load(f)
  rebuilt = json.loads(checkpoint.config_to_json(_zoo_stage(name, len(recipes.RECIPES[name].stages))))
  # The model id's fields, exactly: a different value would be a different model.
  assert {k: rebuilt[k] for k in checkpoint.MODEL_FIELDS} == {k: shipped[k] for k in checkpoint.MODEL_FIELDS}
  # Every other recorded setting too, but the data's location (a path on the training machine) and init_from
  # (the shipped config names the zoo parent; a later stage starts from the previous stage's workdir).
  skip = {"init_from", "data.source", "data.train_split", "data.eval_split"}
  expected = {k: v for k, v in _leaves(shipped).items() if k not in skip}
  assert {k: _leaves(rebuilt).get(k, "<missing>") for k in expected} == expected


def test_every_zoo_recipe_stage_builds():
  from configs import zoo as recipes  # pylint: disable=g-import-not-at-top
  for name, recipe in recipes.RECIPES.items():
    for stage in range(1, len(recipe.stages) + 1):
      c = _zoo_stage(name, stage)
      assert c.crop_size % 8 == 0 and c.num_train_steps > 0, (name, stage)
      systems.build(c)


def test_zoo_recipe_stage_that_continues_a_previous_one_requires_its_workdir():
  path = os.path.join(os.path.dirname(CONFIGS[0]), "zoo.py")
  with pytest.raises(ValueError, match="init_from=<stage 1's workdir>"):
    config_lib.from_file(f"{path}:model=mentzer2018-compact-1.10,stage=2")
  with pytest.raises(ValueError, match="stages 1 to 1"):
    config_lib.from_file(f"{path}:model=mentzer2018-compact-0.30,stage=2")
  with pytest.raises(ValueError, match="choose one of"):
    config_lib.from_file(f"{path}:model=mentzer2018-compact-0.31")


def test_zoo_plan_rebuilds_a_listed_parent_first_and_fine_tunes_from_it():
  from configs import zoo as recipes  # pylint: disable=g-import-not-at-top
  rows = recipes.plan(["mentzer2018-compact-0.15", "mentzer2018-compact-0.30"], "DATA", "OUT")
  assert [(w, n) for w, n, _ in rows] == [(0, "mentzer2018-compact-0.30")] * 2 + [(1, "mentzer2018-compact-0.15")] * 4
  parent_workdir = "OUT/runs/mentzer2018-compact-0.30/stage1"
  assert f"--workdir={parent_workdir}" in rows[0][2] and f"init_from={parent_workdir} " in rows[2][2]
  assert rows[-1][2].endswith("-m jcomp export OUT/runs/mentzer2018-compact-0.15/stage3 OUT/mentzer2018-compact-0.15")
  # Alone, a fine-tune starts from the shipped parent (init_from's default: the parent's name).
  assert "init_from" not in recipes.commands("mentzer2018-compact-0.15", "DATA", "OUT")[0]
