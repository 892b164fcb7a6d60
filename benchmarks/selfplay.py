"""Self-play benchmarks of issue #12: rock-paper-scissors (naive self-play against
the league) and the iterated prisoner's dilemma (two independent learners).

* ``--game rps``: ``tuned_examples/league/rps.yaml`` as it is (``league``) and the
  same with naive self-play (``naive``: the main agent always plays its current
  self, no snapshots). Both start from the same **biased policy** (logits
  ``START_LOGITS``: rock with probability 0.79, exploitability 0.68), so what the
  curves show is learning, not a uniform initial policy kept uniform by the
  entropy bonus. Per iteration: the main agent's action probabilities and its
  exact exploitability. These runs train in-process (the library's config
  builder and ``Algorithm.train()``) so that the start can be set.
* ``--game ipd``: IPPO with one module per player (``multi_agent.sharing:
  per_agent``) on our ``ipd`` (10 rounds, each player sees the last joint
  action); the share of cooperative moves per episode (``env/cooperation``).

Each (variant, seed) is one ``python -m rllib_marl.train`` process; its curve is
copied to ``docs/data/selfplay_<game>/<variant>_seed<k>.csv``; ``--report``
writes the table (markdown, printed) and ``docs/selfplay_<game>.png``.

Usage:
    python benchmarks/selfplay.py --game rps --seeds 0,1,2 --jobs 2
    python benchmarks/selfplay.py --game ipd --seeds 0,1,2 --jobs 2
    python benchmarks/selfplay.py --game rps --report
"""

from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

import yaml

from child import fresh, run_pool

ROOT = Path(__file__).resolve().parent.parent
RPS = ROOT / "tuned_examples" / "league" / "rps.yaml"
OUT = ROOT / "benchmarks" / "out"

IPD = {
    "name": "ipd_independent",
    "algorithm": "ippo",
    "env": {"name": "ipd", "kwargs": {"rounds": 10}},
    "multi_agent": {"sharing": "per_agent"},
    "training": {"lr": 1e-3, "train_batch_size": 1000, "minibatch_size": 500, "num_epochs": 4,
                 "entropy_coeff": 0.01, "gamma": 0.99},
    "stop": {"env_steps": 200000},
    "checkpoint": {"interval": 0},
}

VARIANTS = {
    "rps": {
        "league": [],
        "naive": ["--set", "league.self_play=1", "--set", "league.pfsp=0", "--set", "league.verification=0",
                  "--set", "league.snapshot_every=0", "--set", "league.snapshot_win_rate=1.0"],
    },
    "ipd": {"independent": []},
}


START_LOGITS = (2.0, 0.0, 0.0)


def bias_policy(algo, module_id: str, logits) -> None:
    """``module_id`` plays ``softmax(logits)`` (ActorCriticModule.set_constant_logits)
    on the learners, then on every env runner."""
    algo.learner_group.foreach_learner(lambda lr: lr.module[module_id].set_constant_logits(logits))
    algo.env_runner_group.sync_weights(from_worker_or_learner_group=algo.learner_group, inference_only=True)


def rps_child(variant: str, seed: int, out_csv: Path, extra=()) -> None:
    import ray

    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, load_experiment
    from rllib_marl.league.callback import LEAGUE_KEY, league_metrics, league_of
    from rllib_marl.metrics import ENV_STEPS

    overrides = [VARIANTS["rps"][variant][i + 1] for i in range(0, len(VARIANTS["rps"][variant]), 2)]
    exp = load_experiment(RPS, overrides + list(extra) + [f"seed={seed}"])
    ray.init(address="local", num_cpus=1, include_dashboard=False, logging_level="ERROR")
    config, _ = build_algo_config(exp, ScaleConfig())
    algo = config.build_algo()
    bias_policy(algo, "main_0", START_LOGITS)
    cols = ["iteration", "env_steps", "league/pool", "league/exploitability/main_0",
            *[f"league/policy/main_0/{i}" for i in range(3)]]
    with out_csv.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        start = league_metrics(league_of(algo), algo, 0, False)
        w.writerow([0, 0, 0, start["exploitability/main_0"], *[start[f"policy/main_0/{i}"] for i in range(3)]])
        steps = 0
        while steps < exp.stop.env_steps:
            r = algo.train()
            steps = int(r[ENV_STEPS])
            lg = r[LEAGUE_KEY]
            w.writerow([r["training_iteration"], steps, lg["pool"], lg["exploitability/main_0"],
                        *[lg[f"policy/main_0/{i}"] for i in range(3)]])
            f.flush()
    algo.stop()
    ray.shutdown()


