"""MADDPG / MATD3: the ``training:`` block (defaults written once) and the spec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional

from rllib_marl.algorithms.spec import CONTINUOUS, DISCRETE, AlgorithmSpec
from rllib_marl.lazy import deferred
from rllib_marl.policies.defaults import DETERMINISTIC_ACTOR
from rllib_marl.schema import ConfigError, bounded, choices

CRITICS = ("central", "local")


@dataclass
class MADDPGTraining:
    """``training:`` block of MADDPG / MATD3 (``algorithm: maddpg``).

    Defaults are the MADDPG paper's MPE settings (Lowe et al., 2017; openai/maddpg):
    lr 1e-2, batch 1024, tau 0.01, gamma 0.95, gradient-norm clip 0.5, actor
    regularizer 1e-3, replay 1e6, one update every 100 env steps after 25,600.

    Attributes:
        variant: ``maddpg``, or ``matd3`` (twin critics with the minimum in the
            target, actor and target updates every ``policy_delay`` critic updates,
            target-policy smoothing on Box actions).
        critic: ``central`` (each agent's critic sees all agents' observations
            or the global state, and all agents' actions: MADDPG) or ``local``
            (its own observation and action only: independent DDPG).
        critic_by_module: per acting module, ``central`` or ``local``,
            overriding ``critic`` (e.g. ``{adversary: central, agent: local}``).
        critic_input: what a central critic sees besides the actions: ``obs``
            (every agent's observation, the paper's choice) or ``state`` (the
            env's global state).
        actor_lr / critic_lr: Adam learning rates.
        gamma: discount.
        tau: Polyak factor of the target networks, applied after every update
            (MATD3: after every actor update).
        grad_clip: gradient-norm clip per optimizer (null = none).
        train_batch_size: joint transitions per update.
        actor_reg: weight of the mean squared actor pre-activation in the actor loss.
        policy_delay: critic updates per actor (and target) update; null = the
            variant's own (1 for MADDPG, 2 for MATD3).
        target_noise / target_noise_clip: MATD3 target-policy smoothing of Box
            actions (std and clip, in [-1, 1] action units; 0 = off).
        gumbel_temperature: temperature of the training-time Gumbel-softmax (Discrete).
        straight_through: Discrete actor actions in the actor loss are one-hot
            forward values with soft gradients (true) or soft samples (false).
        noise_std_start / noise_std_end / noise_timesteps: Gaussian exploration
            noise on Box actions, decaying linearly over env steps.
        replay_capacity: env steps kept in the replay buffer.
        learning_starts: env steps in the buffer before the first update.
        env_steps_per_iteration: env steps sampled per training iteration.
        env_steps_per_update: sampled env steps per update (the replay ratio).
        checkpoint_replay_buffer: put the replay buffer in checkpoints.
    """

    variant: str = choices("maddpg", "matd3", default="maddpg")
    critic: str = choices(*CRITICS, default="central")
    critic_by_module: Dict[str, str] = field(default_factory=dict)
    critic_input: str = choices("obs", "state", default="obs")
    actor_lr: float = bounded(1e-2, gt=0)
    critic_lr: float = bounded(1e-2, gt=0)
    gamma: float = bounded(0.95, ge=0, le=1)
    tau: float = bounded(0.01, gt=0, le=1)
    grad_clip: Optional[float] = bounded(0.5, gt=0)
    train_batch_size: int = bounded(1024, ge=1)
    actor_reg: float = bounded(1e-3, ge=0)
    policy_delay: Optional[int] = bounded(None, ge=1)
    target_noise: float = bounded(0.2, ge=0)
    target_noise_clip: float = bounded(0.5, ge=0)
    gumbel_temperature: float = bounded(DETERMINISTIC_ACTOR["gumbel_temperature"], gt=0)
    straight_through: bool = DETERMINISTIC_ACTOR["straight_through"]
    noise_std_start: float = bounded(DETERMINISTIC_ACTOR["noise_std_start"], ge=0)
    noise_std_end: float = bounded(DETERMINISTIC_ACTOR["noise_std_end"], ge=0)
    noise_timesteps: int = bounded(DETERMINISTIC_ACTOR["noise_timesteps"], ge=0)
    replay_capacity: int = bounded(1_000_000, ge=1)
    learning_starts: int = bounded(25_600, ge=0)
    env_steps_per_iteration: int = bounded(2_500, ge=1)
    env_steps_per_update: int = bounded(100, ge=1)
    checkpoint_replay_buffer: bool = True

    #: settings the acting modules read (exploration and the Gumbel-softmax).
    ACTOR_SETTINGS = ("gumbel_temperature", "straight_through", "noise_std_start",
                      "noise_std_end", "noise_timesteps")


# Settings that shape the modules (built once from the base config), not per trial.
_STRUCTURAL = ("variant", "critic", "critic_by_module", "critic_input") + MADDPGTraining.ACTOR_SETTINGS


def _check_maddpg_search(exp, key, path, values) -> None:
    name = key.split(".", 1)[1] if key.startswith("training.") else ""
    if name in _STRUCTURAL:
        raise ConfigError(path, f"training.{name} shapes the modules, which are built once from the base "
                                f"config; run one search per value instead (searchable: learning rates, "
                                f"gamma, tau, batch and replay settings, policy_delay, target_noise)")


MADDPG_SPEC = AlgorithmSpec(
    name="maddpg",
    config_cls=deferred("rllib_marl.algorithms.maddpg.maddpg:MADDPGConfig"),
    training_cls=MADDPGTraining,
    action_spaces=(DISCRETE, CONTINUOUS),
    needs_global_state=False,
    simultaneous_moves_only=True,
    image_observations=False,  # its critics take every agent's flat observation
    critic_input="obs",
    description="MADDPG / MATD3 (training.variant): deterministic actors, centralized "
                "(or local: independent DDPG) critics, per-agent rewards",
    model_defaults={"hidden": list(DETERMINISTIC_ACTOR["hidden"]),
                    "activation": DETERMINISTIC_ACTOR["activation"]},
    state_needed_by=lambda training: training.critic_input == "state",
    check_search_space=_check_maddpg_search,
    state_hint="training.critic_input: state needs the global state; use auto, env or concat "
               "(or critic_input: obs, every agent's observation)",
    aec_hint="maddpg's critics need every agent's action at the same env step; use the env's "
             "parallel_env version if it has one, or mappo / ippo for turn-based games",
    smoke_training={"learning_starts": 100, "env_steps_per_iteration": 200, "env_steps_per_update": 100,
                    "train_batch_size": 32},
)
