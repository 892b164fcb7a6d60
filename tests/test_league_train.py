"""The league inside RLlib: config checks, snapshots on the runners, match-ups per
episode, checkpoints and a short rock-paper-scissors run."""

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from rllib_marl import train
from rllib_marl.config import load_experiment, parse_experiment
from rllib_marl.build import validate
from rllib_marl.schema import ConfigError

ROOT = Path(__file__).resolve().parent.parent
RPS = ROOT / "tuned_examples" / "league" / "rps.yaml"


def rps_raw(**league):
    raw = yaml.safe_load(RPS.read_text())
    raw["league"] = {**raw["league"], **league}
    raw["training"].update(train_batch_size=64, minibatch_size=64, num_epochs=1)
    return raw


# ----- config, before Ray ---------------------------------------------------------------


@pytest.mark.parametrize("change,key", [
    ({"algorithm": "maddpg"}, "league"),
    ({"env": {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 3}}}, "league"),
    ({"league": {"pfsp_weighting": "cubic"}}, "league.pfsp_weighting"),
    ({"league": {"mains": 0}}, "league.mains"),
    ({"expected": {"team_return": 0.0}}, "expected.team_return"),
    ({"expected": {"win_rate": {"main_7": 0.5}}}, "expected.win_rate.main_7"),
])
def test_league_configs_are_refused_with_the_key(change, key):
    raw = rps_raw()
    for k, v in change.items():
        raw[k] = {**raw[k], **v} if k == "league" else v
    if change.get("algorithm") == "maddpg":
        raw["training"] = {}
    with pytest.raises(ConfigError) as e:
        exp = parse_experiment(raw)
        validate(exp)
    assert e.value.path == key, str(e.value)


def test_exploitability_expectation_needs_a_league():
    raw = rps_raw()
    del raw["league"]
    with pytest.raises(ConfigError) as e:
        parse_experiment(raw)
    assert e.value.path == "expected.exploitability"


def test_league_seats_and_symmetry_come_from_the_env():
    exp = load_experiment(RPS)
    env, seats = validate(exp)
    assert seats == {"player_0": "seat_0", "player_1": "seat_1"}
    env.close()
    # simple_adversary: two teams by prefix, but not symmetric (different spaces).
    raw = rps_raw()
    raw["env"] = {"name": "mpe2.simple_adversary_v3", "teams": "by_prefix"}
    with pytest.raises(ConfigError, match="symmetric"):
        validate(parse_experiment(raw))


# ----- inside RLlib ---------------------------------------------------------------------


def _build(raw, num_env_runners=0):
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig

    exp = parse_experiment(raw)
    config, _ = build_algo_config(exp, ScaleConfig(num_env_runners=num_env_runners, num_envs_per_env_runner=4))
    return exp, config.build_algo()


def _runner_weights(algo, module_id):
    """``module_id``'s weights on every env runner (local and remote)."""
    return algo.env_runner_group.foreach_env_runner(
        lambda er, m=module_id: {k: np.array(v) for k, v in er.module[m].get_state().items()}
        if m in er.module else None)


def _same(a, b):
    return a.keys() == b.keys() and all(np.allclose(np.asarray(a[k]), np.asarray(b[k])) for k in a)


