"""Score, watch and export a trained team:
``python -m rllib_marl.evaluate RUN_DIR_OR_CHECKPOINT [options]``.

* Scores the checkpoint on ``--episodes`` episodes (greedy unless ``--explore``)
  and prints team, per-team and per-agent returns with 95% confidence
  intervals, win / draw / loss where the game has two sides, and the env's own
  metrics; writes ``evaluation.json`` (and, with ``--marl-eval``, the same
  episodes in the marl-eval JSON layout BenchMARL emits).
* Cross-play: ``--opponent CHECKPOINT --play TEAM_OR_AGENT=opponent`` lets the
  other checkpoint's modules play those seats; ``--play AGENT=MODULE`` picks any
  module of the checkpoint (e.g. a league snapshot ``main_0@40``).
* ``--render PATH.gif`` (or ``.mp4``) records episodes from the env's
  ``rgb_array`` frames, with the step and the returns drawn on each frame.
* ``--export DIR`` writes each acting module as ONNX and TorchScript, with a
  ``layout.json`` of its inputs; ``python -m rllib_marl.deploy DIR`` then plays
  the exported team with onnxruntime alone (no Ray, no torch).

Episodes are sampled by our env runner (RLlib's ``MultiAgentEnvRunner``
extension point), locally or on ``--num-env-runners`` Ray actors through RLlib's
``EnvRunnerGroup``; no Algorithm, learner or replay buffer is built.

Exit status: 0 done, 2 bad input (reported before anything runs).
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from rllib_marl.eval_plan import (  # noqa: F401  (eval_config, local_runner, ...: the evaluation API)
    LEAGUE_MAIN,
    OPPONENT,
    RL_MODULE_DIR,
    EvalPlan,
    Source,
    check_fits,
    eval_config,
    eval_module_id,
    load_source,
    local_runner,
    module_states,
    seat_plan,
    _sides,
)
from rllib_marl.schema import ConfigError
from rllib_marl.session import EXIT_BAD_INPUT, EXIT_OK, console_entry, init_ray, pin_hash_seed, route_library_logs

EVALUATION_JSON = "evaluation.json"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m rllib_marl.evaluate",
        description="Score a trained checkpoint, play it against another, render it, export it.",
    )
    p.add_argument("checkpoint", help="a run directory (its latest checkpoint) or a checkpoint directory")
    p.add_argument("--episodes", type=int, default=100, help="episodes to score (default: %(default)s)")
    p.add_argument("--explore", action="store_true", help="sample actions as in training (default: greedy)")
    p.add_argument("--seed", type=int, default=None, help="env seed (default: the run's seed)")
    p.add_argument("--num-env-runners", type=int, default=0,
                   help="Ray actors that sample episodes in parallel (default 0: in this process)")
    p.add_argument("--num-envs-per-env-runner", type=int, default=8,
                   help="sub-envs per runner, batched in one forward pass (default: %(default)s)")
    p.add_argument("--opponent", metavar="CHECKPOINT", help="a second run or checkpoint, for cross-play")
    p.add_argument("--play", action="append", default=[], metavar="SEATS=MODULE",
                   help="who plays which seats: SEATS is an agent id or a team (agent-name prefix); "
                        "MODULE is a module of the checkpoint (e.g. main_0@40), 'opponent' (the "
                        "opponent's own module for those agents) or 'opponent:MODULE' (repeatable)")
    p.add_argument("--output", metavar="PATH",
                   help=f"where to write the results (default: {EVALUATION_JSON} in the run directory)")
    p.add_argument("--marl-eval", metavar="PATH", help="also write the episodes in marl-eval's JSON layout")
    p.add_argument("--render", metavar="PATH", help="record episodes to PATH (.gif, or .mp4 with imageio-ffmpeg)")
    p.add_argument("--render-episodes", type=int, default=1, help="episodes to record (default: %(default)s)")
    p.add_argument("--fps", type=int, default=10, help="frames per second of the recording (default: %(default)s)")
    p.add_argument("--export", metavar="DIR", help="write each acting module as ONNX and TorchScript to DIR")
    p.add_argument("--comm-dropout", type=float, default=None, metavar="P",
                   help="runs with a comm block: probability that a message is lost (default: the run's "
                        "comm.eval_dropout)")
    p.add_argument("--comm-log", metavar="PATH",
                   help="runs with a comm block: write one greedy episode's messages to PATH (JSON): per step "
                        "and round, who each agent heard and with what weight (TarMAC: its attention)")
    p.add_argument("--verbose", action="store_true", help="show Ray's and RLlib's log lines")
    return p


# ----- what to evaluate -------------------------------------------------------------


def _load_module(path: Path, label: str):
    """A trained module from a checkpoint; a file that cannot be read is the
    user's damaged checkpoint, said in one line."""
    from ray.rllib.core.rl_module.rl_module import RLModule

    try:
        return RLModule.from_checkpoint(str(path.resolve()))
    except Exception as e:  # noqa: BLE001 - unpickling a damaged file raises almost anything
        first = str(e).splitlines()[0] if str(e) else ""
        raise ConfigError(label, f"the module weights in {path} cannot be read ({type(e).__name__}: {first}); "
                                 "damaged? evaluate an earlier checkpoint of the run") from e


