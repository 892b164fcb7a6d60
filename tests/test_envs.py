"""Unit tests of the env layer: adapters, global state, masks, rewards, games."""

import os
import subprocess
import sys

import numpy as np
import pytest
from pettingzoo.test import parallel_api_test

from rllib_marl.envs import (
    ACTION_MASK,
    AGENT_ID,
    ENV_RETURN_INFO,
    OBS,
    STATE,
    EnvError,
    make_env,
)
from rllib_marl.envs.games import (
    climbing_game,
    iterated_prisoners_dilemma,
    penalty_game,
    rock_paper_scissors,
    target_sum_game,
    two_step_game,
)

SPREAD = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 3, "max_cycles": 25}}


def rollout(env, seed=0, policy=None, max_steps=1000):
    obs, infos = env.reset(seed=seed)
    steps = []
    for _ in range(max_steps):
        acts = {a: (policy(a, obs[a]) if policy else 0) for a in obs}
        obs2, rew, term, trunc, info = env.step(acts)
        steps.append((obs2, rew, term, trunc, info))
        obs = obs2
        if term["__all__"] or trunc["__all__"]:
            break
    return steps


# ----- our games --------------------------------------------------------------------


@pytest.mark.parametrize(
    "factory",
    [
        iterated_prisoners_dilemma,
        climbing_game,
        lambda: penalty_game(k=-50.0),
        two_step_game,
        lambda: climbing_game(rounds=5),
        target_sum_game,
        rock_paper_scissors,
    ],
)
def test_games_pass_pettingzoo_parallel_api_test(factory):
    parallel_api_test(factory(), num_cycles=100)


def test_prisoners_dilemma_payoffs_and_observation():
    env = iterated_prisoners_dilemma(rounds=2)
    obs, _ = env.reset(seed=0)
    assert not obs["player_0"][:4].any()  # no last joint action yet
    C, D = 0, 1
    for (a0, a1), expect in {(C, C): (3, 3), (C, D): (0, 5), (D, C): (5, 0), (D, D): (1, 1)}.items():
        env.reset()
        obs, rew, *_ = env.step({"player_0": a0, "player_1": a1})
        assert (rew["player_0"], rew["player_1"]) == expect
        # Observation = last joint action, one-hot per player.
        assert obs["player_0"][a0] == 1 and obs["player_0"][2 + a1] == 1
        assert obs["player_0"][:4].sum() == 2


def test_penalty_game_parameter_and_climbing_optimum():
    env = penalty_game(k=-25.0)
    env.reset()
    _, rew, *_ = env.step({"player_0": 0, "player_1": 2})
    assert rew["player_0"] == -25.0 == rew["player_1"]
    env.reset()
    _, rew, *_ = env.step({"player_0": 2, "player_1": 2})
    assert rew["player_0"] == 10.0
    with pytest.raises(ValueError):
        penalty_game(k=5.0)
    env = climbing_game()
    best = max(
        env.payoffs[i, j] for i in range(3) for j in range(3)
    )
    assert best == env.payoffs[0, 0] == 11.0


def test_two_step_game_returns():
    def play(a0_first, a0, a1):
        env = two_step_game()
        env.reset()
        _, r1, t1, *_ = env.step({"agent_0": a0_first, "agent_1": 0})
        assert r1["agent_0"] == 0 and not t1["agent_0"]
        _, r2, t2, *_ = env.step({"agent_0": a0, "agent_1": a1})
        assert t2["agent_0"]
        return r2["agent_0"]

    assert play(0, 0, 0) == play(0, 1, 1) == 7.0
    assert play(1, 1, 1) == 8.0
    assert play(1, 0, 0) == 0.0 and play(1, 0, 1) == 1.0


# ----- the adapter ------------------------------------------------------------------


