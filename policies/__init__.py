"""RLModules and networks of rllib_marl.

Imports are lazy: ``rllib_marl.policies.defaults`` is read while parsing
configs, before torch and RLlib are needed.
"""

from rllib_marl.lazy import lazy_getattr

_EXPORTS = {
    "CRITIC_INPUTS": "rllib_marl.policies.actor_critic",
    "ActorCriticModule": "rllib_marl.policies.actor_critic",
    "QAgentModule": "rllib_marl.policies.q_agent",
    "MixerModule": "rllib_marl.policies.q_agent",
    "DeterministicActorModule": "rllib_marl.policies.maddpg",
    "CriticModule": "rllib_marl.policies.maddpg",
    "RunningMeanStd": "rllib_marl.policies.nets",
    "mlp": "rllib_marl.policies.nets",
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(_EXPORTS)
