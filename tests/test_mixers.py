"""Mixers: QMIX is monotonic in every agent's Q (and only because of abs); VDN sums."""

import pytest
import torch

from rllib_marl.policies.mixers import QMixer, VDNMixer

N_AGENTS, STATE_DIM, TRIALS = 4, 10, 5000


def violations(mixer: torch.nn.Module, seed: int = 0) -> int:
    """Random (state, Q) points; raise one agent's Q; count drops of Q_tot."""
    g = torch.Generator().manual_seed(seed)
    state = torch.randn(TRIALS, STATE_DIM, generator=g) * 3
    qs = torch.randn(TRIALS, N_AGENTS, generator=g) * 5
    agent = torch.randint(N_AGENTS, (TRIALS,), generator=g)
    delta = torch.rand(TRIALS, generator=g) * 5 + 1e-3
    raised = qs.clone()
    raised[torch.arange(TRIALS), agent] += delta
    with torch.no_grad():
        before, after = mixer(qs, state), mixer(raised, state)
    return int((after < before - 1e-5).sum())


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_qmix_is_monotonic(layers, seed):
    torch.manual_seed(seed)
    mixer = QMixer(N_AGENTS, STATE_DIM, embed_dim=16, hypernet_layers=layers)
    assert violations(mixer, seed) == 0


def test_unconstrained_mixer_is_not_monotonic():
    """The same check finds violations once abs() is dropped: the test can fail."""
    torch.manual_seed(0)
    mixer = QMixer(N_AGENTS, STATE_DIM, embed_dim=16, monotonic=False)
    assert violations(mixer) > TRIALS // 20


def test_qmix_shapes_follow_leading_dims():
    mixer = QMixer(N_AGENTS, STATE_DIM)
    out = mixer(torch.randn(5, 7, N_AGENTS), torch.randn(5, 7, STATE_DIM))
    assert out.shape == (5, 7)


def test_vdn_is_the_sum():
    qs = torch.randn(6, 3, N_AGENTS)
    torch.testing.assert_close(VDNMixer()(qs, None), qs.sum(-1))
