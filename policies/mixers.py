"""Value-decomposition mixers: ``Q_tot = f(Q_1, ..., Q_n, state)``.

Plain ``nn.Module``s with explicit constructor arguments.

* :class:`VDNMixer` (Sunehag et al., 2018): ``Q_tot = sum_i Q_i``.
* :class:`QMixer` (Rashid et al., 2018): a two-layer mixing network whose weights
  come from hypernetworks over the global state. The mixing weights pass through
  ``abs`` so they are non-negative, which makes ``Q_tot`` monotonic in every
  ``Q_i``: the greedy joint action is the per-agent greedy actions. Biases are
  unconstrained. ``monotonic=False`` drops the ``abs`` (only for tests that show
  the constraint is what makes the mixer monotonic).

Inputs ``agent_qs`` ``[..., n_agents]`` (the chosen actions' Q values) and
``state`` ``[..., state_dim]``; output ``[...]``. Agents that are not alive
are masked by the caller (their Q set to 0 before mixing).
"""

from __future__ import annotations

import torch
from torch import nn

MIXERS = ("qmix", "vdn", "none")


class VDNMixer(nn.Module):
    """``Q_tot = sum_i Q_i`` (no parameters; the state is ignored)."""

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor | None = None) -> torch.Tensor:
        return agent_qs.sum(dim=-1)


class QMixer(nn.Module):
    """Monotonic hypernetwork mixer.

    Args:
        n_agents: number of agents mixed (the last dim of ``agent_qs``).
        state_dim: size of the flat global state.
        embed_dim: width of the mixing network's hidden layer.
        hypernet_layers: 1 = linear hypernetworks; 2 = one hidden layer of
            ``hypernet_embed`` units with ReLU.
        hypernet_embed: hidden width of 2-layer hypernetworks.
        monotonic: keep the mixing weights non-negative (``abs``).
    """

    def __init__(self, n_agents: int, state_dim: int, embed_dim: int = 32,
                 hypernet_layers: int = 2, hypernet_embed: int = 64, monotonic: bool = True):
        super().__init__()
        if hypernet_layers not in (1, 2):
            raise ValueError(f"hypernet_layers must be 1 or 2, got {hypernet_layers}")
        self.n_agents = n_agents
        self.embed_dim = embed_dim
        self.monotonic = monotonic

        def hyper(out_dim: int) -> nn.Module:
            if hypernet_layers == 1:
                return nn.Linear(state_dim, out_dim)
            return nn.Sequential(nn.Linear(state_dim, hypernet_embed), nn.ReLU(),
                                 nn.Linear(hypernet_embed, out_dim))

        self.hyper_w1 = hyper(n_agents * embed_dim)
        self.hyper_w2 = hyper(embed_dim)
        self.hyper_b1 = nn.Linear(state_dim, embed_dim)
        # The final bias is a small state-value network: V(s).
        self.hyper_b2 = nn.Sequential(nn.Linear(state_dim, embed_dim), nn.ReLU(),
                                      nn.Linear(embed_dim, 1))

    def _weight(self, w: torch.Tensor) -> torch.Tensor:
        return torch.abs(w) if self.monotonic else w

    def forward(self, agent_qs: torch.Tensor, state: torch.Tensor) -> torch.Tensor:
        lead = agent_qs.shape[:-1]
        qs = agent_qs.reshape(-1, 1, self.n_agents)
        s = state.reshape(-1, state.shape[-1])
        w1 = self._weight(self.hyper_w1(s)).view(-1, self.n_agents, self.embed_dim)
        b1 = self.hyper_b1(s).view(-1, 1, self.embed_dim)
        hidden = torch.nn.functional.elu(torch.bmm(qs, w1) + b1)
        w2 = self._weight(self.hyper_w2(s)).view(-1, self.embed_dim, 1)
        b2 = self.hyper_b2(s).view(-1, 1, 1)
        q_tot = torch.bmm(hidden, w2) + b2
        return q_tot.view(*lead)
