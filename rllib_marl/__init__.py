"""rllib_marl: multi-agent reinforcement learning on Ray RLlib's new API stack."""

from pathlib import Path as _Path

__version__ = "0.1.0"

# In an installed distribution, ``envs/`` and ``policies/`` ship inside this
# package. In a plain source tree (e.g. ``ray job submit --working-dir .``
# without an install) they sit beside it: make them importable as
# ``rllib_marl.envs`` / ``rllib_marl.policies`` there too.
_root = _Path(__file__).resolve().parent.parent
if not (_Path(__file__).parent / "envs").exists() and (_root / "envs" / "__init__.py").exists():
    __path__.append(str(_root))  # noqa: F821  (module __path__)
