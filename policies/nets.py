"""Plain torch building blocks shared by the library's RLModules."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU}


def mlp(in_dim: int, hidden: Sequence[int], activation: str = "tanh", out_dim: int | None = None,
        out_gain: float = 1.0) -> nn.Sequential:
    """An MLP with orthogonal init; ``out_dim`` adds a linear output layer."""
    act = ACTIVATIONS[activation]
    layers = []
    d = in_dim
    for h in hidden:
        lin = nn.Linear(d, h)
        nn.init.orthogonal_(lin.weight, gain=nn.init.calculate_gain(
            "tanh" if activation == "tanh" else "relu"))
        nn.init.zeros_(lin.bias)
        layers += [lin, act()]
        d = h
    if out_dim is not None:
        lin = nn.Linear(d, out_dim)
        nn.init.orthogonal_(lin.weight, gain=out_gain)
        nn.init.zeros_(lin.bias)
        layers.append(lin)
    return nn.Sequential(*layers)


class RunningMeanStd(nn.Module):
    """Debiased exponential running mean/variance of a scalar (MAPPO's ValueNorm).

    Args:
        beta: decay of the running moments per update.
        eps: floor for the variance.
    """

    def __init__(self, beta: float = 0.99999, eps: float = 1e-5):
        super().__init__()
        self.beta = beta
        self.eps = eps
        self.register_buffer("mean", torch.zeros(()))
        self.register_buffer("mean_sq", torch.zeros(()))
        self.register_buffer("debias", torch.zeros(()))

    def stats(self):
        debias = self.debias.clamp(min=self.eps)
        mean = self.mean / debias
        var = (self.mean_sq / debias - mean**2).clamp(min=1e-2)
        return mean, var.sqrt()

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        """One update from a batch of values. Under several (DDP) learners the
        batch moments are summed over all of them first, so every learner keeps
        the same statistics (each sees only its shard of the batch)."""
        x = x.detach().float().reshape(-1)
        moments = torch.stack([torch.tensor(float(x.numel()), device=x.device), x.sum(), (x**2).sum()])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(moments)  # every learner calls update once per minibatch
        n, s1, s2 = moments
        if n <= 0:
            return
        w = self.beta
        self.mean.mul_(w).add_(s1 / n * (1 - w))
        self.mean_sq.mul_(w).add_(s2 / n * (1 - w))
        self.debias.mul_(w).add_(1 - w)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return (x - mean) / std

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        mean, std = self.stats()
        return x * std + mean


class GRU(nn.GRU):
    """``nn.GRU`` that keeps its weights in one contiguous block on CUDA.

    A copied module (RLlib's target networks are ``deepcopy``s) holds its GRU
    weights in separate tensors; cuDNN then warns and compacts them on every call.
    Re-flattening once in place (a no-op when already flat, skipped on CPU) avoids
    that. Parameter names are ``nn.GRU``'s, so checkpoints are unchanged.
    """

    def forward(self, x, hx=None):
        if x.is_cuda:
            self.flatten_parameters()
        return super().forward(x, hx)
