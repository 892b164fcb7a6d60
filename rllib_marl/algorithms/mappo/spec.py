"""MAPPO / IPPO: the ``training:`` block (defaults written once) and the specs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, Optional

from rllib_marl.algorithms.spec import CONTINUOUS, DISCRETE, AlgorithmSpec
from rllib_marl.lazy import deferred


@dataclass
class PPOTraining:
    """``training:`` block of MAPPO / IPPO (RLlib PPO names and meanings).

    Defaults follow the MAPPO paper on MPE (Yu et al., 2022).

    Attributes:
        lr: Adam learning rate.
        lr_end: if set, the learning rate falls linearly from ``lr`` to this
            over the first ``lr_decay_env_steps`` env steps, then stays (RLlib's
            ``lr`` schedule).
        lr_decay_env_steps: see ``lr_end``.
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
    lr_end: Optional[float] = None
    lr_decay_env_steps: int = 1_000_000
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
        out = dataclasses.asdict(self)
        end, steps = out.pop("lr_end"), out.pop("lr_decay_env_steps")
        if end is not None:
            out["lr"] = [[0, self.lr], [steps, end]]
        return out


MAPPO_SPEC = AlgorithmSpec(
    name="mappo",
    config_cls=deferred("rllib_marl.algorithms.mappo.mappo:MAPPOConfig"),
    training_cls=PPOTraining,
    action_spaces=(DISCRETE, CONTINUOUS),
    needs_global_state=True,
    simultaneous_moves_only=False,
    critic_input="state",
    description="PPO, decentralized actors, centralized critic on the global state",
    state_hint="mappo trains a centralized critic on the global state; use auto, env or "
               "concat (or algorithm: ippo for a critic on local observations)",
    league=True,
    comm=True,
    shared_encoder=True,
)

IPPO_SPEC = AlgorithmSpec(
    name="ippo",
    config_cls=deferred("rllib_marl.algorithms.mappo.mappo:IPPOConfig"),
    training_cls=PPOTraining,
    action_spaces=(DISCRETE, CONTINUOUS),
    needs_global_state=False,
    simultaneous_moves_only=False,
    critic_input="obs",
    description="independent PPO, critic on the agent's own observation",
    league=True,
    comm=True,
    shared_encoder=True,
)