def test_spaces_from_possible_agents_and_sorted_order():
    env = make_env({"name": "fixture_envs:mixed_done", "agent_id": True})
    assert env.possible_agents == ["a", "b", "c"]
    assert set(env.observation_spaces) == {"a", "b", "c"}
    # One-hot ids follow the sorted order.
    obs, _ = env.reset(seed=0)
    for i, a in enumerate(["a", "b", "c"]):
        assert obs[a][AGENT_ID].argmax() == i


def test_agent_order_independent_of_hash_seed():
    code = (
        "from rllib_marl.envs import make_env;"
        "e = make_env({'name': 'mpe2.simple_spread_v3', 'global_state': 'concat', 'agent_id': True});"
        "o, _ = e.reset(seed=3);"
        "print(e.possible_agents, o['agent_1']['state'][:20].round(4).tolist(),"
        " o['agent_1']['agent_id'].tolist())"
    )
    outs = set()
    for seed in ("1", "2", "3"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout)
    assert len(outs) == 1


def test_constructor_does_not_reset():
    env = make_env(SPREAD)
    assert env.agents == []  # no unseeded reset in the constructor


def test_all_done_when_agents_terminate_and_truncate_together():
    env = make_env({"name": "fixture_envs:mixed_done", "kwargs": {"steps": 3}})
    steps = rollout(env, policy=lambda a, o: 1)
    assert len(steps) == 3
    _, _, term, trunc, info = steps[-1]
    assert term["a"] and trunc["b"] and not term["b"]
    assert trunc["__all__"] and not term["__all__"]
    # Agent c terminated at step 1; it is not part of later steps.
    _, _, term1, _, info1 = steps[0]
    assert term1["c"] and not term1["__all__"] and not steps[0][3]["__all__"]
    assert "c" not in steps[1][0]
    # Each done agent reports its env return.
    assert info1["c"][ENV_RETURN_INFO] == 1.0
    assert info["a"][ENV_RETURN_INFO] == 3.0


def test_action_mask_from_info_and_from_dict_observation():
    env = make_env({"name": "fixture_envs:mixed_done", "action_mask_from_info": True})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs["b"][ACTION_MASK], [0, 1, 1])
    np.testing.assert_array_equal(obs["a"][ACTION_MASK], [1, 1, 1])  # no mask given: all
    env = make_env({"name": "pettingzoo.classic.tictactoe_v3"})
    assert env.api == "aec"
    obs, _ = env.reset(seed=0)
    (a,) = obs
    assert obs[a][ACTION_MASK].shape == (9,) and obs[a][ACTION_MASK].all()
    obs, *_ = env.step({a: 4})
    (b,) = obs
    assert b != a and obs[b][ACTION_MASK][4] == 0 and obs[b][ACTION_MASK].sum() == 8


def test_aec_turn_based_rewards_counted_once():
    env = make_env({"name": "pettingzoo.classic.tictactoe_v3"})
    obs, _ = env.reset(seed=0)
    total = {}
    done = False
    # Player moves in cells 0,1,2 (wins) while the other plays 3,4.
    moves = iter([0, 3, 1, 4, 2])
    while not done:
        (a,) = [k for k in obs if not obs[k][ACTION_MASK].sum() == 0][:1] or list(obs)
        obs, rew, term, trunc, info = env.step({a: next(moves)})
        for k, v in rew.items():
            total[k] = total.get(k, 0.0) + v
        done = term["__all__"] or trunc["__all__"]
    assert sorted(total.values()) == [-1.0, 1.0]
    assert term["__all__"]


def test_global_state_env_and_concat_and_actor_obs():
    env = make_env({**SPREAD, "global_state": "env"})
    obs, _ = env.reset(seed=0)
    raw_state = env.env.state()
    np.testing.assert_allclose(obs["agent_0"][STATE], raw_state.reshape(-1))
    env = make_env({**SPREAD, "global_state": "concat"})
    obs, _ = env.reset(seed=0)
    concat = np.concatenate([obs[a][OBS] for a in sorted(obs)])
    np.testing.assert_allclose(obs["agent_2"][STATE], concat)
    env = make_env({**SPREAD, "global_state": "none"})
    obs, _ = env.reset(seed=0)
    assert STATE not in obs["agent_0"]
    with pytest.raises(EnvError, match="global_state"):
        make_env({"name": "fixture_envs:mixed_done", "global_state": "env"})


