"""Actor-critic RLModule for MAPPO and IPPO.

The actor reads the agent's own observation (``obs``, plus the one-hot
``agent_id`` when the env adds it) and never the global state. The critic reads

* ``state`` (MAPPO: a centralized value function on the global state),
* ``state+obs`` (MAPPO with an agent-specific global state), or
* ``obs`` (IPPO: a decentralized critic),

plus the agent id when present. The critic has encoders of its own unless
``share_encoder`` is set: then it reads the actor's observation encoder (for
frames one CNN, trained by both losses, as in single-agent PPO on Atari). An
optional GRU makes the actor recurrent for partially observable tasks (the
critic stays feed-forward on its input). With
a ``comm`` setting the actor's first layer is a communication block
(``rllib_marl.policies.comm``: CommNet or TarMAC messages between the agents of
a team) in place of the plain observation encoder. Value
normalization (``value_normalization``) keeps running statistics of the value
targets in the module; ``compute_values`` returns values in reward units.

Observations are the Dict spaces built by ``rllib_marl.envs.adapter``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.apis import InferenceOnlyAPI, ValueFunctionAPI
from ray.rllib.core.rl_module.torch import TorchRLModule
from ray.rllib.utils.annotations import override
from torch import nn

from rllib_marl.envs.adapter import ACTION_MASK, AGENT_ID, OBS, STATE
from rllib_marl.envs.observations import COMM_KEYS, COMM_LINKS, COMM_SELF, TEAM_OBS, actor_keys
from rllib_marl.policies import defaults
from rllib_marl.policies.comm import comm_block
from rllib_marl.policies.defaults import cnn_spec
from rllib_marl.policies.nets import GRU, ObsEncoder, RunningMeanStd, mlp

CRITIC_INPUTS = ("state", "state+obs", "obs")
# Logit given to masked actions: far below any real logit, finite in fp32.
MASKED_LOGIT = -1e9

DEFAULT_MODEL_CONFIG: Dict[str, Any] = defaults.ACTOR_CRITIC


def _flat_dim(space: spaces.Box) -> int:
    return int(np.prod(space.shape))


class ActorCriticModule(TorchRLModule, ValueFunctionAPI, InferenceOnlyAPI):
    """Decentralized actor, centralized or local critic (see module docstring)."""

    @override(TorchRLModule)
    def setup(self):
        cfg = {**DEFAULT_MODEL_CONFIG, **(self.model_config or {})}
        self._cfg = cfg
        obs_space = self.observation_space
        if not isinstance(obs_space, spaces.Dict) or OBS not in obs_space.spaces:
            raise ValueError(
                "ActorCriticModule needs the Dict observations of rllib_marl.envs "
                f"(keys obs/state/agent_id/action_mask), got {obs_space}"
            )
        crit = cfg["critic_input"]
        if crit not in CRITIC_INPUTS:
            raise ValueError(f"model.critic_input: {crit!r} not in {CRITIC_INPUTS}")
        if crit != "obs" and STATE not in obs_space.spaces:
            raise ValueError(
                f"model.critic_input={crit!r} needs a global state; the env was built "
                "with global_state: none"
            )
        self._has_id = AGENT_ID in obs_space.spaces
        self._has_mask = ACTION_MASK in obs_space.spaces
        cnn = cnn_spec(cfg)
        id_dim = _flat_dim(obs_space[AGENT_ID]) if self._has_id else 0
        hidden: List[int] = list(cfg["hidden"])
        actor_hidden = hidden
        self.comm = None
        if cfg.get("comm"):
            if TEAM_OBS not in obs_space.spaces:
                raise ValueError("model.comm needs the env's communication keys (env.comm: true, set by "
                                 "the experiment's comm block)")
            # The first hidden layer encodes each member's entry; messages follow.
            self.comm = comm_block(cfg, obs_space[TEAM_OBS].shape[-1], hidden[0], cfg["activation"])
            actor_in, actor_hidden = self.comm.out_dim, hidden[1:]
        else:
            self.obs_encoder = ObsEncoder(obs_space[OBS], cnn)
            actor_in = self.obs_encoder.out_dim + id_dim

        act = self.action_space
        if isinstance(act, spaces.Discrete):
            n_out = int(act.n)
            self._continuous = False
        elif isinstance(act, spaces.Box) and len(act.shape) == 1:
            n_out = int(act.shape[0])
            self._continuous = True
            self.log_std = nn.Parameter(torch.full((n_out,), -0.5))
        else:
            raise ValueError(
                f"ActorCriticModule supports Discrete and 1-D Box actions, got {act}"
            )

        self._use_gru = bool(cfg["use_gru"])
        if self._use_gru:
            gh = int(cfg["gru_hidden"])
            self.actor_encoder = mlp(actor_in, actor_hidden, cfg["activation"])
            self.gru = GRU(actor_hidden[-1] if actor_hidden else actor_in, gh, batch_first=True)
            self.pi = mlp(gh, [], out_dim=n_out, out_gain=0.01)
        else:
            self.pi = mlp(actor_in, actor_hidden, cfg["activation"], out_dim=n_out, out_gain=0.01)
        self.value_norm = None
        # model.share_encoder: the critic reads the actor's observation encoder.
        self._shared_encoder = bool(cfg.get("share_encoder")) and crit != "state" and self.comm is None
        if not self.inference_only:
            # The critic's own encoders (an image CNN is shared with the actor
            # only with share_encoder).
            critic_in = id_dim
            if crit in ("state", "state+obs"):
                self.critic_state_encoder = ObsEncoder(obs_space[STATE], cnn)
                critic_in += self.critic_state_encoder.out_dim
            if crit in ("state+obs", "obs"):
                if self._shared_encoder:
                    critic_in += self.obs_encoder.out_dim
                else:
                    self.critic_obs_encoder = ObsEncoder(obs_space[OBS], cnn)
                    critic_in += self.critic_obs_encoder.out_dim
            self.critic = mlp(critic_in, hidden, cfg["activation"], out_dim=1, out_gain=1.0)
            self.value_norm = RunningMeanStd() if cfg["value_normalization"] else None

    def set_constant_logits(self, logits) -> None:
        """Makes the actor play one fixed (mixed) strategy whatever it observes:
        the output layer's weights are zeroed and its bias set to ``logits``
        (discrete actions). A known starting point for tests and benchmarks (e.g.
        rock-paper-scissors learning from a biased policy); training moves on from it."""
        if self._continuous:
            raise ValueError("set_constant_logits: discrete actions only")
        head = [m for m in self.pi.modules() if isinstance(m, torch.nn.Linear)][-1]
        with torch.no_grad():
            head.weight.zero_()
            head.bias.copy_(torch.as_tensor(logits, dtype=head.bias.dtype))

    # ----- inputs -----------------------------------------------------------------

    def _actor_input(self, obs: Dict[str, torch.Tensor], record_stats: bool = False) -> torch.Tensor:
        if self.comm is not None:
            return self.comm(obs[TEAM_OBS], obs[COMM_LINKS], obs[COMM_SELF], record_stats=record_stats)
        x = self.obs_encoder(obs[OBS])
        if self._has_id:
            x = torch.cat([x, obs[AGENT_ID]], dim=-1)
        return x

    def _critic_input(self, obs: Dict[str, torch.Tensor]) -> torch.Tensor:
        crit = self._cfg["critic_input"]
        parts = []
        if crit in ("state", "state+obs"):
            parts.append(self.critic_state_encoder(obs[STATE]))
        if crit in ("state+obs", "obs"):
            enc = self.obs_encoder if self._shared_encoder else self.critic_obs_encoder
            parts.append(enc(obs[OBS]))
        if self._has_id:
            parts.append(obs[AGENT_ID])
        return torch.cat(parts, dim=-1)

    # ----- forward passes ---------------------------------------------------------

    @override(TorchRLModule)
    def get_initial_state(self) -> Dict[str, np.ndarray]:
        if not self._use_gru:
            return {}
        return {"h": np.zeros(int(self._cfg["gru_hidden"]), np.float32)}

    def _pi(self, batch: Dict[str, Any], record_stats: bool = False) -> Dict[str, Any]:
        obs = batch[Columns.OBS]
        x = self._actor_input(obs, record_stats)
        out: Dict[str, Any] = {}
        if self._use_gru:
            h0 = batch[Columns.STATE_IN]["h"].unsqueeze(0)
            z, h = self.gru(self.actor_encoder(x), h0)
            out[Columns.STATE_OUT] = {"h": h.squeeze(0)}
            logits = self.pi(z)
        else:
            logits = self.pi(x)
        if self._continuous:
            log_std = self.log_std.expand_as(logits)
            logits = torch.cat([logits, log_std], dim=-1)
        elif self._has_mask:
            logits = logits.masked_fill(obs[ACTION_MASK] < 0.5, MASKED_LOGIT)
        out[Columns.ACTION_DIST_INPUTS] = logits
        return out

    @override(TorchRLModule)
    def _forward(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        return self._pi(batch)

    @override(TorchRLModule)
    def _forward_train(self, batch: Dict[str, Any], **kwargs) -> Dict[str, Any]:
        # Message statistics are kept from training passes (the learner logs them).
        return self._pi(batch, record_stats=True)

    def compute_normalized_values(self, batch: Dict[str, Any]) -> torch.Tensor:
        """The raw value head (normalized units when value normalization is on)."""
        return self.critic(self._critic_input(batch[Columns.OBS])).squeeze(-1)

    @override(ValueFunctionAPI)
    def compute_values(self, batch: Dict[str, Any], embeddings: Optional[Any] = None):
        v = self.compute_normalized_values(batch)
        if self.value_norm is not None:
            v = self.value_norm.denormalize(v)
        return v

    def critic_input_keys(self) -> List[str]:
        """The observation keys the critic reads (``critic_input``, plus the agent id
        where the env adds it)."""
        crit = self._cfg["critic_input"]
        keys = ([STATE] if crit in ("state", "state+obs") else []) + ([OBS] if crit in ("state+obs", "obs") else [])
        return keys + ([AGENT_ID] if self._has_id else [])

    def actor_input_keys(self) -> List[str]:
        """The observation keys the actor reads, in the order of ``actor_keys``."""
        keys = actor_keys(self.observation_space)
        if self.comm is None:
            return keys
        return [k for k in keys if k in COMM_KEYS or k == ACTION_MASK]

    def comm_stats(self) -> Dict[str, torch.Tensor]:
        """Message statistics of the last training pass (empty without communication)."""
        return dict(self.comm.last_stats) if self.comm is not None else {}

    @override(InferenceOnlyAPI)
    def get_non_inference_attributes(self) -> List[str]:
        return ["critic", "value_norm", "critic_state_encoder", "critic_obs_encoder"]
