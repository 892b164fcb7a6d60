"""QMIX, VDN and IQL (one algorithm; ``training.mixer`` picks the mixer).

Imports are lazy: ``rllib_marl.algorithms.qmix.spec`` is read while parsing
configs, before torch and RLlib are needed.
"""

from rllib_marl.lazy import lazy_getattr

_EXPORTS = {
    "QMIX": "rllib_marl.algorithms.qmix.qmix",
    "QMIXConfig": "rllib_marl.algorithms.qmix.qmix",
    "QMIXTorchLearner": "rllib_marl.algorithms.qmix.qmix_learner",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(_EXPORTS)
