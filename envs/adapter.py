"""RLlib ``MultiAgentEnv`` adapters for PettingZoo Parallel and AEC envs.

Our own adapter rather than RLlib's ``PettingZooEnv`` / ``ParallelPettingZooEnv``
(see docs/design.md for the bugs it avoids). Guarantees:

* a fixed agent order, ``sorted(possible_agents)``, wherever an index matters
  (agent one-hot ids, the concatenated global state);
* spaces from ``possible_agents``; no reset in the constructor;
* ``__all__`` set when every live agent is done, whether agents terminate,
  truncate, or a mix of both on the last step;
* action masks passed through (``action_mask`` in the observation);
* ``render()`` returns the env's frame (``render_mode="rgb_array"``);
* seeded resets (``reset(seed=...)`` seeds the PettingZoo env).

Each agent's observation is a ``Dict`` space with the keys

* ``obs``: the agent's own observation (float32; Discrete becomes one-hot);
* ``state``: the global state (only when ``global_state != "none"``);
* ``agent_id``: one-hot over the sorted agents (only when ``agent_id``);
* ``action_mask``: 1 = allowed (only when the env provides masks).

Actors read ``obs`` (+ ``agent_id``); centralized critics read ``state``.
"""

from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from ray.rllib.env.multi_agent_env import MultiAgentEnv

from rllib_marl.envs import env_metrics
from rllib_marl.envs.env_metrics import ENV_METRICS_INFO
from rllib_marl.envs.registry import EnvError, make_pettingzoo
from rllib_marl.envs.spec import (
    GLOBAL_STATE_MODES,
    REWARD_MODES,
    TEAM_AGGREGATES,
    TEAM_RETURN_CONVENTIONS,
    EnvConfig,
    team_lists,
    team_return_convention,
)

from rllib_marl.envs.observations import (  # noqa: F401  (re-exported names)
    ACTION_MASK,
    AGENT_ID,
    OBS,
    STATE,
    ObservationSpaceError,
    add_comm_inputs,
    agent_onehot,
    comm_spaces,
    is_image,
    model_space,
    random_action,
    split_obs_space,
    split_observation,
)
# Key in an agent's final ``infos`` entry: its return over the episode in the
# env's own rewards (before any reward shaping).
ENV_RETURN_INFO = "env_return"


def _model_space(space: gym.Space) -> spaces.Box:
    try:
        return model_space(space)
    except ObservationSpaceError as e:
        raise EnvError(str(e)) from None


#: ``global_state: auto`` never picks an env ``state()`` more than this many times
#: the size of all wrapped observations together.
STATE_SIZE_LIMIT = 10


