"""The private RLlib names rllib_marl relies on, in one place.

RLlib 2.60's public API does not reach everything an extension needs; each name
below is used through this module (or listed here with where it is used), and
``tests/test_rllib_compat.py`` checks that each still exists in the installed
RLlib, so a Ray upgrade that renames one fails there, not in a training run.
"""

from __future__ import annotations

from typing import Any

#: ``Algorithm._get_env_id_and_creator(env, config)``: how RLlib turns ``config.env``
#: (a registered name, a class, a class path, a gymnasium id) into an env creator.
ENV_CREATOR = ("ray.rllib.algorithms.algorithm", "Algorithm", "_get_env_id_and_creator")
#: ``AlgorithmConfig._is_frozen``: set by ``freeze()``; a frozen config refuses writes.
FROZEN = ("ray.rllib.algorithms.algorithm_config", "AlgorithmConfig", "_is_frozen")


def make_env(config) -> Any:
    """One env built the way RLlib's env runners build it (worker index 0)."""
    from ray.rllib.algorithms.algorithm import Algorithm
    from ray.rllib.env.env_context import EnvContext

    _, creator = Algorithm._get_env_id_and_creator(config.env, config)
    return creator(EnvContext(dict(config.env_config or {}), worker_index=0,
                              num_workers=config.num_env_runners))


def is_frozen(config) -> bool:
    """Whether ``config.freeze()`` was called (its attributes can no longer change)."""
    return bool(getattr(config, "_is_frozen", False))


#: An algorithm checkpoint's ``rllib_checkpoint.json`` names the pickle holding
#: the constructor arguments (``class_and_ctor_args_file``): the config's state.
CHECKPOINT_METADATA = "rllib_checkpoint.json"


def checkpoint_config(checkpoint):
    """The ``AlgorithmConfig`` an algorithm checkpoint was built with, without
    building the algorithm (``Algorithm.from_checkpoint`` reads the same file)."""
    import json
    import pickle
    from pathlib import Path

    from ray.rllib.algorithms.algorithm_config import AlgorithmConfig

    path = Path(checkpoint)
    meta = json.loads((path / CHECKPOINT_METADATA).read_text())
    with open(path / meta["class_and_ctor_args_file"], "rb") as f:
        ctor = pickle.load(f)
    (state, *_), _ = ctor["ctor_args_and_kwargs"]
    return state if isinstance(state, AlgorithmConfig) else AlgorithmConfig.from_state(state)
