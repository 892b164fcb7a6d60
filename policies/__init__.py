"""RLModules and networks of rllib_marl."""

from rllib_marl.policies.actor_critic import (
    CRITIC_INPUTS,
    DEFAULT_MODEL_CONFIG,
    ActorCriticModule,
)
from rllib_marl.policies.nets import RunningMeanStd, mlp

__all__ = [
    "CRITIC_INPUTS",
    "DEFAULT_MODEL_CONFIG",
    "ActorCriticModule",
    "RunningMeanStd",
    "mlp",
]
