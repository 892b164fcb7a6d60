"""Build PettingZoo environments by name or import path.

``make_pettingzoo(cfg)`` returns a raw PettingZoo env (Parallel or AEC) with the
configured SuperSuit wrappers applied; ``rllib_marl.envs.adapter.make_env``
wraps that for RLlib.
"""

from __future__ import annotations

import importlib
import inspect
import sys
from typing import Any, Callable, Dict, Tuple

from rllib_marl.envs.cycles import speed_up_conversions
from rllib_marl.envs.sources import (
    AS_CONFIG,
    AS_KEYWORDS,
    GYMNASIUM,
    EnvError,
    as_pettingzoo,
    construct,
    env_label,
    gymnasium_maker,
    registered_creator,
    resolve_callable,
)
from rllib_marl.envs.games.openspiel import OPENSPIEL
from rllib_marl.envs.vmas_env import VMAS
from rllib_marl.envs.spec import APIS, EnvConfig



def _games():
    from rllib_marl.envs import games

    return {
        "ipd": games.iterated_prisoners_dilemma,
        "climbing": games.climbing_game,
        "penalty": games.penalty_game,
        "rps": games.rock_paper_scissors,
        "two_step": games.two_step_game,
        "target_sum": games.target_sum_game,
        "quadrant": games.quadrant_game,
        "levers": games.lever_game,
    }


# Short names for our own games (Parallel only).
BUILTIN_ENVS = ("ipd", "climbing", "penalty", "rps", "two_step", "target_sum", "quadrant", "levers")


def list_envs() -> Tuple[str, ...]:
    return BUILTIN_ENVS


def _resolve(name: Any, api: str, kwargs: Dict[str, Any]) -> Tuple[Callable[..., Any], str, str]:
    """Returns (constructor, api, how it takes kwargs) for an env name (see
    ``rllib_marl.envs.sources`` for what a name may be)."""
    if api not in APIS:
        raise EnvError(f"env.api: unknown value {api!r}; allowed: {', '.join(APIS)}")
    if not isinstance(name, str):
        ctor, how = resolve_callable(name, kwargs)
        return ctor, ("parallel" if api == "auto" else api), how
    if name in BUILTIN_ENVS:
        if api == "aec":
            raise EnvError(f"env.name: {name!r} is a Parallel game; use api: parallel")
        return _games()[name], "parallel", AS_KEYWORDS
    if not name:
        raise EnvError(
            "env.name: missing; use a built-in game "
            f"({', '.join(BUILTIN_ENVS)}), an import path like mpe2.simple_spread_v3, "
            "gymnasium:<id> for a Gymnasium multi-agent env, vmas:<scenario>, openspiel:<game>, or (from Python) "
            "an env class or factory"
        )
    if name.startswith(GYMNASIUM):
        return gymnasium_maker(name), "parallel", AS_KEYWORDS
    if name.startswith(VMAS):
        if api == "aec":
            raise EnvError(f"env.name: {name} is simultaneous-move; use api: parallel (or leave api out)")
        from rllib_marl.envs.vmas_env import vmas_maker

        return vmas_maker(name), "parallel", AS_KEYWORDS
    if name.startswith(OPENSPIEL):
        if api == "parallel":
            raise EnvError(f"env.name: {name} is turn-based; use api: aec (or leave api out)")
        return _openspiel_maker(name), "aec", AS_KEYWORDS
    creator = registered_creator(name)
    if creator is not None:  # ray.tune.register_env: RLlib's creators take the env config
        return creator, "parallel", AS_CONFIG
    if ":" in name:
        mod_name, attr = name.split(":", 1)
        mod = _import(name, mod_name)
        if not hasattr(mod, attr):
            raise EnvError(f"env.name: module {mod_name!r} has no attribute {attr!r}")
        target = getattr(mod, attr)
        if inspect.ismodule(target):  # gymnasium_robotics:mamujoco_v1, a PettingZoo env module
            return _module_env(target, name, api)
        ctor, how = resolve_callable(target, kwargs)
        return ctor, ("parallel" if api == "auto" else api), how
    return _module_env(_import(name, name), name, api)


def _openspiel_maker(name: str) -> Callable[..., Any]:
    """A constructor for ``openspiel:<game>`` (env.kwargs: the game's parameters)."""
    from rllib_marl.envs.games.openspiel import OpenSpielEnv, load_game

    game = name[len(OPENSPIEL):]
    if not game:
        raise EnvError("env.name: openspiel: needs a game name, e.g. openspiel:kuhn_poker")
    try:
        load_game(game)  # the name and the install, checked now (its parameters when built)
    except ValueError as e:
        raise EnvError(f"env.name: {e}") from None

    def make(render_mode=None, **params):
        try:
            return OpenSpielEnv(game, render_mode=render_mode, **params)
        except ValueError as e:
            raise EnvError(f"env.kwargs: {e}") from None

    make.__name__ = make.__qualname__ = f"openspiel_{game}"
    return make


