"""VMAS scenarios (``env.name: vmas:<scenario>``), one env at a time or batched.

VMAS (the Vectorized Multi-Agent Simulator) steps ``num_envs`` copies of a
scenario as one batch of torch tensors. rllib_marl reaches it two ways, with the
same observations, rewards and episode ends:

* :class:`VmasParallelEnv`: a PettingZoo ``ParallelEnv`` over one VMAS env of a
  single sub-env. It goes through the usual adapter (``envs/adapter.py``), so
  every algorithm, ``evaluate``, ``--render`` and export work on it unchanged;
  this is also what the tests hold the batched path against.
* :class:`VmasBatchedEnv`: the whole batch, for the batched env runner
  (``rllib_marl/batched_runner.py``): one ``step`` for all sub-envs, observations
  in the adapter's layout (``obs``, ``state``, ``agent_id``) as tensors with the
  sub-env index as the batch axis, finished sub-envs reset in place.

Conventions (stated in the run's summary and in docs/envs.md):

* agents: VMAS's names (``agent_0``, ...), sorted as the adapter sorts them;
* ``env.kwargs``: VMAS's ``make_env`` arguments and the scenario's own
  (``n_agents``, ...). ``num_envs`` is the sub-env count of the batched runner
  (one env runner's batch; the one-at-a-time view always has one);
  ``continuous_actions`` defaults to VMAS's own default (true); ``max_steps``
  to :data:`DEFAULT_MAX_STEPS` (VMAS's own default is no limit, which would end
  no episode in scenarios that never finish, e.g. simple_spread) — BenchMARL's
  VMAS tasks use 100 too;
* episode ends: the scenario's ``done()`` is a termination, reaching
  ``max_steps`` a truncation (bootstrapped by PPO's value targets);
* team return: ``mean`` over agents (most VMAS scenarios pay every agent the
  same shared reward; set ``env.team_return: sum`` for the sum);
* global state: the concatenation of the agents' observations (``concat``);
  VMAS scenarios have no ``state()``;
* env metrics: each key of the scenario's step infos (navigation: ``pos_rew``,
  ``final_rew``, ``agent_collisions``), summed over the episode's steps of its
  mean over agents.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from rllib_marl.envs.sources import EnvError

VMAS = "vmas:"
#: ``max_steps`` when ``env.kwargs`` does not set it.
DEFAULT_MAX_STEPS = 100
#: ``make_env`` arguments we set ourselves.
_OURS = ("dict_spaces", "terminated_truncated", "wrapper", "grad_enabled")


def _import_vmas():
    try:
        import vmas
    except ImportError:
        raise EnvError("env.name: vmas: needs the vmas package; install it with "
                       "pip install 'rllib_marl[vmas]' (or pip install vmas)") from None
    return vmas


_SCENARIOS: List[str] = []


def scenario_names() -> List[str]:
    """VMAS's scenarios, MPE ports and debug scenarios (read from its package: once a
    scenario is imported, ``vmas.scenarios`` names the subpackage, not the list)."""
    if not _SCENARIOS:
        import pkgutil

        vmas = _import_vmas()
        root = Path(vmas.__file__).parent / "scenarios"
        for sub in (root, root / "mpe", root / "debug"):
            _SCENARIOS.extend(m.name for m in pkgutil.iter_modules([str(sub)]) if not m.ispkg)
        _SCENARIOS.sort()
    return _SCENARIOS


def _gym_space(space) -> gym.Space:
    """A VMAS (``gym``) space as a Gymnasium one."""
    name = type(space).__name__
    if name == "Box":
        return spaces.Box(np.asarray(space.low, np.float32), np.asarray(space.high, np.float32),
                          tuple(space.shape), np.float32)
    if name == "Discrete":
        return spaces.Discrete(int(space.n))
    if name == "MultiDiscrete":
        return spaces.MultiDiscrete(np.asarray(space.nvec))
    raise EnvError(f"env.name: VMAS space {space} is not supported (Box, Discrete or MultiDiscrete only)")


def make_vmas(scenario: str, num_envs: int, device: str = "cpu", seed: Optional[int] = None, **kwargs):
    """``vmas.make_env`` with our settings (terminated and truncated apart, list spaces)."""
    vmas = _import_vmas()
    bad = [k for k in _OURS if k in kwargs]
    if bad:
        raise EnvError(f"env.kwargs.{bad[0]}: set by rllib_marl for VMAS; leave it out")
    kwargs.setdefault("max_steps", DEFAULT_MAX_STEPS)
    if scenario not in scenario_names():
        raise EnvError(f"env.name: vmas:{scenario} is not a VMAS scenario; VMAS {vmas.__version__} has "
                       f"{', '.join(scenario_names())}")
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            env = vmas.make_env(scenario, num_envs=num_envs, device=device, seed=seed, dict_spaces=False,
                                terminated_truncated=True, **kwargs)
        except (TypeError, ValueError) as e:
            raise EnvError(f"env.kwargs: vmas:{scenario}: {e}") from None
    for w in caught:
        text = str(w.message)
        if text.startswith("Scenario kwargs:"):  # VMAS only warns about a misspelt parameter
            raise EnvError(f"env.kwargs: vmas:{scenario}: {text.split(' This will')[0]} (not parameters of "
                           "this scenario; see its make_world)")
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return env


def vmas_maker(name: str):
    """The constructor of ``vmas:<scenario>``'s one-at-a-time view (``env.kwargs``
    its arguments); the scenario name is checked now."""
    scenario = name[len(VMAS):]
    if not scenario:
        raise EnvError("env.name: vmas: needs a scenario, e.g. vmas:navigation")
    if scenario not in scenario_names():
        raise EnvError(f"env.name: {name} is not a VMAS scenario; VMAS has {', '.join(scenario_names())}")

    def make(render_mode=None, **kwargs):
        return VmasParallelEnv(scenario, render_mode=render_mode, **kwargs)

    make.__name__ = make.__qualname__ = f"vmas_{scenario}"
    return make


def info_means(info: List[Dict[str, Any]]) -> Dict[str, Any]:
    """A VMAS step's infos (one dict per agent, tensors ``[N]`` or ``[N, k]``) as one
    ``[N]`` tensor per key: the mean over agents (and over a key's entries)."""
    out: Dict[str, Any] = {}
    n = len(info)
    for d in info:
        for k, v in (d or {}).items():
            v = v.float().reshape(v.shape[0], -1).mean(1) / n
            out[k] = v if k not in out else out[k] + v
    return out


def _vmas_kwargs(kwargs: Dict[str, Any]) -> Dict[str, Any]:
    """``env.kwargs`` without the batched runner's own settings."""
    return {k: v for k, v in kwargs.items() if k not in ("num_envs", "device")}


class VmasParallelEnv(ParallelEnv):
    """One VMAS sub-env as a PettingZoo ``ParallelEnv`` (see the module docstring)."""

    metadata = {"render_modes": ["rgb_array"], "team_return": "mean", "is_parallelizable": True}
    #: the batched env runner can step this scenario's sub-envs as one batch
    batched_simulator = True

    def __init__(self, scenario: str, render_mode: Optional[str] = None, **kwargs):
        self.scenario = scenario
        self.render_mode = render_mode
        self._env = make_vmas(scenario, num_envs=1, **_vmas_kwargs(kwargs))
        self.metadata = {**self.metadata, "name": f"vmas:{scenario}"}
        self.possible_agents = [a.name for a in self._env.agents]
        self.agents: List[str] = []
        obs_sp = self._env.observation_space
        act_sp = self._env.action_space
        self._obs_spaces = {a: _gym_space(obs_sp[i]) for i, a in enumerate(self.possible_agents)}
        self._act_spaces = {a: _gym_space(act_sp[i]) for i, a in enumerate(self.possible_agents)}
        self.continuous = bool(self._env.continuous_actions)
        self.max_steps = self._env.max_steps

    @property
    def vmas_env(self):
        return self._env

    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    @property
    def unwrapped(self):
        return self

    def _obs(self, raw) -> Dict[str, np.ndarray]:
        return {a: raw[i][0].detach().cpu().numpy().astype(np.float32)
                for i, a in enumerate(self.possible_agents)}

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        raw = self._env.reset(seed=seed)
        self.agents = list(self.possible_agents)
        self.info_sums: Dict[str, float] = {}
        return self._obs(raw), {a: {} for a in self.agents}

    def step(self, actions: Dict[str, Any]):
        import torch

        acts = []
        for a in self.possible_agents:
            x = actions.get(a)
            if x is None:
                x = self._act_spaces[a].sample() * 0
            t = torch.as_tensor(np.asarray(x))
            acts.append(t.reshape(1, -1).float() if self.continuous else t.reshape(1).long())
        raw, rews, terminated, truncated, info = self._env.step(acts)
        for k, v in info_means(info).items():
            self.info_sums[k] = self.info_sums.get(k, 0.0) + float(v[0])
        obs = self._obs(raw)
        rewards = {a: float(rews[i][0]) for i, a in enumerate(self.possible_agents)}
        term = bool(terminated[0])
        trunc = bool(truncated[0]) and not term
        terms = {a: term for a in self.possible_agents}
        truncs = {a: trunc for a in self.possible_agents}
        if term or trunc:
            self.agents = []
        return obs, rewards, terms, truncs, {a: {} for a in self.possible_agents}

    def episode_metrics(self):
        """The env metrics of this episode (``envs/env_metrics.py``): the summed infos."""
        from rllib_marl.envs.env_metrics import EpisodeMetrics

        env = self

        class _Infos(EpisodeMetrics):
            def result(self):
                return dict(env.info_sums)

        return _Infos(None, None)

    def render(self):
        return self._env.render(mode="rgb_array", env_index=0)

    def close(self):
        pass


class VmasBatchedEnv:
    """``num_envs`` sub-envs of one scenario stepped as one batch, in the adapter's
    observation layout (per agent, in sorted order: ``obs`` ``[N, d]``, and where
    the env config asks for them ``state`` ``[N, sum d]`` and ``agent_id`` ``[N, A]``).

    Rewards come shaped by ``env.reward`` as the adapter shapes them (``rewards``)
    and as the env paid them (``env_rewards``). ``reset_done(done)`` resets the
    finished sub-envs in place (one vectorized reset when all of them finished)."""

    def __init__(self, cfg, num_envs: int, device: str = "cpu"):
        from rllib_marl.envs.spec import EnvConfig

        if not isinstance(cfg, EnvConfig):
            cfg = EnvConfig.from_dict(cfg)
        self.cfg = cfg
        self.scenario = cfg.name[len(VMAS):]
        kwargs = _vmas_kwargs(dict(cfg.kwargs or {}))
        self.num_envs = int(num_envs)
        self.device = device
        self._env = make_vmas(self.scenario, num_envs=self.num_envs, device=device, **kwargs)
        names = [a.name for a in self._env.agents]
        self.agents = sorted(names)
        self._vmas_index = [names.index(a) for a in self.agents]  # sorted position -> VMAS position
        self.n_agents = len(self.agents)
        obs_sp = self._env.observation_space
        act_sp = self._env.action_space
        self.obs_spaces = {a: _gym_space(obs_sp[names.index(a)]) for a in self.agents}
        self.action_spaces = {a: _gym_space(act_sp[names.index(a)]) for a in self.agents}
        self.continuous = bool(self._env.continuous_actions)
        mode = cfg.global_state
        if mode == "env":
            raise EnvError("env.global_state: VMAS scenarios have no state(); use concat or auto")
        self.with_state = mode != "none"
        self.with_id = bool(cfg.agent_id)
        r = cfg.reward
        self._team_weight = {"individual": 0.0, "team": 1.0, "mix": r.team_weight}[r.mode]
        self._team_mean = r.team_aggregate == "mean"

    @property
    def vmas_env(self):
        return self._env

    def _layout(self, raw) -> Dict[str, Any]:
        """``{"obs": [A, N, d] (when every agent's d is equal) or a list, "state", "agent_id"}``."""
        import torch

        obs = [raw[j].float() for j in self._vmas_index]
        out: Dict[str, Any] = {"obs": obs}
        if self.with_state:
            out["state"] = torch.cat([o.reshape(self.num_envs, -1) for o in obs], dim=1)
        return out

    def reset(self, seed: Optional[int] = None, seeds: Optional[List[int]] = None):
        """All sub-envs: one vectorized reset (``seed`` seeds VMAS's random state),
        or sub-env ``i`` reset from ``seeds[i]`` (what ``VmasParallelEnv.reset(seed=seeds[i])`` draws)."""
        if seeds is None:
            return self._layout(self._env.reset(seed=seed))
        for i, s in enumerate(seeds):
            self._env.seed(s)
            self._env.reset_at(i, return_observations=False)
        return self._layout(self._env.get_from_scenario(get_observations=True, get_rewards=False,
                                                        get_infos=False, get_dones=False)[0])

    def step(self, actions: List[Any]):
        """``actions``: one tensor per agent in sorted order (``[N]`` discrete, ``[N, k]``
        continuous). Returns ``(obs, rewards [A, N], env_rewards [A, N], terminated [N],
        truncated [N], infos)``; ``truncated`` excludes sub-envs that also terminated;
        ``infos``: :func:`info_means` of the step's infos."""
        import torch

        vm = [None] * self.n_agents
        for k, j in enumerate(self._vmas_index):
            vm[j] = actions[k]
        raw, rews, terminated, truncated, info = self._env.step(vm)
        env_r = torch.stack([rews[j].float() for j in self._vmas_index])
        w = self._team_weight
        if w == 0.0:
            shaped = env_r
        else:
            team = env_r.sum(0, keepdim=True)
            if self._team_mean:
                team = team / self.n_agents
            shaped = (1.0 - w) * env_r + w * team
        terminated = terminated.bool()
        truncated = truncated.bool() & ~terminated
        return self._layout(raw), shaped, env_r, terminated, truncated, info_means(info)

    def reset_done(self, done) -> Optional[Dict[str, Any]]:
        """Resets the sub-envs where ``done``; their new observations in the returned
        layout (``None`` when none was done)."""
        idx = done.nonzero().flatten().tolist()
        if not idx:
            return None
        if len(idx) == self.num_envs:
            return self._layout(self._env.reset())
        for i in idx:
            self._env.reset_at(i, return_observations=False)
        return self._layout(self._env.get_from_scenario(get_observations=True, get_rewards=False,
                                                        get_infos=False, get_dones=False)[0])
