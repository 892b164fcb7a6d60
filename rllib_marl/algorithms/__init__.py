"""Algorithms of rllib_marl, one folder each (config + algorithm, learner)."""

from rllib_marl.algorithms.registry import ALGORITHMS, AlgorithmSpec, PPOTraining

__all__ = ["ALGORITHMS", "AlgorithmSpec", "PPOTraining"]
