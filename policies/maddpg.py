"""Deterministic actors and learner-only critics for MADDPG / MATD3.

:class:`DeterministicActorModule` maps an agent's own observation (plus the
one-hot agent id, when the env adds it) to an action; it never sees other
agents' observations or the global state.

* Box actions: ``tanh`` of the network output, in ``[-1, 1]`` per dimension;
  the env runner maps it onto the Box bounds (RLlib's ``normalize_actions``), so
  replay and critics see the normalized action. Exploration adds Gaussian noise
  whose standard deviation decays linearly from ``noise_std_start`` to
  ``noise_std_end`` over ``noise_timesteps`` env steps, then clips to ``[-1, 1]``.
* Discrete actions: logits over the actions (unavailable ones masked). Acting
  greedily takes the argmax; exploring samples from ``softmax(logits)`` (the
  Gumbel-max trick). In training the actor's action is a Gumbel-softmax sample
  at ``gumbel_temperature``, straight-through (one-hot forward values, soft
  gradients) or soft (:func:`gumbel_softmax`).

:class:`CriticModule` is a learner-only Q-network (two with ``twin``, for
MATD3) over an input vector the learner assembles: all agents' observations (or
the global state) and all agents' actions for a centralized critic, the agent's
own observation and action for a local one (independent DDPG). Both modules
keep target copies (RLlib's ``TargetNetworkAPI``).
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rllib_marl.envs.adapter import ACTION_MASK, AGENT_ID, OBS
from rllib_marl.policies import defaults
from rllib_marl.policies.nets import mlp
from rllib_marl.policies.q_agent import epsilon_at

# Keys of the actor's train output.
ACTOR_ACTION = "actor_action"  # differentiable action [R, A]: one-hot-like (Discrete) or [-1, 1] (Box)
ACTOR_PREACT = "actor_preact"  # network output before tanh / softmax, for the regularizer
TARGET_ACTION = "target_action"  # target actor's action [R, A] (one-hot for Discrete)
# Critic input / output.
CRITIC_IN = "critic_in"
Q1, Q2 = "q1", "q2"
MASKED_LOGIT = -1e9


class _StraightThrough(torch.autograd.Function):
    """Forward: the exact one-hot of the argmax; backward: the identity."""

    @staticmethod
    def forward(ctx, y):
        return F.one_hot(y.argmax(-1), y.shape[-1]).to(y.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def gumbel_softmax(logits: torch.Tensor, temperature: float, hard: bool,
                   generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """A Gumbel-softmax sample over the last axis.

    ``hard``: straight-through: the forward value is the one-hot of the sample's
    argmax, the gradient that of the soft sample.
    """
    u = torch.rand(logits.shape, generator=generator, device=logits.device).clamp_(1e-10, 1.0 - 1e-7)
    y = F.softmax((logits - torch.log(-torch.log(u))) / temperature, dim=-1)
    return _StraightThrough.apply(y) if hard else y


def action_size(space) -> int:
    """Width of an action in critic inputs: ``n`` (one-hot) or the Box's size."""
    if isinstance(space, spaces.Discrete):
        return int(space.n)
    return int(np.prod(space.shape))