def make_plan(args) -> EvalPlan:
    """Everything checked before anything runs: checkpoints, seats, spaces."""
    if args.episodes < 1:
        raise ConfigError("--episodes", "must be >= 1")
    if args.num_env_runners < 0:
        raise ConfigError("--num-env-runners", "must be >= 0")
    if args.num_envs_per_env_runner < 1:
        raise ConfigError("--num-envs-per-env-runner", "must be >= 1")
    if args.render_episodes < 1:
        raise ConfigError("--render-episodes", "must be >= 1")
    main, env = load_source(args.checkpoint, "checkpoint")
    comm = main.exp.comm
    try:
        for flag, value in (("--comm-dropout", args.comm_dropout), ("--comm-log", args.comm_log)):
            if value is not None and comm is None:
                raise ConfigError(flag, f"{main.run_dir} was trained without communication (no comm block)")
        if args.comm_dropout is not None and not 0.0 <= args.comm_dropout <= 1.0:
            raise ConfigError("--comm-dropout", f"{args.comm_dropout} is outside [0, 1]")
        if not args.verbose:  # RLlib's warnings while loading modules go to the run's ray.log
            route_library_logs(main.run_dir)
        opponent = None
        if args.opponent:
            opponent, opponent_env = load_source(args.opponent, OPPONENT)
            opponent_env.close()
        agents = sorted(env.possible_agents)
        seats = seat_plan(main, opponent, args.play, agents)
        plan = EvalPlan(main, opponent, seats, args.episodes, args.explore,
                        main.exp.seed if args.seed is None else args.seed,
                        args.num_env_runners, min(args.num_envs_per_env_runner, args.episodes),
                        convention=env.team_return_convention, agents=agents, api=env.api)
        for agent in agents:
            src, mid = seats[agent]
            eid = eval_module_id(src, mid)
            if eid not in plan.modules:
                plan.modules[eid] = _load_module(src.module_dir / mid, src.label)
            check_fits(plan.modules[eid], env, agent, src, mid)
        plan.sides, plan.sides_inferred = _sides(plan, agents)
        if comm is not None:
            plan.comm_dropout = comm.eval_dropout if args.comm_dropout is None else args.comm_dropout
    finally:
        env.close()
    if args.render:
        check_renderable(main.exp, args.render)
    from rllib_marl.rundir import check_writable

    outputs = {"--output": Path(args.output).expanduser().parent if args.output else main.run_dir}
    for flag in ("marl_eval", "comm_log", "render"):
        if getattr(args, flag, None):
            outputs[f"--{flag.replace('_', '-')}"] = Path(getattr(args, flag)).expanduser().parent
    if args.export:
        outputs["--export"] = Path(args.export).expanduser()
    for flag, path in outputs.items():
        check_writable(path, flag)
    return plan


# ----- runners ------------------------------------------------------------------------


def episode_record(episode) -> Dict[str, Any]:
    from rllib_marl.metrics import episode_returns

    returns, measured = episode_returns(episode)
    return {"returns": returns, "length": int(getattr(episode, "env_t", len(episode))), "metrics": measured}


def _sample_records(runner, n: int, explore: bool) -> List[Dict[str, Any]]:
    return [episode_record(e) for e in runner.sample(num_episodes=n, explore=explore)]