def test_concat_state_zero_fills_dead_agents():
    env = make_env({"name": "fixture_envs:mixed_done", "global_state": "concat"})
    env.reset(seed=0)
    obs, *_ = env.step({"a": 0, "b": 1, "c": 2})
    # c terminated in step 1 and is absent from later states.
    obs, *_ = env.step({"a": 0, "b": 1})
    s = obs["a"][STATE]
    assert s.shape == (6,) and not s[4:].any() and s[:4].any()


@pytest.mark.parametrize(
    "reward,expected",
    [
        ({"mode": "individual"}, {"a": 0.0, "b": 1.0, "c": 2.0}),
        ({"mode": "team", "team_aggregate": "sum"}, {"a": 3.0, "b": 3.0, "c": 3.0}),
        ({"mode": "team", "team_aggregate": "mean"}, {"a": 1.0, "b": 1.0, "c": 1.0}),
        ({"mode": "mix", "team_weight": 0.25, "team_aggregate": "mean"},
         {"a": 0.25, "b": 1.0, "c": 1.75}),
    ],
)
def test_reward_modes(reward, expected):
    env = make_env({"name": "fixture_envs:mixed_done", "reward": reward})
    env.reset(seed=0)
    _, rew, _, _, info = env.step({"a": 0, "b": 1, "c": 2})
    assert rew == pytest.approx(expected)
    # Reported env returns stay in the env's own rewards.
    assert info["c"][ENV_RETURN_INFO] == 2.0


def test_seeded_resets_are_reproducible():
    def obs_seq(seed):
        env = make_env(SPREAD)
        rng = np.random.default_rng(0)
        steps = rollout(env, seed=seed, policy=lambda a, o: int(rng.integers(5)))
        return np.stack([s[0]["agent_0"][OBS] for s in steps])

    np.testing.assert_array_equal(obs_seq(7), obs_seq(7))
    assert not np.array_equal(obs_seq(7), obs_seq(8))


def test_render_rgb_array():
    env = make_env(SPREAD, render_mode="rgb_array")
    env.reset(seed=0)
    frame = env.render()
    assert isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[2] == 3
    env.close()


def test_supersuit_wrappers_from_config():
    cfg = {
        "name": "mpe2.simple_adversary_v3",
        "wrappers": [{"name": "pad_observations_v0"}, {"name": "pad_action_space_v0"},
                     {"name": "agent_indicator_v0", "kwargs": {"type_only": False}}],
    }
    env = make_env(cfg)
    shapes = {env.observation_spaces[a][OBS].shape for a in env.possible_agents}
    assert len(shapes) == 1  # padded to one shape
    env = make_env({**SPREAD, "wrappers": [{"name": "frame_stack_v1", "kwargs": {"stack_size": 3}}]})
    assert env.observation_spaces["agent_0"][OBS].shape == (54,)
    env = make_env({**SPREAD, "wrappers": [{"name": "black_death_v3"}]})
    env.reset(seed=0)
    with pytest.raises(EnvError, match="unknown SuperSuit wrapper"):
        make_env({**SPREAD, "wrappers": [{"name": "no_such_wrapper_v9"}]})


def test_registry_errors_name_the_problem():
    with pytest.raises(EnvError, match="cannot import 'nosuch.env_v1'"):
        make_env({"name": "nosuch.env_v1"})
    with pytest.raises(EnvError, match="bogus"):
        make_env({**SPREAD, "kwargs": {"bogus": 1}})
    with pytest.raises(EnvError, match="Parallel game"):
        make_env({"name": "ipd", "api": "aec"})