class DeterministicActorModule(TorchRLModule, TargetNetworkAPI, InferenceOnlyAPI):
    """Actor of MADDPG / MATD3 (see module docstring)."""

    @override(TorchRLModule)
    def setup(self):
        cfg = {**defaults.DETERMINISTIC_ACTOR, **(self.model_config or {})}
        self._cfg = cfg
        obs_space, act = self.observation_space, self.action_space
        if not isinstance(obs_space, spaces.Dict) or OBS not in obs_space.spaces:
            raise ValueError(f"DeterministicActorModule needs the Dict observations of rllib_marl.envs, got {obs_space}")
        if isinstance(act, spaces.Discrete):
            self.discrete = True
        elif isinstance(act, spaces.Box) and len(act.shape) == 1:
            self.discrete = False
        else:
            raise ValueError(f"DeterministicActorModule supports Discrete and 1-D Box actions, got {act}")
        self._obs_ndim = len(obs_space[OBS].shape)
        self._has_id = AGENT_ID in obs_space.spaces
        self._has_mask = ACTION_MASK in obs_space.spaces
        in_dim = int(np.prod(obs_space[OBS].shape))
        if self._has_id:
            in_dim += int(np.prod(obs_space[AGENT_ID].shape))
        self.n_out = action_size(act)
        self.pi = mlp(in_dim, list(cfg["hidden"]), cfg["activation"], out_dim=self.n_out, out_gain=0.1)

    def _input(self, obs: Dict[str, torch.Tensor]) -> torch.Tensor:
        x = obs[OBS]
        x = x.reshape(*x.shape[: x.dim() - self._obs_ndim], -1).float()
        if self._has_id:
            x = torch.cat([x, obs[AGENT_ID]], dim=-1)
        return x

    def preact(self, net: nn.Module, obs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Network output; unavailable discrete actions get a very low logit."""
        z = net(self._input(obs))
        if self.discrete and self._has_mask:
            z = z.masked_fill(obs[ACTION_MASK] < 0.5, MASKED_LOGIT)
        return z

    def greedy(self, z: torch.Tensor) -> torch.Tensor:
        """Greedy action as a critic input: one-hot argmax, or ``tanh``."""
        if self.discrete:
            return F.one_hot(z.argmax(-1), self.n_out).to(z.dtype)
        return torch.tanh(z)

    # ----- training ---------------------------------------------------------------

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        z = self.preact(self.pi, batch[Columns.OBS])
        if self.discrete:
            a = gumbel_softmax(z, float(self._cfg["gumbel_temperature"]), bool(self._cfg.get("straight_through", True)))
            reg = z.masked_fill(z <= MASKED_LOGIT / 2, 0.0) if self._has_mask else z
        else:
            a, reg = torch.tanh(z), z
        return {ACTOR_ACTION: a, ACTOR_PREACT: reg}

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return {TARGET_ACTION: self.greedy(self.preact(self._target_pi, batch[Columns.OBS]))}

    # ----- acting -----------------------------------------------------------------

    @override(TorchRLModule)
    def _forward_inference(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        with torch.no_grad():
            z = self.preact(self.pi, batch[Columns.OBS])
            a = z.argmax(-1) if self.discrete else torch.tanh(z)
        return {Columns.ACTIONS: a}

    @override(TorchRLModule)
    def _forward_exploration(self, batch: Dict[str, Any], t: int = 0, **kwargs) -> Dict[str, Any]:
        with torch.no_grad():
            z = self.preact(self.pi, batch[Columns.OBS])
            if self.discrete:
                a = torch.distributions.Categorical(logits=z).sample()
            else:
                c = self._cfg
                std = epsilon_at(t, c["noise_std_start"], c["noise_std_end"], int(c["noise_timesteps"]))
                a = (torch.tanh(z) + std * torch.randn_like(z)).clamp(-1.0, 1.0)
        return {Columns.ACTIONS: a}

    # ----- target network ---------------------------------------------------------

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_pi = make_target_network(self.pi)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        return [(self.pi, self._target_pi)]

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return ["_target_pi"]


class CriticModule(TorchRLModule, TargetNetworkAPI):
    """Learner-only Q-network(s) over a learner-built input vector.

    ``model_config``: ``in_dim`` (input width), ``hidden``, ``activation``,
    ``twin`` (a second Q-network, MATD3).
    """

    @override(TorchRLModule)
    def setup(self):
        cfg = {**defaults.DETERMINISTIC_ACTOR, **(self.model_config or {})}
        in_dim = int(cfg["in_dim"])
        self.twin = bool(cfg.get("twin", False))
        self.q1 = mlp(in_dim, list(cfg["hidden"]), cfg["activation"], out_dim=1)
        self.q2 = mlp(in_dim, list(cfg["hidden"]), cfg["activation"], out_dim=1) if self.twin else None

    def nets(self) -> List[nn.Module]:
        return [self.q1] + ([self.q2] if self.twin else [])

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        x = batch[CRITIC_IN]
        out = {Q1: self.q1(x).squeeze(-1)}
        if self.twin:
            out[Q2] = self.q2(x).squeeze(-1)
        return out

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        """The target value: the target Q, or the minimum of the twin targets."""
        x = batch[CRITIC_IN]
        q = self._target_q1(x).squeeze(-1)
        if self.twin:
            q = torch.minimum(q, self._target_q2(x).squeeze(-1))
        return {Q1: q}

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_q1 = make_target_network(self.q1)
        self._target_q2 = make_target_network(self.q2) if self.twin else None

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        pairs = [(self.q1, self._target_q1)]
        if self.twin:
            pairs.append((self.q2, self._target_q2))
        return pairs
