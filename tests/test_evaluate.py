"""evaluate / render / export / deploy on real checkpoints (short training runs)."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
N_OBS = 1000


def _train(out, *args):
    cmd = [sys.executable, "-m", "rllib_marl.train", "--output", str(out), "--quiet", "--num-cpus", "2", *args]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return out


def _evaluate(*args, check=True):
    proc = subprocess.run([sys.executable, "-m", "rllib_marl.evaluate", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    if check:
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """MAPPO (MLP) on simple_spread with a final greedy evaluation, QMIX (GRU) on
    simple_spread, MAPPO on tic-tac-toe (action masks, turn-based), MAPPO with
    TarMAC messages on simple_spread, MAPPO on quadrant's frames, a league."""
    base = tmp_path_factory.mktemp("runs")
    ttt = base / "tictactoe.yaml"
    ttt.write_text(
        "algorithm: mappo\n"
        "env: {name: pettingzoo.classic.tictactoe_v3, agent_id: true}\n"
        "multi_agent: {sharing: shared}\n"
        "training: {train_batch_size: 500, minibatch_size: 250, num_epochs: 2}\n"
        "stop: {env_steps: 1000}\n"
    )
    return {
        "mappo": _train(base / "mappo", "--config", "tuned_examples/mappo/simple_spread.yaml",
                        "--set", "stop.env_steps=4000", "--set", "evaluation.episodes=30",
                        "--render-every", "1"),
        "qmix": _train(base / "qmix", "--config", "tuned_examples/qmix/simple_spread.yaml",
                       "--set", "stop.env_steps=2000", "--set", "training.learning_starts=500",
                       "--set", "evaluation.interval=0"),
        "tictactoe": _train(base / "tictactoe", "--config", str(ttt)),
        "comm": _train(base / "comm", "--config", "tuned_examples/mappo/simple_spread.yaml",
                       "--set", "comm={type: tarmac}", "--set", "stop.env_steps=2000",
                       "--set", "evaluation.interval=0"),
        "quadrant": _train(base / "quadrant", "--config", "tuned_examples/mappo/quadrant.yaml",
                           "--set", "stop.env_steps=2000"),
        "league": _train(base / "league", "--config", "tuned_examples/league/tictactoe.yaml",
                         "--set", "stop.env_steps=1500", "--set", "training.train_batch_size=500",
                         "--set", "training.minibatch_size=250", "--set", "league.snapshot_every=1",
                         "--set", "league.main_exploiters=0", "--set", "league.league_exploiters=0"),
    }


def test_evaluate_replays_the_runs_final_greedy_evaluation(runs, tmp_path):
    summary = json.loads((runs["mappo"] / "summary.json").read_text())
    trained = summary["eval_team_return"]
    # Same episodes, envs and seed as the run's own evaluation: the same number.
    out = tmp_path / "same.json"
    _evaluate(runs["mappo"], "--episodes", 30, "--output", out)
    same = json.loads(out.read_text())
    assert same["team_return"]["mean"] == pytest.approx(trained, abs=1e-6)
    # Many more episodes: the run's 30-episode figure lies within the 95% intervals.
    out = tmp_path / "more.json"
    _evaluate(runs["mappo"], "--episodes", 200, "--num-envs-per-env-runner", 4, "--output", out,
              "--marl-eval", tmp_path / "marl.json")
    more = json.loads(out.read_text())
    t = more["team_return"]
    assert t["n"] == 200 and len(more["episode_records"]) == 200
    ci_trained = 2.05 * t["std"] / np.sqrt(30)
    assert abs(t["mean"] - trained) <= t["ci95"] + ci_trained, (t, trained)
    # Per-agent returns add up to the team's (sum convention), episode by episode.
    rec = more["episode_records"][0]
    assert more["team_return_convention"] == "sum"
    assert set(more["agent_returns"]) == {"agent_0", "agent_1", "agent_2"}
    marl = json.loads((tmp_path / "marl.json").read_text())
    step = marl["mpe2"]["simple_spread_v3"]["mappo"]["seed_0"]["step_0"]
    assert step["step_count"] == summary["env_steps"]
    assert step["return"][0] == pytest.approx(sum(rec["returns"].values()))
    assert len(step["return"]) == 200