def sample_episodes(plan: EvalPlan, verbose: bool = False) -> List[Dict[str, Any]]:
    """``plan.episodes`` finished episodes (returns, length, env metrics each)."""
    states = module_states(plan)
    if plan.num_env_runners == 0:
        config = eval_config(plan, 0, plan.num_envs)
        runner = local_runner(config, states)
        try:
            return _sample_records(runner, plan.episodes, plan.explore)
        finally:
            runner.stop()
    from ray.rllib.env.env_runner_group import EnvRunnerGroup


    k = min(plan.num_env_runners, plan.episodes)
    init_ray(log_dir=None if verbose else plan.main.run_dir)
    config = eval_config(plan, k, plan.num_envs)
    group = EnvRunnerGroup(config=config, local_env_runner=False, num_env_runners=k)
    try:
        group.foreach_env_runner(lambda r: r.module.set_state(states), local_env_runner=False)
        n, explore = plan.episodes, plan.explore

        def share(r):  # worker_index 1..k: the first n % k runners take one episode more
            count = n // k + (1 if r.worker_index <= n % k else 0)
            return _sample_records(r, count, explore)

        parts = group.foreach_env_runner(share, local_env_runner=False)
    finally:
        group.stop()
    return [rec for part in parts for rec in part]


# ----- statistics -----------------------------------------------------------------------


def t_quantile_975(dof: int) -> float:
    """Student's t 0.975 quantile: a table up to 10 degrees of freedom, then the
    Cornish-Fisher expansion around the normal quantile (within 0.05% there)."""
    if dof <= 0:
        return math.nan
    table = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228)
    if dof <= len(table):
        return table[dof - 1]
    z = 1.959964
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3


def describe(values: List[float]) -> Dict[str, float]:
    """Mean, sample standard deviation and the 95% confidence interval's half-width."""
    n = len(values)
    if n == 0:
        return {"mean": math.nan, "std": math.nan, "ci95": math.nan, "n": 0}
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else math.nan
    ci = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else math.nan
    return {"mean": mean, "std": std, "ci95": ci, "n": n}


def summarize(plan: EvalPlan, records: List[Dict[str, Any]]) -> Dict[str, Any]:
    """Per-agent, team / per-team and per-side statistics of the episodes."""
    from rllib_marl.envs.spec import competitive, teams_of
    from rllib_marl.metrics import team_value

    exp, convention = plan.main.exp, plan.convention
    agents = sorted({a for r in records for a in r["returns"]})
    out: Dict[str, Any] = {
        "agent_returns": {a: describe([r["returns"][a] for r in records if a in r["returns"]]) for a in agents},
        "episode_length": describe([float(r["length"]) for r in records]),
    }
    cooperative = not competitive(exp.env.teams) and exp.league is None and plan.opponent is None
    if cooperative:
        out["team_return"] = describe([team_value(r["returns"], agents, convention) for r in records])
    elif competitive(exp.env.teams):
        out["team_returns"] = {t: describe([team_value(r["returns"], members, convention) for r in records])
                               for t, members in teams_of(agents, exp.env.teams).items()}
    if plan.sides:
        names = list(plan.sides)
        side_returns = {s: [team_value(r["returns"], plan.sides[s], "sum") for r in records] for s in names}
        out["side_returns"] = {s: describe(v) for s, v in side_returns.items()}
        a, b = (side_returns[s] for s in names) if len(names) == 2 else ([], [])
        totals = [x + y for x, y in zip(a, b)]
        scale = max([1.0] + [abs(x) for x in a + b])
        zero_sum = bool(totals) and all(abs(x) <= 1e-6 * scale for x in totals)
        if not zero_sum and plan.sides_inferred:  # two cooperating agents: no sides after all
            del out["side_returns"]
        elif not zero_sum:
            out["outcome_note"] = (f"no win / draw / loss: {names[0]}'s and {names[1]}'s returns do not sum to "
                                   "zero (the game is not zero-sum), so a higher return is not a win")
        elif totals:
            if plan.sides_inferred:  # a two-player zero-sum game: no team return
                out.pop("team_return", None)
            wins = sum(x > y for x, y in zip(a, b))
            losses = sum(x < y for x, y in zip(a, b))
            n = len(a)
            out["outcome"] = {
                "sides": {s: plan.sides[s] for s in names},
                "rule": f"{names[0]} wins an episode when its summed env return is higher than {names[1]}'s",
                "win": wins / n, "draw": (n - wins - losses) / n, "loss": losses / n, "episodes": n,
            }
    metric_names = sorted({k for r in records for k in r["metrics"]})
    if metric_names:
        out["env_metrics"] = {k: describe([float(r["metrics"][k]) for r in records if k in r["metrics"]])
                              for k in metric_names}
    return out


