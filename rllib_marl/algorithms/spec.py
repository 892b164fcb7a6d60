"""What an algorithm of the library is and what it supports.

Every algorithm folder exports an :class:`AlgorithmSpec` from its ``spec.py``
(its RLlib config class, the dataclass of its training settings, capability
flags that its config's ``validate()`` checks against the env);
``rllib_marl.algorithms.registry`` only collects them. Nothing here imports
torch or RLlib, so the YAML layer reads specs cheaply.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional, Tuple, Type

DISCRETE = "discrete"
CONTINUOUS = "continuous"


def space_kind(space) -> Optional[str]:
    """``discrete`` or ``continuous`` for a Discrete / Box action space, else None."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return DISCRETE
    if isinstance(space, spaces.Box):
        return CONTINUOUS
    return None


@dataclass(frozen=True)
class AlgorithmSpec:
    """Capabilities of one algorithm.

    Attributes:
        name: the ``algorithm:`` value.
        config_cls: zero-arg callable returning the RLlib ``AlgorithmConfig``.
        training_cls: dataclass of the ``training:`` block (the one place its
            defaults are written; the RLlib config reads them from it).
        action_spaces: which action spaces it can act in.
        needs_global_state: needs ``env.global_state`` other than ``none``.
        simultaneous_moves_only: refuses turn-based (AEC) envs.
        critic_input: default ``model.critic_input``.
        description: one line for ``--help`` and errors.
        model_defaults: ``model:`` values this algorithm uses unless the config sets them.
        state_needed_by: when ``needs_global_state`` depends on the training block,
            a predicate over it (e.g. QMIX's mixer) that overrides the flag (the
            YAML layer leaves the state out of observations that need none).
        check_search_space: algorithm-specific check of one ``tune.search_space``
            entry, ``check_search_space(exp, key, path, values)``.
        state_hint: why the global state is needed and what to use without one.
        aec_hint: what to use instead when the env is turn-based.
        league: can train in a self-play league (``league:`` block): its
            learner trains any module the episodes it gets map to, with no
            joint structure tied to a fixed agent → module table.
        image_observations: its modules encode uint8 frames (a CNN per
            ``model.cnn``); otherwise such envs are refused before Ray starts.
        comm: its actors can exchange learned messages (a ``comm:`` block).
        shared_encoder: its actor and critic can share the observation encoder
            (``model.share_encoder``).
        batched_sampling: it can train from the batched env runner's tensors
            (``env_runners.sampler: batched``, batched simulators such as VMAS).
        smoke_training: the smallest training settings with which one iteration
            samples, learns and reports (the smoke tests enrol every algorithm
            with them).
    """

    name: str
    config_cls: Callable[[], object]
    training_cls: Type
    action_spaces: Tuple[str, ...]
    needs_global_state: bool
    simultaneous_moves_only: bool
    critic_input: str
    description: str
    model_defaults: Dict[str, Any] = dataclasses.field(default_factory=dict)
    state_needed_by: Optional[Callable[[Any], bool]] = None
    check_search_space: Optional[Callable[..., None]] = None
    state_hint: str = ""
    aec_hint: str = ""
    league: bool = False
    image_observations: bool = True
    comm: bool = False
    shared_encoder: bool = False
    batched_sampling: bool = False
    smoke_training: Dict[str, Any] = dataclasses.field(default_factory=dict)

    def needs_state(self, training: Any) -> bool:
        if self.state_needed_by is not None:
            return bool(self.state_needed_by(training))
        return self.needs_global_state
