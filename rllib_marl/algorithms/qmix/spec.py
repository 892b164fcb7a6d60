"""QMIX / VDN / IQL: the ``training:`` block (defaults written once) and the spec."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rllib_marl.algorithms.spec import DISCRETE, AlgorithmSpec
from rllib_marl.lazy import deferred
from rllib_marl.policies.defaults import Q_AGENT
from rllib_marl.schema import ConfigError, bounded, choices


@dataclass
class QMIXTraining:
    """``training:`` block of QMIX / VDN / IQL (``algorithm: qmix``).

    The window length of sampled sequences is ``model.max_seq_len``.

    Attributes:
        mixer: ``qmix`` (monotonic mixer on the global state), ``vdn`` (sum) or
            ``none`` (independent Q-learning).
        lr: Adam learning rate (agent network and mixer).
        gamma: discount.
        grad_clip: global gradient-norm clip per optimizer (null = none).
        train_batch_size: sequences (windows of ``model.max_seq_len`` env steps) per update.
        double_q: next action chosen by the online net, valued by the target net.
        n_step: n-step returns inside a window (1 = one-step TD).
        target_update_interval: gradient updates between hard target-net copies.
        tau: Polyak factor after every update instead, when < 1.
        replay_capacity: env steps kept in the replay buffer.
        learning_starts: env steps in the buffer before the first update.
        env_steps_per_iteration: env steps sampled per training iteration.
        env_steps_per_update: sampled env steps per gradient update (the replay ratio).
        epsilon_start: exploration epsilon at env step 0.
        epsilon_end: final epsilon.
        epsilon_timesteps: env steps over which epsilon decays linearly.
        mixing_embed_dim: QMIX mixing-network width.
        hypernet_layers: 1 or 2 layers in QMIX's weight hypernetworks.
        hypernet_embed: hidden width of 2-layer hypernetworks.
        checkpoint_replay_buffer: put the replay buffer in checkpoints (resume
            continues from the same data).
    """

    mixer: str = choices("qmix", "vdn", "none", default="qmix")
    lr: float = bounded(5e-4, gt=0)
    gamma: float = bounded(0.99, ge=0, le=1)
    grad_clip: Optional[float] = bounded(10.0, gt=0)
    train_batch_size: int = bounded(32, ge=1)
    double_q: bool = True
    n_step: int = bounded(1, ge=1)
    target_update_interval: int = bounded(200, ge=1)
    tau: float = bounded(1.0, gt=0, le=1)
    replay_capacity: int = bounded(200_000, ge=1)
    learning_starts: int = bounded(1_000, ge=0)
    env_steps_per_iteration: int = bounded(1_000, ge=1)
    env_steps_per_update: int = bounded(25, ge=1)
    epsilon_start: float = bounded(Q_AGENT["epsilon_start"], ge=0, le=1)
    epsilon_end: float = bounded(Q_AGENT["epsilon_end"], ge=0, le=1)
    epsilon_timesteps: int = bounded(Q_AGENT["epsilon_timesteps"], ge=0)
    mixing_embed_dim: int = bounded(32, ge=1)
    hypernet_layers: int = choices(1, 2, default=2)
    hypernet_embed: int = bounded(64, ge=1)
    checkpoint_replay_buffer: bool = True

    #: settings the acting module reads (its epsilon-greedy schedule).
    EXPLORATION = ("epsilon_start", "epsilon_end", "epsilon_timesteps")


def _check_qmix_search(exp, key, path, values) -> None:
    if key == "training.mixer" and "qmix" in values and exp.training_config().mixer != "qmix":
        # The mixer module is built once from the base config, not per trial.
        raise ConfigError(
            path,
            f"qmix needs its mixer module, which is built from the base config's training.mixer "
            f"({exp.training_config().mixer}); set training.mixer: qmix in the config to search over mixers",
        )


QMIX_SPEC = AlgorithmSpec(
    name="qmix",
    config_cls=deferred("rllib_marl.algorithms.qmix.qmix:QMIXConfig"),
    training_cls=QMIXTraining,
    action_spaces=(DISCRETE,),
    needs_global_state=True,
    simultaneous_moves_only=True,
    critic_input="obs",
    description="value decomposition: QMIX (training.mixer: qmix), VDN (vdn) or IQL (none)",
    model_defaults={k: Q_AGENT[k] for k in ("hidden", "activation", "use_gru", "gru_hidden", "max_seq_len")},
    state_needed_by=lambda training: training.mixer == "qmix",
    check_search_space=_check_qmix_search,
    state_hint="the qmix mixer conditions on the global state; use auto, env or concat "
               "(or training.mixer: vdn or none, which need no global state)",
    aec_hint="use the env's parallel_env version if it has one, or mappo / ippo",
    smoke_training={"learning_starts": 100, "env_steps_per_iteration": 200, "env_steps_per_update": 100,
                    "train_batch_size": 4},
)
