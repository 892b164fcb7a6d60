"""How a raw PettingZoo observation becomes an agent's ``Dict`` observation.

Ray-free (numpy and gymnasium only): the RLlib adapter
(``rllib_marl.envs.adapter``) and the exported-policy player
(``rllib_marl.deploy``, onnxruntime only) build their inputs with the same code.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces

OBS = "obs"
STATE = "state"
AGENT_ID = "agent_id"
ACTION_MASK = "action_mask"
# Learned communication (a ``comm`` block): the team's inputs in each member's
# observation (rllib_marl.policies.comm).
TEAM_OBS = "team_obs"
COMM_LINKS = "comm_links"
COMM_SELF = "comm_self"
COMM_KEYS = (TEAM_OBS, COMM_LINKS, COMM_SELF)


def actor_keys(space: spaces.Dict) -> list:
    """The keys of an agent's Dict observation an actor reads, in a fixed order:
    all but the global state, which only critics read."""
    order = [OBS, AGENT_ID, ACTION_MASK, TEAM_OBS, COMM_LINKS, COMM_SELF]
    keys = [k for k in space.spaces if k != STATE]
    return sorted(keys, key=lambda k: (order.index(k) if k in order else len(order), k))


class ObservationSpaceError(ValueError):
    """An observation space the adapter cannot turn into a float vector or image."""


def random_action(space: gym.Space, obs: Any, rng: np.random.Generator):
    """A uniform random action for an agent: among the allowed ones when its
    observation carries an action mask (Discrete actions), else ``space.sample()``."""
    mask = obs.get(ACTION_MASK) if isinstance(obs, dict) else None
    if mask is not None and isinstance(space, spaces.Discrete):
        return np.int64(rng.choice(np.flatnonzero(np.asarray(mask) > 0.5)))
    return space.sample()


def split_obs_space(space: gym.Space) -> Tuple[gym.Space, Optional[int]]:
    """Returns (observation part space, mask size or None)."""
    if isinstance(space, spaces.Dict) and "observation" in space.spaces:
        mask = space.spaces.get("action_mask")
        n = None if mask is None else int(np.prod(mask.shape))
        return space.spaces["observation"], n
    return space, None


def float_space(space: gym.Space) -> spaces.Box:
    if isinstance(space, spaces.Box):
        low = np.broadcast_to(space.low, space.shape).astype(np.float32)
        high = np.broadcast_to(space.high, space.shape).astype(np.float32)
        return spaces.Box(low, high, space.shape, np.float32)
    if isinstance(space, spaces.Discrete):
        return spaces.Box(0.0, 1.0, (int(space.n),), np.float32)
    raise ObservationSpaceError(
        f"env: observation space {space} is not supported (Box or Discrete); "
        "flatten it with a SuperSuit wrapper such as flatten_v0"
    )


def is_image(space: gym.Space) -> bool:
    """uint8 frames of rank 2 (H, W) or 3 (H, W, C), e.g. after SuperSuit's resize."""
    return isinstance(space, spaces.Box) and space.dtype == np.uint8 and len(space.shape) in (2, 3)


def model_space(space: gym.Space) -> spaces.Box:
    """The space a module sees: frames stay uint8 (the model scales them),
    everything else becomes float32 (Discrete as one-hot)."""
    if is_image(space):
        return spaces.Box(0, 255, space.shape, np.uint8)
    return float_space(space)


def to_model(space: gym.Space, x) -> np.ndarray:
    """One raw observation in :func:`model_space`'s dtype and shape, always a
    new array: envs and wrappers may overwrite the array they returned at the
    next step (SuperSuit's ``frame_stack_v1`` does), and episodes keep what
    they are given."""
    if is_image(space):
        return np.array(x, dtype=np.uint8)
    return to_float(space, x)


def to_float(space: gym.Space, x) -> np.ndarray:
    if isinstance(space, spaces.Discrete):
        o = np.zeros(int(space.n), np.float32)
        o[int(x) - int(space.start)] = 1.0
        return o
    return np.array(x, dtype=np.float32)  # a copy (see to_model)


def split_observation(raw: Any, part_space: gym.Space) -> Tuple[np.ndarray, Optional[Any]]:
    """``(observation as the module sees it, action mask or None)`` of one raw observation."""
    if isinstance(raw, dict) and "observation" in raw:
        mask = raw.get("action_mask")
        raw = raw["observation"]
    else:
        mask = None
    return to_model(part_space, raw), mask


def agent_onehot(index: int, n: int) -> np.ndarray:
    v = np.zeros(n, np.float32)
    v[index] = 1.0
    return v


def comm_spaces(n_members: int, entry_dim: int) -> dict:
    """The spaces of the communication keys of one member of a team of ``n_members``."""
    return {
        TEAM_OBS: spaces.Box(-np.inf, np.inf, (n_members, entry_dim), np.float32),
        COMM_LINKS: spaces.Box(0.0, 1.0, (n_members, n_members), np.float32),
        COMM_SELF: spaces.Box(0.0, 1.0, (n_members,), np.float32),
    }


def comm_inputs(members, entries, dropout: float = 0.0, rng: Optional[np.random.Generator] = None) -> dict:
    """The communication keys of every present member of one team in one env step.

    Args:
        members: the team's agents, in its fixed order.
        entries: ``{agent: flat float entry}`` of the members present this step
            (absent ones send nothing and get no keys).
        dropout: probability that one message (one sender → one receiver) is lost.
        rng: draws the lost messages (needed when ``dropout > 0``).

    Returns ``{agent: {team_obs, comm_links, comm_self}}``; every present member
    gets the same ``team_obs`` and ``comm_links``.
    """
    g = len(members)
    present = np.array([a in entries for a in members], dtype=bool)
    dim = next(iter(entries.values())).shape[-1] if entries else 0
    team = np.zeros((g, dim), np.float32)
    for i, a in enumerate(members):
        if present[i]:
            team[i] = entries[a]
    links = np.outer(present, present) & ~np.eye(g, dtype=bool)
    if dropout > 0.0:
        links &= rng.random((g, g)) >= dropout
    links = links.astype(np.float32)
    return {a: {TEAM_OBS: team, COMM_LINKS: links, COMM_SELF: agent_onehot(i, g)}
            for i, a in enumerate(members) if present[i]}


def add_comm_inputs(rows: dict, teams, dropout: float = 0.0, rng: Optional[np.random.Generator] = None) -> None:
    """Adds the communication keys to the agents' observation dicts ``rows``
    (``{agent: {obs, agent_id?, ...}}``, in place), team by team. A member's entry
    is its flattened ``obs``, followed by its ``agent_id`` when the dict has one."""
    for members in teams:
        entries = {}
        for a in members:
            if a in rows:
                e = np.asarray(rows[a][OBS], np.float32).reshape(-1)
                if AGENT_ID in rows[a]:
                    e = np.concatenate([e, np.asarray(rows[a][AGENT_ID], np.float32)])
                entries[a] = e
        for a, keys in comm_inputs(members, entries, dropout, rng).items():
            rows[a].update(keys)
