"""MAPPO and IPPO (PPO with our actor-critic module). Imports are lazy."""

from rllib_marl.lazy import lazy_getattr

_EXPORTS = {
    "MAPPO": "rllib_marl.algorithms.mappo.mappo",
    "IPPO": "rllib_marl.algorithms.mappo.mappo",
    "MAPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "IPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "MAPPOTorchLearner": "rllib_marl.algorithms.mappo.mappo_learner",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(_EXPORTS)