class _PettingZooAdapter(MultiAgentEnv):
    """Shared logic of the Parallel and AEC adapters."""

    def __init__(self, cfg: EnvConfig, env, api: str):
        super().__init__()
        self.cfg = cfg
        self.env = env
        self.api = api
        self._check_cfg(cfg)
        self.possible_agents = sorted(env.possible_agents)
        self.agents = []
        self.agent_index = {a: i for i, a in enumerate(self.possible_agents)}
        self._n = len(self.possible_agents)

        # Per-agent raw spaces.
        self._raw_obs_spaces = {}
        self._mask_sizes: Dict[str, Optional[int]] = {}
        for a in self.possible_agents:
            part, mask_n = split_obs_space(env.observation_space(a))
            self._raw_obs_spaces[a] = part
            self._mask_sizes[a] = mask_n
            if mask_n is None and cfg.action_mask_from_info:
                act = env.action_space(a)
                if not isinstance(act, spaces.Discrete):
                    raise EnvError(
                        "env.action_mask_from_info: action masks need Discrete actions"
                    )
                self._mask_sizes[a] = int(act.n)
        # Frames stay uint8 (scaled inside the model); the rest becomes float32.
        self._obs_spaces_f = {a: _model_space(s) for a, s in self._raw_obs_spaces.items()}

        # Global state.
        has_state = callable(getattr(env, "state", None)) and getattr(
            env, "state_space", None
        ) is not None
        mode = cfg.global_state
        concat_dim = sum(int(np.prod(self._obs_spaces_f[a].shape)) for a in self.possible_agents)
        self.global_state_note = ""
        if mode == "auto":
            mode = "env" if has_state else "concat"
            if has_state:
                env_dim = int(np.prod(env.state_space.shape))
                if env_dim > STATE_SIZE_LIMIT * concat_dim:
                    # e.g. a rendered frame behind resize/stack wrappers: never the
                    # critic's input by default.
                    mode = "concat"
                    self.global_state_note = (
                        f"global_state auto: the env's state() has {env_dim:,} values, more than "
                        f"{STATE_SIZE_LIMIT}x all wrapped observations together ({concat_dim:,}); "
                        "using their concatenation (set env.global_state: env to use state() anyway)")
        if mode == "env" and not has_state:
            raise EnvError(
                f"env.global_state: {cfg.label} has no state(); use concat or auto"
            )
        self.global_state_mode = mode
        self._state_image = None  # (H, W, channels per agent) when the concat state stacks frames
        if mode == "env":
            space = _model_space(env.state_space)
            self._state_box = (space if is_image(space)
                               else spaces.Box(-np.inf, np.inf, (int(np.prod(space.shape)),), np.float32))
        elif mode == "concat":
            shapes = {self._obs_spaces_f[a].shape for a in self.possible_agents}
            if all(is_image(self._obs_spaces_f[a]) for a in self.possible_agents) and len(shapes) == 1:
                # Frames of every agent stacked along the channels: still a frame, still uint8.
                shape = shapes.pop()
                c = shape[2] if len(shape) == 3 else 1
                self._state_image = (shape[0], shape[1], c)
                self._state_box = spaces.Box(0, 255, (shape[0], shape[1], c * self._n), np.uint8)
            else:
                sizes = [int(np.prod(self._obs_spaces_f[a].shape)) for a in self.possible_agents]
                self._concat_offsets = np.cumsum([0] + sizes)
                self._state_dim = int(self._concat_offsets[-1])
                self._state_box = spaces.Box(-np.inf, np.inf, (self._state_dim,), np.float32)

        self._comm_teams = self._comm_setup(cfg) if cfg.comm else []
        self._comm_rng = np.random.default_rng()

        # RLlib-facing spaces.
        self.observation_spaces = {}
        self.action_spaces = {}
        for a in self.possible_agents:
            d = {OBS: self._obs_spaces_f[a]}
            for members in self._comm_teams:
                if a in members:
                    d.update(comm_spaces(len(members), self._comm_entry_dim[a]))
            if mode != "none":
                d[STATE] = self._state_box
            if cfg.agent_id:
                d[AGENT_ID] = spaces.Box(0.0, 1.0, (self._n,), np.float32)
            if self._mask_sizes[a] is not None:
                d[ACTION_MASK] = spaces.Box(0.0, 1.0, (self._mask_sizes[a],), np.float32)
            self.observation_spaces[a] = spaces.Dict(d)
            self.action_spaces[a] = env.action_space(a)
        self._agent_onehots = {a: agent_onehot(i, self._n) for a, i in self.agent_index.items()}

        # Reward structure and returns.
        r = cfg.reward
        self._team_weight = {"individual": 0.0, "team": 1.0, "mix": r.team_weight}[r.mode]
        self._team_mean = r.team_aggregate == "mean"
        self.team_return_convention = team_return_convention(cfg.team_return, env)
        self._env_returns: Dict[str, float] = {}
        self._episode_metrics = env_metrics.for_env(env) if api == "parallel" else None

    def _comm_setup(self, cfg: EnvConfig):
        """The teams that exchange messages (``env.teams``), each in sorted agent order."""
        if self.api != "parallel":
            raise EnvError(f"comm: {cfg.label} is turn-based (AEC); messages are exchanged between agents "
                           "acting in the same step, so communication needs a parallel env")
        if not 0.0 <= cfg.comm_dropout <= 1.0:
            raise EnvError(f"comm.dropout: {cfg.comm_dropout} is outside [0, 1]")
        images = [a for a in self.possible_agents if is_image(self._obs_spaces_f[a])]
        if images:
            raise EnvError(f"comm: {images[0]} sees image frames; communication supports vector "
                           "observations only yet")
        teams = team_lists(self.possible_agents, cfg.teams)
        self._comm_entry_dim = {}
        for members in teams:
            sizes = {a: int(np.prod(self._obs_spaces_f[a].shape)) for a in members}
            if len(set(sizes.values())) > 1:
                listed = ", ".join(f"{a} {n}" for a, n in sizes.items())
                raise EnvError(f"comm: a team's agents share one message encoder, so their observations must "
                               f"have one size ({listed}); pad them with the pad_observations_v0 wrapper, or "
                               "use env.teams: by_prefix when they belong to different teams")
            dim = next(iter(sizes.values())) + (self._n if cfg.agent_id else 0)
            for a in members:
                self._comm_entry_dim[a] = dim
        return teams

    @property
    def comm_teams(self):
        """The teams that exchange messages (each a list of agents in its fixed order); [] without comm."""
        return [list(t) for t in self._comm_teams]

    @staticmethod
    def _check_cfg(cfg: EnvConfig) -> None:
        if cfg.reward.mode not in REWARD_MODES:
            raise EnvError(
                f"env.reward.mode: unknown value {cfg.reward.mode!r}; allowed: "
                + ", ".join(REWARD_MODES)
            )
        if cfg.reward.team_aggregate not in TEAM_AGGREGATES:
            raise EnvError(
                f"env.reward.team_aggregate: unknown value {cfg.reward.team_aggregate!r}; "
                "allowed: " + ", ".join(TEAM_AGGREGATES)
            )
        if not 0.0 <= cfg.reward.team_weight <= 1.0:
            raise EnvError(
                f"env.reward.team_weight: {cfg.reward.team_weight} is outside [0, 1]"
            )
        if cfg.global_state not in GLOBAL_STATE_MODES:
            raise EnvError(
                f"env.global_state: unknown value {cfg.global_state!r}; allowed: "
                + ", ".join(GLOBAL_STATE_MODES)
            )
        if cfg.team_return not in TEAM_RETURN_CONVENTIONS:
            raise EnvError(
                f"env.team_return: unknown value {cfg.team_return!r}; allowed: "
                + ", ".join(TEAM_RETURN_CONVENTIONS)
            )

    # ----- observation building -------------------------------------------------

    def _split(self, agent: str, raw):
        """Returns (float obs, mask or None) of one raw PettingZoo observation."""
        return split_observation(raw, self._raw_obs_spaces[agent])

    def _global_state(self, obs_f: Dict[str, np.ndarray]) -> np.ndarray:
        if self.global_state_mode == "env":
            if self._state_box.dtype == np.uint8:
                return np.array(self.env.state(), dtype=np.uint8)  # copies: see to_model
            return np.array(self.env.state(), dtype=np.float32).reshape(-1)
        if self._state_image is not None:
            h, w, c = self._state_image
            s = np.zeros(self._state_box.shape, np.uint8)  # absent agents: black frames
            for a, o in obs_f.items():
                i = self.agent_index[a]
                s[:, :, i * c:(i + 1) * c] = o.reshape(h, w, c)
            return s
        s = np.zeros(self._state_dim, np.float32)
        off = self._concat_offsets
        for a, o in obs_f.items():
            i = self.agent_index[a]
            s[off[i] : off[i + 1]] = o.reshape(-1)
        return s

    def _build_obs(self, raw_obs: Dict[str, Any], infos: Dict[str, dict], state_src=None):
        parts = {a: self._split(a, o) for a, o in raw_obs.items()}
        obs_f = {a: p[0] for a, p in parts.items()}
        state = None
        if self.global_state_mode != "none":
            state = self._global_state(obs_f if state_src is None else state_src)
        out = {}
        for a, (o, mask) in parts.items():
            d = {OBS: o}
            if state is not None:
                d[STATE] = state
            if self.cfg.agent_id:
                d[AGENT_ID] = self._agent_onehots[a]
            n_mask = self._mask_sizes[a]
            if n_mask is not None:
                if mask is None:
                    mask = infos.get(a, {}).get(ACTION_MASK)
                d[ACTION_MASK] = (
                    np.ones(n_mask, np.float32)
                    if mask is None
                    else np.array(mask, dtype=np.float32)
                )
            out[a] = d
        if self._comm_teams:  # each present member's team inputs (learned communication)
            add_comm_inputs(out, self._comm_teams, self.cfg.comm_dropout, self._comm_rng)
        return out

    def _shape_rewards(self, rewards: Dict[str, float]) -> Dict[str, float]:
        for a, r in rewards.items():
            self._env_returns[a] = self._env_returns.get(a, 0.0) + float(r)
        w = self._team_weight
        if w == 0.0 or not rewards:
            return {a: float(r) for a, r in rewards.items()}
        team = float(sum(rewards.values()))
        if self._team_mean:
            team /= len(rewards)
        return {a: (1.0 - w) * float(r) + w * team for a, r in rewards.items()}

    def render(self):
        return self.env.render()

    @property
    def env_returns(self) -> Dict[str, float]:
        """Each agent's return so far in this episode, in the env's own rewards."""
        return dict(getattr(self, "_env_returns", {}))

    def close(self):
        self.env.close()


