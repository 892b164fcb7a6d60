"""QMIX / VDN / IQL loss on RLlib's TorchLearner.

The train batch holds, per agent module, one row per (sequence, agent of that
module): ``[B * k, T(+1), ...]`` (see :func:`to_train_batch`). RLlib's
``forward_train`` runs every agent module over its rows (GRU over the whole
window); :meth:`QMIXTorchLearner.compute_losses` puts the agents back in the
fixed order ``[B, T+1, N, A]`` and computes one joint TD loss:

    y_t = r_t + gamma * (1 - terminated_t) * Q_tot^target(s_{t+1}, argmax_a Q(o_{t+1}, a))

with double-Q action selection by the online net (``double_q``), unavailable
actions never maximized over, agents that are not alive zeroed before mixing,
padding steps masked out. ``n_step > 1`` uses n-step returns inside the window.
Target networks (agent nets and mixer) are copied every
``target_update_interval`` updates (``tau = 1``) or Polyak-averaged with ``tau``
after every update.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.optim import FusedAdamMixin
from rllib_marl.algorithms.offpolicy import replay as R
from rllib_marl.algorithms.offpolicy import batch as rows_of
from rllib_marl.algorithms.offpolicy.targets import update_targets
from rllib_marl.envs.adapter import ACTION_MASK
from rllib_marl.policies.mixers import VDNMixer
from rllib_marl.policies.q_agent import MASKED_Q, MIXER_INPUT_QS, MIXER_INPUT_STATE, Q_TOT, Q_VALUES

MIXER_MODULE = "mixer"
# Per-row columns of the train batch besides obs / state_in.
SEQ_COLUMNS = (R.ACTIONS, R.REWARD, R.TERMINATED, R.FILLED, R.ALIVE, R.ALIVE_NEXT)
STATE_SEQ = "mixer_state"


def to_train_batch(seq: Dict[str, Any], groups: Sequence[Tuple[str, Sequence[int]]],
                   obs_shapes: Dict[str, Dict[str, Tuple[int, ...]]] | None = None) -> MultiAgentBatch:
    """Sequences ``[B, T, N, ...]`` → one SampleBatch per agent module.

    Args:
        seq: output of ``JointReplayBuffer.sample_sequences``.
        groups: ``(module_id, agent indices)`` for every agent module.
        obs_shapes: per module, its observation leaves' shapes (cuts rows the
            buffer padded to a wider agent's size back to the module's own).
    """
    B, T = seq[R.REWARD].shape
    per_module = {}
    for mid, idx in groups:
        k = len(idx)

        def rows(x, agent_axis):  # [B, ..., N, ...] -> [B * k, ...] over this module's agents
            return rows_of.module_rows(x, idx, agent_axis)

        def shared(x):  # [B, ...] -> [B * k, ...]
            return rows_of.repeat_rows(x, k)

        data = {
            Columns.OBS: rows_of.module_obs(seq[R.OBS], idx, 2, (obs_shapes or {}).get(mid)),
            R.ACTIONS: rows(seq[R.ACTIONS], 2),
            R.ALIVE: rows(seq[R.ALIVE], 2),
            R.ALIVE_NEXT: rows(seq[R.ALIVE_NEXT], 2),
            R.REWARD: shared(seq[R.REWARD]),
            R.TERMINATED: shared(seq[R.TERMINATED]),
            R.FILLED: shared(seq[R.FILLED]),
        }
        if R.STATE in seq:
            data[STATE_SEQ] = shared(seq[R.STATE])
        if R.H0 in seq:  # else every window starts an episode: zero state
            data[Columns.STATE_IN] = {key: rows(v, 1) for key, v in seq[R.H0].items()}
        per_module[mid] = SampleBatch(data)
    return MultiAgentBatch(per_module, env_steps=int(seq[R.FILLED].sum()))


def td_targets(reward, terminated, q_next, filled, gamma: float, n_step: int):
    """TD targets ``[B, T, ...]``: 1-step, or n-step inside the window.

    n-step at step t: ``sum_{j<m} gamma^j r_{t+j} + gamma^m (1 - term) Q_next``
    at step ``t+m-1``, where ``m = min(n, L - t)`` and L is the number of real
    (not padding) steps in the window; an episode's end is never crossed.
    """
    n = int(n_step)
    extra = q_next.dim() - 2  # IQL carries an agent axis

    def at(x, idx):  # x [B, T, ...] at per-(b, t) step indices idx [B, T]
        i = idx.view(*idx.shape, *([1] * (x.dim() - 2))).expand(*idx.shape, *x.shape[2:])
        return x.gather(1, i)

    if n <= 1:
        return reward + gamma * (1.0 - terminated) * q_next
    B, T = reward.shape[:2]
    t = torch.arange(T, device=reward.device).unsqueeze(0)  # [1, T]
    L = filled[..., 0] if filled.dim() > 2 else filled
    L = L.sum(1, keepdim=True).long()  # [B, 1]
    m = (L - t).clamp(min=1, max=n)  # [B, T]
    ret = torch.zeros_like(q_next)
    for j in range(n):
        s = (t + j).clamp(max=T - 1).expand(B, T)
        w = (j < m).float() * gamma ** j
        ret = ret + w.view(B, T, *([1] * extra)) * at(reward, s)
    last = t + m - 1
    disc = (gamma ** m.float()).view(B, T, *([1] * extra))
    return ret + disc * (1.0 - at(terminated, last)) * at(q_next, last)


def joint_td_loss(*, q, q_target, actions, alive, alive_next, avail, reward, terminated, filled,
                  mix, target_mix, gamma: float, n_step: int, double_q: bool):
    """The QMIX / VDN / IQL TD loss on aligned tensors.

    Args:
        q, q_target: online / target Q-values ``[B, T+1, N, A]`` (steps t .. t+T).
        actions: taken actions ``[B, T, N]``.
        alive: 1 where the agent acted at step t ``[B, T, N]``.
        alive_next: 1 where the agent's value at t+1 enters the target ``[B, T, N]``.
        avail: action masks ``[B, T+1, N, A]`` (1 = allowed) or None.
        reward, terminated, filled: ``[B, T]`` team reward, termination, real-step mask.
        mix, target_mix: ``[B, T, N] -> [B, T]`` mixers (online / target), or None
            for independent Q-learning (one TD error per agent).

    Returns:
        ``(loss, stats)``; padding steps and agents that are not alive carry no
        weight, and unavailable actions are never maximized over in the target.
    """
    q_taken = q[:, :-1].gather(-1, actions.unsqueeze(-1)).squeeze(-1) * alive  # [B, T, N]
    with torch.no_grad():
        q_next_online, q_tgt_next = q[:, 1:].detach(), q_target[:, 1:]
        if avail is not None:
            blocked = avail[:, 1:] < 0.5
            q_next_online = q_next_online.masked_fill(blocked, MASKED_Q)
            q_tgt_next = q_tgt_next.masked_fill(blocked, MASKED_Q)
        if double_q:
            q_next = q_tgt_next.gather(-1, q_next_online.argmax(-1, keepdim=True)).squeeze(-1)
        else:
            q_next = q_tgt_next.max(-1).values
        q_next = q_next * alive_next  # dead or terminated agents contribute 0
    if mix is None:  # IQL: every agent learns from the team reward
        with torch.no_grad():
            target = td_targets(reward.unsqueeze(-1), terminated.unsqueeze(-1), q_next,
                                filled.unsqueeze(-1), gamma, n_step)
        weights = alive * filled.unsqueeze(-1)
        pred = q_taken
    else:
        pred = mix(q_taken)
        with torch.no_grad():
            target = td_targets(reward, terminated, target_mix(q_next), filled, gamma, n_step)
        weights = filled
    td = (pred - target) * weights
    n = weights.sum().clamp(min=1.0)
    loss = (td ** 2).sum() / n
    stats = {
        "q_taken_mean": ((pred * weights).sum() / n).item(),
        "target_mean": ((target * weights).sum() / n).item(),
        "td_error_abs": (td.abs().sum() / n).item(),
    }
    return loss, stats


class QMIXTorchLearner(FusedAdamMixin, TorchLearner):
    """Joint TD loss over all agents (see module docstring)."""

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        self.module.foreach_module(
            lambda mid, mod: mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
        )
        self._num_updates = 0
        self._vdn = VDNMixer()

    @override(TorchLearner)
    def compute_losses(self, *, fwd_out: Dict[str, Any], batch: Dict[str, Any]) -> Dict[str, Any]:
        cfg = self.config
        groups: List[Tuple[str, List[int]]] = cfg.agent_groups
        n_agents = sum(len(idx) for _, idx in groups)
        first = batch[groups[0][0]]
        k0 = len(groups[0][1])
        B = first[R.REWARD].shape[0] // k0

        def agents_axis(x: torch.Tensor, k: int) -> torch.Tensor:  # [B*k, T, ...] -> [B, T, k, ...]
            return rows_of.agents_axis(x, B, k, axis=2)

        q_parts, q_tgt_parts, cols = [], [], {}
        for mid, idx in groups:
            k = len(idx)
            q_parts.append(agents_axis(fwd_out[mid][Q_VALUES], k))
            with torch.no_grad():
                tgt = self.module[mid].unwrapped().forward_target(batch[mid])[Q_VALUES]
            q_tgt_parts.append(agents_axis(tgt, k))
            for key in (R.ACTIONS, R.ALIVE, R.ALIVE_NEXT):
                cols.setdefault(key, []).append(agents_axis(batch[mid][key], k))
            mask = batch[mid][Columns.OBS].get(ACTION_MASK)
            if mask is not None:
                cols.setdefault(ACTION_MASK, []).append(agents_axis(mask, k))
        order = rows_of.joint_order(groups)

        def joint(parts):  # concat modules' agents, then restore the sorted agent order
            return rows_of.joint(parts, order, axis=2)

        q = joint(q_parts)  # [B, T+1, N, A]
        q_tgt = joint(q_tgt_parts)
        actions = joint(cols[R.ACTIONS]).long()  # [B, T, N]
        alive = joint(cols[R.ALIVE])
        alive_next = joint(cols[R.ALIVE_NEXT])
        avail = joint(cols[ACTION_MASK]) if ACTION_MASK in cols else None  # [B, T+1, N, A]
        reward = first[R.REWARD].reshape(B, k0, -1)[:, 0]  # [B, T]
        terminated = first[R.TERMINATED].reshape(B, k0, -1)[:, 0]
        filled = first[R.FILLED].reshape(B, k0, -1)[:, 0]

        mix = target_mix = None
        if cfg.mixer == "qmix":
            state = first[STATE_SEQ].reshape(B, k0, *first[STATE_SEQ].shape[1:])[:, 0]  # [B, T+1, S]
            mixer = self.module[MIXER_MODULE]

            def mix(qs):
                return mixer.forward_train({MIXER_INPUT_QS: qs, MIXER_INPUT_STATE: state[:, :-1]})[Q_TOT]

            def target_mix(qs):
                return mixer.unwrapped().forward_target({MIXER_INPUT_QS: qs, MIXER_INPUT_STATE: state[:, 1:]})[Q_TOT]
        elif cfg.mixer == "vdn":
            mix = target_mix = self._vdn
        loss, stats = joint_td_loss(
            q=q, q_target=q_tgt, actions=actions, alive=alive, alive_next=alive_next, avail=avail,
            reward=reward, terminated=terminated, filled=filled, mix=mix, target_mix=target_mix,
            gamma=cfg.gamma, n_step=cfg.n_step, double_q=cfg.double_q,
        )
        mid0 = groups[0][0]
        self.metrics.log_dict({**stats, "n_agents": float(n_agents)}, key=mid0, window=1)
        return {mid0: loss}

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        raise NotImplementedError("QMIX computes one joint loss in compute_losses()")

    @override(TorchLearner)
    def after_gradient_based_update(self, *, timesteps: Dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self._num_updates += 1
        cfg = self.config
        polyak = cfg.tau < 1.0
        if polyak or self._num_updates % max(1, int(cfg.target_update_interval)) == 0:
            update_targets(self.module, cfg.tau if polyak else 1.0)
