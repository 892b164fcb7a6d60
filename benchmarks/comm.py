"""Learned communication benchmark (issue #13): MAPPO with TarMAC or CommNet
messages against MAPPO without them, on lever pulling and two mpe2 tasks that
need one agent to tell another what only it sees.

Each (task, variant, seed) is one process: ``python -m rllib_marl.train``, then
``python -m rllib_marl.evaluate`` on its final checkpoint (100 greedy episodes;
runs with messages also with message dropout 0.25 and 0.5). ``--report``
aggregates everything under OUT into a markdown table and one PNG per task.

Variants: ``mappo`` (no learned messages; on the mpe2 tasks the env's own
communication actions remain), ``commnet``, ``tarmac`` (the same config plus
``comm: {type: ...}``). Tasks: ``levers`` (tuned_examples/mappo/levers_*.yaml and
benchmarks/configs/mappo_levers_nocomm.yaml), ``speaker_listener`` and
``reference`` (benchmarks/configs/comm/).

Usage:
    python benchmarks/comm.py --tasks levers --variants mappo,commnet,tarmac --seeds 0,1,2 --jobs 2
    python benchmarks/comm.py --tasks speaker_listener,reference --jobs 2
    python benchmarks/comm.py --report          # table + PNGs from OUT into docs/
    python benchmarks/comm.py --throughput speaker_listener --rounds 3   # env steps/s side by side

``--throughput`` trains each variant for a few iterations, one process at a time,
the variants in turn in each round (order rotated), and reports the median env
steps/s of the iterations after the first (sampling and learning, the library's
defaults: no env runners, 8 sub-envs).
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
from pathlib import Path

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "comm"
TASKS = {
    "levers": {"mappo": ROOT / "benchmarks" / "configs" / "mappo_levers_nocomm.yaml",
               "commnet": ROOT / "tuned_examples" / "mappo" / "levers_commnet.yaml",
               "tarmac": ROOT / "tuned_examples" / "mappo" / "levers_tarmac.yaml"},
    "speaker_listener": ROOT / "benchmarks" / "configs" / "comm" / "speaker_listener.yaml",
    "reference": ROOT / "benchmarks" / "configs" / "comm" / "reference.yaml",
}
VARIANTS = ("mappo", "commnet", "tarmac")
DROPOUTS = (0.0, 0.25, 0.5)
# Greedy evaluation episodes per run: lever pulling's one-step episodes are cheap,
# and its target (0.95) needs a tighter interval than 100 episodes give (about ±0.017).
EVAL_EPISODES = {"levers": 1000}
DEFAULT_EVAL_EPISODES = 100


def eval_episodes(task: str) -> int:
    return EVAL_EPISODES.get(task, DEFAULT_EVAL_EPISODES)


def config_and_args(task: str, variant: str):
    spec = TASKS[task]
    if isinstance(spec, dict):
        return spec[variant], []
    return spec, ([] if variant == "mappo" else ["--set", f"comm={{type: {variant}}}"])


def run_dir(out: Path, task: str, variant: str, seed: int) -> Path:
    return out / "runs" / f"{task}_{variant}_seed{seed}"


def single(out: Path, task: str, variant: str, seed: int, env_steps: int | None) -> None:
    config, extra = config_and_args(task, variant)
    d = run_dir(out, task, variant, seed)
    steps = ["--set", f"stop.env_steps={env_steps}"] if env_steps else []
    subprocess.run([sys.executable, "-m", "rllib_marl.train", "--config", str(config), *extra, *steps,
                    "--seed", str(seed), "--output", str(fresh(d)), "--quiet", "--num-cpus", "1"], check=True, cwd=ROOT)
    evaluate(d, task, variant)


def evaluate(d: Path, task: str, variant: str) -> None:
    for p in (DROPOUTS if variant != "mappo" else (None,)):
        flag = [] if p is None else ["--comm-dropout", str(p)]
        name = "eval.json" if not p else f"eval_dropout{p}.json"
        subprocess.run([sys.executable, "-m", "rllib_marl.evaluate", str(d), "--episodes",
                        str(eval_episodes(task)), *flag, "--output", str(d / name)],
                       check=True, cwd=ROOT, stdout=subprocess.DEVNULL)


def _rows(d: Path):
    with (d / "progress.csv").open() as f:
        return list(csv.DictReader(f))


def _fmt(vals, digits=2):
    vals = [v for v in vals if v == v]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.{digits}f}"
    return f"{statistics.mean(vals):.{digits}f} ± {statistics.stdev(vals):.{digits}f}"


def _eval(d: Path, p: float):
    f = d / ("eval.json" if not p else f"eval_dropout{p}.json")
    return json.loads(f.read_text()) if f.is_file() else None


def _load_run(d: Path) -> dict:
    """One finished run, read once: its progress rows and its evaluations by dropout."""
    return {"dir": d, "seed": d.name.split("_")[-1], "rows": _rows(d),
            "evals": {p: _eval(d, p) for p in DROPOUTS}}


def report(out: Path, docs: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = []
    data_dir = docs / "data" / "comm"
    data_dir.mkdir(parents=True, exist_ok=True)
    for task in TASKS:
        runs = {}
        for v in VARIANTS:
            ds = sorted(d for d in (out / "runs").glob(f"{task}_{v}_seed*") if (d / "eval.json").is_file())
            if ds:
                runs[v] = [_load_run(d) for d in ds]
        if not runs:
            continue
        any_run = next(iter(runs.values()))[0]
        first = any_run["evals"][0.0]
        agents = sorted(first["agent_returns"]) if "agent_returns" in first else []
        steps = int(any_run["rows"][-1]["env_steps"])
        # Games that pay every agent the team reward (levers) need no per-agent columns.
        same = all(len({round(r["evals"][0.0]["agent_returns"][a]["mean"], 9) for a in agents}) == 1
                   for ds in runs.values() for r in ds)
        if same:
            agents = []
        mid = 40_000 if task == "levers" else steps // 2  # levers: the CI learning test's budget
        lines += [f"### {task} ({first['env']}, {first['env_package']}), {steps:,} env steps", "",
                  f"Team return = {first['team_return_convention']} over the agents' env rewards per episode"
                  + (" (every agent is paid the same reward)" if same else "")
                  + f"; training = the last iteration's exploring episodes; evaluation: {eval_episodes(task):,} greedy "
                    "episodes of the final policy, with message dropout 0 (and 0.25, 0.5: the change in "
                    "brackets); mean ± sd over seeds.", "",
                  f"| variant | seeds | training at {mid // 1000}k | training (final) | evaluation | evaluation per seed | "
                  + "".join(f"eval {a} | " for a in agents)
                  + "dropout 0.25 | dropout 0.5 |",
                  "|---" * (8 + len(agents)) + "|"]
        fig, ax = plt.subplots(figsize=(6, 3.6))
        for v, ds in runs.items():
            train = [float(r["rows"][-1]["team_return"]) for r in ds]
            ev = {p: [(r["evals"][p] or {}).get("team_return", {}).get("mean", float("nan")) for r in ds]
                  for p in DROPOUTS}
            per_agent = [_fmt([r["evals"][0.0]["agent_returns"][a]["mean"] for r in ds]) for a in agents]
            at_mid = [next(float(x["team_return"]) for x in r["rows"] if int(x["env_steps"]) >= mid) for r in ds]

            def drop(p):
                if v == "mappo":
                    return "–"
                change = [a - b for a, b in zip(ev[p], ev[0.0])]  # negative: return lost
                m = statistics.mean(change)
                sd = f" ± {statistics.stdev(change):.2f}" if len(change) > 1 else ""
                return f"{_fmt(ev[p])} ({'+' if m >= 0 else '−'}{abs(m):.2f}{sd})"

            digits = 3 if task == "levers" else 1
            per_seed = ", ".join(f"{x:.{digits}f}" for x in ev[0.0])
            lines.append(f"| {v} | {len(ds)} | {_fmt(at_mid)} | {_fmt(train)} | {_fmt(ev[0.0])} | {per_seed} | "
                         + "".join(f"{x} | " for x in per_agent) + f"{drop(0.25)} | {drop(0.5)} |")
            curves = [[(int(x["env_steps"]), float(x["team_return"])) for x in r["rows"]] for r in ds]
            n = min(len(c) for c in curves)
            xs = [curves[0][i][0] for i in range(n)]
            ys = [[c[i][1] for c in curves] for i in range(n)]
            mean = [statistics.mean(y) for y in ys]
            sd = [statistics.stdev(y) if len(y) > 1 else 0.0 for y in ys]
            ax.plot(xs, mean, label=f"{v} ({len(ds)} seeds)")
            ax.fill_between(xs, [m - s for m, s in zip(mean, sd)], [m + s for m, s in zip(mean, sd)], alpha=0.2)
            for r in ds:
                stem = data_dir / f"{task}_{r['seed']}_{v}"
                with Path(f"{stem}.csv").open("w") as f:
                    rows = r["rows"]
                    keep = ["env_steps", "wall_s", "team_return"] + [k for k in rows[0] if k.startswith("return/")]
                    w = csv.writer(f)
                    w.writerow(keep)
                    w.writerows([[x[k] for k in keep] for x in rows])
                # The run's own summary (tuned_examples.py --stored reads it for the lever examples).
                Path(f"{stem}_summary.json").write_text((r["dir"] / "summary.json").read_text())
                summary = {str(p): {key: val for key, val in e.items() if key != "episode_records"}
                           for p, e in r["evals"].items() if e is not None}
                Path(f"{stem}_eval.json").write_text(json.dumps(summary, indent=1))
        if task == "levers":
            from rllib_marl.envs.games.levers import no_comm_ceiling

            kw = first["env_kwargs"]
            c = no_comm_ceiling(kw.get("pool_size", 500), kw.get("n_agents", 5))
            ax.axhline(c, color="grey", ls="--", lw=1, label=f"no-communication ceiling {c:.3f}")
            lines += ["", f"Exact ceiling without communication for N = {kw.get('n_agents', 5)} from a pool of "
                          f"{kw.get('pool_size', 500)}: {c:.5f}."]
        ax.set_xlabel("env steps")
        ax.set_ylabel("team return (training)")
        ax.set_title(task)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(docs / f"comm_{task}.png", dpi=110)
        plt.close(fig)
        lines.append("")
    text = "\n".join(lines)
    (docs / "data" / "comm" / "table.md").write_text(text)
    return text


def throughput(out: Path, task: str, rounds: int, iterations: int) -> str:
    speeds = {v: [] for v in VARIANTS}
    for r in range(rounds):
        order = VARIANTS[r % len(VARIANTS):] + VARIANTS[:r % len(VARIANTS)]
        for v in order:
            config, extra = config_and_args(task, v)
            d = out / "throughput" / f"{task}_{v}_round{r}"
            subprocess.run([sys.executable, "-m", "rllib_marl.train", "--config", str(config), *extra,
                            "--set", f"stop.iterations={iterations}", "--set", "stop.env_steps=null",
                            "--set", "evaluation.interval=0", "--output", str(fresh(d)), "--quiet"],
                           check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            rows = _rows(d)
            steps = int(rows[-1]["env_steps"]) - int(rows[0]["env_steps"])
            speeds[v].append(steps / (float(rows[-1]["wall_s"]) - float(rows[0]["wall_s"])))
            print(f"round {r} {v}: {speeds[v][-1]:,.0f} env steps/s", flush=True)
    base = statistics.median(speeds["mappo"])
    lines = [f"| {task}: variant | env steps/s (median of {rounds} rounds) | vs mappo |", "|---|---|---|"]
    for v in VARIANTS:
        m = statistics.median(speeds[v])
        lines.append(f"| {v} | {m:,.0f} ({', '.join(f'{x:,.0f}' for x in speeds[v])}) | {m / base:.2f} |")
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default=",".join(TASKS))
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=None, help="override the configs' stop.env_steps")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (1 CPU each)")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--docs", default=str(ROOT / "docs"))
    p.add_argument("--report", action="store_true", help="only aggregate what is in OUT")
    p.add_argument("--evaluate-only", action="store_true",
                   help="evaluate the finished runs of --tasks / --variants / --seeds again, then report")
    p.add_argument("--throughput", metavar="TASK", help="env steps/s of the variants side by side")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--iterations", type=int, default=6)
    p.add_argument("--single", nargs=3, metavar=("TASK", "VARIANT", "SEED"), help=argparse.SUPPRESS)
    args = p.parse_args()
    out = Path(args.out)
    if args.throughput:
        print(throughput(out, args.throughput, args.rounds, args.iterations))
        return 0
    if args.single:
        task, variant, seed = args.single
        single(out, task, variant, int(seed), args.env_steps)
        return 0
    if args.evaluate_only:
        for t in args.tasks.split(","):
            for v in args.variants.split(","):
                for s in args.seeds.split(","):
                    evaluate(run_dir(out, t, v, int(s)), t, v)
    elif not args.report:
        jobs = [(f"{t}:{v}", int(s)) for t in args.tasks.split(",") for v in args.variants.split(",")
                for s in args.seeds.split(",")]
        (out / "logs").mkdir(parents=True, exist_ok=True)
        steps = ["--env-steps", str(args.env_steps)] if args.env_steps else []

        def command(name, seed):
            t, v = name.split(":")
            return [sys.executable, __file__, "--single", t, v, str(seed), "--out", str(out), *steps]

        run_pool(jobs, args.jobs, command, log=lambda n, s: out / "logs" / f"{n.replace(':', '_')}_seed{s}.log")
    print(report(out, Path(args.docs)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
