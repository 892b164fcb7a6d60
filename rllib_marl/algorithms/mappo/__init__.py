"""MAPPO and IPPO (PPO with our actor-critic module). Imports are lazy."""

_EXPORTS = {
    "MAPPO": "rllib_marl.algorithms.mappo.mappo",
    "IPPO": "rllib_marl.algorithms.mappo.mappo",
    "MAPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "IPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "MAPPOTorchLearner": "rllib_marl.algorithms.mappo.mappo_learner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
