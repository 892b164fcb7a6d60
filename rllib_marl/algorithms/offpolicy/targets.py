"""Target-network updates for learners whose modules implement ``TargetNetworkAPI``."""

from __future__ import annotations

from typing import Callable, Optional

from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI


def update_targets(multi_module, tau: float, only: Optional[Callable[[str], bool]] = None) -> None:
    """Polyak-averages (``tau`` < 1) or copies (``tau`` = 1) every target network.

    ``target ← tau · online + (1 − tau) · target``. ``only(module_id)`` limits
    the update to some modules (MATD3's delayed actor targets).
    """
    for mid, mod in multi_module._rl_modules.items():
        if only is not None and not only(mid):
            continue
        inner = mod.unwrapped()
        if isinstance(inner, TargetNetworkAPI):
            for main, target in inner.get_target_network_pairs():
                update_target_network(main_net=main, target_net=target, tau=tau)
