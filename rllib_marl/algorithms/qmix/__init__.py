"""QMIX, VDN and IQL (one algorithm; ``training.mixer`` picks the mixer)."""

from rllib_marl.algorithms.qmix.qmix import QMIX, QMIXConfig
from rllib_marl.algorithms.qmix.qmix_learner import QMIXTorchLearner
from rllib_marl.algorithms.qmix.replay import SequenceReplayBuffer

__all__ = ["QMIX", "QMIXConfig", "QMIXTorchLearner", "SequenceReplayBuffer"]