def test_parallel_and_aec_builds_of_one_env_pay_the_same():
    """The same moves through the Parallel and the AEC build of rock-paper-scissors give
    the same returns (the AEC adapter hands a reward over when the agent next observes)."""
    par = make_env({"name": "pettingzoo.classic.rps_v2", "api": "parallel"})
    aec = make_env({"name": "pettingzoo.classic.rps_v2", "api": "aec"})
    assert par.api == "parallel" and aec.api == "aec"
    assert par.possible_agents == aec.possible_agents
    rng = np.random.default_rng(0)
    moves = rng.integers(0, 3, size=(15, 2))  # rps_v2 plays 15 rounds

    def play(env):
        obs, _ = env.reset(seed=0)
        totals = {a: 0.0 for a in env.possible_agents}
        rounds = {a: 0 for a in env.possible_agents}
        final = {}
        while True:
            acts = {a: int(moves[min(rounds[a], 14), env.possible_agents.index(a)]) for a in obs}
            for a in acts:
                rounds[a] += 1
            obs, rew, term, trunc, info = env.step(acts)
            for a, r in rew.items():
                totals[a] += r
            for a, i in info.items():
                if ENV_RETURN_INFO in i:
                    final[a] = i[ENV_RETURN_INFO]
            if term["__all__"] or trunc["__all__"]:
                return totals, final

    (tp, fp), (ta, fa) = play(par), play(aec)
    assert tp == pytest.approx(ta) and fp == pytest.approx(fa)
    assert fp == pytest.approx(tp) and any(v != 0 for v in tp.values())


def test_butterfly_env_builds():
    env = make_env({"name": "pettingzoo.butterfly.cooperative_pong_v6",
                    "wrappers": [{"name": "color_reduction_v0"}, {"name": "resize_v1", "kwargs": {"x_size": 16, "y_size": 16}}]})
    obs, _ = env.reset(seed=0)
    assert obs[env.possible_agents[0]][OBS].shape == (16, 16)


def test_concat_state_equals_mpe2_state_for_simple_spread():
    """tuned_examples/mappo/simple_spread.yaml uses concat for speed: same numbers."""
    kw = {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 3}}
    env_state, concat = make_env({**kw, "global_state": "env"}), make_env({**kw, "global_state": "concat"})
    oa, _ = env_state.reset(seed=3)
    ob, _ = concat.reset(seed=3)
    for t in range(10):
        for a in oa:
            np.testing.assert_array_equal(oa[a]["state"], ob[a]["state"])
        act = {a: t % 5 for a in oa}
        oa, *_ = env_state.step(act)
        ob, *_ = concat.step(act)


def test_target_sum_pays_the_squared_miss_and_random_play_averages_minus_one():
    env = target_sum_game(max_steps=3)
    obs, _ = env.reset(seed=0)
    c = float(obs["agent_0"][0])
    _, r, _, trunc, _ = env.step({"agent_0": np.array([c / 2]), "agent_1": np.array([c / 2])})
    assert r["agent_0"] == r["agent_1"] == pytest.approx(0.0, abs=1e-6)
    c = float(env._c)
    _, r, _, _, _ = env.step({"agent_0": np.array([1.0]), "agent_1": np.array([1.0])})
    assert r["agent_0"] == pytest.approx(-((2.0 - c) ** 2))
    rng = np.random.default_rng(0)
    total, n = 0.0, 0
    for ep in range(400):
        env.reset(seed=ep)
        while env.agents:
            _, r, *_ = env.step({a: rng.uniform(-1, 1, 1) for a in env.agents})
            total += r["agent_0"]
            n += 1
    assert total / n == pytest.approx(-1.0, abs=0.1)


def _episode_with(env, seed, before_step):
    """One episode of no-op actions, ``before_step(world)`` called before every step."""
    obs, _ = env.reset(seed=seed)
    world = env.env.unwrapped.world
    while True:
        before_step(world)
        obs, rew, term, trunc, info = env.step({a: 0 for a in obs})
        if term["__all__"] or trunc["__all__"]:
            return info


