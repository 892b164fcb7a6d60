"""Where an env comes from: every kind of env a user may have becomes a PettingZoo env.

``env.name`` (``env_config["name"]`` from Python) may be

* a built-in game (``two_step``, ``rps``, ...) or an import path of a PettingZoo
  env module (``mpe2.simple_spread_v3``) or callable (``package.module:make``);
* ``gymnasium:<id>``: a Gymnasium multi-agent env with ``Tuple`` observation and
  action spaces, one entry per agent, as Level-Based Foraging and RWARE are
  (``gymnasium:Foraging-8x8-2p-2f-coop-v3``, ``gymnasium:rware-tiny-2ag-v2``;
  ``gymnasium:package:<id>`` imports ``package`` first, as ``gymnasium.make`` does);
* a name registered with ``ray.tune.register_env``;
* from Python, a class or a function: a PettingZoo env class or factory, an RLlib
  ``MultiAgentEnv`` class, a Gymnasium env class, or a function returning any of
  these. It travels to remote env runners inside the config (cloudpickle), so a
  factory defined in the user's script works with remote env runners too.

What is built is turned into one thing, a PettingZoo env (Parallel or AEC), which
the adapter (``rllib_marl.envs.adapter``) presents to RLlib: RLlib
``MultiAgentEnv`` s through :class:`MultiAgentEnvView`, Tuple-space Gymnasium envs
through :class:`TupleEnvView`. Keyword arguments (``env.kwargs``) reach a
constructor as keywords, except RLlib's own kinds (``MultiAgentEnv`` classes,
``register_env`` creators, functions of one ``config`` argument), which get them
as one config dict (an ``EnvContext``, with the env runner's worker index), as
RLlib passes them.

Any exception a constructor raises becomes an :class:`EnvError` naming the env,
with an install hint where a package or a registration is missing. No Ray import
at module level: configs are parsed before Ray starts.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, Callable, Dict, List, Optional, Tuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from rllib_marl.envs.spec import env_label  # noqa: F401  (re-exported)

GYMNASIUM = "gymnasium:"
# Gymnasium id prefixes whose package registers them on import (so a user can
# write gymnasium:Foraging-8x8-2p-2f-coop-v3 without naming lbforaging).
GYM_PACKAGES = {"Foraging": "lbforaging", "rware": "rware"}
# RLlib's key for a global state inside an agent's Dict observation (QMIX's convention).
RLLIB_ENV_STATE = "state"

# How a constructor takes ``env.kwargs``.
AS_KEYWORDS = "keywords"
AS_CONFIG = "config"  # one dict (an EnvContext), as RLlib passes env_config


class EnvError(ValueError):
    """An environment cannot be built as configured."""


def _multi_agent_env_class():
    """RLlib's ``MultiAgentEnv`` where RLlib is imported, else None: an object can
    only be one if its module imported RLlib, and this module (read by ``deploy``,
    which runs without Ray) imports no Ray of its own."""
    mod = sys.modules.get("ray.rllib.env.multi_agent_env")
    return getattr(mod, "MultiAgentEnv", None)


def _is_env_instance(obj) -> bool:
    mae = _multi_agent_env_class()
    return isinstance(obj, (ParallelEnv, AECEnv, gym.Env)) or (mae is not None and isinstance(obj, mae))


def _takes_config(fn: Callable, kwargs: Dict[str, Any]) -> bool:
    """Whether a function is one of RLlib's env creators (``lambda config: ...``):
    one positional parameter that the keyword arguments do not name."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return False
    if any(p.kind == p.VAR_KEYWORD for p in params):
        return False
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) != 1 or positional[0].name in kwargs:
        return False
    return positional[0].default is inspect.Parameter.empty or positional[0].name in (
        "config", "env_config", "env_context", "ctx", "context", "cfg")


