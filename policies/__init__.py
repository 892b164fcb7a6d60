"""RLModules and networks of rllib_marl.

Imports are lazy: ``rllib_marl.policies.defaults`` is read while parsing
configs, before torch and RLlib are needed.
"""

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


def __getattr__(name):
    if name in _EXPORTS:
        import importlib

        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
