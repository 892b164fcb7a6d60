"""League pieces on their own: Elo, payoff table and PFSP, exploitability, matchmaking."""

import numpy as np
import pytest
from scipy.optimize import linprog

from rllib_marl.league.exploitability import ROCK_PAPER_SCISSORS, exploitability, nash_conv
from rllib_marl.league.matchmaking import stable_choice, stable_uniform
from rllib_marl.league.payoff import PayoffTable, pfsp_probabilities
from rllib_marl.league.ratings import Elo, expected_score

# ----- Elo ----------------------------------------------------------------------------


def test_elo_arithmetic():
    assert expected_score(1500, 1500) == 0.5
    assert expected_score(1600, 1400) == pytest.approx(1 / (1 + 10 ** (-0.5)))  # 0.7597
    assert expected_score(1600, 1400) + expected_score(1400, 1600) == pytest.approx(1.0)
    elo = Elo(k=32, initial=1500)
    assert elo.update("a", "b", 1.0) == (1516.0, 1484.0)  # equal ratings: K / 2 moves
    ra, rb = elo.update("a", "b", 0.5)  # a draw pulls the favourite down
    assert ra == pytest.approx(1516 + 32 * (0.5 - expected_score(1516, 1484)))
    assert ra + rb == pytest.approx(3000.0)  # points are conserved
    with pytest.raises(ValueError, match="score_a"):
        elo.update("a", "b", 2.0)
    assert Elo.from_state(elo.get_state()).ratings == elo.ratings


def test_elo_orders_players_by_strength():
    rng = np.random.default_rng(0)
    strength = {"weak": 0.0, "mid": 1.0, "strong": 2.0}
    elo = Elo(k=8)
    names = list(strength)
    for _ in range(3000):
        a, b = rng.choice(names, 2, replace=False)
        p = 1 / (1 + np.exp(strength[b] - strength[a]))
        elo.update(a, b, float(rng.random() < p))
    assert elo.rating("weak") < elo.rating("mid") < elo.rating("strong")


# ----- payoff table and PFSP ----------------------------------------------------------------


def test_pfsp_weightings():
    x = [0.0, 0.25, 0.5, 1.0]
    np.testing.assert_allclose(pfsp_probabilities(x, "squared"), np.array([1, 0.5625, 0.25, 0]) / 1.8125)
    np.testing.assert_allclose(pfsp_probabilities(x, "variance"), np.array([0, 0.1875, 0.25, 0]) / 0.4375)
    np.testing.assert_allclose(pfsp_probabilities(x, "linear"), np.array([1, 0.75, 0.5, 0]) / 2.25)
    np.testing.assert_allclose(pfsp_probabilities(x, "linear_capped"), np.array([0.5, 0.5, 0.5, 0]) / 1.5)
    np.testing.assert_allclose(pfsp_probabilities(x, "uniform"), [0.25] * 4)
    with pytest.raises(ValueError, match="allowed: squared"):
        pfsp_probabilities(x, "softmax")


@pytest.mark.parametrize("weighting", ["squared", "variance", "linear", "linear_capped"])
def test_pfsp_falls_back_to_uniform_when_the_learner_beats_everyone(weighting):
    p = pfsp_probabilities([1.0, 1.0, 1.0], weighting)  # (1 - 1)^2 = 0 everywhere: no 0 / 0
    np.testing.assert_allclose(p, [1 / 3] * 3)
    assert np.isfinite(p).all()


def test_payoff_table_win_rates_decay_and_state():
    t = PayoffTable(decay=0.5)
    assert t.win_rate("a", "b") == 0.5 and t.games("a", "b") == 0  # before any game
    np.testing.assert_allclose(t.pfsp("a", ["b", "c"], "squared"), [0.5, 0.5])  # no games: even
    t.record("a", "b", 1.0)
    assert t.win_rate("a", "b") == 1.0 and t.win_rate("b", "a") == 0.0
    t.record("a", "b", 0.5)  # counts halve, then the draw: w 0.5, d 1
    assert t.wdl("a", "b") == (0.5, 1.0, 0.0)
    assert t.win_rate("a", "b") == pytest.approx((0.5 + 0.5) / 1.5)
    t.record("b", "a", 1.0)  # a loss for a, seen from a's side: w .25, d .5, l 1
    assert t.wdl("a", "b") == (0.25, 0.5, 1.0)
    assert t.win_rate("a", "b") + t.win_rate("b", "a") == pytest.approx(1.0)
    assert PayoffTable.from_state(t.get_state()).counts == t.counts
    p = t.pfsp("a", ["b", "c"], "squared")  # a loses more to b than to the unplayed c
    assert p[0] > p[1]