class ParallelPettingZooAdapter(_PettingZooAdapter):
    """Simultaneous-move envs (MPE, matrix games, butterfly, ...)."""

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        raw_obs, infos = self.env.reset(seed=seed, options=options)
        if seed is not None:  # lost messages are drawn from the episode's seed too
            self._comm_rng = np.random.default_rng([seed, 1])
        self.agents = sorted(self.env.agents)
        self._env_returns = {a: 0.0 for a in self.agents}
        if self._episode_metrics is not None:
            self._episode_metrics.reset()
        infos = {a: dict(infos.get(a, {})) for a in raw_obs}
        return self._build_obs(raw_obs, infos), infos

    def step(self, action_dict: Dict[str, Any]):
        alive = self.agents
        raw_obs, rewards, terms, truncs, infos = self.env.step(
            {a: action_dict[a] for a in alive if a in action_dict}
        )
        infos = {a: dict(infos.get(a, {})) for a in set(infos) | set(raw_obs)}
        obs = self._build_obs(raw_obs, infos)
        rewards = self._shape_rewards(rewards)
        terms = {a: bool(v) for a, v in terms.items()}
        truncs = {a: bool(v) for a, v in truncs.items()}
        self.agents = sorted(self.env.agents)
        done = [a for a in alive if terms.get(a, False) or truncs.get(a, False)]
        measured = None
        if self._episode_metrics is not None:
            self._episode_metrics.step()
            if done and not self.agents:
                measured = self._episode_metrics.result()
        for a in done:
            infos.setdefault(a, {})[ENV_RETURN_INFO] = self._env_returns.get(a, 0.0)
            if measured is not None:
                infos[a][ENV_METRICS_INFO] = measured
        all_done = len(done) == len(alive) or not self.agents
        all_terminated = all_done and all(terms.get(a, False) for a in alive)
        terms["__all__"] = all_terminated
        truncs["__all__"] = all_done and not all_terminated
        return obs, rewards, terms, truncs, infos


