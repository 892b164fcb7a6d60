"""The batched env runner (``env_runners.sampler: batched``; the default for VMAS).

A batched simulator (VMAS) steps ``num_envs`` sub-envs as one batch of tensors.
RLlib's env runners, and our fast one, keep one ``MultiAgentEpisode`` per sub-env
and append every step to it in Python; at 1,024 sub-envs that bookkeeping, not the
simulator, is what a step costs (docs/design.md, "Batched simulators"). This
runner keeps everything as tensors with the sub-env index as the batch axis:

1. per step, **one forward pass per module** over every agent of every sub-env
   it plays (agent-major rows: ``[agents of the module x num_envs]``); actions,
   log-probabilities and action-distribution inputs stay tensors;
2. one ``step`` of the batched env for all sub-envs; finished sub-envs are reset
   in place (one vectorized reset when all finished, as at a time limit);
3. at a truncation the critic's value of the final observation is kept for the
   bootstrap; at a termination there is none;
4. after ``rollout_fragment_length`` steps, the critic's values of all
   observations in one forward pass per module, and GAE over the time axis for
   all rows at once (:func:`gae`) — the same value targets RLlib's
   ``GeneralAdvantageEstimation`` connector computes, episode by episode.

``sample()`` returns one :class:`Rollout`: per module the flat train batch
(observations, actions, log-probabilities, distribution inputs, advantages,
value targets) that the algorithm hands to RLlib's learners as a
``MultiAgentBatch`` (``MAPPO.training_step``), so the learners, their optimizers,
DDP across several learners and checkpoints are RLlib's. The runner's module is
the full one (critic included: the values are computed here, from the weights the
learners just sent), not RLlib's inference-only copy.

Episodes requested by count (evaluation, ``evaluate``) are sampled one sub-env at
a time through the inherited fast loop on the env's one-at-a-time view, so
greedy evaluation, rendering and callbacks see ordinary ``MultiAgentEpisode``
objects. Episode callbacks (``on_episode_*``) are not called for batched
training samples; returns, lengths and per-agent returns are logged as the
metrics callback logs them.
"""

from __future__ import annotations

import math
import time
from typing import Any, Dict, List, Optional

import numpy as np
import torch
from ray.rllib.core.columns import Columns
from ray.rllib.evaluation.postprocessing import Postprocessing
from ray.rllib.utils.metrics import (
    EPISODE_AGENT_RETURN_MEAN,
    EPISODE_AGENT_STEPS,
    EPISODE_DURATION_SEC_MEAN,
    EPISODE_LEN_MAX,
    EPISODE_LEN_MEAN,
    EPISODE_LEN_MIN,
    EPISODE_MODULE_RETURN_MEAN,
    EPISODE_RETURN_MAX,
    EPISODE_RETURN_MEAN,
    EPISODE_RETURN_MIN,
    WEIGHTS_SEQ_NO,
)

from rllib_marl.env_runner import FastMultiAgentEnvRunner
from rllib_marl.envs.observations import AGENT_ID, OBS, STATE
from rllib_marl.metrics import log_episode, smoothing_window

#: Sub-envs per env runner when ``env.kwargs.num_envs`` is not set.
DEFAULT_NUM_ENVS = 1024
#: Rows per forward pass of the critic over a whole sample: a pass over every row at
#: once (hundreds of thousands) runs from memory, not cache, and cost 3x as much
#: on 2 cores (simple_spread, 4,096 sub-envs, 20 steps: 121 ms against 39 ms).
VALUE_CHUNK_ROWS = 16384


