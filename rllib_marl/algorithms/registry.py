"""What each algorithm of the library is and what it supports.

Every algorithm registers an :class:`AlgorithmSpec`: its RLlib config class, the
dataclass of its ``training:`` block, and capability flags that config
validation checks against the env before Ray starts.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Tuple, Type

DISCRETE = "discrete"
CONTINUOUS = "continuous"


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
    """

    name: str
    config_cls: Callable[[], object]
    training_cls: Type
    action_spaces: Tuple[str, ...]
    needs_global_state: bool
    simultaneous_moves_only: bool
    critic_input: str
    description: str


def _mappo_config():
    from rllib_marl.algorithms.mappo import MAPPOConfig

    return MAPPOConfig()


def _ippo_config():
    from rllib_marl.algorithms.mappo import IPPOConfig

    return IPPOConfig()


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
}