def _fmt(d: Dict[str, float]) -> str:
    ci = "" if not math.isfinite(d["ci95"]) else f" ± {d['ci95']:.3g}"
    std = "" if not math.isfinite(d["std"]) else f"   (std {d['std']:.3g})"
    return f"{d['mean']:10.3f}{ci}{std}"


def table(stats: Dict[str, Any], header: str) -> str:
    lines = [header, f"{'':24s}{'mean ± 95% CI':>10s}"]
    if "team_return" in stats:
        lines.append(f"{'team return':24s}{_fmt(stats['team_return'])}")
    for t, d in stats.get("team_returns", {}).items():
        lines.append(f"{'team ' + t:24s}{_fmt(d)}")
    if "side_returns" in stats and not stats.get("team_returns") and any(
            len(m) > 1 for m in stats.get("outcome", {}).get("sides", {}).values()):
        for s, d in stats["side_returns"].items():
            lines.append(f"{s:24s}{_fmt(d)}")
    for a, d in stats["agent_returns"].items():
        lines.append(f"{'  ' + a:24s}{_fmt(d)}")
    for k, d in stats.get("env_metrics", {}).items():
        lines.append(f"{k:24s}{_fmt(d)}")
    lines.append(f"{'episode length':24s}{_fmt(stats['episode_length'])}")
    if "outcome_note" in stats:
        lines.append(stats["outcome_note"])
    if "outcome" in stats:
        o = stats["outcome"]
        names = list(o["sides"])
        lines.append(f"{names[0]} vs {names[1]}: win {o['win']:.3f} / draw {o['draw']:.3f} / loss {o['loss']:.3f} "
                     f"({o['rule']})")
    return "\n".join(lines)


def _step_count(src: Source) -> Optional[int]:
    """Env steps of the run when the checkpoint was written (from progress.csv)."""
    it_file = src.checkpoint / "iteration.txt"
    prog = src.run_dir / "progress.csv"
    if not (it_file.is_file() and prog.is_file()):
        return None
    it = int(it_file.read_text())
    with open(prog) as f:
        for row in csv.DictReader(f):
            if int(float(row.get("iteration") or row.get("training_iteration") or -1)) == it:
                return int(float(row["env_steps"]))
    return None


def marl_eval_layout(plan: EvalPlan, records: List[Dict[str, Any]], stats: Dict[str, Any]) -> Dict[str, Any]:
    """The episodes in marl-eval's layout: env → task → algorithm → run → step,
    with the groups :func:`summarize` reported (``stats``): the two sides, the
    teams, or one team (``return``)."""
    from rllib_marl.envs.spec import teams_of
    from rllib_marl.metrics import team_value

    exp, convention = plan.main.exp, plan.convention
    name = exp.env.label.split(":")[-1]
    env_name, task = (name.rsplit(".", 1) if "." in name else ("rllib_marl", name))
    agents = sorted({a for r in records for a in r["returns"]})
    metrics: Dict[str, List[float]] = {}
    if "side_returns" in stats or "team_returns" in stats:
        groups = plan.sides if "side_returns" in stats else teams_of(agents, exp.env.teams)
        for g, members in groups.items():
            metrics[f"return_{g}"] = [team_value(r["returns"], members, convention) for r in records]
    else:
        metrics["return"] = [team_value(r["returns"], agents, convention) for r in records]
    for a in agents:
        metrics[f"return_{a}"] = [r["returns"].get(a, math.nan) for r in records]
    step = {"step_count": _step_count(plan.main) or 0, **metrics}
    run = {"step_0": step, "absolute_metrics": dict(metrics)}
    return {env_name: {task: {exp.algorithm: {f"seed_{exp.seed}": run}}}}


# ----- rendering ------------------------------------------------------------------------