def config_path(game: str, out: Path) -> Path:
    if game == "rps":
        return RPS
    p = out / "ipd_independent.yaml"
    p.write_text(yaml.safe_dump(IPD, sort_keys=False))
    return p


def data_dir(game: str) -> Path:
    return ROOT / "docs" / "data" / f"selfplay_{game}"


def columns(game: str, row: dict) -> list:
    if game == "rps":
        return ["iteration", "env_steps", "league/pool", "league/exploitability/main_0",
                *[k for k in row if k.startswith("league/policy/main_0/")]]
    return ["iteration", "env_steps", "env/cooperation", "env/mutual_cooperation",
            "return/player_0", "return/player_1"]


def run_one(game: str, variant: str, seed: int, out: Path, extra=()) -> list:
    run = out / "runs" / f"{variant}_seed{seed}"
    if game == "rps":
        run.mkdir(parents=True, exist_ok=True)
        return [sys.executable, str(Path(__file__).resolve()), "--game", "rps", "--child",
                f"{variant},{seed},{run / 'progress.csv'}", *extra]
    return [sys.executable, "-m", "rllib_marl.train", "--config", str(config_path(game, out)),
            *VARIANTS[game][variant], *extra, "--seed", str(seed), "--output", str(fresh(run)), "--quiet",
            "--num-cpus", "1"]


def collect(game: str, out: Path) -> None:
    dest = data_dir(game)
    dest.mkdir(parents=True, exist_ok=True)
    for run in sorted((out / "runs").glob("*_seed*")):
        prog = run / "progress.csv"
        if not prog.exists():
            continue
        with prog.open() as f:
            rows = list(csv.DictReader(f))
        cols = columns(game, rows[-1])
        with (dest / f"{run.name}.csv").open("w", newline="") as g:
            w = csv.writer(g)
            w.writerow(cols)
            for r in rows:
                w.writerow([r.get(c, "") for c in cols])


def _load(path: Path):
    with path.open() as f:
        return [{k: float(v) if v not in ("", None) else math.nan for k, v in r.items()}
                for r in csv.DictReader(f)]