# ----- exploitability ----------------------------------------------------------------------


def test_rock_paper_scissors_exploitability():
    A = ROCK_PAPER_SCISSORS
    assert exploitability(A, [1 / 3] * 3) == pytest.approx(0.0)
    assert exploitability(A, [1, 0, 0]) == pytest.approx(1.0)
    assert exploitability(A, [0.5, 0.5, 0]) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="probability vector"):
        exploitability(A, [0.5, 0.6, 0])


def _lp_nash(A):
    """Row player's maximin strategy and the game value, by linear programming."""
    m, n = A.shape
    # Variables (x_1..x_m, v): maximize v s.t. (x^T A)_j >= v, sum x = 1, x >= 0.
    res = linprog(c=np.r_[np.zeros(m), -1.0], A_ub=np.c_[-A.T, np.ones(n)], b_ub=np.zeros(n),
                  A_eq=np.r_[np.ones(m), 0.0][None], b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    assert res.success
    return res.x[:m], res.x[m]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exploitability_against_a_linear_programming_solution(seed):
    rng = np.random.default_rng(seed)
    A = rng.normal(size=(4, 5))
    x_star, v = _lp_nash(A)
    y_star, w = _lp_nash(-A.T)  # the column player's problem
    assert w == pytest.approx(-v, abs=1e-7)
    assert nash_conv(A, x_star, y_star) == pytest.approx(0.0, abs=1e-7)  # equilibrium: 0
    for _ in range(20):  # anything else: the two best-response gains against the value
        x, y = rng.dirichlet(np.ones(4)), rng.dirichlet(np.ones(5))
        gain = (A @ y).max() - v + v - (x @ A).min()
        assert nash_conv(A, x, y) == pytest.approx(gain)
        assert nash_conv(A, x, y) >= -1e-9
        assert exploitability(A, x, y) == pytest.approx(gain / 2)


# ----- matchmaking -------------------------------------------------------------------------


def test_stable_choice_is_a_function_of_its_keys():
    assert stable_uniform("episode-1", 3) == stable_uniform("episode-1", 3)
    assert stable_uniform("episode-1", 3) != stable_uniform("episode-1", 4)
    opts, p = ["main", "snap_1", "snap_2"], [0.5, 0.3, 0.2]
    picks = [stable_choice(opts, p, f"ep{i}", 7) for i in range(6000)]
    assert picks == [stable_choice(opts, p, f"ep{i}", 7) for i in range(6000)]
    freq = np.array([picks.count(o) for o in opts]) / len(picks)
    np.testing.assert_allclose(freq, p, atol=0.025)
    assert stable_choice(opts, [0, 0, 1], "any") == "snap_2"


def test_stable_uniform_does_not_depend_on_the_hash_seed():
    import subprocess
    import sys

    code = "from rllib_marl.league.matchmaking import stable_uniform as u; print(u('ep', 1))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={"PYTHONHASHSEED": s, "PATH": ""}).stdout for s in ("0", "1", "2")}
    assert len(outs) == 1 and float(outs.pop()) == stable_uniform("ep", 1)


# ----- the league: roles, matchmaking, snapshots, state ---------------------------------------

from rllib_marl.league.league import League, LeagueConfig  # noqa: E402


def _opponents(league, n=3000, learner=None):
    ms = [league.matchup(f"ep{i}") for i in range(n)]
    return [m for m in ms if learner is None or m.learner == learner]


def test_league_config_errors_name_the_key():
    assert LeagueConfig().check() == []
    bad = LeagueConfig(mains=0, pfsp_weighting="softmax", self_play=0, pfsp=0, verification=0,
                       league_exploiter_reset=2)
    keys = [k for k, _ in bad.check()]
    assert keys == ["mains", "pfsp_weighting", "league_exploiter_reset"]  # in field order
    assert [k for k, _ in LeagueConfig(self_play=0, pfsp=0, verification=0).check()] == ["self_play"]
    with pytest.raises(ValueError, match="league.mains"):
        League(bad)


def test_naive_self_play_always_plays_the_latest_self():
    league = League(LeagueConfig(self_play=1.0, pfsp=0.0, verification=0.0))
    league.add_snapshot("main_0", 10)
    ms = _opponents(league, 500)
    assert {(m.learner, m.opponent) for m in ms} == {("main_0", "main_0")}
    assert 0.45 < np.mean([m.learner_seat for m in ms]) < 0.55  # both seats


def test_fictitious_self_play_is_uniform_over_the_pool():
    league = League(LeagueConfig(self_play=0.0, pfsp=1.0, verification=0.0, pfsp_weighting="uniform"))
    assert {m.opponent for m in _opponents(league, 50)} == {"main_0"}  # empty pool: itself
    for it in (5, 10, 15, 20):
        league.add_snapshot("main_0", it)
    league.record("main_0", "main_0@1", 1.0)  # results do not matter to uniform FSP
    opp = [m.opponent for m in _opponents(league, 4000)]
    freq = np.array([opp.count(s) for s in league.snapshots]) / len(opp)
    np.testing.assert_allclose(freq, 0.25, atol=0.03)


def test_pfsp_squared_prefers_the_snapshots_the_main_loses_to():
    league = League(LeagueConfig(self_play=0.0, pfsp=1.0, verification=0.0, pfsp_weighting="squared"))
    for it in (5, 10):
        league.add_snapshot("main_0", it)
    for _ in range(20):
        league.record("main_0", "main_0@1", 1.0)  # always beats @1
        league.record("main_0", "main_0@2", 0.0)  # always loses to @2
    opp = [m.opponent for m in _opponents(league, 1000)]
    assert opp.count("main_0@2") > 0.95 * len(opp)


def test_exploiters_target_the_main_agent_or_the_pool():
    league = League(LeagueConfig(main_exploiters=1, league_exploiters=1))
    assert league.learners == ["main_0", "main_exploiter_0", "league_exploiter_0"]
    ms = _opponents(league, 3000)
    assert {m.opponent for m in ms if m.learner == "main_exploiter_0"} == {"main_0"}
    assert {m.opponent for m in ms if m.learner == "league_exploiter_0"} == {"main_0"}  # no pool yet
    league.add_snapshot("main_0", 10)
    league.add_snapshot("main_0", 20)
    ms = _opponents(league, 3000)
    assert {m.opponent for m in ms if m.learner == "league_exploiter_0"} == {"main_0@1", "main_0@2"}
    assert {m.opponent for m in ms if m.learner == "main_exploiter_0"} == {"main_0"}
    counts = {name: sum(m.learner == name for m in ms) for name in league.learners}
    assert min(counts.values()) > 800  # every learner gets episodes


def test_matchups_are_a_function_of_episode_id_and_state():
    league = League(LeagueConfig(main_exploiters=1), seed=3)
    league.add_snapshot("main_0", 5)
    first = [league.matchup(f"ep{i}") for i in range(200)]
    again = League.from_state(league.get_state())
    assert [again.matchup(f"ep{i}") for i in range(200)] == first  # same on any runner / after resume
    league.add_snapshot("main_0", 10)  # the pool changed: a new version draws anew
    assert league.version == 2
    assert [league.matchup(f"ep{i}") for i in range(200)] != first


def test_snapshots_due_by_count_or_win_rate_and_exploiter_resets():
    league = League(LeagueConfig(main_exploiters=1, league_exploiters=1, snapshot_every=10,
                                 snapshot_win_rate=0.7, min_games_for_snapshot=5, league_exploiter_reset=1.0))
    assert not league.snapshot_due("main_0", 9) and league.snapshot_due("main_0", 10)
    name, reset = league.add_snapshot("main_0", 10)
    assert name == "main_0@1" and not reset and not league.snapshot_due("main_0", 15)
    for _ in range(6):
        league.record("league_exploiter_0", "main_0@1", 1.0)
    # Games count with the payoff decay: 1 + 0.99 + ... + 0.99^5 = 5.85.
    assert league.win_rate_against_pool("league_exploiter_0") == (1.0, pytest.approx(sum(0.99 ** k for k in range(6))))
    assert league.snapshot_due("league_exploiter_0", 3)  # wins >= 70% of >= 5 (decayed) games
    assert league.add_snapshot("main_exploiter_0", 10)[1]  # main exploiters always reset
    assert league.add_snapshot("league_exploiter_0", 10)[1]  # reset probability 1
    assert league.elo.rating("main_0@1") == league.elo.ratings["main_0@1"]


def test_self_play_games_do_not_move_ratings():
    league = League(LeagueConfig())
    league.record("main_0", "main_0", 1.0)
    assert league.payoff.counts == {} and league.elo.ratings == {}


def test_league_mapping_gives_both_seats_one_matchup_on_every_runner():
    import pickle
    from types import SimpleNamespace

    from rllib_marl.league.mapping import LeagueMapping, seats_of

    league = League(LeagueConfig(main_exploiters=1), seed=1)
    league.add_snapshot("main_0", 5)
    seats = seats_of(["player_1", "player_0"], "one")
    assert seats == {"player_0": 0, "player_1": 1}
    fn = LeagueMapping(league.get_state(), seats)
    runners = [pickle.loads(pickle.dumps(fn)) for _ in range(2)]  # what each env runner holds
    for i in range(300):
        ep = SimpleNamespace(id_=f"episode-{i}")
        m = league.matchup(ep.id_)
        pair = [fn("player_0", ep), fn("player_1", ep)]
        assert pair[m.learner_seat] == m.learner and pair[1 - m.learner_seat] == m.opponent
        assert all([r("player_1", ep), r("player_0", ep)] == pair[::-1] for r in runners)
    assert seats_of(["adversary_0", "adversary_1", "agent_0"], "by_prefix") == \
        {"adversary_0": 0, "adversary_1": 0, "agent_0": 1}
    with pytest.raises(ValueError, match="two-player game"):
        seats_of(["a", "b", "c"], "one")
    with pytest.raises(ValueError, match="episode"):
        fn("player_0")


def test_a_bounded_pool_retires_the_oldest_snapshots():
    league = League(LeagueConfig(self_play=0.0, pfsp=1.0, verification=0.0, pfsp_weighting="uniform",
                                 pool_size=3))
    for it in range(1, 6):
        league.add_snapshot("main_0", it)
    assert league.snapshots == [f"main_0@{i}" for i in range(1, 6)]  # all still exist (rated, loaded)
    assert league.pool == ["main_0@3", "main_0@4", "main_0@5"]
    drawn = {league.matchup(f"ep{i}").opponent for i in range(500)}
    assert drawn == set(league.pool)
    again = League.from_state(league.get_state())
    assert again.pool == league.pool
    with pytest.raises(ValueError, match="pool_size"):
        League(LeagueConfig(pool_size=-1))


def test_nash_matchmaking_draws_from_the_meta_strategy():
    league = League(LeagueConfig(self_play=0.0, pfsp=1.0, verification=0.0, pfsp_weighting="nash"))
    assert league.wants_meta
    for it in (1, 2, 3):
        league.add_snapshot("main_0", it)
    assert {m.opponent for m in _opponents(league, 300)} == {"main_0@1", "main_0@2", "main_0@3"}  # no meta: uniform
    league.meta = {"main_0@1": 0.0, "main_0@2": 0.75, "main_0@3": 0.25}
    ops = [m.opponent for m in _opponents(league, 4000)]
    assert "main_0@1" not in ops and abs(ops.count("main_0@2") / len(ops) - 0.75) < 0.03
    assert League.from_state(league.get_state()).meta == league.meta


def test_a_snapshot_starts_with_its_learners_record():
    """The meta-game row of a new snapshot is the learner's record when it was taken."""
    league = League(LeagueConfig())
    league.add_snapshot("main_0", 1)
    for _ in range(3):
        league.record("main_0", "main_0@1", 1.0)
    league.add_snapshot("main_0", 2)
    assert league.payoff.win_rate("main_0@2", "main_0@1") == 1.0
    assert league.payoff.win_rate("main_0@1", "main_0@2") == 0.0
    M = league.payoff_meta_game(league.pool)
    assert M.tolist() == [[0.0, -1.0], [1.0, 0.0]]