def test_simple_tag_touches_equal_a_predators_return_over_10():
    env = make_env({"name": "mpe2.simple_tag_v3", "kwargs": {"max_cycles": 25}})

    steps = [0]

    def prey_on_predator(world):  # every other step, the prey sits on predator 0
        prey = next(a for a in world.agents if not a.adversary)
        pred = next(a for a in world.agents if a.adversary)
        prey.collide = False  # no contact force: the prey stays where it is put
        steps[0] += 1
        if steps[0] % 2:
            prey.state.p_pos = pred.state.p_pos + np.array([0.05, 0.0])
            prey.state.p_vel = pred.state.p_vel.copy()

    info = _episode_with(env, 0, prey_on_predator)
    touches = info["adversary_0"]["env_metrics"]["touches"]
    assert touches >= 12
    assert all(i["env_metrics"] == {"touches": touches} for i in info.values())
    for pred in ("adversary_0", "adversary_1", "adversary_2"):
        assert info[pred][ENV_RETURN_INFO] == pytest.approx(10 * touches)


@pytest.mark.parametrize("who, expected", [("adversary", (0.0, 1.0)), ("good", (1.0, 0.0)), ("none", (0.0, 0.0))])
def test_simple_adversary_success_at_the_last_step(who, expected):
    env = make_env({"name": "mpe2.simple_adversary_v3", "kwargs": {"max_cycles": 10}})

    def place(world):
        goal = world.agents[0].goal_a
        for a in world.agents:  # everyone far from the goal ...
            a.state.p_pos = goal.state.p_pos + np.array([3.0, 3.0])
        for a in world.agents:  # ... but the one placed at 1.5 goal radii
            if (who == "adversary") == a.adversary and who != "none":
                a.state.p_pos = goal.state.p_pos + np.array([1.5 * goal.size, 0.0])
                break

    info = _episode_with(env, 1, place)
    m = info["agent_0"]["env_metrics"]
    assert (m["good_success"], m["adversary_success"]) == expected


def test_simple_spread_collisions_and_occupied_landmarks():
    env = make_env({**SPREAD, "kwargs": {"N": 3, "max_cycles": 5}})

    def stack(world):  # agents 0 and 1 on landmark 0, agent 2 far away
        lm = world.landmarks[0].state.p_pos
        world.agents[0].state.p_pos = lm.copy()
        world.agents[1].state.p_pos = lm + np.array([0.05, 0.0])
        for a in world.agents:
            a.state.p_vel = 0 * a.state.p_vel
        world.agents[2].state.p_pos = lm + np.array([5.0, 5.0])

    info = _episode_with(env, 2, stack)
    m = info["agent_0"]["env_metrics"]
    assert m["collisions"] == 5.0  # one pair per step, 5 steps
    assert m["occupied_landmarks"] >= 1.0


def test_envs_without_metrics_report_none():
    env = make_env({"name": "two_step"})
    info = _episode_with_actions(env)
    assert all("env_metrics" not in i for i in info.values())


def _episode_with_actions(env):
    obs, _ = env.reset(seed=0)
    while True:
        obs, rew, term, trunc, info = env.step({a: 0 for a in obs})
        if term["__all__"] or trunc["__all__"]:
            return info


