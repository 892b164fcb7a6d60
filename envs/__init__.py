"""PettingZoo environments for RLlib: registry, adapters and our own games.

Imports are lazy: ``rllib_marl.envs.spec`` and ``rllib_marl.envs.registry`` are
read while parsing configs, before RLlib is needed.
"""

from rllib_marl.lazy import lazy_getattr

_ADAPTER = "rllib_marl.envs.adapter"
_REGISTRY = "rllib_marl.envs.registry"
_SPEC = "rllib_marl.envs.spec"
_EXPORTS = {
    "ACTION_MASK": _ADAPTER,
    "AGENT_ID": _ADAPTER,
    "ENV_RETURN_INFO": _ADAPTER,
    "OBS": _ADAPTER,
    "STATE": _ADAPTER,
    "AECPettingZooAdapter": _ADAPTER,
    "ParallelPettingZooAdapter": _ADAPTER,
    "RLlibEnv": _ADAPTER,
    "make_env": _ADAPTER,
    "EnvError": _REGISTRY,
    "list_envs": _REGISTRY,
    "make_pettingzoo": _REGISTRY,
    "EnvConfig": _SPEC,
    "RewardConfig": _SPEC,
    "WrapperConfig": _SPEC,
}
__all__ = sorted(_EXPORTS)

__getattr__ = lazy_getattr(_EXPORTS)
