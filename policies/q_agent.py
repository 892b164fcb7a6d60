"""Agent Q-network for QMIX / VDN / IQL, and the learner-only mixer module.

:class:`QAgentModule` maps an agent's own observation (plus the one-hot agent
id, when the env adds it) to Q-values over its discrete actions: MLP encoder,
then a GRU (default) or nothing, then a linear Q head. One module is shared by
all agents (the agent id tells them apart), so an env runner evaluates every
agent of every sub-env in one batched forward pass.

Acting:

* ``forward_inference``: greedy over the allowed actions;
* ``forward_exploration(batch, t)``: epsilon-greedy, epsilon decaying linearly
  from ``epsilon_start`` to ``epsilon_end`` over ``epsilon_timesteps`` env steps
  (``t`` = the env runner's global env-step count); the random action is drawn
  among the allowed actions only.

Both emit ``actions`` directly (no action distribution), plus the GRU state.

:class:`MixerModule` wraps :mod:`rllib_marl.policies.mixers` as an RLModule that
only exists on learners (``learner_only=True``), with its own target copy.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.utils import make_target_network
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, TargetNetworkAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rllib_marl.envs.adapter import ACTION_MASK, AGENT_ID, OBS, STATE
from rllib_marl.policies import defaults
from rllib_marl.policies.mixers import QMixer, VDNMixer
from rllib_marl.policies.defaults import cnn_spec
from rllib_marl.policies.nets import GRU, ObsEncoder, mlp

Q_VALUES = "q_values"
MASKED_Q = -1e9

DEFAULT_Q_CONFIG: Dict[str, Any] = defaults.Q_AGENT


def epsilon_at(t: float, start: float, end: float, timesteps: int) -> float:
    """Linear schedule from ``start`` (t=0) to ``end`` (t >= timesteps)."""
    if timesteps <= 0:
        return end
    frac = min(max(t / timesteps, 0.0), 1.0)
    return start + frac * (end - start)


class _QNet(nn.Module):
    """Observation encoder (a CNN for frames) + MLP (+ GRU) + Q head; the target
    network is a copy of all of it. Input ``[B, T, ...]`` (GRU) or ``[..., obs]``."""

    def __init__(self, obs_space, cnn, id_dim: int, n_actions: int, hidden: List[int], activation: str,
                 use_gru: bool, gru_hidden: int):
        super().__init__()
        self.use_gru = use_gru
        self.obs_encoder = ObsEncoder(obs_space, cnn)
        in_dim = self.obs_encoder.out_dim + id_dim
        self.encoder = mlp(in_dim, hidden, activation)
        enc_out = hidden[-1] if hidden else in_dim
        if use_gru:
            self.gru = GRU(enc_out, gru_hidden, batch_first=True)
            self.head = nn.Linear(gru_hidden, n_actions)
        else:
            self.head = nn.Linear(enc_out, n_actions)

    def forward(self, obs: torch.Tensor, agent_id: torch.Tensor | None,
                h: torch.Tensor | None = None) -> Tuple[torch.Tensor, Any]:
        x = self.obs_encoder(obs)
        if agent_id is not None:
            x = torch.cat([x, agent_id], dim=-1)
        z = self.encoder(x)
        if self.use_gru:
            z, h_out = self.gru(z, h.unsqueeze(0))
            return self.head(z), h_out.squeeze(0)
        return self.head(z), None


class QAgentModule(TorchRLModule, TargetNetworkAPI, InferenceOnlyAPI):
    """Shared agent Q-network (see module docstring)."""

    @override(TorchRLModule)
    def setup(self):
        cfg = {**DEFAULT_Q_CONFIG, **(self.model_config or {})}
        self._cfg = cfg
        obs_space, act_space = self.observation_space, self.action_space
        if not isinstance(obs_space, spaces.Dict) or OBS not in obs_space.spaces:
            raise ValueError(f"QAgentModule needs the Dict observations of rllib_marl.envs, got {obs_space}")
        if not isinstance(act_space, spaces.Discrete):
            raise ValueError(f"QAgentModule needs Discrete actions, got {act_space}")
        self._has_id = AGENT_ID in obs_space.spaces
        self._has_mask = ACTION_MASK in obs_space.spaces
        id_dim = int(np.prod(obs_space[AGENT_ID].shape)) if self._has_id else 0
        self.n_actions = int(act_space.n)
        self.q_net = _QNet(obs_space[OBS], cnn_spec(cfg), id_dim, self.n_actions, list(cfg["hidden"]),
                           cfg["activation"], bool(cfg["use_gru"]), int(cfg["gru_hidden"]))

    # ----- inputs and Q-values ----------------------------------------------------

    def _q(self, net: _QNet, batch: Dict[str, Any]) -> Tuple[torch.Tensor, Any]:
        obs = batch[Columns.OBS]
        agent_id = obs[AGENT_ID] if self._has_id else None
        h = None
        if self.q_net.use_gru:
            state_in = batch.get(Columns.STATE_IN)
            if state_in is None:  # sequences that start an episode: zero state
                lead = agent_id.shape[0] if agent_id is not None else obs[OBS].shape[0]
                h = torch.zeros(lead, int(self._cfg["gru_hidden"]), device=obs[OBS].device)
            else:
                h = state_in["h"]
        return net(obs[OBS], agent_id, h)

    def masked(self, q: torch.Tensor, obs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """Q-values with unavailable actions set to a very low value."""
        if not self._has_mask:
            return q
        return q.masked_fill(obs[ACTION_MASK] < 0.5, MASKED_Q)

    @override(TorchRLModule)
    def get_initial_state(self) -> Dict[str, np.ndarray]:
        if not self._cfg["use_gru"]:
            return {}
        return {"h": np.zeros(int(self._cfg["gru_hidden"]), np.float32)}

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        q, h = self._q(self.q_net, batch)
        out = {Q_VALUES: q}
        if h is not None:
            out[Columns.STATE_OUT] = {"h": h}
        return out

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        q, _ = self._q(self._target_q_net, batch)
        return {Q_VALUES: q}

    # ----- acting -----------------------------------------------------------------

    def _act(self, batch: Dict[str, Any], epsilon: float) -> Dict[str, Any]:
        with torch.no_grad():
            out = self._forward_train(batch)
            q = self.masked(out.pop(Q_VALUES), batch[Columns.OBS])
            actions = q.argmax(dim=-1)
            if epsilon > 0.0:
                allowed = (q > MASKED_Q / 2).float()
                random_actions = torch.multinomial(allowed.reshape(-1, self.n_actions), 1)
                random_actions = random_actions.reshape(actions.shape)
                explore = torch.rand(actions.shape, device=q.device) < epsilon
                actions = torch.where(explore, random_actions, actions)
        out[Columns.ACTIONS] = actions
        return out

    @override(TorchRLModule)
    def _forward_inference(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return self._act(batch, 0.0)

    @override(TorchRLModule)
    def _forward_exploration(self, batch: Dict[str, Any], t: int = 0, **kwargs) -> Dict[str, Any]:
        c = self._cfg
        return self._act(batch, epsilon_at(t, c["epsilon_start"], c["epsilon_end"], c["epsilon_timesteps"]))

    # ----- target network ---------------------------------------------------------

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_q_net = make_target_network(self.q_net)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        return [(self.q_net, self._target_q_net)]

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return ["_target_q_net"]


MIXER_INPUT_QS = "agent_qs"
MIXER_INPUT_STATE = "state"
Q_TOT = "q_tot"


class MixerModule(TorchRLModule, TargetNetworkAPI):
    """Learner-only RLModule around a mixer (``model_config["mixer"]``: qmix | vdn).

    ``model_config``: ``mixer``, ``n_agents``, ``embed_dim``, ``hypernet_layers``,
    ``hypernet_embed``; the state size comes from the observation space's
    ``state`` entry.
    """

    @override(TorchRLModule)
    def setup(self):
        cfg = dict(self.model_config or {})
        kind = cfg.get("mixer", "qmix")
        has_state = isinstance(self.observation_space, spaces.Dict) and STATE in self.observation_space.spaces
        self._state_ndim = len(self.observation_space[STATE].shape) if has_state else 1
        if kind == "qmix":
            if not isinstance(self.observation_space, spaces.Dict) or STATE not in self.observation_space.spaces:
                raise ValueError("the qmix mixer needs a global state (env.global_state must not be none)")
            state_dim = int(np.prod(self.observation_space[STATE].shape))
            self.mixer = QMixer(int(cfg["n_agents"]), state_dim, int(cfg.get("embed_dim", 32)),
                                int(cfg.get("hypernet_layers", 2)), int(cfg.get("hypernet_embed", 64)))
        elif kind == "vdn":
            self.mixer = VDNMixer()
        else:
            raise ValueError(f"mixer must be qmix or vdn, got {kind!r}")

    def _state(self, batch: Dict[str, Any]):
        """The global state as the mixer's flat float input (frames scaled from uint8)."""
        s = batch.get(MIXER_INPUT_STATE)
        if s is None or self._state_ndim <= 1:
            return s
        if s.dtype == torch.uint8:
            s = s.float() / 255.0
        return s.reshape(*s.shape[: s.dim() - self._state_ndim], -1)

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return {Q_TOT: self.mixer(batch[MIXER_INPUT_QS], self._state(batch))}

    @override(TargetNetworkAPI)
    def forward_target(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return {Q_TOT: self._target_mixer(batch[MIXER_INPUT_QS], self._state(batch))}

    @override(TargetNetworkAPI)
    def make_target_networks(self) -> None:
        self._target_mixer = make_target_network(self.mixer)

    @override(TargetNetworkAPI)
    def get_target_network_pairs(self):
        return [(self.mixer, self._target_mixer)]