def test_cross_play_refuses_a_checkpoint_whose_spaces_do_not_fit(runs):
    proc = _evaluate(runs["mappo"], "--opponent", runs["tictactoe"], "--play", "agent_0=opponent:shared",
                     "--episodes", 2, check=False)
    assert proc.returncode == 2
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("evaluate error: --play: module 'shared'"), proc.stderr
    assert "the spaces must be the same" in err[0]
    # An opponent that plays no seat, and an unknown seat, are refused too.
    proc = _evaluate(runs["mappo"], "--opponent", runs["qmix"], "--episodes", 2, check=False)
    assert proc.returncode == 2 and "no seat is given to the opponent" in proc.stderr
    proc = _evaluate(runs["mappo"], "--play", "goalie=shared", check=False)
    assert proc.returncode == 2 and "neither an agent nor a team" in proc.stderr


def test_cross_play_mixes_modules_of_two_runs(runs, tmp_path):
    """QMIX's agent network plays agent_2 beside MAPPO's: same spaces, different
    algorithms; the seats are reported and the returns differ from MAPPO alone."""
    out = tmp_path / "x.json"
    _evaluate(runs["mappo"], "--opponent", runs["qmix"], "--play", "agent_2=opponent", "--episodes", 30,
              "--output", out)
    res = json.loads(out.read_text())
    assert res["seats"]["agent_2"] == {"source": "opponent", "module": "shared"}
    assert res["seats"]["agent_0"] == {"source": "checkpoint", "module": "shared"}
    assert "side_returns" in res and set(res["side_returns"]) == {"checkpoint", "opponent"}
    # simple_spread is not zero-sum: no win / draw / loss is claimed.
    assert "outcome" not in res and "not zero-sum" in res["outcome_note"]


def test_a_league_main_agent_plays_its_own_snapshot(runs, tmp_path):
    from rllib_marl.evaluate import load_source

    source, env = load_source(str(runs["league"]), "checkpoint")
    env.close()
    snapshots = [m for m in source.modules if m.startswith("main_0@")]
    assert snapshots
    out = tmp_path / "l.json"
    _evaluate(runs["league"], "--play", f"player_2={snapshots[0]}", "--episodes", 40, "--explore", "--output", out)
    res = json.loads(out.read_text())
    assert res["seats"] == {"player_1": {"source": "checkpoint", "module": "main_0"},
                            "player_2": {"source": "checkpoint", "module": snapshots[0]}}
    o = res["outcome"]  # tic-tac-toe is zero-sum: win / draw / loss, no team return
    assert o["sides"] == {"player_1": ["player_1"], "player_2": ["player_2"]}
    assert o["win"] + o["draw"] + o["loss"] == pytest.approx(1.0) and o["episodes"] == 40
    assert "team_return" not in res


def test_render_writes_a_gif_with_one_frame_per_step(runs, tmp_path):
    from PIL import Image

    with Image.open(runs["mappo"] / "render" / "iter_000001.gif") as im:  # train --render-every 1
        assert im.n_frames == 25 + 1

    gif = tmp_path / "play.gif"
    _evaluate(runs["mappo"], "--episodes", 1, "--output", tmp_path / "e.json", "--render", gif,
              "--render-episodes", 2)
    with Image.open(gif) as im:
        assert im.n_frames == 2 * (25 + 1)  # each episode: its reset and 25 steps
    proc = _evaluate(runs["mappo"], "--render", tmp_path / "play.avi", check=False)
    assert proc.returncode == 2 and ".gif or .mp4" in proc.stderr


def _export(run, tmp_path):
    d = tmp_path / "export"
    _evaluate(run, "--episodes", 1, "--output", tmp_path / "e.json", "--export", d)
    return d, json.loads((d / "layout.json").read_text())


def _recorded(run, n_obs):
    """Observation sequences (one per agent per episode) from exploring play."""
    from rllib_marl.evaluate import build_parser, eval_config, local_runner, make_plan, module_states

    plan = make_plan(build_parser().parse_args([str(run), "--episodes", "1"]))
    runner = local_runner(eval_config(plan, 0, 4), module_states(plan))
    seqs, total = [], 0
    while total < n_obs:
        for ep in runner.sample(num_episodes=4, explore=True):
            for aid, sa in ep.agent_episodes.items():
                obs = sa.get_observations(slice(0, len(sa)))
                seqs.append((aid, obs))
                total += len(sa)
    runner.stop()
    return plan, seqs