def _module_env(mod, name: str, api: str) -> Tuple[Callable[..., Any], str, str]:
    """A PettingZoo env module's ``parallel_env`` (or ``env``, turn-based)."""
    if api in ("auto", "parallel") and hasattr(mod, "parallel_env"):
        return mod.parallel_env, "parallel", AS_KEYWORDS
    if api in ("auto", "aec") and hasattr(mod, "env"):
        return mod.env, "aec", AS_KEYWORDS
    raise EnvError(
        f"env.name: module {name!r} has no {'parallel_env' if api == 'parallel' else 'env'}()"
        " constructor; is it a PettingZoo environment module? (a name registered with "
        "ray.tune.register_env must be registered in this process first)"
    )


# PettingZoo's env families and the extra that installs their dependencies.
PETTINGZOO_EXTRAS = ("atari", "butterfly", "classic", "sisl")


def _import(name: str, mod_name: str):
    try:
        return importlib.import_module(mod_name)
    except ImportError as e:
        missing = getattr(e, "name", None)
        if missing and not (mod_name == missing or mod_name.startswith(missing + ".")):
            # The env module exists; something it needs does not.
            parts = mod_name.split(".")
            if parts[0] == "pettingzoo" and len(parts) > 1 and parts[1] in PETTINGZOO_EXTRAS:
                hint = f'pip install "pettingzoo[{parts[1]}]"'
            else:
                hint = f"pip install the package that provides {missing!r}"
            raise EnvError(
                f"env.name: {mod_name} needs {missing!r}, which is not installed; {hint} "
                f"(into this environment: {sys.executable} -m pip ...)"
            ) from None
        raise EnvError(
            f"env.name: cannot import {mod_name!r} ({e}); use a built-in game "
            f"({', '.join(BUILTIN_ENVS)}) or an import path of an installed PettingZoo "
            "env such as mpe2.simple_spread_v3 or pettingzoo.classic.rps_v2"
        ) from None


def _check_kwargs(ctor: Callable[..., Any], kwargs: Dict[str, Any], name: str) -> None:
    try:
        sig = inspect.signature(ctor)
    except (TypeError, ValueError):
        return
    params = sig.parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        allowed = ", ".join(p for p in params if params[p].kind != p.VAR_POSITIONAL)
        raise EnvError(
            f"env.kwargs: {name} does not accept {', '.join(unknown)}; allowed: {allowed}"
        )


def _apply_wrappers(env, cfg: EnvConfig):
    if not cfg.wrappers:
        return env
    import supersuit

    for i, w in enumerate(cfg.wrappers):
        try:
            fn = getattr(supersuit, w.name, None)
        except ImportError:  # supersuit raises for unknown versioned names
            fn = None
        if fn is None or not callable(fn):
            known = sorted(
                n for n in dir(supersuit) if n[-3:-1] == "_v" and n[-1].isdigit()
            )
            raise EnvError(
                f"env.wrappers[{i}].name: unknown SuperSuit wrapper {w.name!r}; "
                f"allowed: {', '.join(known)}"
            )
        try:
            env = fn(env, **w.kwargs)
        except TypeError as e:
            raise EnvError(f"env.wrappers[{i}] ({w.name}): {e}") from None
    return env


def _give_np_random(env, cfg: EnvConfig) -> None:
    """SuperSuit's frame_skip_v0 and sticky_actions_v0 draw from
    ``env.unwrapped.np_random``, which some PettingZoo envs never set (pettingzoo
    1.27's cooperative pong): such an env gets a generator of its own, seeded
    with 0 when it is built. A fixed skip length makes frame_skip_v0's draw a
    certainty; sticky_actions_v0 on such an env repeats the same draws in every
    sub-env (they are built alike), and its env's reset seed does not change them."""
    if not cfg.wrappers:
        return
    raw = getattr(env, "unwrapped", env)
    try:
        getattr(raw, "np_random")
        return
    except AttributeError:
        pass
    import numpy as np

    try:
        raw.np_random = np.random.default_rng(0)
    except AttributeError:  # a read-only property that raised: leave it
        pass


def make_pettingzoo(cfg: EnvConfig, render_mode: str | None = None, context=None):
    """Builds the env described by ``cfg`` as a PettingZoo env (wrappers applied);
    ``context``: RLlib's ``EnvContext`` on an env runner (its worker index reaches
    constructors that take a config dict).

    Returns:
        (env, api) with api ``"parallel"`` or ``"aec"``.
    """
    kwargs = dict(cfg.kwargs)
    ctor, api, how = _resolve(cfg.name, cfg.api, kwargs)
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    label = env_label(cfg.name)
    if how == AS_KEYWORDS:
        _check_kwargs(ctor, kwargs, label)
    env = construct(ctor, how, kwargs, label, context)
    env, api = as_pettingzoo(env, label)
    if cfg.api != "auto" and api != cfg.api:
        raise EnvError(f"env.api: {label} is a {api} env, not {cfg.api}")
    _give_np_random(env, cfg)
    env = _apply_wrappers(env, cfg)
    speed_up_conversions(env)  # pettingzoo's AEC→parallel step without its discarded reads
    return env, api
