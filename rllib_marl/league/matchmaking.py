"""Choices that every env runner makes the same way.

A match-up must be the same for every seat of one episode and must not depend
on which env runner plays it or on counters inside a runner (each runner has
its own copy of a mapping function). So a choice is a function of its keys
(e.g. the episode id and the league-state version), through a stable hash:
never Python's ``hash()``, which changes with ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import numpy as np


def stable_uniform(*keys: Any) -> float:
    """A number in [0, 1) determined by ``keys`` alone (same on every process)."""
    digest = hashlib.blake2b(repr(keys).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0 ** 64


def stable_choice(options: Sequence[Any], probabilities: Sequence[float], *keys: Any) -> Any:
    """One of ``options``, drawn with ``probabilities`` by :func:`stable_uniform` of ``keys``."""
    if len(options) != len(probabilities) or not len(options):
        raise ValueError("options and probabilities must be non-empty and of the same length")
    cdf = np.cumsum(np.asarray(probabilities, np.float64))
    if cdf[-1] <= 0:
        raise ValueError("probabilities must not all be zero")
    i = int(np.searchsorted(cdf, stable_uniform(*keys) * cdf[-1], side="right"))
    return options[min(i, len(options) - 1)]
