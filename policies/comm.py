"""Learned communication between the agents of a team: CommNet and TarMAC.

Every agent of a team runs the same module (one module per team, see
``rllib_marl.config``), and each agent's observation carries its team's
inputs (``rllib_marl.envs.observations.comm_inputs``):

* ``team_obs`` (G, D): every member's own observation (zeros for members that
  are absent this step), in the team's fixed order;
* ``comm_links`` (G, G): ``links[r, s] = 1`` when member ``r`` hears member
  ``s`` in this env step (``s`` present, ``s != r``, the message not dropped);
* ``comm_self`` (G,): the one-hot position of the agent itself.

One agent's forward pass computes what every member would send from that
member's observation alone, runs the rounds of exchange over the links, and
keeps its own row. The row's action therefore depends on its own observation
and, through messages only, on what the others send: cutting every link into
it (message dropout 1.0) leaves its own observation as the only input. Each
member's message encoder is the team's shared one, so the gradient of one
agent's loss reaches the encoder through the other agents' messages.

* CommNet (Sukhbaatar et al., 2016): a member receives the mean of the
  messages of the members it hears.
* TarMAC (Das et al., 2019): a member receives an attention-weighted sum of
  the values of the members it hears, with weights from the softmax of its
  query against their signatures (keys); the weights of a member sum to 1
  over the members it hears and are 0 when it hears none.

Messages are computed from the senders' current observations (a recurrent
actor keeps its memory after the exchange), so a message does not carry the
sender's memory.
"""

from __future__ import annotations

import math
from typing import Dict, List, Tuple

import torch
from torch import nn

from rllib_marl.policies.defaults import COMM_TYPES
from rllib_marl.policies.nets import ACTIVATIONS, mlp


class _Round(nn.Module):
    """One exchange: ``h' = h + act(W [h, received])``."""

    def __init__(self, hidden: int, message_size: int, activation: str):
        super().__init__()
        self.update = mlp(hidden + message_size, [], out_dim=hidden, out_gain=1.0)
        self.act = ACTIVATIONS[activation]()

    def received(self, h: torch.Tensor, links: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def forward(self, h: torch.Tensor, links: torch.Tensor):
        c, weights = self.received(h, links)
        return h + self.act(self.update(torch.cat([h, c], dim=-1))), c, weights


class CommNetRound(_Round):
    def __init__(self, hidden: int, message_size: int, activation: str):
        super().__init__(hidden, message_size, activation)
        self.message = nn.Linear(hidden, message_size)

    def received(self, h, links):
        m = self.message(h)  # (..., G, M): what each member sends
        n = links.sum(-1, keepdim=True)
        weights = links / n.clamp(min=1.0)  # mean over the members heard; 0 rows when none
        return weights @ m, weights


class TarMACRound(_Round):
    def __init__(self, hidden: int, message_size: int, activation: str, key_size: int = 16):
        super().__init__(hidden, message_size, activation)
        self.key = nn.Linear(hidden, key_size)  # the sender's signature
        self.query = nn.Linear(hidden, key_size)
        self.value = nn.Linear(hidden, message_size)
        self.scale = 1.0 / math.sqrt(key_size)

    def received(self, h, links):
        scores = (self.query(h) @ self.key(h).transpose(-1, -2)) * self.scale  # (..., G receivers, G senders)
        heard = links > 0.5
        # Senders not heard get a weight of exactly 0 (exp of a huge negative
        # number); a receiver that hears nobody gets an all-zero row.
        weights = torch.softmax(scores.masked_fill(~heard, -1e9), dim=-1) * heard
        return weights @ self.value(h), weights


class CommBlock(nn.Module):
    """Encoder, ``rounds`` exchanges, and the agent's own row of the result.

    Args:
        in_dim: size of one member's entry in ``team_obs``.
        hidden: size of a member's hidden state.
        kind: ``commnet`` or ``tarmac``.
        rounds: exchanges per env step.
        message_size: size of a message (TarMAC: of a value).
    """

    def __init__(self, in_dim: int, hidden: int, kind: str, rounds: int, message_size: int,
                 activation: str = "tanh", log_stats: bool = True):
        super().__init__()
        self.log_stats = log_stats
        if kind not in COMM_TYPES:
            raise ValueError(f"comm.type: {kind!r} not in {COMM_TYPES}")
        self.kind = kind
        self.encode = mlp(in_dim, [hidden], activation)
        cls = CommNetRound if kind == "commnet" else TarMACRound
        self.rounds = nn.ModuleList([cls(hidden, message_size, activation) for _ in range(rounds)])
        self.out_dim = hidden
        self.last_stats: Dict[str, torch.Tensor] = {}

    def exchange(self, team_obs: torch.Tensor, links: torch.Tensor) -> Tuple[torch.Tensor, List[dict]]:
        """Every member's final hidden state ``(..., G, H)`` and, per round,
        the messages received and the weights (receiver x sender) used."""
        h = self.encode(team_obs.float())
        trace = []
        for rnd in self.rounds:
            h, c, w = rnd(h, links)
            trace.append({"received": c, "weights": w})
        return h, trace

    def forward(self, team_obs: torch.Tensor, links: torch.Tensor, self_onehot: torch.Tensor,
                record_stats: bool = False) -> torch.Tensor:
        h, trace = self.exchange(team_obs, links)
        if record_stats and self.log_stats:
            self.last_stats = self._stats(links, self_onehot, trace)
        return (h * self_onehot.unsqueeze(-1)).sum(-2)

    @torch.no_grad()
    def _stats(self, links, self_onehot, trace) -> Dict[str, torch.Tensor]:
        """Message statistics of the agents' own rows: how many members each
        heard, the size of what it received, and (TarMAC) the entropy of its
        attention over the members it heard (0 = listens to one, log k =
        uniform over k)."""
        own = self_onehot.unsqueeze(-1)  # (..., G, 1)
        heard = (links * own).sum(-2).sum(-1)  # (...)
        stats = {"comm_senders_heard": heard.float().mean()}
        c = (trace[-1]["received"] * own).sum(-2)
        stats["comm_message_norm"] = c.norm(dim=-1).mean()
        if self.kind == "tarmac":
            w = (trace[-1]["weights"] * own).sum(-2)
            ent = -(w * torch.log(w.clamp(min=1e-12))).sum(-1)
            # Over the rows that heard someone (0 when none did).
            stats["comm_attention_entropy"] = ent[heard > 0].mean() if bool((heard > 0).any()) else ent.new_zeros(())
        return stats


def comm_block(model_config: dict, in_dim: int, hidden: int, activation: str) -> CommBlock:
    """The module's communication block from ``model_config["comm"]``."""
    comm = model_config["comm"]
    return CommBlock(in_dim, hidden, comm["type"], int(comm["rounds"]), int(comm["message_size"]), activation,
                     bool(comm.get("log_stats", True)))