def resolve_callable(obj, kwargs: Dict[str, Any]) -> Tuple[Callable, str]:
    """``(constructor, how it takes kwargs)`` for a class or function given as the env."""
    mae = _multi_agent_env_class()
    if _is_env_instance(obj):
        raise EnvError(f"env.name: {type(obj).__name__} is an env instance; pass its class or a function "
                       "that builds one (every env runner, and every sub-env of one, builds its own)")
    if not callable(obj):
        raise EnvError(f"env.name: {obj!r} is neither a name nor a class or function that builds an env")
    if isinstance(obj, type) and mae is not None and issubclass(obj, mae):
        return obj, AS_CONFIG
    if not isinstance(obj, type) and _takes_config(obj, kwargs):
        return obj, AS_CONFIG
    return obj, AS_KEYWORDS


def registered_creator(name: str) -> Optional[Callable]:
    """The creator of an env registered with ``ray.tune.register_env``, or None
    (also where Ray's Tune was never imported: nothing can be registered then)."""
    if not isinstance(name, str) or not name or "ray.tune.registry" not in sys.modules:
        return None
    try:
        from ray.tune.registry import ENV_CREATOR, _global_registry
    except ImportError:  # pragma: no cover - ray[tune] ships with ray[rllib]
        return None
    try:
        if _global_registry.contains(ENV_CREATOR, name):
            return _global_registry.get(ENV_CREATOR, name)
    except Exception:  # noqa: BLE001 - a registry that cannot be read: not registered here
        return None
    return None


def gymnasium_maker(name: str) -> Callable[..., Any]:
    """A constructor for ``gymnasium:<id>`` (or ``gymnasium:package:<id>``)."""
    env_id = name[len(GYMNASIUM):]
    if not env_id:
        raise EnvError("env.name: gymnasium: needs an env id, e.g. gymnasium:Foraging-8x8-2p-2f-coop-v3")
    package = env_id.split(":", 1)[0] if ":" in env_id else GYM_PACKAGES.get(env_id.split("-", 1)[0])
    if ":" in env_id:
        env_id = env_id.split(":", 1)[1]
    if package:
        try:
            importlib.import_module(package)
        except ImportError as e:
            raise EnvError(f"env.name: {name} needs the {package!r} package ({e}); pip install {package}"
                           + (" (or pip install 'rllib_marl[lbforaging]')" if package == "lbforaging" else
                              " (or pip install 'rllib_marl[rware]')" if package == "rware" else "")) from None

    def make(**kwargs):
        # Gymnasium's env checker holds an env to the single-agent API (one float
        # reward), which every multi-agent Gymnasium env breaks by design.
        kwargs.setdefault("disable_env_checker", True)
        return gym.make(env_id, **kwargs)

    make.__qualname__ = make.__name__ = f"gymnasium.make({env_id!r})"
    return make


def construct(ctor: Callable, how: str, kwargs: Dict[str, Any], label: str, context=None):
    """Calls an env constructor; any exception it raises becomes one :class:`EnvError`."""
    try:
        if how == AS_CONFIG:
            return ctor(env_context(kwargs, context))
        return ctor(**kwargs)
    except EnvError:
        raise
    except ImportError as e:
        missing = getattr(e, "name", None) or str(e)
        raise EnvError(f"env.name: {label} needs {missing!r}, which is not installed ({e}); "
                       "pip install the package that provides it") from None
    except (TypeError, ValueError, AssertionError) as e:
        raise EnvError(f"env.kwargs: {label} rejected {kwargs}: {type(e).__name__}: {e}") from None
    except OSError as e:
        raise EnvError(f"env.name: {label} could not read a file it needs ({type(e).__name__}: {e}); "
                       "is the env's data (ROMs, assets) installed?") from None
    except Exception as e:  # noqa: BLE001 - a user's env may raise anything; report it in one line
        if type(e).__module__.startswith("gymnasium"):  # NameNotFound, VersionNotFound, ...
            raise EnvError(_gym_message(label, e)) from None
        raise EnvError(f"env.name: building {label} raised {type(e).__name__}: {e}") from None


def _gym_message(label: str, e: Exception) -> str:
    text = f"env.name: {label}: {type(e).__name__}: {e}"
    if type(e).__name__ in ("NameNotFound", "NamespaceNotFound", "VersionNotFound", "UnregisteredEnv"):
        text += ("; the package that registers the env must be importable: name it as gymnasium:package:id "
                 "(e.g. gymnasium:lbforaging:Foraging-8x8-2p-2f-coop-v3) and pip install it")
    return text


