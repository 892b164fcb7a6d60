"""MADDPG / MATD3: the ``training:`` block (defaults written once) and the spec."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Dict, Optional

from rllib_marl.algorithms.spec import CONTINUOUS, DISCRETE, AlgorithmSpec
from rllib_marl.lazy import deferred
from rllib_marl.policies.defaults import DETERMINISTIC_ACTOR
from rllib_marl.schema import ConfigError, choices

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
        policy_delay: critic updates per actor (and target) update; MATD3's
            default is 2 (set here explicitly to change it).
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
    actor_lr: float = 1e-2
    critic_lr: float = 1e-2
    gamma: float = 0.95
    tau: float = 0.01
    grad_clip: Optional[float] = 0.5
    train_batch_size: int = 1024
    actor_reg: float = 1e-3
    policy_delay: Optional[int] = None
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    gumbel_temperature: float = DETERMINISTIC_ACTOR["gumbel_temperature"]
    straight_through: bool = DETERMINISTIC_ACTOR["straight_through"]
    noise_std_start: float = DETERMINISTIC_ACTOR["noise_std_start"]
    noise_std_end: float = DETERMINISTIC_ACTOR["noise_std_end"]
    noise_timesteps: int = DETERMINISTIC_ACTOR["noise_timesteps"]
    replay_capacity: int = 1_000_000
    learning_starts: int = 25_600
    env_steps_per_iteration: int = 2_500
    env_steps_per_update: int = 100
    checkpoint_replay_buffer: bool = True

    ACTOR_SETTINGS = ("gumbel_temperature", "straight_through", "noise_std_start",
                      "noise_std_end", "noise_timesteps")

    @property
    def twin_q(self) -> bool:
        return self.variant == "matd3"

    @property
    def delay(self) -> int:
        if self.policy_delay is not None:
            return int(self.policy_delay)
        return 2 if self.variant == "matd3" else 1

    def to_rllib(self) -> Dict[str, object]:
        d = dataclasses.asdict(self)
        d["policy_delay"] = self.delay
        d["lr"] = self.critic_lr  # RLlib's own lr (unused by the two optimizers)
        return d

    def actor_settings(self) -> Dict[str, object]:
        return {k: getattr(self, k) for k in self.ACTOR_SETTINGS}


def _check_maddpg(exp, env, mapping) -> None:
    tr = exp.training_config()
    modules = sorted(set(mapping.values()))
    for mid, kind in tr.critic_by_module.items():
        if mid not in modules:
            raise ConfigError(f"training.critic_by_module.{mid}",
                              f"no such module; this env's modules (multi_agent.sharing: "
                              f"{exp.multi_agent.sharing}) are {', '.join(modules)}")
        if kind not in CRITICS:
            raise ConfigError(f"training.critic_by_module.{mid}",
                              f"unknown value {kind!r}; allowed: {', '.join(CRITICS)}")
    if tr.policy_delay is not None and tr.policy_delay < 1:
        raise ConfigError("training.policy_delay", "must be >= 1")
    if not 0.0 < tr.tau <= 1.0:
        raise ConfigError("training.tau", "must be in (0, 1]")
    if tr.gumbel_temperature <= 0:
        raise ConfigError("training.gumbel_temperature", "must be > 0")
    for name in ("actor_lr", "critic_lr"):
        if getattr(tr, name) <= 0:
            raise ConfigError(f"training.{name}", "must be > 0")
    if exp.model.use_gru:
        raise ConfigError("model.use_gru", "maddpg has feed-forward actors only; set use_gru: false "
                                           "(or use mappo / qmix for recurrent policies)")


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
    configure=deferred("rllib_marl.algorithms.maddpg.build:configure_maddpg"),
    check=_check_maddpg,
    check_search_space=_check_maddpg_search,
    state_hint="training.critic_input: state needs the global state; use auto, env or concat "
               "(or critic_input: obs, every agent's observation)",
    aec_hint="maddpg's critics need every agent's action at the same env step; use the env's "
             "parallel_env version if it has one, or mappo / ippo for turn-based games",
)
