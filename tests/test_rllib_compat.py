"""Every private RLlib name the package relies on still exists in the installed RLlib
(``rllib_marl/rllib_compat.py`` lists them), so a Ray upgrade that renames one fails here."""

import importlib
import inspect
import re
from pathlib import Path

import pytest

from rllib_marl import rllib_compat

ROOT = Path(__file__).resolve().parent.parent


def _owner(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("name", sorted(rllib_compat.PRIVATE_NAMES))
def test_each_private_name_exists_in_the_installed_rllib(name):
    owner = _owner(rllib_compat.PRIVATE_NAMES[name][0])
    if inspect.ismodule(owner):  # a module-level name
        assert hasattr(owner, name), f"{owner.__name__}.{name} is gone from the installed Ray"
        return
    # A method or class attribute, or an instance attribute its class (or a base) assigns.
    sources = "".join(inspect.getsource(c) for c in owner.__mro__ if c.__module__.startswith("ray."))
    assert hasattr(owner, name) or re.search(rf"self\.{name}\b\s*[:=]", sources), \
        f"{owner.__name__}.{name} is gone from the installed RLlib"


def test_no_private_rllib_name_is_used_that_the_list_does_not_name():
    """Names ``._x`` the package reads off RLlib objects: each is listed (ours,
    on our own classes, are not RLlib's)."""
    ours = set()
    for p in [*(ROOT / "rllib_marl").rglob("*.py"), *(ROOT / "envs").rglob("*.py"), *(ROOT / "policies").rglob("*.py")]:
        text = p.read_text()
        ours |= set(re.findall(r"def (_\w+)", text)) | set(re.findall(r"self\.(_\w+)\s*(?::[^=]*)?=", text))
        ours |= set(re.findall(r"^(_\w+)\s*=", text, flags=re.M))
    used = set()
    for p in [*(ROOT / "rllib_marl").rglob("*.py"), *(ROOT / "envs").rglob("*.py"), *(ROOT / "policies").rglob("*.py")]:
        used |= set(re.findall(r"\w\.(_[a-z]\w*)", p.read_text()))
    others = {"_exit", "_foreach_copy_", "_foreach_lerp_",  # os._exit; torch's fused foreach ops
              "_accumulate_rewards", "_was_dead_step"}  # PettingZoo's AECEnv helpers for env authors
    ours |= {n for n in used if n.startswith("_rllib_marl")}  # our own attributes on RLlib objects
    unlisted = sorted(used - ours - others - set(rllib_compat.PRIVATE_NAMES))
    assert not unlisted, f"private names used but not in rllib_compat.PRIVATE_NAMES: {unlisted}"


def test_the_checkpoint_config_reader_reads_what_rllib_writes(ray_local, tmp_path):
    from rllib_marl import QMIXConfig
    from rllib_marl.algorithms.registry import ALGORITHMS

    config = (QMIXConfig().environment(env_config={"name": "two_step"}).env_runners(num_env_runners=0)
              .training(**ALGORITHMS["qmix"].smoke_training, mixer="vdn"))
    algo = config.build_algo()
    try:
        path = algo.save_to_path(str(tmp_path / "ck"))
    finally:
        algo.stop()
    read = rllib_compat.checkpoint_config(path)
    assert type(read).__name__ == "QMIXConfig" and read.mixer == "vdn"
    assert read.env_config == {"name": "two_step", "teams": "one"}  # env.teams auto, as validate() resolved it
