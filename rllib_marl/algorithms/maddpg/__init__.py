"""MADDPG and MATD3 (``training.variant``), with local critics as independent DDPG.

Imports are lazy: ``rllib_marl.algorithms.maddpg.spec`` is read while parsing
configs, before torch and RLlib are needed.
"""

from rllib_marl.lazy import lazy_getattr

_EXPORTS = {
    "MADDPG": "rllib_marl.algorithms.maddpg.maddpg",
    "MADDPGConfig": "rllib_marl.algorithms.maddpg.maddpg",
    "MADDPGTorchLearner": "rllib_marl.algorithms.maddpg.maddpg_learner",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(_EXPORTS)