def env_context(kwargs: Dict[str, Any], context=None):
    """``kwargs`` as RLlib's ``EnvContext`` (the env runner's worker and vector
    index where RLlib gave them), for constructors that take one config dict."""
    from ray.rllib.env.env_context import EnvContext

    return EnvContext(dict(kwargs), worker_index=getattr(context, "worker_index", 0),
                      vector_index=getattr(context, "vector_index", 0),
                      num_workers=getattr(context, "num_workers", None))


def as_pettingzoo(env, label: str):
    """``(PettingZoo env, api)`` of whatever a constructor built."""
    mae = _multi_agent_env_class()
    if isinstance(env, ParallelEnv):
        return env, "parallel"
    if isinstance(env, AECEnv):
        return env, "aec"
    if mae is not None and isinstance(env, mae):
        return MultiAgentEnvView(env, label), "parallel"
    if isinstance(env, gym.Env):
        obs, act = env.observation_space, env.action_space
        if isinstance(obs, spaces.Tuple) and isinstance(act, spaces.Tuple) and len(obs) == len(act) > 0:
            return TupleEnvView(env, label), "parallel"
        raise EnvError(f"env.name: {label} is a single-agent Gymnasium env (observations {type(obs).__name__}, "
                       f"actions {type(act).__name__}); a multi-agent Gymnasium env has Tuple observation and "
                       "action spaces with one entry per agent (as lbforaging and rware); for one agent use "
                       "RLlib's own algorithms")
    raise EnvError(f"env.name: {label} built a {type(env).__name__}; allowed: a PettingZoo ParallelEnv or "
                   "AECEnv, an RLlib MultiAgentEnv, or a Gymnasium env with Tuple spaces (one entry per agent)")


# ----- the views --------------------------------------------------------------------------


def _flat(space: gym.Space) -> Tuple[gym.Space, bool]:
    """(the space the adapter reads, whether values must be flattened into it):
    Box and Discrete as they are, everything else (MultiDiscrete, MultiBinary,
    Tuple, Dict) flattened into one float Box by Gymnasium's own flattening."""
    if isinstance(space, (spaces.Box, spaces.Discrete)):
        return space, False
    try:
        return spaces.flatten_space(space), True
    except NotImplementedError:
        raise EnvError(f"env: observation space {space} cannot be flattened into a vector") from None


class _View(ParallelEnv):
    """Shared parts of the views: spaces per string agent id, render, close."""

    def __init__(self, env, label: str):
        self.env = env
        self.label = label
        self.metadata = dict(getattr(env, "metadata", None) or {})
        self.render_mode = getattr(env, "render_mode", None)
        self.agents: List[str] = []

    def observation_space(self, agent):
        return self._obs_spaces[agent]

    def action_space(self, agent):
        return self._act_spaces[agent]

    def render(self):
        return self.env.render()

    def close(self):
        close = getattr(self.env, "close", None)
        if close is not None:
            close()

    @property
    def unwrapped(self):
        return getattr(self.env, "unwrapped", self.env)