def _oracle_greedy(module, obs, state):
    """The RLModule's greedy action, as RLlib defines it (forward_inference, then
    the deterministic action of the inference distribution), its next state, and
    the distribution's probabilities (None for a module that returns actions)."""
    import torch
    from ray.rllib.core.columns import Columns

    batch = {Columns.OBS: {k: torch.as_tensor(v) for k, v in obs.items()}}
    if module.is_stateful():
        batch[Columns.OBS] = {k: v.unsqueeze(1) for k, v in batch[Columns.OBS].items()}
        batch[Columns.STATE_IN] = {k: torch.as_tensor(v) for k, v in state.items()}
    with torch.no_grad():
        out = module.forward_inference(batch)
    new_state = {k: v.numpy() for k, v in out.get(Columns.STATE_OUT, {}).items()}
    probs = None
    if Columns.ACTIONS in out:
        a = out[Columns.ACTIONS]
    else:
        logits = out[Columns.ACTION_DIST_INPUTS]
        a = module.get_inference_action_dist_cls().from_logits(logits).to_deterministic().sample()
        probs = torch.softmax(logits, -1).numpy()
    return a.reshape(a.shape[0], *a.shape[2:]) if module.is_stateful() else a, new_state, probs


@pytest.mark.parametrize("name", ["mappo", "qmix", "tictactoe", "comm"])
def test_onnx_export_acts_like_the_rl_module(runs, tmp_path, name):
    import onnxruntime as ort

    d, layout = _export(runs[name], tmp_path)
    plan, seqs = _recorded(runs[name], N_OBS)
    checked = masked = 0
    for aid, obs in seqs:
        mid = layout["agents"][aid]["module"]
        m = layout["modules"][mid]
        sess = ort.InferenceSession(str(d / m["onnx"]))
        module = plan.modules[mid]
        keys = [i["name"] for i in m["inputs"]]
        state = {k: np.zeros((1, *np.shape(v)), np.float32) for k, v in module.get_initial_state().items()}
        onnx_state = {s["input"]: np.zeros((1, *s["shape"]), np.float32) for s in m["state"]}
        assert bool(m["state"]) == module.is_stateful() == (name == "qmix")
        for t in range(len(obs["obs"])):
            x = {k: np.asarray(obs[k][t : t + 1], np.float32) for k in keys}
            want, state, probs = _oracle_greedy(module, x, state)
            outs = dict(zip(m["outputs"], sess.run(m["outputs"], {**x, **onnx_state})))
            assert int(outs["actions"][0]) == int(want[0]), (aid, t)
            if probs is not None:  # the mixed strategy beside the greedy action
                np.testing.assert_allclose(outs["probs"], probs, atol=1e-5)
                if "action_mask" in x:
                    assert np.all(outs["probs"][x["action_mask"] == 0] < 1e-8)
            for s in m["state"]:
                np.testing.assert_allclose(outs[s["output"]], state[s["input"][len("state_in_"):]], atol=1e-5)
                onnx_state[s["input"]] = outs[s["output"]]
            if "action_mask" in x:
                assert x["action_mask"][0][int(outs["actions"][0])] == 1.0
                masked += 1
            checked += 1
    assert checked >= N_OBS
    assert (masked >= N_OBS) == (name == "tictactoe")
    assert m["distribution"] == ("none" if name == "qmix" else "categorical")
    assert ("probs" in m["outputs"]) == (name != "qmix")
    # The TorchScript file is the same graph: same actions on the last agent's sequence.
    import torch

    ts = torch.jit.load(str(d / m["torchscript"]))
    st = [torch.zeros((1, *s["shape"])) for s in m["state"]]
    for t in range(len(obs["obs"])):
        x = [torch.as_tensor(np.asarray(obs[k][t : t + 1], np.float32)) for k in keys]
        with torch.no_grad():
            outs = ts(*x, *st)
        onnx_out = sess.run(m["outputs"], {**{k: v.numpy() for k, v in zip(keys, x)},
                                            **{s["input"]: v.numpy() for s, v in zip(m["state"], st)}})
        assert int(outs[0][0]) == int(onnx_out[0][0])
        st = list(outs[len(outs) - len(m["state"]):])  # the next states come last