@pytest.mark.parametrize("num_env_runners", [0, 1])
def test_snapshots_reach_every_runner_with_the_source_weights(ray_local, num_env_runners):
    from rllib_marl.league.callback import _inference_weights, league_of

    exp, algo = _build(rps_raw(snapshot_every=1, self_play=0.0, pfsp=1.0, verification=0.0),
                       num_env_runners)
    try:
        algo.train()  # iteration 1: main_0@1 is taken from main_0 right after the update
        league = league_of(algo)
        assert league.snapshots == ["main_0@1"]
        source = _inference_weights(algo, "main_0")
        snap = _inference_weights(algo, "main_0@1")
        assert _same(source, snap)
        for w in _runner_weights(algo, "main_0@1"):
            assert w is not None and _same(w, snap)
        # Runner copies are inference-only and in eval mode.
        flags = algo.env_runner_group.foreach_env_runner(
            lambda er: (er.module["main_0@1"].inference_only, er.module["main_0@1"].training))
        assert all(f == (True, False) for f in flags)
        # The snapshot is never trained: after more iterations it is unchanged
        # everywhere while the learner moved on.
        algo.train()
        algo.train()
        assert _same(_inference_weights(algo, "main_0@1"), snap)
        assert not _same(_inference_weights(algo, "main_0"), source)
        for w in _runner_weights(algo, "main_0@1"):
            assert _same(w, snap)
        # Every episode of the last iterations had the learner in one seat and
        # its opponent (a snapshot: self_play 0) in the other, as the mapping says.
        mapping = algo.config.policy_mapping_fn
        episodes = algo.env_runner_group.foreach_env_runner(
            lambda er: [(e.id_, e.module_for("player_0"), e.module_for("player_1"))
                        for e in er.sample(num_episodes=8, explore=True)] if er.env is not None else [])
        n = 0
        for eps in episodes:
            for eid, m0, m1 in eps or []:
                mu = mapping.matchup(eid)
                seats = (mu.learner, mu.opponent) if mu.learner_seat == 0 else (mu.opponent, mu.learner)
                assert (m0, m1) == seats
                assert mu.learner == "main_0" and mu.opponent.startswith("main_0@")
                n += 1
        assert n >= 8
        res = algo.train()
        lg = res["marl_league"]
        assert lg["pool"] == 4 and lg["games"] > 0
        assert 0.0 <= lg["exploitability/main_0"] <= 1.0
        probs = [lg[f"policy/main_0/{i}"] for i in range(3)]
        assert abs(sum(probs) - 1.0) < 1e-6
    finally:
        algo.stop()


def test_league_state_and_snapshots_survive_a_checkpoint(ray_local, tmp_path):
    """RLlib's own calls carry the league: ``save_to_path`` writes its state into
    the checkpoint, ``Algorithm.from_checkpoint`` brings back the pool (snapshot
    modules with their weights), the payoff table, ratings and match-ups."""
    from ray.rllib.algorithms.algorithm import Algorithm

    from rllib_marl.league.callback import league_of

    raw = rps_raw(snapshot_every=1, self_play=0.0, pfsp=1.0, verification=0.0)
    exp, algo = _build(raw)
    try:
        for _ in range(3):
            algo.train()
        path = algo.save_to_path(str(tmp_path / "ck"))
        state = league_of(algo).get_state()
        weights = {m: _runner_weights(algo, m)[0] for m in ["main_0", *league_of(algo).snapshots]}
    finally:
        algo.stop()
    assert len(state["players"]) == 4
    assert json.loads((tmp_path / "ck" / "league.json").read_text()) == state
    algo2 = Algorithm.from_checkpoint(path)
    try:
        assert league_of(algo2).get_state() == state
        # the runners' mapping carries what match-ups read (no ratings, no retired snapshots)
        assert algo2.config.policy_mapping_fn.league_state == league_of(algo2).matchmaking_state()
        for m, w in weights.items():
            assert _same(_runner_weights(algo2, m)[0], w), m
        # Same state, same match-ups.
        ids = [f"ep{i}" for i in range(50)]
        from rllib_marl.league.league import League

        assert [League.from_state(state).matchup(i) for i in ids] == \
               [algo2.config.policy_mapping_fn.matchup(i) for i in ids]
        algo2.train()
        assert league_of(algo2).snapshots[-1] == "main_0@4"
    finally:
        algo2.stop()