class MultiAgentEnvView(_View):
    """An RLlib ``MultiAgentEnv`` as a PettingZoo ParallelEnv.

    * Agent ids become strings (``str(id)``; RLlib documents AgentIDs as strings,
      but its own examples use ints); actions go back under the env's own ids.
    * The agents are ``possible_agents`` (or ``agents``, ``_agent_ids``, the keys of
      per-agent spaces; a reset when the env names none of these).
    * ``__all__`` ends the episode for every agent still in it; an agent that is
      done on its own leaves then. Agents absent from a step's observations
      (turn-based envs) stay in the episode.
    * Observations other than Box and Discrete are flattened; a Dict observation
      with RLlib's ``state`` key (QMIX's global-state convention) gives that
      state as the env's ``state()``, the rest as the agent's observation.
    """

    def __init__(self, env, label: str):
        super().__init__(env, label)
        ids = list(getattr(env, "possible_agents", None) or getattr(env, "agents", None)
                   or sorted(getattr(env, "_agent_ids", None) or (), key=str)
                   or list(getattr(env, "observation_spaces", None) or {}))
        if not ids:
            obs, _ = env.reset()
            ids = list(obs)
        if not ids:
            raise EnvError(f"env.name: {label} names no agents (possible_agents, agents) and its reset "
                           "observed none")
        self._ids = {str(i): i for i in ids}
        if len(self._ids) != len(ids):
            raise EnvError(f"env.name: {label}'s agent ids {ids} are not distinct as strings")
        self.possible_agents = sorted(self._ids)
        # Per agent: the space its observation part is in (before flattening), and
        # whether a Dict observation carries RLlib's state key beside an "obs" key.
        self._part_spaces: Dict[str, gym.Space] = {}
        self._obs_spaces: Dict[str, gym.Space] = {}
        self._act_spaces: Dict[str, gym.Space] = {}
        self._state_space = self._raw_state_space = None
        self._flat_state = False
        self._flatten: Dict[str, bool] = {}
        self._state_of: Dict[str, bool] = {}
        self._only_obs: Dict[str, bool] = {}
        for a, i in self._ids.items():
            raw = env.get_observation_space(i)
            if raw is None:
                raise EnvError(f"env.name: {label} has no observation space for agent {i!r}")
            self._state_of[a] = (isinstance(raw, spaces.Dict) and RLLIB_ENV_STATE in raw.spaces
                                 and "observation" not in raw.spaces)
            part = raw
            if self._state_of[a]:
                rest = spaces.Dict({k: s for k, s in raw.spaces.items() if k != RLLIB_ENV_STATE})
                self._only_obs[a] = list(rest.spaces) == ["obs"]
                part = rest.spaces["obs"] if self._only_obs[a] else rest
                self._raw_state_space = raw.spaces[RLLIB_ENV_STATE]
                self._state_space, self._flat_state = _flat(self._raw_state_space)
            self._part_spaces[a] = part
            if isinstance(part, spaces.Dict) and "observation" in part.spaces:
                self._obs_spaces[a], self._flatten[a] = part, False  # PettingZoo's action-mask layout
            else:
                self._obs_spaces[a], self._flatten[a] = _flat(part)
            act = env.get_action_space(i)
            if act is None:
                raise EnvError(f"env.name: {label} has no action space for agent {i!r}")
            self._act_spaces[a] = act
        self._state = None
        if self._state_space is not None:
            self.state_space = self._state_space

    def state(self):
        if self._state is None:
            return np.zeros(self._state_space.shape, np.float32)
        return self._state

    def _obs(self, raw_obs: Dict[Any, Any]) -> Dict[str, Any]:
        out = {}
        for i, o in raw_obs.items():
            a = str(i)
            if self._state_of[a]:
                s = o[RLLIB_ENV_STATE]
                self._state = (spaces.flatten(self._raw_state_space, s) if self._flat_state
                               else np.asarray(s, np.float32))
                o = o["obs"] if self._only_obs[a] else {k: v for k, v in o.items() if k != RLLIB_ENV_STATE}
            out[a] = spaces.flatten(self._part_spaces[a], o).astype(np.float32) if self._flatten[a] else o
        return out

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        raw_obs, infos = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        return self._obs(raw_obs), {str(i): dict(v) for i, v in (infos or {}).items() if i != "__common__"}

    def step(self, actions: Dict[str, Any]):
        raw_obs, rewards, terms, truncs, infos = self.env.step({self._ids[a]: v for a, v in actions.items()})
        obs = self._obs(raw_obs)
        rewards = {str(i): float(r) for i, r in rewards.items()}
        term_all, trunc_all = bool(terms.get("__all__", False)), bool(truncs.get("__all__", False))
        t = {str(i): bool(v) for i, v in terms.items() if i != "__all__"}
        u = {str(i): bool(v) for i, v in truncs.items() if i != "__all__"}
        for a in self.agents:  # an agent's own flags first; __all__ ends the rest
            ta, ua = t.get(a, False), u.get(a, False)
            if not (ta or ua) and (term_all or trunc_all):
                # RLlib's make_multi_agent sets both __all__ flags at a time limit, and
                # each agent's own termination False: that agent was cut off.
                if trunc_all and (not term_all or a in t):
                    ua = True
                else:
                    ta = True
            t[a], u[a] = ta, ua
        infos = {str(i): dict(v) for i, v in (infos or {}).items() if i != "__common__"}
        for a in self.agents:
            rewards.setdefault(a, 0.0)
        self.agents = [a for a in self.agents if not (t[a] or u[a])]
        return obs, rewards, t, u, infos


