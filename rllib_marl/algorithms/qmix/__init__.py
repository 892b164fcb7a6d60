"""QMIX, VDN and IQL (one algorithm; ``training.mixer`` picks the mixer).

Imports are lazy: ``rllib_marl.algorithms.qmix.spec`` is read while parsing
configs, before torch and RLlib are needed.
"""

_EXPORTS = {
    "QMIX": "rllib_marl.algorithms.qmix.qmix",
    "QMIXConfig": "rllib_marl.algorithms.qmix.qmix",
    "QMIXTorchLearner": "rllib_marl.algorithms.qmix.qmix_learner",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