class AECPettingZooAdapter(_PettingZooAdapter):
    """Turn-based envs: only the agent whose turn it is gets an observation.

    A reward reaches an agent when it next observes (PettingZoo's cumulative
    rewards since its last move), so no reward is counted twice or lost. Agents
    that are done get their final observation and are dead-stepped.
    """

    def _state_from_observe(self):
        if self.global_state_mode != "concat":
            return None
        return {a: self._split(a, self.env.observe(a))[0] for a in self.env.agents}

    def _collect(self):
        obs, rewards, terms, truncs, infos = {}, {}, {}, {}, {}
        while self.env.agents:
            a = self.env.agent_selection
            raw, r, term, trunc, info = self.env.last()
            obs[a], rewards[a] = raw, float(r)
            terms[a], truncs[a], infos[a] = bool(term), bool(trunc), dict(info)
            if term or trunc:
                infos[a][ENV_RETURN_INFO] = self._env_returns.get(a, 0.0) + float(r)
                self.env.step(None)
            else:
                break
        return obs, rewards, terms, truncs, infos

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        self.env.reset(seed=seed, options=options)
        self._env_returns = {a: 0.0 for a in self.env.agents}
        obs, _, _, _, infos = self._collect()
        self.agents = sorted(self.env.agents)
        return self._build_obs(obs, infos, self._state_from_observe()), infos

    def step(self, action_dict: Dict[str, Any]):
        a = self.env.agent_selection
        self.env.step(action_dict[a])
        state_src = self._state_from_observe() if self.env.agents else None
        raw_obs, rewards, terms, truncs, infos = self._collect()
        obs = self._build_obs(raw_obs, infos, state_src)
        rewards = self._shape_rewards(rewards)
        self.agents = sorted(self.env.agents)
        all_done = not self.env.agents
        terms["__all__"] = all_done and all(terms.values())
        truncs["__all__"] = all_done and not terms["__all__"]
        return obs, rewards, terms, truncs, infos


def _random_play(env, steps: int, seed: int):
    """Up to ``steps`` seeded random steps through a built adapter: yields
    ``(steps so far, steps into this episode, whether it ended)`` after each; an
    ended episode is followed by a reset (read ``env.env_returns`` before asking
    for the next step)."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    t, episodes = 0, 0
    for i in range(steps):
        if not obs:
            return
        obs, _, terms, truncs, _ = env.step({a: random_action(env.action_spaces[a], o, rng) for a, o in obs.items()})
        t += 1
        ended = bool(terms["__all__"] or truncs["__all__"])
        yield i + 1, t, ended
        if ended:
            episodes += 1
            t = 0
            obs, _ = env.reset(seed=seed + episodes)


#: ``env.teams: auto`` plays at most this many random episodes (and steps) to tell a zero-sum game.
SIDE_PROBE_EPISODES = 4
SIDE_PROBE_STEPS = 2000


def _cancels(returns: Dict[str, float]) -> bool:
    """Whether one episode's returns add up to zero (up to rounding)."""
    return abs(sum(returns.values())) <= 1e-6 * max(abs(v) for v in returns.values())


