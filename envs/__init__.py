"""PettingZoo environments for RLlib: registry, adapters and our own games."""

from rllib_marl.envs.adapter import (
    ACTION_MASK,
    AGENT_ID,
    ENV_RETURN_INFO,
    OBS,
    STATE,
    AECPettingZooAdapter,
    ParallelPettingZooAdapter,
    RLlibEnv,
    make_env,
)
from rllib_marl.envs.registry import EnvError, list_envs, make_pettingzoo
from rllib_marl.envs.spec import EnvConfig, RewardConfig, WrapperConfig

__all__ = [
    "ACTION_MASK",
    "AGENT_ID",
    "ENV_RETURN_INFO",
    "OBS",
    "STATE",
    "AECPettingZooAdapter",
    "EnvConfig",
    "EnvError",
    "ParallelPettingZooAdapter",
    "RLlibEnv",
    "RewardConfig",
    "WrapperConfig",
    "list_envs",
    "make_env",
    "make_pettingzoo",
]