def test_train_cli_resumes_a_league_run(ray_local, tmp_path):
    cfg = tmp_path / "rps.yaml"
    raw = rps_raw(snapshot_every=2)
    raw["stop"] = {"iterations": 4}
    raw["checkpoint"] = {"interval": 2}
    cfg.write_text(yaml.safe_dump(raw))
    out = tmp_path / "run"
    assert train.main(["--config", str(cfg), "--output", str(out), "--quiet"]) == 0
    for f in ("league.json", "league_payoff.csv", "league_elo.csv"):
        assert (out / f).is_file(), f
    assert (out / "checkpoints" / "iter_000002" / "league.json").is_file()
    first = json.loads((out / "league.json").read_text())
    assert [p["name"] for p in first["players"]] == ["main_0", "main_0@1", "main_0@2"]
    s = json.loads((out / "summary.json").read_text())
    assert s["league"]["pool"] == 2
    # Resume from the final checkpoint with a longer budget: the pool grows on.
    assert train.main(["--resume", str(out), "--set", "stop.iterations=6", "--quiet"]) == 0
    after = json.loads((out / "league.json").read_text())
    assert [p["name"] for p in after["players"]] == ["main_0", "main_0@1", "main_0@2", "main_0@3"]


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_rps_league_learns_its_way_to_low_exploitability(ray_local, seed):
    """The tuned RPS league from a biased start (rock 0.79, exploitability 0.68):
    after 40 iterations (20k games) the main agent's exploitability, averaged over
    the last 5 iterations, is below 0.1 (0.033, 0.026, 0.028 in benchmarks/selfplay.py's
    three seeds, docs/data/selfplay_rps)."""
    from rllib_marl.league.callback import league_metrics, league_of

    raw = yaml.safe_load(RPS.read_text())
    raw["seed"] = seed
    _, algo = _build(raw)
    try:
        algo.learner_group.foreach_learner(lambda lr: lr.module["main_0"].set_constant_logits([2.0, 0.0, 0.0]))
        algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)
        start = league_metrics(league_of(algo), algo, 0, False)["exploitability/main_0"]
        assert start == pytest.approx(0.68, abs=0.01)
        values = [algo.train()["marl_league"]["exploitability/main_0"] for _ in range(40)]
        assert np.mean(values[-5:]) < 0.1, values
    finally:
        algo.stop()


@pytest.mark.slow
def test_league_survives_an_env_runner_restart(ray_local):
    """A remote env runner killed mid-run comes back with every snapshot (the
    learners' frozen weights) and the current mapping; the pairings stay the
    league's (same state, same match-ups)."""
    import os
    import signal
    import time

    from rllib_marl.league.callback import _inference_weights, league_of

    _, algo = _build(rps_raw(snapshot_every=1, self_play=0.0, pfsp=1.0, verification=0.0), num_env_runners=1)
    try:
        algo.train()
        algo.train()
        pid = algo.env_runner_group.foreach_env_runner(lambda er: os.getpid(), local_env_runner=False)[0]
        os.kill(pid, signal.SIGKILL)
        # Ray restarts the actor; each train() first asks RLlib to restore failed
        # runners (and fires on_env_runners_recreated). Wait for the new process.
        deadline = time.time() + 300
        new_pid = None
        while time.time() < deadline and new_pid is None:
            time.sleep(3)
            try:  # ask the actor directly; RLlib itself marks it healthy in train()
                got = algo.env_runner_group.foreach_env_runner(lambda er: os.getpid(), local_env_runner=False,
                                                               healthy_only=False)
            except Exception:  # noqa: BLE001 - still restarting
                got = []
            if got and got[0] != pid:
                new_pid = got[0]
        assert new_pid is not None, "the env runner did not come back"
        algo.train()  # restores the runner's state (RLlib) and the league's (our callback)
        algo.train()  # the restored runner samples league games
        league = league_of(algo)
        state = league.matchmaking_state()  # what the runners' mapping carries
        remote = algo.env_runner_group.foreach_env_runner(
            lambda er: (sorted(er.module.keys()), er.config.policy_mapping_fn.league_state),
            local_env_runner=False)[0]
        assert remote[0] == sorted(["main_0", *league.snapshots])
        assert remote[1] == state
        for name in league.snapshots:
            w = algo.env_runner_group.foreach_env_runner(
                lambda er, n=name: {k: np.array(v) for k, v in er.module[n].get_state().items()},
                local_env_runner=False)[0]
            assert _same(w, _inference_weights(algo, name)), name
    finally:
        algo.stop()