class Rollout:
    """One batched sample: ``batches[module_id]`` is a flat train batch (dict of
    numpy arrays, observations a dict) with advantages and value targets.

    The arrays are views of the runner's rollout storage. :meth:`release` hands
    that storage back once nothing reads the batch any more (the algorithm calls
    it after the learners' update), so that the next sample writes into memory
    already mapped: fresh buffers cost a page fault per 4 KiB, ~13 ms of a 20-step
    sample's state buffer at 4,096 sub-envs against 1.6 ms reused. A rollout that
    is not released keeps its arrays; the runner then allocates anew. Pickled (a
    remote runner's rollout travelling through Ray) it is a copy and releases
    nothing."""

    def __init__(self, batches: Dict[str, Dict[str, Any]], env_steps: int, agent_steps: int, release=None):
        self.batches = batches
        self._env_steps = int(env_steps)
        self._agent_steps = int(agent_steps)
        self._release = release

    def __len__(self) -> int:
        return self._env_steps

    def env_steps(self) -> int:
        return self._env_steps

    def agent_steps(self) -> int:
        return self._agent_steps

    def release(self) -> None:
        """Gives the storage back to the runner; the batches are dropped (the next
        sample overwrites them)."""
        release, self._release = self._release, None
        if release is not None:
            self.batches = {}
            release()

    def __getstate__(self):
        return {**self.__dict__, "_release": None}


def gae(values: torch.Tensor, next_values: torch.Tensor, rewards: torch.Tensor, terminated: torch.Tensor,
        done: torch.Tensor, gamma: float, lambda_: float):
    """``(advantages, value_targets)`` over ``[T, rows]`` tensors.

    ``next_values[t]``: the value of the observation after step ``t`` — of the next
    step's observation while the episode goes on, of the final observation where
    it was truncated at ``t`` (0 where it terminated: it is masked by
    ``terminated``). ``done[t]``: the episode ended at ``t`` (either way); the
    recursion does not cross it."""
    non_terminal = 1.0 - terminated.float()
    propagate = 1.0 - done.float()
    deltas = rewards + gamma * non_terminal * next_values - values
    adv = torch.zeros_like(values)
    running = torch.zeros_like(values[0])
    for t in range(values.shape[0] - 1, -1, -1):
        running = deltas[t] + gamma * lambda_ * propagate[t] * running
        adv[t] = running
    return adv, adv + values


def _draw_categorical(logits: torch.Tensor):
    """``(actions, log-probabilities)``: one draw per row from ``softmax(logits)``.

    By the inverse of the cumulative distribution: one uniform number per row
    against the running sum of ``exp(logits - max)``; the action is the first whose
    running sum exceeds it. On 2 cores at 12,288 rows of 9 actions this costs
    0.42 ms, the Gumbel-max trick (a uniform number per logit, two logarithms)
    0.88 ms and ``torch.multinomial`` 3.4 ms. An action of probability 0 (a masked
    logit) is never drawn: its running sum equals its predecessor's."""
    top = logits.max(-1, keepdim=True).values
    cdf = (logits - top).exp_().cumsum_(-1)
    total = cdf[:, -1:]
    u = torch.rand_like(total).mul_(total)
    a = (cdf <= u).sum(-1)
    over = a >= logits.shape[-1]  # u rounded up to the total (about 2**-24 per row)
    if bool(over.any()):
        a = torch.where(over, logits.argmax(-1), a)
    logp = logits.gather(-1, a.unsqueeze(-1)).squeeze(-1) - (top + total.log()).squeeze(-1)
    return a, logp


def _replace_rows(obs: Dict[str, Any], fresh: Dict[str, Any], done: torch.Tensor) -> Dict[str, Any]:
    """``obs`` with the sub-envs where ``done`` taken from ``fresh`` (their reset)."""
    mask = done.unsqueeze(1)
    out = {}
    for key, v in obs.items():
        if isinstance(v, list):
            out[key] = [torch.where(mask, f, o) for o, f in zip(v, fresh[key])]
        else:
            out[key] = torch.where(mask, fresh[key], v)
    return out


