"""The cheaper AEC→parallel step (rllib_marl.envs.cycles) gives what
pettingzoo's own conversion gives: same observations, rewards, terminations,
truncations, infos and agents, step by step over whole episodes, for envs whose
agents all leave together and for one whose agents die one by one (KAZ)."""

import numpy as np
import pytest
from pettingzoo.utils.conversions import aec_to_parallel_wrapper

from rllib_marl.envs.cycles import CyclingParallelWrapper, restore_pettingzoo_step, speed_up_conversions, wrapper_chain
from rllib_marl.envs.registry import make_pettingzoo
from rllib_marl.envs.spec import EnvConfig

CASES = {
    "cooperative_pong": {"name": "pettingzoo.butterfly.cooperative_pong_v6",
                         "kwargs": {"render_mode": "rgb_array", "max_cycles": 60},
                         "wrappers": [{"name": "color_reduction_v0", "kwargs": {"mode": "full"}},
                                      {"name": "resize_v1", "kwargs": {"x_size": 16, "y_size": 16}},
                                      {"name": "frame_stack_v1", "kwargs": {"stack_size": 2}}]},
    "pistonball": {"name": "pettingzoo.butterfly.pistonball_v6",
                   "kwargs": {"n_pistons": 4, "continuous": False, "max_cycles": 40}},
    "simple_spread": {"name": "mpe2.simple_spread_v3", "kwargs": {"max_cycles": 30}},
    "knights_archers_zombies": {"name": "pettingzoo.butterfly.knights_archers_zombies_v11",
                                "kwargs": {"max_cycles": 300, "spawn_delay": 2, "line_death": True,
                                           "max_zombies": 20}},
}


def _equal(a, b):
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("case", sorted(CASES))
def test_cycling_step_matches_pettingzoo(case):
    cfg = EnvConfig.from_dict(CASES[case])
    fast, _ = make_pettingzoo(cfg)
    assert any(isinstance(e, CyclingParallelWrapper) for e in wrapper_chain(fast))
    ref, _ = make_pettingzoo(cfg)
    assert restore_pettingzoo_step(ref) >= 1  # pettingzoo's own step again
    assert not any(isinstance(e, CyclingParallelWrapper) for e in wrapper_chain(ref))
    assert any(type(e) is aec_to_parallel_wrapper for e in wrapper_chain(ref))

    rng = np.random.default_rng(0)
    steps = ends = thinned = 0
    for episode in range(3):
        got, want = fast.reset(seed=episode), ref.reset(seed=episode)
        assert _equal(got[0], want[0])
        while fast.agents:
            assert fast.agents == ref.agents
            actions = {a: int(rng.integers(fast.action_space(a).n)) for a in fast.agents}
            got, want = fast.step(actions), ref.step(actions)
            for g, w in zip(got, want):
                assert _equal(dict(g), dict(w)), (case, steps)
            steps += 1
            thinned += 0 < len(fast.agents) < len(fast.possible_agents)
        ends += 1
    assert steps > 20 and ends == 3
    if case == "knights_archers_zombies":
        assert thinned > 0  # some agents died before the others: the mid-episode exit path ran
    fast.close()
    ref.close()


def test_only_pettingzoo_conversions_are_changed():
    cfg = EnvConfig.from_dict({"name": "mpe2.simple_spread_v3"})
    env, _ = make_pettingzoo(cfg)
    assert speed_up_conversions(env) == 0  # already done once: nothing left to change
    assert speed_up_conversions(object()) == 0