def test_league_results_come_from_evaluation_games_when_configured(ray_local):
    """With an evaluation block, the payoff table and Elo (and so PFSP and
    snapshot triggers) take the evaluation games, not the exploring training ones."""
    from rllib_marl.league.callback import league_of

    raw = rps_raw(snapshot_every=1, self_play=0.0, pfsp=1.0, verification=0.0)
    raw["evaluation"] = {"interval": 2, "episodes": 12, "explore": True}
    _, algo = _build(raw)
    try:
        r1 = algo.train()  # no evaluation yet: nothing recorded (the pool was empty anyway)
        assert r1["marl_league"]["results_from"] == "evaluation" and r1["marl_league"]["games"] == 0
        r2 = algo.train()  # evaluation: 12 games against the pool, all recorded
        assert r2["marl_league"]["games"] == 12
        assert sum(league_of(algo).payoff.wdl("main_0", s)[0] + league_of(algo).payoff.wdl("main_0", s)[1]
                   + league_of(algo).payoff.wdl("main_0", s)[2] for s in league_of(algo).pool) > 0
        r3 = algo.train()  # no evaluation: training games are not recorded
        assert r3["marl_league"]["games"] == 0
    finally:
        algo.stop()


def test_a_league_team_return_metric_is_refused_for_tune():
    raw = rps_raw()
    raw["tune"] = {"search_space": {"training.lr": {"grid": [1e-3, 3e-3]}}}
    with pytest.raises(ConfigError) as e:
        parse_experiment(raw)
    assert e.value.path == "tune.metric" and "marl_league/win_rate/main_0" in str(e.value)


