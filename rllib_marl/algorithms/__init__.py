"""Algorithms of rllib_marl, one folder each (spec, config + algorithm, learner)."""

from rllib_marl.algorithms.registry import ALGORITHMS
from rllib_marl.algorithms.spec import AlgorithmSpec

__all__ = ["ALGORITHMS", "AlgorithmSpec"]
