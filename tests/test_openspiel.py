"""OpenSpiel's turn-based games as envs, and exact exploitability through our path."""

import numpy as np
import pytest

pyspiel = pytest.importorskip("pyspiel")

from rllib_marl.envs.games.openspiel import OpenSpielEnv, info_states  # noqa: E402
from rllib_marl.league.openspiel_eval import exploitability_of, nash_conv  # noqa: E402


@pytest.mark.parametrize("game,moves", [("kuhn_poker", (2, 3)), ("leduc_poker", (2, 8))])
def test_games_play_to_their_end_with_openspiel_returns(game, moves):
    env = OpenSpielEnv(game)
    rng = np.random.default_rng(0)
    lengths = set()
    for ep in range(300):
        env.reset(seed=ep)
        ret = dict.fromkeys(env.possible_agents, 0.0)
        n = 0
        for agent in env.agent_iter():
            obs, r, term, trunc, _ = env.last()
            ret[agent] += r
            if term or trunc:
                assert not obs["action_mask"].any()
                env.step(None)
                continue
            assert obs["observation"].shape == env.observation_space(agent)["observation"].shape
            env.step(int(rng.choice(np.flatnonzero(obs["action_mask"]))))
            n += 1
        assert env.state.is_terminal() and not trunc  # ended by the game, never cut short
        assert [ret[f"player_{i}"] for i in range(2)] == pytest.approx(env.state.returns())
        assert sum(ret.values()) == pytest.approx(0.0)  # zero-sum
        lengths.add(n)
    assert min(lengths) == moves[0] and max(lengths) == moves[1]


def test_the_deal_follows_the_seed():
    a, b = OpenSpielEnv("leduc_poker"), OpenSpielEnv("leduc_poker")
    a.reset(seed=3)
    b.reset(seed=3)
    assert a.state.history() == b.state.history()
    deals = set()
    for seed in range(20):
        b.reset(seed=seed)
        deals.add(tuple(b.state.history()))
    assert len(deals) > 5


def test_info_states_are_every_decision_point():
    assert len(info_states(pyspiel.load_game("kuhn_poker"))) == 12
    assert len(info_states(pyspiel.load_game("leduc_poker"))) == 936


def test_exploitability_of_known_kuhn_policies():
    kuhn = pyspiel.load_game("kuhn_poker")
    uniform = lambda players, obs, masks: masks  # noqa: E731 (renormalized to uniform)
    assert nash_conv(kuhn, uniform) == pytest.approx(11 / 12)
    assert exploitability_of(kuhn, uniform) == pytest.approx(11 / 24)
    fold = lambda players, obs, masks: np.tile([1.0, 0.0], (len(obs), 1))  # noqa: E731 (pass / fold)
    assert nash_conv(kuhn, fold) == pytest.approx(2.0)
    leduc = pyspiel.load_game("leduc_poker")
    assert exploitability_of(leduc, uniform) == pytest.approx(2.3736, abs=1e-4)


def test_a_module_is_scored_on_the_observations_the_runners_build():
    """An IPPO module's probabilities at every Kuhn information state, through the
    env adapter: an untrained module is near uniform, so near 11/24."""
    from rllib_marl import IPPOConfig
    from rllib_marl.league.openspiel_eval import evaluator_for

    ev = evaluator_for({"name": "openspiel:kuhn_poker"})
    assert ev is not None and evaluator_for({"name": "rps"}) is None
    from rllib_marl.envs.adapter import RLlibEnv

    config = IPPOConfig().environment("openspiel:kuhn_poker")
    config.validate()
    env = RLlibEnv(config.env_config)
    module = config.get_multi_rl_module_spec(env=env).build()["shared"]
    env.close()
    probs = ev.probs(module)
    assert probs.shape == (12, 2) and np.allclose(probs.sum(-1), 1.0)
    assert abs(ev.exploitability(module) - 11 / 24) < 0.1


