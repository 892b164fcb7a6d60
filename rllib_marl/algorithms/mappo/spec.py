"""MAPPO / IPPO: the ``training:`` block, the ``comm:`` block (defaults written once) and the specs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from rllib_marl.algorithms.spec import CONTINUOUS, DISCRETE, AlgorithmSpec
from rllib_marl.lazy import deferred
from rllib_marl.policies.defaults import COMM_TYPES
from rllib_marl.schema import bounded, choices


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

    lr: float = bounded(5e-4, gt=0)
    lr_end: Optional[float] = bounded(None, gt=0)
    lr_decay_env_steps: int = bounded(1_000_000, ge=1)
    gamma: float = bounded(0.99, ge=0, le=1)
    lambda_: float = bounded(0.95, ge=0, le=1)
    clip_param: float = bounded(0.2, gt=0)
    num_epochs: int = bounded(10, ge=1)
    minibatch_size: int = bounded(1000, ge=1)
    train_batch_size: int = bounded(4000, ge=1)
    entropy_coeff: float = bounded(0.01, ge=0)
    vf_loss_coeff: float = bounded(1.0, ge=0)
    vf_clip_param: float = bounded(10.0, gt=0)
    grad_clip: Optional[float] = bounded(10.0, gt=0)
    use_kl_loss: bool = False
    kl_coeff: float = bounded(0.0, ge=0)
    kl_target: float = bounded(0.01, gt=0)


@dataclass
class CommConfig:
    """Learned communication between the agents of each team (``env.teams``):
    differentiable messages trained end to end with the policy
    (rllib_marl/policies/comm.py). Every team must be played by one module.

    Attributes:
        type: ``commnet`` (mean of the others' messages) or ``tarmac``
            (targeted messages: signature-query attention over the senders).
        rounds: exchanges per env step.
        message_size: size of a message (TarMAC: of the value part).
        dropout: probability that one message (one sender to one receiver) is
            lost in an env step, during training.
        eval_dropout: the same during evaluation episodes (``evaluate
            --comm-dropout`` sets it after training).
        log_stats: log message statistics in progress.csv (how many senders an
            agent heard, the size of what it received, TarMAC's attention entropy).
    """

    type: str = choices(*COMM_TYPES, default="tarmac")
    rounds: int = bounded(2, ge=1)
    message_size: int = bounded(32, ge=1)
    dropout: float = bounded(0.0, ge=0, le=1)
    eval_dropout: float = bounded(0.0, ge=0, le=1)
    log_stats: bool = True


PPO_SMOKE = {"train_batch_size": 200, "minibatch_size": 100, "num_epochs": 1}

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
    batched_sampling=True,
    smoke_training=PPO_SMOKE,
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
    batched_sampling=True,
    smoke_training=PPO_SMOKE,
)
