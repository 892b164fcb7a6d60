"""MADDPG / MATD3 losses on RLlib's TorchLearner.

The train batch holds, per acting module, one row per (joint transition, agent
of that module) (:func:`to_train_batch`). RLlib's ``forward_train`` runs each
actor over its rows (the differentiable action for the actor loss);
:meth:`MADDPGTorchLearner.compute_losses` puts every agent back in sorted order
and computes, for each agent ``i`` with critic ``Q_i``::

    critic:  ( Q_i(x, a_1..a_N) - y_i )^2,
             y_i = r_i + gamma * alive_next_i * Q_i'(x', mu_1'(o_1'), .., mu_N'(o_N'))
    actor:   - Q_i(x, a_1, .., mu_i(o_i), .., a_N) + actor_reg * mean(preact_i^2)

``x`` is every agent's observation (or the global state) for a central critic
and ``o_i`` for a local one; actions of the other agents come from replay (as
in the MADDPG paper); ``Q_i'`` is the target critic (the minimum of the twin
targets for MATD3) and ``mu'`` the target actors (greedy one-hot for Discrete
actions; ``tanh`` plus clipped Gaussian smoothing noise for Box actions under
MATD3). Agents that did not act at step t carry no weight.

The actor loss goes through the critic with its parameters detached, so one
backward pass gives each network only its own loss's gradient; each module has
its own optimizer (``actor`` or ``critic``) and learning rate. MATD3 steps the
actors and all target networks every ``policy_delay`` updates only.
"""

from __future__ import annotations

from typing import Any, Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from ray.rllib.core.columns import Columns
from ray.rllib.core.learner.torch.torch_learner import TorchLearner
from ray.rllib.core.rl_module.apis import TargetNetworkAPI
from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch
from ray.rllib.utils.annotations import override

from rllib_marl.algorithms.offpolicy import replay as R
from rllib_marl.algorithms.optim import FusedAdamMixin
from rllib_marl.algorithms.offpolicy.batch import agents_axis, module_obs, module_rows
from rllib_marl.algorithms.offpolicy.targets import update_targets
from rllib_marl.envs.adapter import OBS, STATE
from rllib_marl.policies.maddpg import ACTOR_ACTION, ACTOR_PREACT, CRITIC_IN, Q1, Q2, TARGET_ACTION

ROW_COLUMNS = (R.ACTIONS, R.REWARDS, R.ALIVE, R.ALIVE_NEXT)


def to_train_batch(tr: Dict[str, Any], groups: Sequence[Tuple[str, Sequence[int]]],
                   obs_shapes: Dict[str, Dict[str, Tuple[int, ...]]] | None = None) -> MultiAgentBatch:
    """Joint transitions ``[B, N, ...]`` → one SampleBatch per acting module.

    Args:
        tr: output of ``JointReplayBuffer.sample_transitions``.
        groups: ``(module_id, agent indices)`` for every acting module.
        obs_shapes: per module, its observation leaves' shapes (cuts rows the
            buffer padded to a wider agent's size back to the module's own).
    """
    B = tr[R.REWARDS].shape[0]
    per_module = {}
    for mid, idx in groups:
        data = {
            Columns.OBS: module_obs(tr[R.OBS], idx, 1, (obs_shapes or {}).get(mid)),
            Columns.NEXT_OBS: module_obs(tr[R.NEXT_OBS], idx, 1, (obs_shapes or {}).get(mid)),
        }
        for key in ROW_COLUMNS:
            data[key] = module_rows(tr[key], idx, 1)
        per_module[mid] = SampleBatch(data)
    return MultiAgentBatch(per_module, env_steps=B)


def critic_layout(kind: str, shared: bool) -> Tuple[str, ...]:
    """The parts of one critic input row, in order: the one description that both
    the critic's width (``maddpg.critic_in_dim``) and its input tensors
    (:func:`critic_inputs`) are made from.

    ``central``: the view (all observations, or the state) and every agent's
    action; ``local``: the agent's own observation and action. A critic
    ``shared`` by several agents also gets the agent's one-hot id over all agents.
    """
    parts = ("own_obs", "own_act") if kind == "local" else ("view", "all_acts")
    return parts + (("agent_id",) if shared else ())