@pytest.mark.slow
def test_a_league_runs_as_tune_trials(ray_local, tmp_path, capsys):
    """Each trial is its own league (the pool and payoff table live in the
    algorithm and its checkpoints); the best trial's checkpoint restores its pool."""
    from ray.rllib.algorithms.algorithm import Algorithm

    from rllib_marl.league.callback import league_of

    raw = rps_raw(snapshot_every=1)
    raw["stop"] = {"iterations": 3}
    raw["checkpoint"] = {"interval": 1}
    raw["tune"] = {"search_space": {"training.lr": {"grid": [1e-3, 3e-3]}},
                   "metric": "marl_league/exploitability/main_0", "mode": "min"}
    cfg = tmp_path / "rps_tune.yaml"
    cfg.write_text(yaml.safe_dump(raw))
    code = train.main(["--config", str(cfg), "--tune", "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    table = out[out.index("marl_league/exploitability/main_0"):]
    assert table.count(" done") == 2 and "nan" not in table.split("best trial")[0], table
    best = Path((tmp_path / "out" / "best_checkpoint.txt").read_text())
    state = json.loads((best / "league.json").read_text())
    assert [p["name"] for p in state["players"]] == ["main_0", "main_0@1", "main_0@2", "main_0@3"]
    algo = Algorithm.from_checkpoint(str(best))
    try:
        assert league_of(algo).get_state() == state
        assert set(league_of(algo).snapshots) <= set(algo.config.policies)
    finally:
        algo.stop()


@pytest.mark.parametrize("num_env_runners", [0, 1])
def test_retired_snapshots_leave_the_learners_and_every_runner(ray_local, tmp_path, num_env_runners):
    """``pool_size: 2``: a snapshot that leaves matchmaking is removed from the env
    runners (local and remote), the learners and the config; the mapping never
    draws one that is gone; a checkpoint holds the loaded ones and resumes."""
    from ray.rllib.algorithms.algorithm import Algorithm

    from rllib_marl.league.callback import league_of

    raw = rps_raw(snapshot_every=1, self_play=0.0, pfsp=1.0, verification=0.0, pool_size=2)
    exp, algo = _build(raw, num_env_runners)

    def check(algo):
        league = league_of(algo)
        loaded, pool = set(league.snapshots), set(league.pool)
        # A retired snapshot may stay one more iteration: the episodes a runner started
        # after its last game (one-step games) were matched before it retired.
        newest_retired = max((p.iteration for p in league.players.values() if not p.learner and not p.active),
                             default=0)
        assert pool <= loaded
        assert all(league.players[n].iteration == newest_retired for n in loaded - pool), (loaded, pool)
        want = {"main_0"} | loaded
        assert set(algo.learner_group.get_weights()) == want
        assert set(algo.config.policies) == want
        for keys in algo.env_runner_group.foreach_env_runner(lambda er: sorted(er.module.keys())):
            assert {"main_0"} | pool <= set(keys) <= want, keys
        mapping = algo.config.policy_mapping_fn
        assert {mapping.matchup(f"e{i}").opponent for i in range(200)} <= pool
        return league

    try:
        for _ in range(5):
            algo.train()
        league = check(algo)
        assert len(league.players) == 6 and len(league.snapshots) <= 3  # 5 taken; 2 or 3 retired and removed
        path = algo.save_to_path(str(tmp_path / "ck"))
    finally:
        algo.stop()
    algo2 = Algorithm.from_checkpoint(path)
    try:
        algo2.train()
        league = check(algo2)
        assert league.pool == ["main_0@5", "main_0@6"] and set(league.snapshots) <= {"main_0@4", *league.pool}
    finally:
        algo2.stop()


def test_a_runner_keeps_a_retired_module_an_episode_in_flight_plays():
    from types import SimpleNamespace

    from rllib_marl.league.callback import drop_unused_modules

    class Modules(dict):
        def remove_module(self, module_id):
            del self[module_id]

    episode = SimpleNamespace(agent_episodes={"player_0": SimpleNamespace(module_id="main_0"),
                                              "player_1": SimpleNamespace(module_id="main_0@1")})
    runner = SimpleNamespace(module=Modules({"main_0": 0, "main_0@1": 1, "main_0@2": 2}),
                             _ongoing_episodes=[None, episode])
    assert drop_unused_modules(runner, ["main_0@1", "main_0@2"]) == ["main_0@2"]
    assert set(runner.module) == {"main_0", "main_0@1"}
    runner._ongoing_episodes = [None, None]  # that episode ended
    assert drop_unused_modules(runner, ["main_0@1"]) == ["main_0@1"]
    assert set(runner.module) == {"main_0"}


@pytest.mark.parametrize("num_env_runners", [0, 1])
def test_pfsp_win_rates_reach_the_runners_every_iteration_with_games(ray_local, num_env_runners):
    """Between snapshots the runners' mapping carries the payoff table as of the
    last recorded games (PFSP draws from those win rates), not as of the last snapshot."""
    from rllib_marl.league.callback import league_of

    exp, algo = _build(rps_raw(snapshot_every=3, self_play=0.0, pfsp=1.0, verification=0.0,
                               pfsp_weighting="squared"), num_env_runners)
    try:
        for it in range(1, 6):
            algo.train()
            league = league_of(algo)
            want = league.matchmaking_state()["payoff"]
            held = algo.env_runner_group.foreach_env_runner(
                lambda er: er.config.policy_mapping_fn.league_state["payoff"],
                local_env_runner=num_env_runners == 0)
            if it >= 4:  # a pool exists (snapshot at 3) and iterations 4, 5 take none
                assert held and all(h == want for h in held), it
        assert len(league.snapshots) == 1
    finally:
        algo.stop()
