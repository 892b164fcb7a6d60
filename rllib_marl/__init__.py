"""rllib_marl: multi-agent reinforcement learning on Ray RLlib's new API stack.

The algorithms are RLlib ``AlgorithmConfig`` classes, built and trained as
RLlib's own are::

    from rllib_marl import QMIXConfig

    config = QMIXConfig().environment(env_config={"name": "two_step"}).training(mixer="qmix")
    algo = config.build_algo()
    algo.train()

Names resolve on first use, so ``import rllib_marl`` (and the YAML layer) does
not import torch or Ray.
"""

from pathlib import Path as _Path

from rllib_marl.lazy import lazy_getattr as _lazy_getattr

__version__ = "0.1.0"

# In an installed distribution, ``envs/`` and ``policies/`` ship inside this
# package. In a plain source tree (e.g. ``ray job submit --working-dir .``
# without an install) they sit beside it: make them importable as
# ``rllib_marl.envs`` / ``rllib_marl.policies`` there too.
_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "envs").exists() and (_root / "envs" / "__init__.py").exists():
    __path__.append(str(_root))  # noqa: F821  (module __path__)

_EXPORTS = {
    # algorithms: configs and the algorithms they build
    "MAPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "IPPOConfig": "rllib_marl.algorithms.mappo.mappo",
    "MAPPO": "rllib_marl.algorithms.mappo.mappo",
    "IPPO": "rllib_marl.algorithms.mappo.mappo",
    "QMIXConfig": "rllib_marl.algorithms.qmix.qmix",
    "QMIX": "rllib_marl.algorithms.qmix.qmix",
    "MADDPGConfig": "rllib_marl.algorithms.maddpg.maddpg",
    "MADDPG": "rllib_marl.algorithms.maddpg.maddpg",
    "ALGORITHMS": "rllib_marl.algorithms.registry",
    # what every config shares
    "AgentToModule": "rllib_marl.algorithms.base",
    "OneModule": "rllib_marl.algorithms.base",
    "EnvLayout": "rllib_marl.algorithms.base",
    # envs and metrics
    "RLlibEnv": "rllib_marl.envs.adapter",
    "MarlMetricsCallback": "rllib_marl.metrics",
    # self-play league
    "LeagueConfig": "rllib_marl.league.league",
    "LeagueCallback": "rllib_marl.league.callback",
}
__all__ = sorted(_EXPORTS)

__getattr__ = _lazy_getattr(_EXPORTS)