class TupleEnvView(_View):
    """A Gymnasium env with one ``Tuple`` entry per agent (LBF, RWARE) as a
    PettingZoo ParallelEnv: agents ``agent_0`` .. ``agent_{n-1}`` in the Tuple's
    order; a list of rewards gives each agent its own, one number gives every
    agent that number; ``terminated`` / ``truncated`` (one flag, or one per
    agent) end the episode for the whole team; the step's ``info`` is every
    agent's info.

    Time limits are truncations (the value after them is bootstrapped, as EPyMARL
    does): LBF and RWARE report the end of their step budget as ``terminated``,
    so an episode that ends on the step where the env's own limit
    (``_max_episode_steps`` for LBF, ``max_steps`` for RWARE) is reached is
    reported truncated. (An LBF episode whose last food is collected on exactly
    that step is reported truncated too.)"""

    def __init__(self, env, label: str):
        super().__init__(env, label)
        obs, act = env.observation_space, env.action_space
        n = len(obs.spaces)
        self.possible_agents = [f"agent_{i}" for i in range(n)]
        self._raw_spaces = dict(zip(self.possible_agents, obs.spaces))
        self._obs_spaces: Dict[str, gym.Space] = {}
        self._flatten: Dict[str, bool] = {}
        self._act_spaces: Dict[str, gym.Space] = {}
        for a, s, u in zip(self.possible_agents, obs.spaces, act.spaces):
            self._obs_spaces[a], self._flatten[a] = _flat(s)
            self._act_spaces[a] = u
        raw = self.unwrapped
        limit = getattr(raw, "_max_episode_steps", None) or getattr(raw, "max_steps", None)
        self.step_limit = int(limit) if isinstance(limit, (int, np.integer)) and limit > 0 else None
        self._steps = 0

    def _obs(self, raw) -> Dict[str, Any]:
        return {a: (spaces.flatten(self._raw_spaces[a], o).astype(np.float32) if self._flatten[a] else o)
                for a, o in zip(self.possible_agents, raw)}

    def reset(self, seed: Optional[int] = None, options: Optional[dict] = None):
        obs, info = self.env.reset(seed=seed, options=options)
        self.agents = list(self.possible_agents)
        self._steps = 0
        return self._obs(obs), {a: dict(info or {}) for a in self.agents}

    def _per_agent(self, value, what: str) -> List[Any]:
        if np.ndim(value) == 0:
            return [value] * len(self.possible_agents)
        value = list(np.asarray(value).reshape(-1))
        if len(value) != len(self.possible_agents):
            raise EnvError(f"env.name: {self.label} gave {len(value)} {what} for {len(self.possible_agents)} agents")
        return value

    def step(self, actions: Dict[str, Any]):
        missing = [a for a in self.possible_agents if a not in actions]
        if missing:
            raise EnvError(f"env.name: {self.label} steps all agents at once; no action for {missing}")
        obs, reward, terminated, truncated, info = self.env.step(tuple(actions[a] for a in self.possible_agents))
        rewards = dict(zip(self.possible_agents, (float(r) for r in self._per_agent(reward, "rewards"))))
        t = dict(zip(self.possible_agents, (bool(x) for x in self._per_agent(terminated, "terminations"))))
        u = dict(zip(self.possible_agents, (bool(x) for x in self._per_agent(truncated, "truncations"))))
        self._steps += 1
        if any(t.values()) or any(u.values()):  # one episode for the team: it ends for all together
            ended_by_term = all(t.values()) or (any(t.values()) and not any(u.values()))
            if self.step_limit is not None and self._steps >= self.step_limit:
                ended_by_term = False
            t = {a: ended_by_term for a in t}
            u = {a: not ended_by_term for a in u}
        self.agents = [] if any(t.values()) or any(u.values()) else list(self.possible_agents)
        return self._obs(obs), rewards, t, u, {a: dict(info or {}) for a in self.possible_agents}
