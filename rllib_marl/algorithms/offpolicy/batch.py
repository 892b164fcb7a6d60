"""Joint arrays ``[B, ..., N, ...]`` ↔ one RLlib ``SampleBatch`` per module.

RLlib's learner runs each module's ``forward_train`` over that module's rows, so
a train batch holds, per module, one row per (sample, agent of that module):
``[B * k, ...]``, sample-major (row ``b * k + i`` = sample ``b``, the module's
``i``-th agent). :func:`agents_axis` turns a module's rows back into
``[B, ..., k, ...]`` inside the loss, and :func:`joint` restores the sorted
agent order across modules.
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch


def module_rows(x: np.ndarray, idx: Sequence[int], agent_axis: int) -> np.ndarray:
    """``[B, ..., N, ...]`` → ``[B * k, ...]`` over the agents ``idx`` (sample-major)."""
    x = np.take(x, list(idx), axis=agent_axis)
    x = np.moveaxis(x, agent_axis, 1)
    return x.reshape(x.shape[0] * x.shape[1], *x.shape[2:])


def module_obs(obs: Dict[str, np.ndarray], idx: Sequence[int], agent_axis: int,
               shapes: Optional[Dict[str, Tuple[int, ...]]] = None) -> Dict[str, np.ndarray]:
    """A module's rows of every observation leaf, each cut back to the module's own
    leaf shape (``shapes``) where the buffer padded agents to a common width."""
    out = {}
    for key, v in obs.items():
        rows = module_rows(v, idx, agent_axis)
        shape = tuple((shapes or {}).get(key, ()))
        lead = agent_axis  # leading row axes: [B * k] or [B * k, T + 1]
        if shape and rows.shape[lead:] != shape:
            rows = rows[..., : int(np.prod(shape))].reshape(*rows.shape[:lead], *shape)
        out[key] = rows
    return out


def repeat_rows(x: np.ndarray, k: int) -> np.ndarray:
    """A per-sample column ``[B, ...]`` → ``[B * k, ...]`` for a module of ``k`` agents."""
    return np.repeat(x, k, axis=0)


def agents_axis(x: torch.Tensor, B: int, k: int, axis: int = 1) -> torch.Tensor:
    """A module's rows ``[B * k, ...]`` → ``[B, ..., k, ...]`` with the agents at ``axis``."""
    y = x.reshape(B, k, *x.shape[1:])
    return y.movedim(1, axis) if axis != 1 else y


def joint_order(groups) -> torch.Tensor:
    """Index that puts the concatenation of the modules' agents in sorted order."""
    return torch.as_tensor(np.argsort(np.concatenate([list(idx) for _, idx in groups])))


def joint(parts, order: torch.Tensor, axis: int) -> torch.Tensor:
    """Concatenates per-module agent blocks along ``axis``, then sorts the agents."""
    return torch.cat(parts, dim=axis).index_select(axis, order.to(parts[0].device))