class BatchedEnvRunner(FastMultiAgentEnvRunner):
    """Samples a batched simulator as tensors (see the module docstring)."""

    #: the full module: the critic computes the value targets here
    module_inference_only = False

    def __init__(self, config, **kwargs):
        super().__init__(config=config, **kwargs)
        self._benv = None  # built on the first batched sample (the driver's runner may never sample)
        self._obs = None
        self._ep_env_ret = self._ep_ret = self._ep_len = None
        self._storage: Dict[str, Dict[str, Any]] = {}  # released rollout storage, per module

    def set_state(self, state) -> None:
        """Whole modules (critics included) are applied whatever their weights' sequence
        number: RLlib sends inference-only weights when it builds, restores or restarts
        runners, and its runner skips a later state of the same number, which would
        keep this runner's critic at its initialization."""
        import ray
        from ray.rllib.core import COMPONENT_RL_MODULE

        rl = state.get(COMPONENT_RL_MODULE) if isinstance(state, dict) else None
        if rl is not None and self.module is not None:
            if isinstance(rl, ray.ObjectRef):
                rl = ray.get(rl)
            whole = all(set(self.module[mid].state_dict()) <= set(sd) for mid, sd in rl.items() if mid in self.module)
            if whole:
                self.module.set_state(rl)
                seq = state.get(WEIGHTS_SEQ_NO, 0)
                if seq > 0:
                    self._weights_seq_no = max(self._weights_seq_no, seq)
                state = {k: v for k, v in state.items() if k != COMPONENT_RL_MODULE}
        super().set_state(state)

    # ----- the batched env -------------------------------------------------------------

    @property
    def batched_env(self):
        if self._benv is None:
            from rllib_marl.envs.vmas_env import VmasBatchedEnv

            env_config = dict(self.config.env_config or {})
            n = int((env_config.get("kwargs") or {}).get("num_envs", DEFAULT_NUM_ENVS))
            self._benv = VmasBatchedEnv(env_config, num_envs=n, device=str(self._device or "cpu"))
            self._setup_rows()
        return self._benv

    def _setup_rows(self) -> None:
        """Which agents each module plays, and the constant parts of its inputs."""
        benv = self._benv
        n, na = benv.num_envs, benv.n_agents
        mapping = self.config.policy_mapping_fn
        self._module_agents: Dict[str, List[int]] = {}
        for k, aid in enumerate(benv.agents):
            self._module_agents.setdefault(mapping(aid, None), []).append(k)
        self._agent_id_rows: Dict[str, torch.Tensor] = {}
        eye = torch.eye(na)
        for mid, ks in self._module_agents.items():
            self._agent_id_rows[mid] = eye[ks].repeat_interleave(n, dim=0).to(self._device)
        self._fragment = self._fragment_length()
        # Box action bounds per agent, as tensors once (not per step).
        self._bounds = {k: (torch.as_tensor(s.low, device=self._device), torch.as_tensor(s.high, device=self._device))
                        for k, s in enumerate(benv.action_spaces[a] for a in benv.agents) if benv.continuous}

    def _fragment_length(self) -> int:
        cfg = self.config
        if cfg.rollout_fragment_length != "auto":
            return int(cfg.rollout_fragment_length)
        per_runner = cfg.total_train_batch_size / max(1, cfg.num_env_runners or 0)
        return max(1, int(math.ceil(per_runner / self._benv.num_envs)))

    def _inputs(self, mid: str, layout: Dict[str, Any], state: bool = True) -> Dict[str, torch.Tensor]:
        """A module's rows of the batched env's observations, agent-major (``state``:
        with the global state, repeated for each agent)."""
        ks = self._module_agents[mid]
        obs = {OBS: torch.cat([layout["obs"][k] for k in ks])}
        if state and self._benv.with_state:
            obs[STATE] = layout[STATE].repeat(len(ks), 1)
        if self._benv.with_id:
            obs[AGENT_ID] = self._agent_id_rows[mid]
        return obs

    def _env_actions(self, mid: str, actions: torch.Tensor) -> List[torch.Tensor]:
        """A module's actions (agent-major rows) as one tensor per agent, unsquashed or
        clipped into a Box action space as RLlib's ``NormalizeAndClipActions`` does."""
        benv = self._benv
        n = benv.num_envs
        out = []
        for j, k in enumerate(self._module_agents[mid]):
            a = actions[j * n:(j + 1) * n]
            if benv.continuous:
                low, high = self._bounds[k]
                if self.config.normalize_actions:
                    a = low + (a.clamp(-1.0, 1.0) + 1.0) * (high - low) / 2.0
                elif self.config.clip_actions:
                    a = torch.maximum(torch.minimum(a, high), low)
            out.append(a)
        return out

    # ----- sampling --------------------------------------------------------------------

    def sample(self, *, num_timesteps=None, num_episodes=None, explore=None, random_actions=False,
               force_reset=False):
        if num_episodes is not None or not self._fast:
            # Counted episodes (evaluation): one sub-env at a time, as MultiAgentEpisodes.
            return super().sample(num_timesteps=num_timesteps, num_episodes=num_episodes, explore=explore,
                                  random_actions=random_actions, force_reset=force_reset)
        # One rollout of rollout_fragment_length steps of every sub-env (num_timesteps is not
        # split finer: the batch is the sub-envs). Torch keeps all its threads: a forward
        # pass over thousands of rows gains from them.
        explore = self.config.explore if explore is None else explore
        return [self._sample_batched(explore, random_actions, force_reset)]

    @torch.inference_mode()
    def reset_batched(self, seed: Optional[int] = None, seeds: Optional[List[int]] = None) -> None:
        """Resets every sub-env of the batched env (``seeds``: one per sub-env, each
        drawing what the one-at-a-time view draws from that seed) and starts new episodes."""
        benv = self.batched_env
        self._obs = benv.reset(seed=seed, seeds=seeds)
        d = benv.device
        self._ep_env_ret = torch.zeros(benv.n_agents, benv.num_envs, device=d)
        self._ep_ret = torch.zeros(benv.n_agents, benv.num_envs, device=d)
        self._ep_len = torch.zeros(benv.num_envs, dtype=torch.long, device=d)
        self._ep_info: Dict[str, torch.Tensor] = {}

    @torch.inference_mode()  # every call into the batched env (its tensors are inference tensors)
    def _sample_batched(self, explore: bool, random_actions: bool, force_reset: bool) -> Rollout:
        benv = self.batched_env
        n, na = benv.num_envs, benv.n_agents
        if self._obs is None or force_reset:
            self.reset_batched(seed=self._seed)
        T = self._fragment
        mids = list(self._module_agents)
        buf: Dict[str, Dict[str, Any]] = {}
        truncated_at: List[int] = []  # the steps where some sub-env was truncated
        finished_env, finished, finished_len, finished_info = [], [], [], []
        t_env = t_module = 0.0
        t_start = time.perf_counter()
        for t in range(T):
            t0 = time.perf_counter()
            acts: List[Optional[torch.Tensor]] = [None] * na
            for mid in mids:
                inputs = self._inputs(mid, self._obs, state=False)  # the actor never reads the state
                a, logp, logits = self._act(mid, inputs, explore, random_actions)
                b = buf.get(mid)
                if b is None:
                    b = buf[mid] = self._buffers(T, self._inputs(mid, self._obs), a, logits,
                                                 self._storage.pop(mid, None))
                for k, v in inputs.items():
                    b["obs"][k][t] = v
                if benv.with_state:  # one copy per agent row, straight into the buffer
                    ks = len(self._module_agents[mid])
                    st = self._obs[STATE]
                    b["obs"][STATE][t].view(ks, n, -1).copy_(st.unsqueeze(0).expand(ks, -1, -1))
                b["act"][t] = a
                b["logp"][t] = logp
                b["dist"][t] = logits
                for k, ak in zip(self._module_agents[mid], self._env_actions(mid, a)):
                    acts[k] = ak
            t_module += time.perf_counter() - t0

            t0 = time.perf_counter()
            obs, rew, env_rew, term, trunc, infos = benv.step(acts)
            t_env += time.perf_counter() - t0
            done = term | trunc
            self._ep_env_ret += env_rew
            self._ep_ret += rew
            self._ep_len += 1
            for k, v in infos.items():
                self._ep_info[k] = self._ep_info[k] + v if k in self._ep_info else v.clone()
            any_trunc = bool(trunc.any())
            if any_trunc:
                truncated_at.append(t)
            for mid in mids:
                ks = self._module_agents[mid]
                b = buf[mid]
                b["rew"][t] = rew[ks].reshape(-1)
                b["term"][t] = term.repeat(len(ks))
                b["done"][t] = done.repeat(len(ks))
                if any_trunc:  # the final observations' values: the bootstrap
                    b["boot"][t] = self._values(mid, self._inputs(mid, obs))
            if done.any():
                idx = done.nonzero().flatten()
                finished_env.append(self._ep_env_ret[:, idx].T.clone())
                finished.append(self._ep_ret[:, idx].T.clone())
                finished_len.append(self._ep_len[idx].clone())
                finished_info.append({k: v[idx].clone() for k, v in self._ep_info.items()})
                for v in self._ep_info.values():
                    v[idx] = 0.0
                self._ep_env_ret[:, idx] = 0.0
                self._ep_ret[:, idx] = 0.0
                self._ep_len[idx] = 0
                t0 = time.perf_counter()
                fresh = benv.reset_done(done)
                t_env += time.perf_counter() - t0
                obs = _replace_rows(obs, fresh, done)
            self._obs = obs

        t0 = time.perf_counter()
        batches = {m: self._module_batch(m, buf[m], T, truncated_at) for m in mids}
        t_module += time.perf_counter() - t0

        env_ts = T * n
        agent_counts = {aid: env_ts for aid in benv.agents}
        module_counts = {m: env_ts * len(ks) for m, ks in self._module_agents.items()}
        self._log_sample_metrics(env_ts, sum(len(x) for x in finished_len), agent_counts, module_counts,
                                 t_env * n, t_module * n)
        self._log_finished(finished_env, finished, finished_len, finished_info, time.perf_counter() - t_start)
        self._storage = {}
        if (self.worker_index or 0) > 0:
            # A remote runner's rollout is copied into Ray's object store as it returns,
            # before this actor runs another call: its storage is free at once.
            self._storage = buf
            return Rollout(batches, env_ts, env_ts * na)
        return Rollout(batches, env_ts, env_ts * na, release=lambda: self._storage.update(buf))

    def _act(self, mid: str, inputs: Dict[str, torch.Tensor], explore: bool, random_actions: bool):
        """``(actions, log-probabilities, distribution inputs)`` of one module's rows.

        Categorical actions are drawn by :func:`_draw_categorical`; other
        distributions through the module's own class."""
        from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical

        module = self.module[mid]
        batch = {Columns.OBS: inputs}
        out = module.forward_exploration(batch) if explore else module.forward_inference(batch)
        logits = out[Columns.ACTION_DIST_INPUTS]
        dist_cls = module.get_exploration_action_dist_cls() if explore else module.get_inference_action_dist_cls()
        if random_actions:
            a = self._random_like(mid, logits)
        elif dist_cls is TorchCategorical or (isinstance(dist_cls, type) and issubclass(dist_cls, TorchCategorical)):
            if not explore:
                return logits.argmax(-1), torch.zeros(logits.shape[0], device=logits.device), logits
            return (*_draw_categorical(logits), logits)
        else:
            dist = dist_cls.from_logits(logits)
            if not explore:
                dist = dist.to_deterministic()
            a = dist.sample()
        dist = dist_cls.from_logits(logits)
        return a, (dist.logp(a) if explore else torch.zeros(a.shape[0], device=a.device)), logits

    def _values(self, mid: str, obs: Dict[str, torch.Tensor]) -> torch.Tensor:
        """The critic's values of a module's rows, ``obs`` columns shaped ``[rows, ...]``
        or ``[T, rows, ...]`` (rows agent-major), in chunks of ``VALUE_CHUNK_ROWS``.

        A critic that reads only the global state (MAPPO's ``critic_input: state``
        without agent ids) gives every agent of a sub-env the same value: it is
        computed once per sub-env and repeated for the module's other agents."""
        module = self.module[mid]
        k, n = len(self._module_agents[mid]), self._benv.num_envs
        keys = module.critic_input_keys() if hasattr(module, "critic_input_keys") else None
        one_per_env = k > 1 and keys == [STATE]
        if one_per_env:
            obs = {STATE: obs[STATE][..., :n, :]}
        lead = next(iter(obs.values())).shape[:-1]  # (rows,) or (T, rows); flat features
        flat = {key: v.reshape(-1, v.shape[-1]) for key, v in obs.items()}
        total = next(iter(flat.values())).shape[0]
        parts = [module.compute_values({Columns.OBS: {key: v[s:s + VALUE_CHUNK_ROWS] for key, v in flat.items()}})
                 for s in range(0, total, VALUE_CHUNK_ROWS)]
        values = torch.cat(parts).reshape(lead)
        if one_per_env:
            values = values.repeat(*([1] * (values.dim() - 1)), k)
        return values

    @staticmethod
    def _buffers(T: int, inputs: Dict[str, torch.Tensor], a: torch.Tensor, logits: torch.Tensor,
                 released: Optional[Dict[str, Any]] = None):
        """A module's rollout storage, ``[T, rows, ...]`` per column: ``released``
        (a previous rollout's, given back) where its shapes fit, else new."""
        rows, d = a.shape[0], logits.device
        if released is not None:
            fits = (released["act"].shape == (T, *a.shape) and released["act"].dtype == a.dtype
                    and released["dist"].shape == (T, *logits.shape)
                    and set(released["obs"]) == set(inputs)
                    and all(released["obs"][k].shape == (T, *v.shape) for k, v in inputs.items()))
            if fits:
                released["boot"].zero_()
                return released
        return {
            "obs": {k: torch.empty((T, *v.shape), dtype=v.dtype, device=d) for k, v in inputs.items()},
            "act": torch.empty((T, *a.shape), dtype=a.dtype, device=d),
            "logp": torch.empty((T, rows), device=d),
            "dist": torch.empty((T, *logits.shape), device=d),
            "rew": torch.empty((T, rows), device=d),
            "term": torch.empty((T, rows), dtype=torch.bool, device=d),
            "done": torch.empty((T, rows), dtype=torch.bool, device=d),
            "boot": torch.zeros((T, rows), device=d),
        }

    def _random_like(self, mid: str, logits: torch.Tensor) -> torch.Tensor:
        space = self._benv.action_spaces[self._benv.agents[self._module_agents[mid][0]]]
        rows = logits.shape[0]
        if self._benv.continuous:
            return torch.rand((rows, space.shape[0]), device=logits.device) * 2.0 - 1.0
        return torch.randint(0, int(space.n), (rows,), device=logits.device)

    def _module_batch(self, mid: str, b: Dict[str, Any], T: int, truncated_at: List[int]) -> Dict[str, Any]:
        """The module's flat train batch: the critic's values of every observation (``_values``), GAE over time."""
        rows = b["rew"].shape[1]
        flat = {k: v.reshape(T * rows, *v.shape[2:]) for k, v in b["obs"].items()}
        values = self._values(mid, b["obs"])
        last = self._values(mid, self._inputs(mid, self._obs))
        next_values = torch.cat([values[1:], last.unsqueeze(0)])
        term, done = b["term"], b["done"]
        for t in truncated_at:  # truncated rows bootstrap from their final observation
            next_values[t] = torch.where(done[t] & ~term[t], b["boot"][t], next_values[t])
        cfg = self.config
        adv, targets = gae(values, next_values, b["rew"], term, done, cfg.gamma, cfg.lambda_)
        acts = b["act"]

        def np_(x):
            return x.detach().cpu().numpy()

        return {
            Columns.OBS: {k: np_(v) for k, v in flat.items()},
            Columns.ACTIONS: np_(acts.reshape(T * rows, *acts.shape[2:])),
            Columns.ACTION_LOGP: np_(b["logp"].reshape(-1)),
            Columns.ACTION_DIST_INPUTS: np_(b["dist"].reshape(T * rows, -1)),
            Columns.VF_PREDS: np_(values.reshape(-1)),
            Columns.REWARDS: np_(b["rew"].reshape(-1)),
            Postprocessing.ADVANTAGES: np_(adv.reshape(-1)),
            Postprocessing.VALUE_TARGETS: np_(targets.reshape(-1)),
            WEIGHTS_SEQ_NO: np.full(T * rows, self._weights_seq_no),
        }

    def _log_finished(self, finished_env, finished, finished_len, finished_info, seconds: float) -> None:
        """Logs the episodes this sample finished, as the metrics callback and RLlib's
        runner log them; only the last smoothing window's worth (older ones would
        fall out of the windowed means anyway)."""
        if not finished_len:
            return
        env_ret = torch.cat(finished_env).cpu()
        ret = torch.cat(finished).cpu()
        lens = torch.cat(finished_len).cpu()
        win = smoothing_window(self.config)
        env_ret, ret, lens = env_ret[-win:], ret[-win:], lens[-win:]
        infos = {k: torch.cat([f[k] for f in finished_info]).cpu()[-win:] for k in finished_info[0]}
        agents = self._benv.agents
        per_ep_s = seconds / max(1, len(lens))
        env_ret, ret, lens = env_ret.tolist(), ret.tolist(), lens.tolist()
        infos = {k: v.tolist() for k, v in infos.items()}
        for e, length in enumerate(lens):
            log_episode(self.metrics, self.config, dict(zip(agents, env_ret[e])), length,
                        {k: v[e] for k, v in infos.items()})
            self._log_rllib_episode(length, ret[e], per_ep_s, win)

    def _log_rllib_episode(self, length: int, shaped: List[float], seconds: float, win: int) -> None:
        """One episode's entries in RLlib's own episode metrics (return, length and
        duration means, min and max; per-agent and per-module returns and agent
        steps), the keys and windows RLlib's multi-agent runner logs them with,
        one ``log_value`` each: its ``log_dict`` costs ~110 us an episode, a tenth of
        a batched step at 4,096 sub-envs."""
        log = self.metrics.log_value
        total = sum(shaped)
        log(EPISODE_LEN_MEAN, length, window=win)
        log(EPISODE_RETURN_MEAN, total, window=win)
        log(EPISODE_DURATION_SEC_MEAN, seconds, window=win)
        for aid, r in zip(self._benv.agents, shaped):
            log((EPISODE_AGENT_RETURN_MEAN, aid), r, window=win)
            log((EPISODE_AGENT_STEPS, aid), length, window=win)
        for mid, ks in self._module_agents.items():
            log((EPISODE_MODULE_RETURN_MEAN, mid), sum(shaped[k] for k in ks), window=win)
        log(EPISODE_LEN_MIN, length, reduce="min", window=win)
        log(EPISODE_RETURN_MIN, total, reduce="min", window=win)
        log(EPISODE_LEN_MAX, length, reduce="max", window=win)
        log(EPISODE_RETURN_MAX, total, reduce="max", window=win)


def rollouts_to_batch(rollouts: List[Rollout]):
    """The env runners' rollouts as one ``MultiAgentBatch``, advantages standardized
    per module over the whole batch (as RLlib's ``GeneralAdvantageEstimation`` does)."""
    import tree
    from ray.rllib.policy.sample_batch import MultiAgentBatch, SampleBatch

    per_module: Dict[str, List[Dict[str, Any]]] = {}
    for r in rollouts:
        for mid, b in r.batches.items():
            per_module.setdefault(mid, []).append(b)
    out = {}
    for mid, parts in per_module.items():
        b = parts[0] if len(parts) == 1 else tree.map_structure(lambda *xs: np.concatenate(xs), *parts)
        adv = b[Postprocessing.ADVANTAGES]
        b[Postprocessing.ADVANTAGES] = ((adv - adv.mean()) / max(1e-4, float(adv.std()))).astype(np.float32)
        out[mid] = SampleBatch(b)
    return MultiAgentBatch(out, env_steps=sum(r.env_steps() for r in rollouts))