def test_openspiel_names_fail_in_one_line(tmp_path, capsys):
    from rllib_marl import train

    cfg = tmp_path / "c.yaml"
    for name, words in (("openspiel:kuhn_pokerr", "no game 'kuhn_pokerr'; similar: kuhn_poker"),
                        ("openspiel:", "needs a game name")):
        cfg.write_text(f"algorithm: ippo\nenv: {{name: '{name}'}}\nstop: {{iterations: 1}}\n")
        assert train.main(["--config", str(cfg), "--output", str(tmp_path / "run")]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and words in err, err


def test_the_average_of_a_mixture_plays_as_drawing_one_policy_per_game():
    """Three random Kuhn policies mixed 0.5 / 0.3 / 0.2: our reach-weighted average
    has the NashConv of OpenSpiel's own PolicyAggregator's mixture; a mixture of
    one policy with itself is that policy."""
    from open_spiel.python.algorithms import exploitability, policy_aggregator

    from rllib_marl.league.openspiel_eval import average_policy, tabular_policy

    kuhn = pyspiel.load_game("kuhn_poker")
    S = len(info_states(kuhn))
    rng = np.random.default_rng(0)
    probs = rng.dirichlet([1.0, 1.0], size=(3, S))
    weights = np.array([0.5, 0.3, 0.2])
    ours = average_policy(kuhn, probs, weights)
    pols = [tabular_policy(kuhn, lambda p, o, m, k=k: probs[k]) for k in range(3)]
    theirs = policy_aggregator.PolicyAggregator(kuhn).aggregate([0, 1], [pols, pols], [list(weights)] * 2)
    ours_nc = exploitability.nash_conv(kuhn, tabular_policy(kuhn, lambda p, o, m: ours))
    assert ours_nc == pytest.approx(exploitability.nash_conv(kuhn, theirs), abs=1e-9)
    same = average_policy(kuhn, probs[:1].repeat(2, 0), [1, 1])
    assert np.allclose(same, probs[0])


def test_the_meta_solver_against_hand_solved_games():
    from rllib_marl.league.meta import maximin, symmetric_nash

    rps = np.array([[0, -1, 1], [1, 0, -1], [-1, 1, 0]], float)
    assert np.allclose(symmetric_nash(rps), [1 / 3, 1 / 3, 1 / 3], atol=1e-6)
    # Matching pennies with a bias: row mixes 2/5, 3/5 (value 1/5), solved by hand.
    x, v = maximin(np.array([[2.0, -1.0], [-1.0, 1.0]]))
    assert np.allclose(x, [0.4, 0.6], atol=1e-6) and v == pytest.approx(0.2)
    # A dominated strategy gets no weight: rock, paper, and "always lose".
    M = np.array([[0, -1, 1], [1, 0, 1], [-1, -1, 0]], float)
    assert np.allclose(symmetric_nash(M), [0, 1, 0], atol=1e-6)
    with pytest.raises(ValueError, match="M = -M"):
        symmetric_nash(np.ones((2, 2)))


def test_exact_pairwise_values_equal_openspiels_expected_score():
    from open_spiel.python.algorithms import expected_game_score

    from rllib_marl.league.openspiel_eval import Terminals, tabular_policy

    for name in ("kuhn_poker", "leduc_poker"):
        game = pyspiel.load_game(name)
        S, A = len(info_states(game)), game.num_distinct_actions()
        probs = np.random.default_rng(1).dirichlet(np.ones(A), size=(3, S))
        M = Terminals(game).values(probs)
        assert np.allclose(M, -M.T, atol=1e-9)  # zero-sum, seats averaged
        pols = [tabular_policy(game, lambda p, o, m, k=k: probs[k]) for k in range(3)]
        for i, j in ((0, 1), (2, 0)):
            v01 = expected_game_score.policy_value(game.new_initial_state(), [pols[i], pols[j]])[0]
            v10 = expected_game_score.policy_value(game.new_initial_state(), [pols[j], pols[i]])[1]
            assert M[i, j] == pytest.approx(0.5 * (v01 + v10), abs=1e-9)


def test_a_psro_league_solves_its_meta_strategy_over_snapshots_it_just_took(ray_local, tmp_path):
    """pfsp_weighting: nash on Kuhn poker: the meta-game is solved after each snapshot,
    from modules the driver holds only once the snapshots are pushed (this crashed with
    an AttributeError at the first snapshot)."""
    import json

    from rllib_marl import train

    from pathlib import Path

    cfg = Path(__file__).resolve().parent.parent / "benchmarks" / "configs" / "openspiel" / "kuhn_psro.yaml"
    code = train.main(["--config", str(cfg), "--set", "stop.iterations=4", "--set", "league.snapshot_every=2",
                       "--set", "training.train_batch_size=256", "--set", "training.minibatch_size=128",
                       "--output", str(tmp_path / "run"), "--quiet"])
    assert code == 0
    league = json.loads((tmp_path / "run" / "league.json").read_text())
    meta = league["meta"]
    snapshots = {p["name"] for p in league["players"] if not p["learner"]}
    assert set(meta) == snapshots and len(meta) == 2
    assert abs(sum(meta.values()) - 1.0) < 1e-6
