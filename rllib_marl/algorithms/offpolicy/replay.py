"""Replay of aligned multi-agent data, shared by the off-policy algorithms.

:class:`JointReplayBuffer` subclasses RLlib's ``MultiAgentEpisodeReplayBuffer``
and keeps its ``add()`` (episode chunks from env runners are concatenated into
the episode they continue; the oldest whole episodes are evicted past
``capacity`` env steps) and its ``get_state`` / ``set_state`` (used to put the
buffer in checkpoints). RLlib's own ``sample()`` draws each module's transitions
independently, so no two agents' rows come from the same env step; this class
adds two aligned samplers on top of the same stored episodes:

* :meth:`JointReplayBuffer.sample_sequences` — windows of ``T`` env steps for
  recurrent value decomposition (QMIX / VDN / IQL);
* :meth:`JointReplayBuffer.sample_transitions` — joint one-step transitions for
  centralized critics (MADDPG / MATD3): one index set of env steps, every agent's
  observation, action and reward from that same step.

Every stored env step is equally likely to be drawn by either sampler.

One description of every field (arrays are ``[..., N, ...]`` over the agents in
the fixed sorted order ``agent_ids``):

==============  ==================  ==================================================
key             dtype               meaning
==============  ==================  ==================================================
``obs``         the env's           Dict-obs leaves at steps t (and t + 1); a leaf whose
                                    shape differs between agents is flattened and
                                    zero-padded to the widest agent's
``actions``     the action space's  int64 ``[N]`` for Discrete; float32 ``[N, A]`` for
                                    Box (``A`` = the largest agent's size, zero-padded)
``rewards``     float32             each agent's own reward ``[N]``
``reward``      float32             team reward (``team_reward``: sum or mean of the
                                    living agents' rewards)
``alive``       float32             1 where the agent acted at step t
``alive_next``  float32             1 where the agent's value at t + 1 enters its target
                                    (0 after its termination and after the episode's)
``terminateds`` float32             1 where the agent terminated at step t (per agent)
``terminated``  float32             1 where the episode terminated at step t
``filled``      float32             1 for real steps, 0 for padding (sequences only)
``state``       float32             the global state, when observations carry one
``h0``          float32             recurrent state at a window's start (sequences)
==============  ==================  ==================================================

Windows: an episode is cut into consecutive windows of ``seq_len`` env steps
(``[0, T)``, ``[T, 2T)``, ...). A sampled window is the window of a uniformly
drawn stored env step, so an episode no longer than ``T`` is always sampled
whole. The recurrent state at a window's start is zero at ``t = 0`` and
otherwise the state the acting policy had there (stored by the env runner;
"stored state" as in R2D2).

Alignment: simultaneous-move (Parallel) envs only. Every agent acts from the
reset until it is done, so an agent's step ``k`` is env step ``k``; an agent
that finished before the end of the episode is padded with zeros and masked
out by ``alive``.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import tree
from ray.rllib.core.columns import Columns
from ray.rllib.utils.replay_buffers.multi_agent_episode_buffer import (
    MultiAgentEpisodeReplayBuffer,
)

# Keys of a sampled batch.
OBS = "obs"  # Dict-obs leaves, [B, T+1, N, ...] (sequences) / [B, N, ...] (transitions)
NEXT_OBS = "next_obs"  # transitions only: Dict-obs leaves at t + 1, [B, N, ...]
H0 = "h0"  # recurrent state at the window start, [B, N, H] (absent for MLPs)
ACTIONS = "actions"  # [B, T, N(, A)] in the action space's dtype
REWARDS = "rewards"  # [B, T, N] each agent's own reward
REWARD = "reward"  # [B, T] team reward
TERMINATED = "terminated"  # [B, T] 1 where the episode terminated (no bootstrap)
TERMINATEDS = "terminateds"  # [B, T, N] 1 where the agent terminated
FILLED = "filled"  # [B, T] 1 for real steps, 0 for padding
ALIVE = "alive"  # [B, T, N] agent acted at step t
ALIVE_NEXT = "alive_next"  # [B, T, N] agent's value at t+1 enters the target
STATE = "state"  # [B, T+1, S] global state (when observations carry one)
STATE_OUTS = "state_outs"  # per-episode cache only: recurrent state after each step
TEAM_REWARD = ("sum", "mean")
# Per-step columns, [n, N(, ...)] or [n] in an episode's arrays.
_STEP_KEYS = (ACTIONS, REWARDS, REWARD, TERMINATED, TERMINATEDS, ALIVE, ALIVE_NEXT)


class JointReplayBuffer(MultiAgentEpisodeReplayBuffer):
    """RLlib's multi-agent episode buffer plus aligned joint sampling.

    Args:
        capacity: env steps kept.
        agent_ids: all agents, in the fixed (sorted) order of joint inputs.
        team_reward: ``sum`` or ``mean`` of the agents' rewards per env step.
        seed: seed of the sampling RNG.
    """

    def __init__(self, capacity: int, *, agent_ids: Sequence[str], team_reward: str = "sum",
                 seed: Optional[int] = None, **kwargs):
        super().__init__(capacity=capacity, **kwargs)
        if team_reward not in TEAM_REWARD:
            raise ValueError(f"team_reward must be one of {TEAM_REWARD}, got {team_reward!r}")
        self.agent_ids = list(agent_ids)
        self.team_reward = team_reward
        self.rng = np.random.default_rng(seed)
        # Whole-episode arrays of finished episodes, built once on first use.
        self._arrays: Dict[str, Dict[str, Any]] = {}
        # Joint transitions of finished episodes, packed (see _PackedRows).
        self._packed: Optional[_PackedRows] = None

    def add(self, episodes) -> None:
        super().add(episodes)
        if len(self._arrays) > len(self.episode_id_to_index):
            self._arrays = {k: v for k, v in self._arrays.items() if k in self.episode_id_to_index}
        if self._packed is not None:
            self._packed.forget_except(self.episode_id_to_index)

    def set_state(self, state) -> None:
        self._arrays = {}
        self._packed = None
        super().set_state(state)

    def num_env_steps(self) -> int:
        return len(self._indices)

    def _picks(self, batch_size: int):
        if not self._indices:
            raise ValueError("the replay buffer is empty")
        for k in self.rng.integers(len(self._indices), size=batch_size):
            eps_idx, t = self._indices[k]
            yield self.episodes[eps_idx - self._num_episodes_evicted], t

    def sample_sequences(self, batch_size: int, seq_len: int) -> Dict[str, Any]:
        """``batch_size`` windows of ``seq_len`` env steps, aligned across agents."""
        items = [self._window(episode, t - t % seq_len, seq_len) for episode, t in self._picks(batch_size)]
        if any(H0 in it for it in items):  # windows that start an episode: zero state
            for it, h in zip(items, _zeros_for_missing([it.get(H0) for it in items])):
                it[H0] = h
        return {key: _stack([it[key] for it in items]) for key in items[0]}

    def sample_transitions(self, batch_size: int) -> Dict[str, Any]:
        """``batch_size`` joint transitions: every agent at the same drawn env step.

        Returns ``[B, N, ...]`` arrays (``[B]`` for team columns) under the keys of
        the module docstring, with ``OBS`` at step t and ``NEXT_OBS`` at t + 1.
        Finished episodes are packed once into one row store and gathered with
        one index per column; draws from episodes still being collected take the
        per-episode path (:meth:`_gather_by_episode`, also the reference the
        packed path is tested against).
        """
        picks = list(self._picks(batch_size))
        done, rest = [], []
        for i, (episode, _) in enumerate(picks):
            (done if episode.is_done else rest).append(i)
        if not done:
            return self._gather_by_episode(picks)
        if self._packed is None:
            self._packed = _PackedRows(self._episode_arrays(picks[done[0]][0]))
        for i in done:  # pack what is new first: an append may compact and move rows
            episode = picks[i][0]
            if self._packed.start_of(episode.id_) is None:
                self._packed.append(episode.id_, self._episode_arrays(episode))
                self._arrays.pop(episode.id_, None)  # packed now: one copy is enough
        starts = self._packed.starts
        rows = np.fromiter((starts[picks[i][0].id_] + picks[i][1] for i in done), np.int64, len(done))
        out = self._packed.gather(rows)
        if rest:  # rows of unfinished episodes at the end (the rows are shuffled below)
            extra = self._gather_by_episode([picks[i] for i in rest], shuffle=False)
            out = tree.map_structure(lambda a, b: np.concatenate([a, b]), out, extra)
        # Shuffle so rows of one episode are not adjacent (the draws were i.i.d.).
        perm = self.rng.permutation(batch_size)
        return tree.map_structure(lambda x: x[perm], out)

    def _gather_by_episode(self, picks, shuffle: bool = True) -> Dict[str, Any]:
        """Joint transitions for ``(episode, t)`` picks, gathered episode by episode."""
        by_episode: Dict[str, Tuple[Any, List[int]]] = {}
        for episode, t in picks:
            by_episode.setdefault(episode.id_, (episode, []))[1].append(t)
        parts = []
        for episode, ts in by_episode.values():
            full = self._episode_arrays(episode)
            t = np.asarray(ts)
            part = {k: full[k][t] for k in _STEP_KEYS}
            part[OBS] = tree.map_structure(lambda x: x[t], full[OBS])
            part[NEXT_OBS] = tree.map_structure(lambda x: x[t + 1], full[OBS])
            parts.append(part)
        out = {k: np.concatenate([p[k] for p in parts]) for k in _STEP_KEYS}
        for k in (OBS, NEXT_OBS):
            out[k] = tree.map_structure(lambda *xs: np.concatenate(xs), *[p[k] for p in parts])
        if not shuffle:
            return out
        perm = self.rng.permutation(len(picks))
        return tree.map_structure(lambda x: x[perm], out)

    # ----- one window -------------------------------------------------------------

    def _window(self, episode, start: int, T: int) -> Dict[str, Any]:
        """The window ``[start, start + T)`` of an episode: slices of its arrays."""
        full = self._episode_arrays(episode)
        n_env = len(full[FILLED])
        filled = (start + np.arange(T) < n_env).astype(np.float32)
        out = {FILLED: filled}
        for key in _STEP_KEYS:
            out[key] = _pad(full[key][start:start + T], T)
        out[OBS] = tree.map_structure(lambda x: _pad(x[start:start + T + 1], T + 1), full[OBS])
        if STATE in full:
            out[STATE] = _pad(full[STATE][start:start + T + 1], T + 1)
        if STATE_OUTS in full and start > 0:
            out[H0] = tree.map_structure(lambda x: x[start - 1], full[STATE_OUTS])
        return out

    def _episode_arrays(self, episode) -> Dict[str, Any]:
        """All of an episode as aligned arrays (cached once the episode is done)."""
        cached = self._arrays.get(episode.id_)
        if cached is not None and len(cached[FILLED]) == len(episode):
            return cached
        full = self._compute_window(episode, 0, len(episode))
        full.pop(H0, None)
        outs = []
        for aid in self.agent_ids:
            sa = episode.agent_episodes.get(aid)
            if sa is not None and len(sa) and Columns.STATE_OUT in sa.extra_model_outputs:
                outs.append(tree.map_structure(
                    lambda x: _pad(np.asarray(x), len(episode)),
                    sa.get_extra_model_outputs(Columns.STATE_OUT)))
            else:
                outs.append(None)
        if any(o is not None for o in outs):
            full[STATE_OUTS] = _stack(_zeros_for_missing(outs), axis=1)  # [n, N, ...]
        if episode.is_done:
            self._arrays[episode.id_] = full
        return full

    def _compute_window(self, episode, start: int, T: int) -> Dict[str, Any]:
        """Reference extraction of one window straight from the episode."""
        n_env = len(episode)
        agents = self.agent_ids
        N = len(agents)
        filled = (start + np.arange(T) < n_env).astype(np.float32)
        actions = self._action_array(episode, T)
        rewards = np.zeros((T, N), np.float32)
        alive = np.zeros((T, N), np.float32)
        alive_next = np.zeros((T, N), np.float32)
        terminateds = np.zeros((T, N), np.float32)
        obs_per_agent: List[Any] = []
        h0: List[Any] = []
        for j, aid in enumerate(agents):
            sa = episode.agent_episodes.get(aid)
            n = len(sa) if sa is not None else 0
            # Steps this agent acted in, within the window: [start, min(n, start+T)).
            hi = min(n, start + T)
            m = max(hi - start, 0)
            if m > 0:
                a = np.asarray(sa.get_actions(slice(start, hi)))
                if actions.ndim == 3:  # vector actions, zero-padded to the widest agent's
                    a = a.reshape(m, -1)
                    actions[:m, j, :a.shape[1]] = a
                else:
                    actions[:m, j] = a
                rewards[:m, j] = np.asarray(sa.get_rewards(slice(start, hi)), np.float32)
                alive[:m, j] = 1.0
                alive_next[:m, j] = 1.0
                if hi == n and sa.is_terminated:
                    # Nothing follows a terminated agent's last step; a truncated
                    # agent (or one whose episode is still being collected)
                    # bootstraps from its next observation.
                    alive_next[m - 1, j] = 0.0
                    terminateds[m - 1, j] = 1.0
            # Observations at steps start .. start+T (the agent has n + 1 of them).
            ohi = min(n + 1, start + T + 1)
            om = max(ohi - start, 0)
            if om > 0:
                o = sa.get_observations(slice(start, ohi))
                obs_per_agent.append(tree.map_structure(lambda x: _pad(np.asarray(x), T + 1), o))
            else:
                obs_per_agent.append(None)
            if sa is not None and Columns.STATE_OUT in sa.extra_model_outputs:
                if start == 0 or start > n:
                    h0.append(None)
                else:
                    h0.append(sa.get_extra_model_outputs(Columns.STATE_OUT, indices=start - 1))
            else:
                h0.append(None)

        lengths = [len(episode.agent_episodes[a]) if a in episode.agent_episodes else -1 for a in agents]
        longest = obs_per_agent[int(np.argmax(lengths))]  # covers every step of the window
        obs = _stack(_pad_agents(_zeros_for_missing(obs_per_agent)), axis=1)  # [T+1, N, ...]

        if self.team_reward == "sum":
            team = rewards.sum(axis=1)
        else:
            team = rewards.sum(axis=1) / np.maximum(alive.sum(axis=1), 1.0)
        terminated = np.zeros(T, np.float32)
        last = n_env - 1 - start
        if episode.is_terminated and 0 <= last < T:
            terminated[last] = 1.0
        out = {OBS: obs, ACTIONS: actions, REWARDS: rewards, REWARD: team * filled,
               TERMINATED: terminated, TERMINATEDS: np.maximum(terminateds, alive * terminated[:, None]),
               FILLED: filled, ALIVE: alive, ALIVE_NEXT: alive_next * (1.0 - terminated[:, None])}
        if isinstance(longest, dict) and STATE in longest:
            out[STATE] = longest[STATE]
        if any(h is not None for h in h0):
            out[H0] = _stack(_zeros_for_missing(h0))
        return out


    def _action_array(self, episode, T: int) -> np.ndarray:
        """Zeros for ``T`` steps of joint actions in the stored actions' dtype.

        Discrete actions are int64 ``[T, N]``; vector (Box) actions are
        ``[T, N, A]`` with ``A`` the largest agent's size (smaller ones zero-padded).
        """
        shapes, dtype = [], None
        for sa in episode.agent_episodes.values():
            if len(sa):
                a = np.asarray(sa.get_actions(0))
                shapes.append(a.shape)
                dtype = a.dtype if dtype is None else np.promote_types(dtype, a.dtype)
        N = len(self.agent_ids)
        if dtype is None or not shapes or all(s == () for s in shapes):
            return np.zeros((T, N), np.int64 if dtype is None or dtype.kind in "iub" else dtype)
        width = max(int(np.prod(s)) for s in shapes)
        return np.zeros((T, N, width), dtype)


class _PackedRows:
    """Joint transitions of finished episodes in one float32 row store.

    An episode of ``n`` env steps takes ``n + 1`` consecutive rows; row ``t``
    holds every per-step column at step ``t`` (zeros in the last row) and every
    observation leaf at step ``t``, all agents flattened side by side, so a
    transition is rows ``t`` (columns of step t, observation) and ``t + 1``
    (next observation). Drawing a batch is then one fancy index per row set
    instead of a dozen per drawn episode. Values round-trip exactly: float32
    columns as they are, integer actions (Discrete) below 2**24.

    Rows of evicted episodes stay until they outnumber the live ones; then the
    store is compacted. It grows by doubling.
    """

    MIN_ROWS = 4096

    def __init__(self, full: Dict[str, Any]):
        # Layout from one episode's arrays: (key or obs leaf index, dtype, per-row shape, columns).
        self.obs_structure = full[OBS]
        self.entries: List[Tuple[Any, Any, Tuple[int, ...], slice]] = []
        col = 0
        for key in _STEP_KEYS:
            shape = full[key].shape[1:]
            width = int(np.prod(shape))
            self.entries.append((key, full[key].dtype, shape, slice(col, col + width)))
            col += width
        self.obs_entries: List[Tuple[Any, Tuple[int, ...], slice]] = []
        for leaf in tree.flatten(full[OBS]):
            shape = leaf.shape[1:]
            width = int(np.prod(shape))
            self.obs_entries.append((leaf.dtype, shape, slice(col, col + width)))
            col += width
        self.width = col
        self.rows = np.zeros((0, col), np.float32)
        self.used = 0
        self.starts: Dict[str, int] = {}
        self.lengths: Dict[str, int] = {}
        self.compactions = 0

    def start_of(self, episode_id: str) -> Optional[int]:
        return self.starts.get(episode_id)

    def append(self, episode_id: str, full: Dict[str, Any]) -> int:
        n = len(full[FILLED])
        if self.used + n + 1 > len(self.rows):
            live = sum(self.lengths.values())
            if live < self.used - live:
                self._compact()
            if self.used + n + 1 > len(self.rows):
                grown = np.zeros((max(2 * len(self.rows), self.used + n + 1, self.MIN_ROWS), self.width), np.float32)
                grown[:self.used] = self.rows[:self.used]
                self.rows = grown
        start = self.used
        block = self.rows[start:start + n + 1]  # written in place (rows past `used` are zero)
        for key, _, _, cols in self.entries:
            block[:n, cols] = full[key].reshape(n, -1)
        for (_, _, cols), leaf in zip(self.obs_entries, tree.flatten(full[OBS])):
            block[:, cols] = leaf.reshape(n + 1, -1)
        self.used += n + 1
        self.starts[episode_id] = start
        self.lengths[episode_id] = n + 1
        return start

    def forget_except(self, live_ids) -> None:
        """Drops the rows of evicted episodes from the index (compaction frees them)."""
        for eid in [e for e in self.starts if e not in live_ids]:
            del self.starts[eid], self.lengths[eid]

    def _compact(self) -> None:
        order = sorted(self.starts, key=self.starts.get)
        total = sum(self.lengths[e] for e in order)
        rows = np.zeros((max(2 * total, self.MIN_ROWS), self.width), np.float32)
        at = 0
        for e in order:
            s, m = self.starts[e], self.lengths[e]
            rows[at:at + m] = self.rows[s:s + m]
            self.starts[e] = at
            at += m
        self.rows, self.used = rows, at
        self.compactions += 1

    def gather(self, rows: np.ndarray) -> Dict[str, Any]:
        cur, nxt = self.rows[rows], self.rows[rows + 1]
        B = len(rows)
        out = {key: cur[:, cols].reshape(B, *shape).astype(dtype, copy=False)
               for key, dtype, shape, cols in self.entries}
        for name, src in ((OBS, cur), (NEXT_OBS, nxt)):
            leaves = [src[:, cols].reshape(B, *shape).astype(dtype, copy=False)
                      for dtype, shape, cols in self.obs_entries]
            out[name] = tree.unflatten_as(self.obs_structure, leaves)
        return out


def _pad(x: np.ndarray, length: int) -> np.ndarray:
    if len(x) >= length:
        return x[:length]
    pad = np.zeros((length - len(x), *x.shape[1:]), x.dtype)
    return np.concatenate([x, pad], axis=0)


def _zeros_for_missing(items: List[Any]) -> List[Any]:
    """Replaces None entries by zeros shaped like the first present entry."""
    ref = next(x for x in items if x is not None)
    zeros = tree.map_structure(np.zeros_like, ref)
    return [zeros if x is None else x for x in items]


def _pad_agents(items: List[Any]) -> List[Any]:
    """Agents whose observation leaves differ in shape (e.g. predators and prey):
    each such leaf is flattened to ``[T, size]`` and zero-padded to the widest agent's.

    ``rllib_marl.algorithms.offpolicy.batch.module_obs`` cuts a module's rows back
    to its own shape.
    """
    leaves = [tree.flatten(x) for x in items]
    out = [list(ls) for ls in leaves]
    for i in range(len(leaves[0])):
        shapes = {ls[i].shape for ls in leaves}
        if len(shapes) > 1:
            width = max(int(np.prod(ls[i].shape[1:])) for ls in leaves)
            for a, ls in enumerate(leaves):
                x = ls[i].reshape(len(ls[i]), -1)
                out[a][i] = np.pad(x, ((0, 0), (0, width - x.shape[1])))
    return [tree.unflatten_as(items[0], ls) for ls in out]


def _stack(items: List[Any], axis: int = 0) -> Any:
    """Stacks same-structured items (arrays or dicts of arrays) along ``axis``."""
    return tree.map_structure(lambda *xs: np.stack(xs, axis=axis), *items)