def test_matrix_game_metrics_count_moves():
    from rllib_marl.envs.adapter import make_env

    env = make_env({"name": "ipd", "kwargs": {"rounds": 4}})
    env.reset(seed=0)
    moves = [(0, 0), (0, 1), (1, 1), (0, 0)]  # 5 of 8 moves cooperate; 2 of 4 rounds both do
    for a, b in moves:
        *_, infos = env.step({"player_0": a, "player_1": b})
    m = infos["player_0"]["env_metrics"]
    assert m["cooperation"] == pytest.approx(5 / 8) and m["mutual_cooperation"] == pytest.approx(0.5)
    assert m["action_0"] + m["action_1"] == pytest.approx(1.0)
    rps = make_env({"name": "rps"})
    rps.reset(seed=0)
    *_, infos = rps.step({"player_0": 1, "player_1": 0})  # paper beats rock
    assert infos["player_0"]["env_return"] == 1.0 and infos["player_1"]["env_return"] == -1.0
    assert infos["player_0"]["env_metrics"] == {"action_0": 0.5, "action_1": 0.5, "action_2": 0.0}
    assert "cooperation" not in infos["player_0"]["env_metrics"]
    np.testing.assert_array_equal(rps.env.unwrapped.zero_sum_payoff,
                                  [[0, -1, 1], [1, 0, -1], [-1, 1, 0]])
    assert make_env({"name": "ipd"}).env.unwrapped.zero_sum_payoff is None  # not zero-sum


def test_tictactoe_players():
    from rllib_marl.envs.games.tictactoe_players import (
        game_value, heuristic_move, minimax_move, random_move, winner)

    rng = np.random.default_rng(0)
    assert game_value([0] * 9, 1) == 0  # tic-tac-toe is a draw under perfect play
    board = [1, 1, 0, 2, 2, 0, 0, 0, 0]  # X to move: 2 wins; O threatens 5
    assert heuristic_move(board, 1, rng) == 2 and minimax_move(board, 1, rng) == 2
    assert heuristic_move(board, 2, rng) == 5  # O wins at 5 before blocking
    assert heuristic_move([1, 1, 0, 2, 0, 0, 0, 0, 0], 2, rng) == 2  # block
    assert game_value([1, 0, 0, 0, 2, 0, 0, 0, 1], 2) == 0

    def play(first, second, seed):
        r = np.random.default_rng(seed)
        b, me = [0] * 9, 1
        while not winner(b) and 0 in b:
            b[(first if me == 1 else second)(b, me, r)] = me
            me = 3 - me
        return winner(b)

    # Minimax never loses, from either seat, to random or heuristic play or itself.
    for seed in range(40):
        assert play(minimax_move, random_move, seed) != 2
        assert play(random_move, minimax_move, seed) != 1
        assert play(heuristic_move, minimax_move, seed) != 1
        assert play(minimax_move, minimax_move, seed) == 0
    assert sum(play(random_move, random_move, s) == 1 for s in range(200)) > 80  # X wins ~58%


