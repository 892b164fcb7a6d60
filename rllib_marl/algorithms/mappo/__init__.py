from rllib_marl.algorithms.mappo.mappo import IPPO, MAPPO, IPPOConfig, MAPPOConfig
from rllib_marl.algorithms.mappo.mappo_learner import MAPPOTorchLearner

__all__ = ["IPPO", "MAPPO", "IPPOConfig", "MAPPOConfig", "MAPPOTorchLearner"]
