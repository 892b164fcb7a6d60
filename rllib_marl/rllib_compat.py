"""The private RLlib names rllib_marl relies on, in one place.

RLlib 2.60's public API does not reach everything an extension needs; each name
below is used through this module (or listed here with where it is used), and
``tests/test_rllib_compat.py`` checks that each still exists in the installed
RLlib, so a Ray upgrade that renames one fails there, not in a training run.
"""

from __future__ import annotations

import contextlib
from typing import Any, Dict, Tuple

_ALGO = "ray.rllib.algorithms.algorithm:Algorithm"
_CONFIG = "ray.rllib.algorithms.algorithm_config:AlgorithmConfig"
_RUNNER = "ray.rllib.env.multi_agent_env_runner:MultiAgentEnvRunner"
_CHECKPOINTABLE = "ray.rllib.utils.checkpoints:Checkpointable"
_LEARNER = "ray.rllib.core.learner.learner:Learner"
_EPISODE_BUFFER = "ray.rllib.utils.replay_buffers.episode_replay_buffer:EpisodeReplayBuffer"

#: Every private RLlib name the package uses: ``name -> (owner class, where and why)``.
#: Names used in one place only are used there directly (a subclass reading its
#: base class's state); the rest go through the functions below.
PRIVATE_NAMES: Dict[str, Tuple[str, str]] = {
    # functions of this module
    "_get_env_id_and_creator": (_ALGO, "make_env: config.env (name, class, class path, gym id) -> creator"),
    "_is_frozen": (_CONFIG, "is_frozen / unfrozen: the league re-maps agents on a frozen config"),
    # envs/sources.py: env names registered with ray.tune.register_env (RLlib reads them the same way)
    "_global_registry": ("ray.tune:registry", "registered_creator: the creator of a register_env name"),
    # rllib_marl/env_runner.py: FastMultiAgentEnvRunner replaces MultiAgentEnvRunner's sampling loop
    "_sample": (_RUNNER, "the sampling loop it replaces (the stock one stays for custom connectors)"),
    "_reset_envs": (_RUNNER, "the reset it replaces"),
    "_reset_envs_and_episodes": (_RUNNER, "a full reset after the env failed"),
    "_ongoing_episodes": (_RUNNER, "episodes in progress, one per sub-env"),
    "_needs_initial_reset": (_RUNNER, "first sample() resets"),
    "_make_on_episode_callback": (_RUNNER, "on_episode_start / step / end callbacks"),
    "_device": (_RUNNER, "where the module acts"),
    "_seed": (_RUNNER, "the runner's seed (its action RNG)"),
    "_prune_zero_len_sa_episodes": (_RUNNER, "episodes handed on as the stock runner does"),
    "_ongoing_episodes_for_metrics": (_RUNNER, "episode metrics across sample() calls"),
    "_done_episodes_for_metrics": (_RUNNER, "episode metrics across sample() calls"),
    "_new_episode": (_RUNNER, "a MultiAgentEpisode as the stock runner makes it"),
    "_weights_seq_no": (_RUNNER, "the weights version logged with samples"),
    "_metrics_num_env_steps_sampled": (_RUNNER, "lifetime counters"),
    "_log_env_steps": (_RUNNER, "lifetime counters"),
    "_callbacks": (_RUNNER, "whether any callback overrides on_episode_step"),
    "_env_to_module_connector": (_CONFIG, "the fast loop steps aside for custom connectors"),
    "_module_to_env_connector": (_CONFIG, "the fast loop steps aside for custom connectors"),
    # rllib_marl/algorithms/offpolicy/: the replay buffer in checkpoints, its episode index
    "_check_component": (_CHECKPOINTABLE, "the replay buffer as a component of the algorithm's state"),
    "_num_episodes_evicted": (_EPISODE_BUFFER, "JointReplayBuffer: episode index after evictions"),
    # the learners: rllib_marl/algorithms/optim.py, maddpg/maddpg_learner.py
    "_module": (_LEARNER, "FusedAdamMixin: the (possibly DDP-wrapped) module whose parameters it optimizes"),
    "_optimizer_parameters": (_LEARNER, "MATD3: the actor optimizer's parameters, to skip them between actor steps"),
    "_params": (_LEARNER, "MATD3: parameter id -> tensor, to clear skipped gradients"),
}


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


@contextlib.contextmanager
def unfrozen(config):
    """Lets a frozen config change inside the block, frozen again after it."""
    frozen = is_frozen(config)
    config._is_frozen = False
    try:
        yield config
    finally:
        config._is_frozen = frozen


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
