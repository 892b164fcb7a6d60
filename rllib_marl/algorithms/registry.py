"""What each algorithm of the library is and what it supports.

Every algorithm registers an :class:`AlgorithmSpec`: its RLlib config class, the
dataclass of its ``training:`` block, and capability flags that config
validation checks against the env before Ray starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Type

from rllib_marl.schema import choices

DISCRETE = "discrete"
CONTINUOUS = "continuous"


def torch_learner(config, learner_cls):
    """``learner_cls`` for a torch config; the library has no other framework."""
    if config.framework_str != "torch":
        raise ValueError("rllib_marl supports framework='torch' only")
    return learner_cls


@dataclass
class PPOTraining:
    """``training:`` block of MAPPO / IPPO (RLlib PPO names and meanings).

    Attributes:
        lr: Adam learning rate.
        gamma: discount.
        lambda_: GAE lambda (``lambda`` is accepted too).
        clip_param: PPO ratio clip.
        num_epochs: passes over each train batch.
        minibatch_size: SGD minibatch, in agent steps.
        train_batch_size: env steps sampled per iteration.
        entropy_coeff: entropy bonus.
        vf_loss_coeff: value-loss weight.
        vf_clip_param: clip of the squared value error.
        grad_clip: global gradient-norm clip (null = none).
        use_kl_loss: add an adaptive KL penalty.
        kl_coeff: initial KL coefficient.
        kl_target: KL target of the adaptive coefficient.
    """

    lr: float = 5e-4
    gamma: float = 0.99
    lambda_: float = 0.95
    clip_param: float = 0.2
    num_epochs: int = 10
    minibatch_size: int = 1000
    train_batch_size: int = 4000
    entropy_coeff: float = 0.01
    vf_loss_coeff: float = 1.0
    vf_clip_param: float = 10.0
    grad_clip: Optional[float] = 10.0
    use_kl_loss: bool = False
    kl_coeff: float = 0.0
    kl_target: float = 0.01

    def to_rllib(self) -> Dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class QMIXTraining:
    """``training:`` block of QMIX / VDN / IQL (``algorithm: qmix``).

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
    lr: float = 5e-4
    gamma: float = 0.99
    grad_clip: Optional[float] = 10.0
    train_batch_size: int = 32
    double_q: bool = True
    n_step: int = 1
    target_update_interval: int = 200
    tau: float = 1.0
    replay_capacity: int = 200_000
    learning_starts: int = 1_000
    env_steps_per_iteration: int = 1_000
    env_steps_per_update: int = 25
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_timesteps: int = 50_000
    mixing_embed_dim: int = 32
    hypernet_layers: int = 2
    hypernet_embed: int = 64
    checkpoint_replay_buffer: bool = True

    EXPLORATION = ("epsilon_start", "epsilon_end", "epsilon_timesteps")

    def to_rllib(self) -> Dict[str, object]:
        d = dataclasses.asdict(self)
        for k in self.EXPLORATION:
            d.pop(k)
        return d

    def exploration(self) -> Dict[str, object]:
        return {k: getattr(self, k) for k in self.EXPLORATION}


@dataclass(frozen=True)
class AlgorithmSpec:
    """Capabilities of one algorithm.

    Attributes:
        name: the ``algorithm:`` value.
        config_cls: zero-arg callable returning the RLlib ``AlgorithmConfig``.
        training_cls: dataclass of the ``training:`` block.
        action_spaces: which action spaces it can act in.
        needs_global_state: needs ``env.global_state`` other than ``none``.
        simultaneous_moves_only: refuses turn-based (AEC) envs.
        critic_input: default ``model.critic_input``.
        description: one line for ``--help`` and errors.
        model_defaults: ``model:`` values this algorithm uses unless the config sets them.
        state_needed_by: when ``needs_global_state`` depends on the training block,
            a predicate over it (e.g. QMIX's mixer) that overrides the flag.
        configure: algorithm-specific part of building the RLlib config,
            ``configure(config, exp, env, mapping)`` (modules beyond the per-agent ones).
        state_hint: why the global state is needed and what to use without one.
    """

    name: str
    config_cls: Callable[[], object]
    training_cls: Type
    action_spaces: Tuple[str, ...]
    needs_global_state: bool
    simultaneous_moves_only: bool
    critic_input: str
    description: str
    model_defaults: Dict[str, Any] = dataclasses.field(default_factory=dict)
    state_needed_by: Optional[Callable[[Any], bool]] = None
    configure: Optional[Callable[..., None]] = None
    state_hint: str = ""

    def needs_state(self, training: Any) -> bool:
        if self.state_needed_by is not None:
            return bool(self.state_needed_by(training))
        return self.needs_global_state


def _mappo_config():
    from rllib_marl.algorithms.mappo import MAPPOConfig

    return MAPPOConfig()


def _ippo_config():
    from rllib_marl.algorithms.mappo import IPPOConfig

    return IPPOConfig()


def _qmix_config():
    from rllib_marl.algorithms.qmix import QMIXConfig

    return QMIXConfig()


def _configure_qmix(config, exp, env, mapping):
    from rllib_marl.algorithms.qmix.build import configure_qmix

    configure_qmix(config, exp, env, mapping)


ALGORITHMS: Dict[str, AlgorithmSpec] = {
    "mappo": AlgorithmSpec(
        name="mappo",
        config_cls=_mappo_config,
        training_cls=PPOTraining,
        action_spaces=(DISCRETE, CONTINUOUS),
        needs_global_state=True,
        simultaneous_moves_only=False,
        critic_input="state",
        description="PPO, decentralized actors, centralized critic on the global state",
        state_hint="mappo trains a centralized critic on the global state; use auto, env or "
                   "concat (or algorithm: ippo for a critic on local observations)",
    ),
    "ippo": AlgorithmSpec(
        name="ippo",
        config_cls=_ippo_config,
        training_cls=PPOTraining,
        action_spaces=(DISCRETE, CONTINUOUS),
        needs_global_state=False,
        simultaneous_moves_only=False,
        critic_input="obs",
        description="independent PPO, critic on the agent's own observation",
    ),
    "qmix": AlgorithmSpec(
        name="qmix",
        config_cls=_qmix_config,
        training_cls=QMIXTraining,
        action_spaces=(DISCRETE,),
        needs_global_state=True,
        simultaneous_moves_only=True,
        critic_input="obs",
        description="value decomposition: QMIX (training.mixer: qmix), VDN (vdn) or IQL (none)",
        model_defaults={"hidden": [64], "activation": "relu", "use_gru": True, "gru_hidden": 64,
                        "max_seq_len": 25},
        state_needed_by=lambda training: training.mixer == "qmix",
        configure=_configure_qmix,
        state_hint="the qmix mixer conditions on the global state; use auto, env or concat "
                   "(or training.mixer: vdn or none, which need no global state)",
    ),
}