def resolve_teams(env, teams: str, seed: int = 0) -> Tuple[str, str]:
    """``(teams, why)``: ``env.teams`` with ``auto`` resolved for a built adapter.

    ``per_agent`` for a two-player zero-sum game: the env says so
    (``metadata["zero_sum"]``), or in up to :data:`SIDE_PROBE_EPISODES` random
    episodes the two returns, in the env's own rewards, always cancel and are
    not all zero. Anything else is ``one``. The env is reset afterwards by
    whoever uses it next (each episode starts with a reset)."""
    if teams != "auto":
        return teams, ""
    if len(env.possible_agents) != 2:
        return "one", ""
    meta = getattr(env.env, "metadata", None) or {}
    if "zero_sum" in meta:
        return ("per_agent" if meta["zero_sum"] else "one"), "the env's metadata (zero_sum)"
    finished = []
    for _, _, ended in _random_play(env, SIDE_PROBE_STEPS, seed):
        if ended:
            finished.append(env.env_returns)
            if len(finished) == SIDE_PROBE_EPISODES or not _cancels(finished[-1]):
                break  # enough episodes, or one whose returns do not cancel
    paid = any(v != 0.0 for r in finished for v in r.values())
    if paid and all(_cancels(r) for r in finished):
        return "per_agent", (f"two players whose returns cancelled in {len(finished)} random episodes: a "
                             "zero-sum game, reported per player (env.teams: one to report a team return)")
    return "one", ""


#: Random steps :func:`degenerate_notes` plays.
DEGENERATE_STEPS = 300


def degenerate_notes(env, steps: int = DEGENERATE_STEPS, seed: int = 0) -> list:
    """Warnings about an env a run would train on without learning anything,
    from ``steps`` random steps: every episode ended after its first step (a
    turn-based game, or with nothing paid: e.g. an episode cut short by a wrong
    length limit), or every reward was 0. Each names what was seen."""
    lengths, nonzero, done_steps = [], False, 0
    for played, t, ended in _random_play(env, steps, seed):
        nonzero = nonzero or any(abs(float(r)) > 0.0 for r in env.env_returns.values())
        if nonzero and (t >= 2 or any(n > 1 for n in lengths)):
            return []  # it pays, and an episode outlasted its first step: nothing to say
        if ended:
            lengths.append(t)
            done_steps = played
    notes = []
    if len(lengths) >= 3 and max(lengths) == 1 and (env.api == "aec" or not nonzero):
        notes.append(f"every one of {len(lengths)} random episodes ended after its first step"
                     + (" in a turn-based game (the other player never moved)" if env.api == "aec" else
                        " with every reward 0")
                     + "; check the env's length limit (max_cycles, max_game_length)")
    elif not nonzero:
        played = done_steps if lengths else steps
        notes.append(f"every reward was 0 over the first {played} random steps ({len(lengths)} episodes ended); "
                     "expected for a sparse-reward env (LBF, RWARE), else check the env's rewards")
    return notes


def make_env(cfg: EnvConfig | Dict[str, Any], render_mode: str | None = None, context=None):
    """Builds the RLlib-facing adapter for an env config (dataclass or dict);
    ``context``: RLlib's ``EnvContext`` where an env runner builds it."""
    if not isinstance(cfg, EnvConfig):
        cfg = EnvConfig.from_dict(cfg)
    env, api = make_pettingzoo(cfg, render_mode=render_mode, context=context)
    cls = ParallelPettingZooAdapter if api == "parallel" else AECPettingZooAdapter
    return cls(cfg, env, api)


class RLlibEnv(MultiAgentEnv):
    """The class handed to ``AlgorithmConfig.environment(env=...)``.

    RLlib builds it with ``env_config`` (an ``EnvConfig`` as dict, plus an
    optional ``render_mode``); it forwards everything to the adapter.
    """

    def __new__(cls, env_config: Optional[Dict[str, Any]] = None):
        cfg = dict(env_config or {})
        render_mode = cfg.pop("render_mode", None)
        return make_env(cfg, render_mode=render_mode, context=env_config)
