"""Target-network updates for learners whose modules implement ``TargetNetworkAPI``."""

from __future__ import annotations

from ray.rllib.core.learner.utils import update_target_network
from ray.rllib.core.rl_module.apis import TargetNetworkAPI


def update_targets(multi_module, tau: float) -> None:
    """Polyak-averages (``tau`` < 1) or copies (``tau`` = 1) every target network:
    ``target ← tau · online + (1 − tau) · target``."""
    for mod in multi_module._rl_modules.values():
        inner = mod.unwrapped()
        if isinstance(inner, TargetNetworkAPI):
            for main, target in inner.get_target_network_pairs():
                update_target_network(main_net=main, target_net=target, tau=tau)