def report(game: str, cmd: str) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {p.stem: _load(p) for p in sorted(data_dir(game).glob("*_seed*.csv"))}
    variants = sorted({k.rsplit("_seed", 1)[0] for k in runs})
    lines = [f"Made by `{cmd}`; curves in `docs/data/selfplay_{game}/`.", ""]
    if game == "rps":
        key = "league/exploitability/main_0"
        lines += ["| variant | seed | env steps | final exploitability | mean of the last 20 iterations | "
                  "max over the last half | first below 0.15 (env steps) | final action probabilities (R, P, S) |",
                  "|---|---|---|---|---|---|---|---|"]
        for name, rows in runs.items():
            v, seed = name.rsplit("_seed", 1)
            last = rows[-1]
            half = [r[key] for r in rows[len(rows) // 2:]]
            first = next((int(r["env_steps"]) for r in rows if r[key] < 0.15), None)
            probs = ", ".join(f"{last[f'league/policy/main_0/{i}']:.2f}" for i in range(3))
            lines.append(f"| {v} | {seed} | {int(last['env_steps']):,} | {last[key]:.3f} | "
                         f"{statistics.mean(r[key] for r in rows[-20:]):.3f} | {max(half):.3f} | "
                         f"{'—' if first is None else f'{first:,}'} | {probs} |")
        fig, axes = plt.subplots(len(variants), 2, figsize=(12, 3.2 * len(variants)), squeeze=False)
        for i, v in enumerate(variants):
            for name, rows in runs.items():
                if name.rsplit("_seed", 1)[0] != v:
                    continue
                seed = name.rsplit("_seed", 1)[1]
                xs = [r["env_steps"] for r in rows]
                axes[i][1].plot(xs, [r[key] for r in rows], label=f"seed {seed}")
                if seed == "0":
                    for a, label in enumerate(("rock", "paper", "scissors")):
                        axes[i][0].plot(xs, [r[f"league/policy/main_0/{a}"] for r in rows], label=label)
            axes[i][0].set_title(f"{v}: main agent's action probabilities (seed 0)")
            axes[i][0].set_ylim(0, 1)
            axes[i][0].legend(fontsize=8)
            axes[i][1].set_title(f"{v}: exploitability (exact)")
            axes[i][1].set_ylim(0, 1)
            axes[i][1].axhline(0.05, color="k", lw=0.6, ls="--")
            axes[i][1].legend(fontsize=8)
            for ax in axes[i]:
                ax.set_xlabel("env steps (one-shot games)")
    else:
        key = "env/cooperation"
        lines += ["| seed | env steps | cooperation (final) | mutual cooperation (final) | min / max over training | "
                  "returns player_0 / player_1 |", "|---|---|---|---|---|---|"]
        for name, rows in runs.items():
            seed = name.rsplit("_seed", 1)[1]
            last = rows[-1]
            vals = [r[key] for r in rows if not math.isnan(r[key])]
            lines.append(f"| {seed} | {int(last['env_steps']):,} | {last[key]:.2f} | "
                         f"{last['env/mutual_cooperation']:.2f} | {min(vals):.2f} / {max(vals):.2f} | "
                         f"{last['return/player_0']:.1f} / {last['return/player_1']:.1f} |")
        fig, axes = plt.subplots(1, 1, figsize=(7, 3.5), squeeze=False)
        for name, rows in runs.items():
            axes[0][0].plot([r["env_steps"] for r in rows], [r[key] for r in rows],
                            label=f"seed {name.rsplit('_seed', 1)[1]}")
        axes[0][0].set_title("IPD, two independent IPPO learners: share of cooperative moves")
        axes[0][0].set_ylim(0, 1)
        axes[0][0].set_xlabel("env steps")
        axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(ROOT / "docs" / f"selfplay_{game}.png", dpi=90)
    text = "\n".join(lines)
    print(text)
    return text


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--game", choices=sorted(VARIANTS), required=True)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--variants", default="", help="comma-separated (default: all of the game's)")
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--report", action="store_true", help="only the table and plot from docs/data")
    p.add_argument("--set", action="append", default=[], help="config override for every run (KEY=VALUE)")
    p.add_argument("--out", type=Path, default=None, help="run directory (default benchmarks/out/selfplay_<game>)")
    p.add_argument("--child", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        from rllib_marl.session import pin_hash_seed

        pin_hash_seed(sys.argv)  # trains in this process: same results run to run
        variant, seed, csv_path = args.child.split(",", 2)
        rps_child(variant, int(seed), Path(csv_path), args.set)
        return 0
    out = args.out or OUT / f"selfplay_{args.game}"
    extra = [x for kv in args.set for x in ("--set", kv)]
    out.mkdir(parents=True, exist_ok=True)
    if not args.report:
        variants = args.variants.split(",") if args.variants else list(VARIANTS[args.game])
        jobs = [(v, int(s)) for v in variants for s in args.seeds.split(",")]
        run_pool(jobs, args.jobs, lambda v, s: run_one(args.game, v, s, out, extra),
                 log=lambda v, s: out / f"{v}_seed{s}.log")
        if args.out is not None:  # an exploratory run: leave docs/ alone
            print(f"runs in {out / 'runs'}")
            return 0
        collect(args.game, out)
    report(args.game, f"python benchmarks/selfplay.py --game {args.game} --seeds {args.seeds}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
