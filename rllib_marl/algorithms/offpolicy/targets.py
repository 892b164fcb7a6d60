"""Target-network updates for learners whose modules implement ``TargetNetworkAPI``."""

from __future__ import annotations

import torch
from ray.rllib.core.rl_module.apis import TargetNetworkAPI


@torch.no_grad()
def update_targets(multi_module, tau: float) -> None:
    """Polyak-averages (``tau`` < 1) or copies (``tau`` = 1) every target network:
    ``target ← tau · online + (1 − tau) · target``.

    All target tensors of all modules in one fused ``lerp`` (one call instead of
    one per tensor: MADDPG has six networks and updates them after every update).
    """
    targets, mains = [], []
    for mod in multi_module.values():
        inner = mod.unwrapped()
        if isinstance(inner, TargetNetworkAPI):
            for main, target in inner.get_target_network_pairs():
                for t, m in zip(target.state_dict(keep_vars=True).values(),
                                main.state_dict(keep_vars=True).values()):
                    if t.is_floating_point():
                        targets.append(t.data)
                        mains.append(m.data)
                    else:  # integer buffers (e.g. counters) are copied
                        t.data.copy_(m.data)
    if not targets:
        return
    if tau >= 1.0:
        torch._foreach_copy_(targets, mains)
    else:
        torch._foreach_lerp_(targets, mains, float(tau))