def test_a_missing_dependency_names_what_to_install(tmp_path, monkeypatch):
    from rllib_marl.envs.registry import EnvError, make_pettingzoo
    from rllib_marl.envs.spec import EnvConfig

    (tmp_path / "needs_more_v0.py").write_text("import surely_not_installed_pkg\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(EnvError, match="needs 'surely_not_installed_pkg', which is not installed"):
        make_pettingzoo(EnvConfig(name="needs_more_v0"))
    try:
        import Box2D  # noqa: F401
    except ImportError:  # this machine: multiwalker's own dependency is absent
        with pytest.raises(EnvError, match=r'pip install "pettingzoo\[sisl\]"'):
            make_pettingzoo(EnvConfig(name="pettingzoo.sisl.multiwalker_v9"))


def test_auto_global_state_never_picks_a_frame_far_larger_than_the_observations():
    from rllib_marl.envs.adapter import STATE_SIZE_LIMIT, make_env

    wrappers = [{"name": "color_reduction_v0"}, {"name": "resize_v1", "kwargs": {"x_size": 42, "y_size": 42}},
                {"name": "frame_stack_v1", "kwargs": {"stack_size": 4}}]
    env = make_env({"name": "pettingzoo.butterfly.cooperative_pong_v6", "wrappers": wrappers})
    # state() is the unwrapped 280x480x3 frame: 403,200 values against 2 x 42x42x4.
    assert env.global_state_mode == "concat"
    assert "403,200" in env.global_state_note and "14,112" in env.global_state_note
    obs, _ = env.reset(seed=0)
    # The two paddles' stacked frames side by side along the channels, still uint8.
    state = next(iter(obs.values()))["state"]
    assert state.shape == (42, 42, 2 * 4) and state.dtype == np.uint8
    asked = make_env({"name": "pettingzoo.butterfly.cooperative_pong_v6", "wrappers": wrappers,
                      "global_state": "env"})  # asked for explicitly: kept
    asked_state = asked.observation_spaces[asked.possible_agents[0]]["state"]
    assert asked.global_state_mode == "env" and np.prod(asked_state.shape) > STATE_SIZE_LIMIT * 2 * 42 * 42 * 4
    spread = make_env({"name": "mpe2.simple_spread_v3"})  # state() the size of the observations: kept
    assert spread.global_state_mode == "env" and spread.global_state_note == ""


def test_memory_estimate_refuses_what_cannot_fit():
    from rllib_marl.config import parse_experiment
    from rllib_marl.build import prepare
    from rllib_marl.memory import estimate

    wrappers = [{"name": "color_reduction_v0"}, {"name": "resize_v1", "kwargs": {"x_size": 42, "y_size": 42}},
                {"name": "frame_stack_v1", "kwargs": {"stack_size": 4}}]
    raw = {"algorithm": "mappo", "env": {"name": "pettingzoo.butterfly.cooperative_pong_v6", "wrappers": wrappers,
                                          "global_state": "env", "kwargs": {"render_mode": "rgb_array"}},
           "training": {"train_batch_size": 10000}, "stop": {"iterations": 1}}
    exp = parse_experiment(raw)
    p = prepare(exp)
    env = p.env
    est = estimate(p.config, env, available=24 * 2**30)
    # Two agents, each: the 280x480x3 frame as state (403,200 bytes: frames stay
    # uint8) + the 42x42x4 uint8 observation; not 4 bytes a value.
    assert 2 * (403_200 + 7_056) < est.bytes_per_env_step < 2 * (403_200 + 7_056) * 4
    msg = est.problem()
    assert msg and "GB available" in msg and "train batch (now 10,000 env steps)" in msg
    raw["env"]["global_state"] = "auto"  # the wrapped observations' concatenation instead
    exp = parse_experiment(raw)
    p = prepare(exp)
    env = p.env
    small = estimate(p.config, env, available=24 * 2**30)
    assert small.problem() is None and small.total < est.total / 10
    assert "of 24.00 GB available" in small.line()
    # Off-policy: the replay buffer is what is too big, and is named.
    raw = {"algorithm": "qmix", "env": {"name": "mpe2.simple_spread_v3"},
           "training": {"replay_capacity": 50_000_000}, "stop": {"iterations": 1}}
    exp = parse_experiment(raw)
    p = prepare(exp)
    assert "training.replay_capacity (now 50,000,000 env steps)" in estimate(p.config, p.env, 8 * 2**30).problem()


def test_frame_skip_runs_on_an_env_without_np_random():
    """SuperSuit's frame_skip_v0 reads env.unwrapped.np_random, which pettingzoo
    1.27's cooperative pong never sets; the registry gives it one, so the usual
    Atari-style preprocessing runs (and an action is held for the skip: one
    env step of the wrapped env is 2 of the game's frames)."""
    from rllib_marl.envs.adapter import make_env

    cfg = {"name": "pettingzoo.butterfly.cooperative_pong_v6", "kwargs": {"render_mode": "rgb_array"},
           "wrappers": [{"name": "resize_v1", "kwargs": {"x_size": 16, "y_size": 16}},
                        {"name": "frame_skip_v0", "kwargs": {"num_frames": 2}}]}
    env = make_env(cfg)
    env.reset(seed=0)
    raw = env.env.unwrapped
    frames = raw.env.num_frames
    for _ in range(3):
        env.step({a: 0 for a in env.possible_agents})
    assert raw.env.num_frames - frames == 6
    env.close()