@pytest.mark.parametrize("name", ["mappo", "tictactoe", "quadrant", "comm"])
def test_deploy_plays_the_export_like_evaluate_without_ray(runs, tmp_path, name):
    """An exported team, played by rllib_marl.deploy with onnxruntime alone, gets
    the returns evaluate got on the same seeds (parallel and turn-based envs,
    uint8 frames through a CNN, and TarMAC messages built from the team's raw
    observations)."""
    d, _ = _export(runs[name], tmp_path)
    out = tmp_path / "e.json"
    _evaluate(runs[name], "--episodes", 2, "--num-envs-per-env-runner", 1, "--output", out)
    records = json.loads(out.read_text())["episode_records"]
    code = (
        "import json, sys\n"
        "from rllib_marl.deploy import ExportedTeam, make_env, play_episode\n"
        f"team = ExportedTeam({str(d)!r}); env = make_env(team.layout)\n"
        "r = play_episode(team, env, seed=1_000_000)\n"
        "assert not any(m == 'ray' or m.startswith('ray.') or m == 'torch' for m in sys.modules)\n"
        "print(json.dumps(r))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    for a, v in records[0]["returns"].items():
        assert got[a] == pytest.approx(v, abs=1e-5), (a, got, records[0])


def test_deploy_sample_draws_from_the_exported_probabilities(runs, tmp_path):
    """``deploy --sample``: actions drawn from the exported probabilities (only legal
    moves, at the module's frequencies), seeded; refused in one line for a module
    that acts deterministically (QMIX)."""
    from rllib_marl.deploy import ExportedTeam, make_env

    d, layout = _export(runs["tictactoe"], tmp_path)
    team = ExportedTeam(d, sample=True, seed=0)
    env = make_env(team.layout)
    env.reset(seed=3)
    agent = env.agent_selection
    obs, _, _, _, info = env.last()
    spaces = {a: env.observation_space(a) for a in env.possible_agents}
    m = layout["modules"][layout["agents"][agent]["module"]]
    import onnxruntime as ort

    feed = {k: v[None] for k, v in team.inputs(agent, obs, info, spaces[agent]).items()}
    probs = ort.InferenceSession(str(d / m["onnx"])).run(["probs"], feed)[0][0]
    draws = [team.act({agent: obs}, {agent: info}, spaces)[agent] for _ in range(3000)]
    freq = np.bincount(draws, minlength=len(probs)) / len(draws)
    assert np.all(freq[obs["action_mask"] == 0] == 0)
    np.testing.assert_allclose(freq, probs, atol=0.03)
    again = ExportedTeam(d, sample=True, seed=0)
    assert [again.act({agent: obs}, {agent: info}, spaces)[agent] for _ in range(50)] == draws[:50]
    proc = subprocess.run([sys.executable, "-m", "rllib_marl.deploy", str(d), "--sample", "--episodes", "2"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "drawn from the exported probabilities" in proc.stdout, proc.stderr[-2000:]
    qd, _ = _export(runs["qmix"], tmp_path / "q")
    proc = subprocess.run([sys.executable, "-m", "rllib_marl.deploy", str(qd), "--sample"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    err = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(err) == 1 and "acts deterministically" in err[0], proc.stderr


def test_deploy_sample_draws_box_actions_from_the_gaussian():
    """Box actions under ``--sample``: the exported Gaussian (means, log stds) drawn,
    then the action bounds as the graph applies them to the greedy action."""
    from rllib_marl.deploy import ExportedTeam

    team = ExportedTeam.__new__(ExportedTeam)
    team.rng = np.random.default_rng(0)
    m = {"distribution": "gaussian", "action_postprocess": "unsquash",
         "action_space": {"type": "Box", "shape": [2], "dtype": "float32", "low": [0.0, -2.0], "high": [1.0, 2.0]}}
    outs = {"dist_inputs": np.array([[0.0, 0.5, np.log(0.1), np.log(0.1)]], np.float32)}
    a = np.stack([team._draw(m, outs, 0) for _ in range(4000)])
    assert a.dtype == np.float32 and np.all(a >= [0.0, -2.0]) and np.all(a <= [1.0, 2.0])
    # unsquashed: the mean 0 -> the middle of [0, 1]; 0.5 -> 1.0 of [-2, 2]; std 0.1 x half-width
    np.testing.assert_allclose(a.mean(0), [0.5, 1.0], atol=0.01)
    np.testing.assert_allclose(a.std(0), [0.05, 0.2], rtol=0.1)


def test_missing_checkpoint_is_refused_in_one_line(tmp_path):
    proc = _evaluate(tmp_path / "nowhere", check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"evaluate error: checkpoint: {tmp_path / 'nowhere'} does not exist"
    (tmp_path / "empty").mkdir()
    proc = _evaluate(tmp_path / "empty", check=False)
    assert proc.returncode == 2 and "neither a run directory" in proc.stderr


def test_confidence_interval_uses_students_t():
    from rllib_marl.evaluate import describe, t_quantile_975

    assert t_quantile_975(4) == pytest.approx(2.776, abs=3e-3)
    assert t_quantile_975(29) == pytest.approx(2.045, abs=1e-3)
    assert t_quantile_975(1000) == pytest.approx(1.962, abs=1e-3)
    d = describe([1.0, 2.0, 3.0, 4.0, 5.0])
    assert d["mean"] == 3.0 and d["std"] == pytest.approx(np.sqrt(2.5))
    assert d["ci95"] == pytest.approx(2.776 * np.sqrt(2.5) / np.sqrt(5), rel=1e-3)
