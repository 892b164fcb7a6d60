"""The YAML path's env probe: the env built once and stepped, before Ray starts.

An env that cannot be built, reset or stepped, and image observations that are
blank or miss what the env draws only when rendering, are refused here with a
``ConfigError`` naming the problem, not in an env runner's traceback.
"""

from __future__ import annotations

from rllib_marl.config import resolved_env_config
from rllib_marl.envs.registry import EnvError
from rllib_marl.schema import ConfigError


def first_steps(env, exp) -> None:
    """A reset and a random step of the built env (frames: a few, checked for
    blank or undrawn frames)."""
    from rllib_marl.envs.observations import OBS, is_image

    images = any(is_image(env.observation_spaces[a][OBS]) for a in env.possible_agents)
    _first_steps(env, exp, images)


def inspect_env(exp):
    """Builds the env once (no reset) and returns it; env problems → ConfigError."""
    from rllib_marl.envs.adapter import make_env

    try:
        return make_env(resolved_env_config(exp))
    except EnvError as e:
        msg = str(e)
        path, _, rest = msg.partition(": ")
        if path.startswith("env"):
            raise ConfigError(path, rest) from None
        raise ConfigError("env", msg) from None


BLANK_FRAME_STEPS = 10


def _refuse_blank_frames(env, exp) -> None:
    """Frames that stay blank over a few random steps are refused: some PettingZoo
    envs draw their observation only when they render (pettingzoo 1.27's
    cooperative_pong_v6 gives all-black frames with render_mode None)."""
    import numpy as np

    from rllib_marl.envs.adapter import OBS

    obs, _ = env.reset(seed=0)
    seen = [np.asarray(o[OBS]) for o in obs.values()]
    rng = np.random.default_rng(0)
    for _ in range(BLANK_FRAME_STEPS):
        if not obs:
            break
        acts = {a: env.action_spaces[a].sample() for a in obs}
        obs, _, terms, truncs, _ = env.step(acts)
        seen += [np.asarray(o[OBS]) for o in obs.values()]
        if terms.get("__all__") or truncs.get("__all__"):
            obs, _ = env.reset(seed=int(rng.integers(1 << 30)))
    if seen and all(x.min() == x.max() == seen[0].min() for x in seen):
        hint = ("" if "render_mode" in exp.env.kwargs else
                "; some envs draw their frames only when rendering (pettingzoo's cooperative_pong_v6 does): "
                "set env.kwargs.render_mode: rgb_array")
        raise ConfigError("env", f"{exp.env.label}'s image observations are blank (every pixel "
                                 f"{int(seen[0].min())}) over {BLANK_FRAME_STEPS} random steps{hint}")


def _first_steps(env, exp, images: bool) -> None:
    """A reset and a random step (frames: a few, checked for blank or undrawn
    frames) before Ray starts: an env or wrapper that cannot step is named here,
    not in an env runner's traceback."""
    import numpy as np

    from rllib_marl.envs.observations import random_action

    try:
        if images:
            _refuse_blank_frames(env, exp)
            _refuse_undrawn_frames(env, exp)
        else:
            obs, _ = env.reset(seed=0)
            if obs:
                rng = np.random.default_rng(0)
                env.step({a: random_action(env.action_spaces[a], o, rng) for a, o in obs.items()})
    except ConfigError:
        raise
    except Exception as e:
        wrappers = ", ".join(w.name for w in exp.env.wrappers) or "none"
        raise ConfigError("env", f"{exp.env.label} failed in its first reset or random steps ({type(e).__name__}: "
                                 f"{e}); SuperSuit wrappers: {wrappers}") from None


def _refuse_undrawn_frames(env, exp) -> None:
    """Frames that miss what the env draws when it renders are refused: some
    PettingZoo envs skip drawing with render_mode None, and their observations
    then lack part of the scene (pettingzoo 1.27's pistonball_v6 shows the
    pistons but not the ball). The env is built a second time with
    render_mode rgb_array and both are stepped with the same seed and actions;
    any difference in the observations means the frames depend on rendering."""
    import numpy as np

    from rllib_marl.envs.adapter import OBS, make_env

    if "render_mode" in exp.env.kwargs:
        return  # the user chose
    try:
        drawn = make_env(resolved_env_config(exp), render_mode="rgb_array")
    except Exception:
        return  # the env takes no render mode: its frames cannot depend on one
    try:
        obs_a, _ = env.reset(seed=0)
        obs_b, _ = drawn.reset(seed=0)
        for step in range(BLANK_FRAME_STEPS + 1):
            for a in obs_a:
                if a not in obs_b:
                    continue
                x, y = np.asarray(obs_a[a][OBS]), np.asarray(obs_b[a][OBS])
                if x.shape == y.shape and not np.array_equal(x, y):
                    share = float(np.mean(x != y))
                    raise ConfigError(
                        "env", f"{exp.env.label}'s image observations change with render_mode: at step {step}, "
                               f"{share:.1%} of {a}'s pixels differ between render_mode None and rgb_array (the env "
                               "draws part of its scene only when rendering); set env.kwargs.render_mode: rgb_array")
            if not obs_a or step == BLANK_FRAME_STEPS:
                break
            acts = {a: env.action_spaces[a].sample() for a in obs_a}
            obs_a, _, terms, truncs, _ = env.step(acts)
            obs_b, *_ = drawn.step(acts)
            if terms.get("__all__") or truncs.get("__all__"):
                break
    finally:
        close = getattr(drawn, "close", None)
        if close is not None:
            close()