def check_renderable(exp, path: str, what: str = "--render") -> None:
    """Refuses, before anything runs, an env without ``rgb_array`` frames or a
    format this machine cannot write."""
    from rllib_marl.config import resolved_env_config
    from rllib_marl.envs.adapter import make_env

    suffix = Path(path).suffix.lower()
    if suffix not in (".gif", ".mp4"):
        raise ConfigError(what, f"{path}: the recording must end in .gif or .mp4")
    if suffix == ".mp4":
        try:
            import imageio_ffmpeg  # noqa: F401
        except ImportError:
            raise ConfigError(what, "writing .mp4 needs imageio and imageio-ffmpeg "
                                          "(pip install 'rllib_marl[render]' imageio-ffmpeg); .gif needs nothing") from None
    try:
        env = make_env(resolved_env_config(exp), render_mode="rgb_array")
    except Exception as e:  # noqa: BLE001 - the env's own refusal, reported as ours
        raise ConfigError(what, f"{exp.env.label} cannot render rgb_array frames ({e})") from None
    try:
        env.reset(seed=0)
        frame = env.render()
    except Exception as e:  # noqa: BLE001
        raise ConfigError(what, f"{exp.env.label} cannot render rgb_array frames ({type(e).__name__}: {e})") from None
    finally:
        env.close()
    import numpy as np

    if not (isinstance(frame, np.ndarray) and frame.ndim == 3 and frame.shape[-1] in (3, 4)):
        raise ConfigError(what, f"{exp.env.label} gives no rgb_array frame (render() returned "
                                      f"{type(frame).__name__}); it cannot be recorded")


MAX_FRAME_WIDTH = 400


def _annotate(frame, text: str):
    from PIL import Image, ImageDraw

    import numpy as np

    img = Image.fromarray(np.asarray(frame)[..., :3].astype(np.uint8))
    if img.width < 240:  # tiny frames (e.g. our grid games): scale up so the text fits
        f = int(math.ceil(240 / img.width))
        img = img.resize((img.width * f, img.height * f), Image.NEAREST)
    elif img.width > MAX_FRAME_WIDTH:  # large frames: smaller files, text still legible
        img = img.resize((MAX_FRAME_WIDTH, round(img.height * MAX_FRAME_WIDTH / img.width)), Image.LANCZOS)
    draw = ImageDraw.Draw(img)
    lines = text.split("\n")
    h = 11 * len(lines) + 4
    draw.rectangle([0, 0, img.width, h], fill=(0, 0, 0))
    draw.multiline_text((3, 2), text, fill=(255, 255, 255), spacing=1)
    return img


def frame_recorder():
    """A fresh RLlib callback class (env-runner side) that keeps each step's frame,
    with the episode, the step and the returns so far drawn on it, in its
    ``frames`` list (the runner builds the instance; the class holds the frames)."""
    from ray.rllib.callbacks.callbacks import RLlibCallback

    class FrameRecorder(RLlibCallback):
        frames: List[Any] = []
        episodes = 0

        def _grab(self, env, env_index, episode):
            sub = env.envs[env_index].unwrapped
            text = f"episode {FrameRecorder.episodes} step {int(getattr(episode, 'env_t', 0))}"
            rets = sub.env_returns
            if rets:
                text += "\n" + "  ".join(f"{a} {v:.1f}" for a, v in sorted(rets.items()))
            FrameRecorder.frames.append(_annotate(sub.render(), text))

        def on_episode_start(self, *, episode, env=None, env_index=0, **kwargs):
            FrameRecorder.episodes += 1
            self._grab(env, env_index, episode)

        def on_episode_step(self, *, episode, env=None, env_index=0, **kwargs):
            self._grab(env, env_index, episode)

    return FrameRecorder


def render_episodes(plan: EvalPlan, path: Path, episodes: int = 1, fps: int = 10, states=None) -> int:
    """Records ``episodes`` episodes (one sub-env, in this process) to ``path``:
    each episode's first observation and every step after it. Returns the
    number of frames written."""
    recorder = frame_recorder()
    config = eval_config(plan, 0, 1, render=True, callbacks=[recorder])
    runner = local_runner(config, states if states is not None else module_states(plan))
    try:
        runner.sample(num_episodes=episodes, explore=plan.explore)
    finally:
        runner.stop()
    write_frames(recorder.frames, path, fps)
    return len(recorder.frames)


def write_frames(frames, path: Path, fps: int) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not frames:
        raise RuntimeError("no frames were recorded")
    size = frames[0].size
    frames = [f if f.size == size else f.resize(size) for f in frames]
    if path.suffix.lower() == ".gif":
        frames[0].save(path, save_all=True, append_images=frames[1:], duration=max(1, int(1000 / fps)), loop=0)
        return
    import imageio.v2 as imageio
    import numpy as np

    with imageio.get_writer(str(path), fps=fps) as w:
        for f in frames:
            w.append_data(np.asarray(f))