def critic_inputs(views: List[torch.Tensor], own: List[torch.Tensor], actions: List[torch.Tensor],
                  idx: Sequence[int], kind: str, n_agents: int,
                  replace: List[torch.Tensor] | None = None) -> torch.Tensor:
    """Critic input rows ``[B * k, D]`` for the agents ``idx`` of one module.

    Args:
        views: a central critic's view, one tensor ``[B, V]`` (all agents'
            observations concatenated, or the state).
        own: each agent's flat observation ``[B, d_j]`` (sorted order).
        actions: each agent's action as a critic input ``[B, a_j]``.
        kind: ``central`` or ``local``.
        replace: per agent, an action that replaces that agent's own action in
            its own row (the actor's action in the actor loss), or None.
    """
    rows = []
    B = own[0].shape[0]
    layout = critic_layout(kind, len(idx) > 1)
    for j in idx:
        acts = list(actions)
        if replace is not None:
            acts[j] = replace[j]
        part = {
            "own_obs": lambda: own[j],
            "own_act": lambda: acts[j],
            "view": lambda: views[0],
            "all_acts": lambda: torch.cat(acts, dim=-1),
            "agent_id": lambda: F.one_hot(torch.full((B,), j, device=own[0].device), n_agents).to(own[0].dtype),
        }
        rows.append(torch.cat([part[p]() for p in layout], dim=-1))
    return torch.stack(rows, dim=1).reshape(B * len(idx), -1)


