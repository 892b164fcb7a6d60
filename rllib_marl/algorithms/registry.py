"""All algorithms of the library: each folder's spec, collected by name.

Adding an algorithm is one folder with a ``spec.py`` and one line here.
"""

from __future__ import annotations

from typing import Dict

from rllib_marl.algorithms.maddpg.spec import MADDPG_SPEC, MADDPGTraining
from rllib_marl.algorithms.mappo.spec import IPPO_SPEC, MAPPO_SPEC, PPOTraining
from rllib_marl.algorithms.qmix.spec import QMIX_SPEC, QMIXTraining
from rllib_marl.algorithms.spec import CONTINUOUS, DISCRETE, AlgorithmSpec

ALGORITHMS: Dict[str, AlgorithmSpec] = {
    spec.name: spec for spec in (MAPPO_SPEC, IPPO_SPEC, QMIX_SPEC, MADDPG_SPEC)
}


def algorithms_with(capability: str) -> str:
    """The algorithms whose spec has ``capability`` (an ``AlgorithmSpec`` flag), for error messages."""
    return ", ".join(a.name for a in ALGORITHMS.values() if getattr(a, capability))


__all__ = ["ALGORITHMS", "AlgorithmSpec", "CONTINUOUS", "DISCRETE", "MADDPGTraining",
           "PPOTraining", "QMIXTraining", "algorithms_with"]