def render_during_training(algo, exp, mapping: Dict[str, str], path: Path, fps: int = 10) -> int:
    """Records one greedy episode with the learners' current weights (``train
    --render-every``); returns the number of frames."""
    run_mapping = {a: LEAGUE_MAIN for a in mapping} if exp.league is not None else dict(mapping)
    mids = sorted(set(run_mapping.values()))
    src = Source("checkpoint", path.parent, path.parent, exp, run_mapping, mids)
    modules = {m: algo.get_module(m) for m in mids}
    plan = EvalPlan(src, None, {a: (src, m) for a, m in run_mapping.items()}, 1, False, exp.seed, 0, 1,
                    modules=modules)
    state = algo.learner_group.get_state(components=[f"learner/rl_module/{m}" for m in mids], inference_only=True)
    weights = state["learner"]["rl_module"]
    return render_episodes(plan, path, 1, fps, states=weights)


# ----- main -----------------------------------------------------------------------------


def run(args, plan: EvalPlan) -> int:
    from rllib_marl.report import env_version

    exp = plan.main.exp
    out = Path(args.output).expanduser() if args.output else plan.main.run_dir / EVALUATION_JSON
    convention = plan.convention
    env_pkg = env_version(exp.env.name)
    who = ", ".join(f"{a}: {'opponent ' if s.label == OPPONENT else ''}{m}" for a, (s, m) in plan.seats.items())
    comm_text = (f" | {exp.comm.type} messages, dropout {plan.comm_dropout:g}"
                 if plan.comm_dropout is not None else "")
    print(f"evaluating {plan.main.checkpoint} | {exp.env.label} ({env_pkg}) | {who}{comm_text}", flush=True)
    records = sample_episodes(plan, verbose=args.verbose)
    stats = summarize(plan, records)
    header = (f"{len(records)} episodes, {'exploring' if plan.explore else 'greedy'}, seed {plan.seed} | "
              "returns in the env's own rewards"
              + (f"; team return = {convention} over the team's agents"
                 if "team_return" in stats or "team_returns" in stats else ""))
    print(table(stats, header), flush=True)
    result = {
        "checkpoint": str(plan.main.checkpoint),
        "run_dir": str(plan.main.run_dir),
        "opponent": str(plan.opponent.checkpoint) if plan.opponent else None,
        "seats": {a: {"source": "opponent" if s.label == OPPONENT else "checkpoint", "module": m}
                  for a, (s, m) in plan.seats.items()},
        "algorithm": exp.algorithm,
        "env": exp.env.label,
        "env_kwargs": exp.env.kwargs,
        "env_package": env_pkg,
        "team_return_convention": convention,
        "episodes": len(records),
        "explore": plan.explore,
        "seed": plan.seed,
        "env_steps_trained": _step_count(plan.main),
        "comm_dropout": plan.comm_dropout,
        **stats,
        "episode_records": records,
    }
    from rllib_marl.report import write_json

    out.parent.mkdir(parents=True, exist_ok=True)
    write_json(out, result)
    print(f"results: {out}")
    if args.marl_eval:
        write_json(Path(args.marl_eval).expanduser(), marl_eval_layout(plan, records, stats))
        print(f"marl-eval layout: {args.marl_eval}")
    if args.comm_log:
        from rllib_marl.comm_log import write_message_log

        print(write_message_log(plan, Path(args.comm_log).expanduser()))
    if args.render:
        n = render_episodes(plan, Path(args.render).expanduser(), args.render_episodes, args.fps)
        print(f"recording: {args.render} ({args.render_episodes} episode(s), {n} frames)")
    if args.export:
        from rllib_marl.export import export_team

        files = export_team(plan, Path(args.export).expanduser())
        print(f"exported: {files}\nplay it without Ray: python -m rllib_marl.deploy {args.export}")
    return EXIT_OK


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        plan = make_plan(args)
    except ConfigError as e:
        print(f"evaluate error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return run(args, plan)
    except KeyboardInterrupt:
        print("\ninterrupted: nothing written", file=sys.stderr)
        return 130
    except OSError as e:  # a full disk while the results were written
        from rllib_marl.rundir import io_problem

        problem = io_problem(e)
        if problem is None:
            raise
        print(f"evaluate error: {problem} (the files written before, if any, are as they were)",
              file=sys.stderr)
        return EXIT_BAD_INPUT


cli = console_entry(main, "rllib_marl.evaluate")  # the rllib-marl-evaluate console script


if __name__ == "__main__":
    pin_hash_seed(module="rllib_marl.evaluate")
    sys.exit(main())