def masked_mean(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return (x * w).sum() / w.sum().clamp(min=1.0)


class MADDPGTorchLearner(FusedAdamMixin, TorchLearner):
    """MADDPG / MATD3 losses (see module docstring)."""

    @override(TorchLearner)
    def build(self) -> None:
        super().build()
        self.module.foreach_module(
            lambda mid, mod: mod.make_target_networks() if isinstance(mod, TargetNetworkAPI) else None
        )
        self._num_updates = 0
        self._actor_step = True
        self._actor_params = None

    @override(TorchLearner)
    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        is_critic = module_id in set(config.critic_modules.values())
        self.register_adam(module_id, optimizer_name="critic" if is_critic else "actor",
                           lr_or_lr_schedule=config.critic_lr if is_critic else config.actor_lr)

    # ----- losses -----------------------------------------------------------------

    def _joint(self, batch, fwd_out):
        """Per-agent tensors in sorted agent order, from the modules' rows."""
        cfg = self.config
        groups = cfg.agent_groups
        N = len(cfg.agent_ids)
        mid0, idx0 = groups[0]
        B = batch[mid0][R.REWARDS].shape[0] // len(idx0)
        keys = ("obs", "next_obs", "act", "next_act", "pi", "pre", "rew", "alive", "alive_next")
        J: Dict[str, List[Any]] = {k: [None] * N for k in keys}
        J["state"] = J["next_state"] = None
        for mid, idx in groups:
            k = len(idx)
            mb = batch[mid]
            actor = self.module[mid].unwrapped()
            with torch.no_grad():
                next_act = actor.forward_target({Columns.OBS: mb[Columns.NEXT_OBS]})[TARGET_ACTION]
                if cfg.variant == "matd3" and not actor.discrete and cfg.target_noise > 0:
                    noise = (torch.randn_like(next_act) * cfg.target_noise).clamp(
                        -cfg.target_noise_clip, cfg.target_noise_clip)
                    next_act = (next_act + noise).clamp(-1.0, 1.0)
            a = mb[R.ACTIONS]
            if actor.discrete:
                a = F.one_hot(a.long(), actor.n_out).float()
            else:
                a = a.reshape(a.shape[0], -1)[:, :actor.n_out].float()
            cols = {
                "obs": mb[Columns.OBS][OBS].reshape(B * k, -1).float(),
                "next_obs": mb[Columns.NEXT_OBS][OBS].reshape(B * k, -1).float(),
                "act": a, "next_act": next_act,
                "pi": fwd_out[mid][ACTOR_ACTION], "pre": fwd_out[mid][ACTOR_PREACT],
                "rew": mb[R.REWARDS], "alive": mb[R.ALIVE], "alive_next": mb[R.ALIVE_NEXT],
            }
            for key, x in cols.items():
                xs = agents_axis(x, B, k)  # [B, k, ...]
                for i, j in enumerate(idx):
                    J[key][j] = xs[:, i]
            if STATE in mb[Columns.OBS] and J["state"] is None:
                J["state"] = agents_axis(mb[Columns.OBS][STATE], B, k)[:, 0]
                J["next_state"] = agents_axis(mb[Columns.NEXT_OBS][STATE], B, k)[:, 0]
        return J, B, N

    @override(TorchLearner)
    def compute_losses(self, *, fwd_out: Dict[str, Any], batch: Dict[str, Any]) -> Dict[str, Any]:
        cfg = self.config
        J, B, N = self._joint(batch, fwd_out)
        self._actor_step = self._num_updates % cfg.resolved_policy_delay == 0
        if cfg.critic_input == "state":
            view, next_view = [J["state"]], [J["next_state"]]
        else:
            view, next_view = [torch.cat(J["obs"], -1)], [torch.cat(J["next_obs"], -1)]
        losses = {}
        for mid, idx in cfg.agent_groups:
            kind, cid = cfg.critic_kinds[mid], cfg.critic_modules[mid]
            critic = self.module[cid]

            def rows(per_agent):  # [B * k] rows of this module's agents
                return torch.stack([per_agent[j] for j in idx], dim=1).reshape(-1)

            reward, alive, alive_next = rows(J["rew"]), rows(J["alive"]), rows(J["alive_next"])
            # Critic: TD error against the target critic at the target actors' actions.
            with torch.no_grad():
                x_next = critic_inputs(next_view, J["next_obs"], J["next_act"], idx, kind, N)
                q_next = critic.unwrapped().forward_target({CRITIC_IN: x_next})[Q1]
                y = reward + cfg.gamma * alive_next * q_next
            q = critic.forward_train({CRITIC_IN: critic_inputs(view, J["obs"], J["act"], idx, kind, N)})
            critic_loss = masked_mean((q[Q1] - y) ** 2, alive)
            if Q2 in q:
                critic_loss = critic_loss + masked_mean((q[Q2] - y) ** 2, alive)
            # Actor: each agent's own action from its actor, the others' from replay,
            # through the critic with detached parameters.
            inner = critic.unwrapped()
            frozen = {n: p.detach() for n, p in inner.q1.named_parameters()}
            x_pi = critic_inputs(view, J["obs"], J["act"], idx, kind, N, replace=J["pi"])
            q_pi = torch.func.functional_call(inner.q1, frozen, (x_pi,)).squeeze(-1)
            reg = (torch.stack([J["pre"][j] for j in idx], dim=1) ** 2).mean(-1).reshape(-1)
            actor_loss = masked_mean(-q_pi + cfg.actor_reg * reg, alive)
            if not self._actor_step:
                actor_loss = actor_loss * 0.0  # keeps every parameter in the graph; not stepped
            losses[cid] = critic_loss
            losses[mid] = actor_loss
            self.metrics.log_dict({
                "critic_loss": critic_loss.item(), "actor_loss": actor_loss.item(),
                "q_mean": masked_mean(q[Q1].detach(), alive).item(),
                "target_mean": masked_mean(y, alive).item(),
            }, key=mid, window=1)
        return losses

    @override(TorchLearner)
    def compute_loss_for_module(self, *, module_id, config, batch, fwd_out):
        raise NotImplementedError("MADDPG computes all losses in compute_losses()")

    # ----- delayed actor steps and target updates ----------------------------------

    def _actor_param_refs(self) -> set:
        if self._actor_params is None:
            refs = set()
            for mid, _ in self.config.agent_groups:
                for p in self._optimizer_parameters[self.get_optimizer(mid, "actor")]:
                    refs.add(p)
            self._actor_params = refs
        return self._actor_params

    @override(TorchLearner)
    def apply_gradients(self, gradients_dict) -> None:
        if not self._actor_step:
            actor = self._actor_param_refs()
            gradients_dict = {pid: g for pid, g in gradients_dict.items() if pid not in actor}
            for pid in actor:  # Adam skips parameters without a gradient
                self._params[pid].grad = None
        super().apply_gradients(gradients_dict)

    @override(TorchLearner)
    def after_gradient_based_update(self, *, timesteps: Dict[str, Any]) -> None:
        super().after_gradient_based_update(timesteps=timesteps)
        self._num_updates += 1
        if self._actor_step:
            update_targets(self.module, float(self.config.tau))
