"""Ours beside EPyMARL (uoe-agents/epymarl, the library LBF and RWARE come from) on
the same tasks, the same env-step budget and the same machine.

Each library runs with its own settings: ours from ``benchmarks/configs/epymarl/
<algo>_<family>.yaml``, EPyMARL from its own ``src/config/algs/<algo>.yaml`` and
``envs/gymma.yaml`` (time limit 50 for LBF, 500 for RWARE, as its README gives for
the paper's tasks). The two run side by side, each in its own queue pinned to one
core (``taskset``, one torch thread), so they share the machine's load alike: our
runs one after the other on core 0, EPyMARL's on core 1.

Usage (EPyMARL fetched to DIR, with its own virtual environment):
    python benchmarks/epymarl.py --epymarl DIR --epymarl-python VENV/bin/python \\
        --tasks lbf-8x8-2p-2f-coop --algos mappo,qmix,ippo --seeds 0,1,2 --env-steps 300000
    python benchmarks/epymarl.py ... --plan "lbf-8x8-2p-2f-coop:mappo,qmix;lbf-10x10-3p-3f:mappo"
    python benchmarks/epymarl.py --report          # table + curves from docs/data/epymarl

Every run's curve is kept as ``docs/data/epymarl/<lib>/<task>/<algo>_seed<k>.csv``
(env_steps, wall_s, train_return, eval_return), from which ``--report`` builds the
table and the figures, so runs made in several sittings add up.

What is compared. Team return = the sum of the agents' rewards over an episode (LBF:
the fraction of the spawned food level collected, at most 1; RWARE: shelves delivered),
EPyMARL's ``common_reward`` with ``reward_scalarisation: sum``, its default.
*train*: the return of training episodes (with exploration) at the end of the run:
ours the mean over the last 100 episodes, EPyMARL's the mean over the episodes of its
last 10k env steps. *greedy*: the mean over 100 greedy episodes, every 50k env steps
in both; *final* is the last of them, *max* the best evaluation step (the highest
mean over seeds, the paper's "maximum returns" protocol).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "benchmarks" / "configs" / "epymarl"
DEFAULT_OUT = ROOT / "benchmarks" / "out" / "epymarl"
DATA = ROOT / "docs" / "data" / "epymarl"
LIBS = ("ours", "epymarl")

# task -> (family, our env name, EPyMARL's gymma key, time limit[, env kwargs]).
# lbforaging 2.0.0 registers at most 4 food items; the paper's 15x15-3p-5f is its
# 4f id with max_num_food=5 (gymnasium.make's kwargs, given to both libraries).
TASKS = {
    "lbf-8x8-2p-2f-coop": ("lbf", "gymnasium:Foraging-8x8-2p-2f-coop-v3", "lbforaging:Foraging-8x8-2p-2f-coop-v3", 50),
    "lbf-10x10-3p-3f": ("lbf", "gymnasium:Foraging-10x10-3p-3f-v3", "lbforaging:Foraging-10x10-3p-3f-v3", 50),
    "lbf-15x15-3p-5f": ("lbf", "gymnasium:Foraging-15x15-3p-4f-v3", "lbforaging:Foraging-15x15-3p-4f-v3", 50,
                        {"max_num_food": 5}),
    "rware-tiny-2ag": ("rware", "gymnasium:rware-tiny-2ag-v2", "rware:rware-tiny-2ag-v2", 500),
    "rware-tiny-4ag": ("rware", "gymnasium:rware-tiny-4ag-v2", "rware:rware-tiny-4ag-v2", 500),
}
EVAL_EVERY = 50_000
EVAL_EPISODES = 100


def our_config(algo: str, task: str) -> Path:
    path = CONFIGS / f"{algo}_{TASKS[task][0]}.yaml"
    if not path.exists():
        raise SystemExit(f"no config for {algo} on {task}: {path.relative_to(ROOT)} (write one first)")
    return path


def _gymma(args, task: str, kwargs: Dict) -> str:
    """EPyMARL's env config for a task: its own ``gymma``, or, for a task with env
    kwargs (sacred refuses keys its config does not have), a copy of ``gymma.yaml``
    with those keys added to ``env_args``, written beside it as ``gymma_<task>.yaml``."""
    if not kwargs:
        return "gymma"
    import yaml

    envs = Path(args.epymarl) / "src" / "config" / "envs"
    cfg = yaml.safe_load((envs / "gymma.yaml").read_text())
    cfg["env_args"].update(kwargs)
    name = f"gymma_{task.replace('-', '_')}"
    (envs / f"{name}.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return name


def command(lib: str, task: str, algo: str, seed: int, steps: int, run: Path, args) -> tuple:
    """(argv, cwd) of one run, pinned to its library's core."""
    family, ours_env, key, limit = TASKS[task][:4]
    kwargs = TASKS[task][4] if len(TASKS[task]) > 4 else {}
    if lib == "ours":
        argv = [sys.executable, "-m", "rllib_marl.train", "--config", str(our_config(algo, task)),
                "--set", f"env.name={ours_env}", "--set", f"stop.env_steps={steps}",
                "--seed", str(seed), "--output", str(run), "--quiet"]
        argv += [a for k, v in kwargs.items() for a in ("--set", f"env.kwargs.{k}={v}")]
        cwd = ROOT
    else:
        argv = [args.epymarl_python, "src/main.py", f"--config={algo}", f"--env-config={_gymma(args, task, kwargs)}",
                "with", f"env_args.time_limit={limit}", f"env_args.key={key}", f"t_max={steps}", "use_cuda=False",
                f"seed={seed}", f"local_results_path={run}", f"test_interval={EVAL_EVERY}",
                f"test_nepisode={EVAL_EPISODES}", f"log_interval={EVAL_EVERY}", "runner_log_interval=10000"]
        cwd = Path(args.epymarl)
    core = args.cores.split(",")[LIBS.index(lib)]
    return ["taskset", "-c", core, *argv], cwd


def _num(v) -> Optional[float]:
    if isinstance(v, dict):  # EPyMARL stores numpy scalars as {"py/object": ..., "value": x}
        v = v.get("value")
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def curve_ours(run: Path) -> List[Dict[str, float]]:
    rows = []
    with (run / "progress.csv").open() as f:
        for r in csv.DictReader(f):
            rows.append({"env_steps": int(r["env_steps"]), "wall_s": float(r["wall_s"]),
                         "train_return": _num(r.get("team_return")), "eval_return": _num(r.get("eval/team_return"))})
    return rows


def curve_epymarl(run: Path) -> List[Dict[str, float]]:
    """Points from sacred's info.json; wall time from the timestamps of cout.txt's
    ``t_env: N / M`` lines (seconds since its first)."""
    infos = sorted(run.glob("sacred/*/*/*/info.json"))
    if not infos:
        raise FileNotFoundError(f"no sacred info.json under {run}")
    info = json.loads(infos[-1].read_text())
    stamps = []
    for line in (infos[-1].parent / "cout.txt").read_text().splitlines():
        m = re.match(r"\[INFO (\d+):(\d+):(\d+)\] my_main t_env: (\d+) /", line)
        if m:
            h, mi, s, t = map(int, m.groups())
            stamps.append((t, h * 3600 + mi * 60 + s))
    t0, day = stamps[0][1], 0
    wall, last = [], t0
    for t, sec in stamps:  # across midnight
        if sec + day < last:
            day += 86400
        last = sec + day
        wall.append((t, last - t0))

    def wall_at(t):  # linear between the logged stamps (cout.txt has one per log_interval)
        for (t0_, w0), (t1, w1) in zip(wall, wall[1:]):
            if t0_ <= t <= t1:
                return w0 + (w1 - w0) * (t - t0_) / max(1, t1 - t0_)
        return wall[-1][1] if t > wall[-1][0] else wall[0][1]

    points: Dict[int, Dict[str, float]] = {}
    for key, col in (("return_mean", "train_return"), ("test_return_mean", "eval_return")):
        for t, v in zip(info.get(key + "_T", []), info.get(key, [])):
            p = points.setdefault(int(t), {"env_steps": int(t), "wall_s": wall_at(int(t)),
                                           "train_return": None, "eval_return": None})
            p[col] = _num(v)
    return [points[t] for t in sorted(points)]


def keep(lib: str, task: str, algo: str, seed: int, run: Path, wall: float) -> Path:
    rows = curve_ours(run) if lib == "ours" else curve_epymarl(run)
    dest = DATA / lib / task / f"{algo}_seed{seed}.csv"
    dest.parent.mkdir(parents=True, exist_ok=True)
    with dest.open("w", newline="") as f:
        f.write(f"# process wall time {wall:.1f} s\n")
        w = csv.DictWriter(f, fieldnames=["env_steps", "wall_s", "train_return", "eval_return"])
        w.writeheader()
        w.writerows(rows)
    return dest


def run_queue(lib: str, jobs: list, args, out: Path) -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    for task, algo, seed in jobs:
        run = out / lib / task / f"{algo}_seed{seed}"
        if args.skip_existing and (DATA / lib / task / f"{algo}_seed{seed}.csv").exists():
            continue
        if run.exists():
            shutil.rmtree(run)
        run.parent.mkdir(parents=True, exist_ok=True)
        argv, cwd = command(lib, task, algo, seed, args.env_steps, run, args)
        # EPyMARL's sacred observer writes under its own results/sacred/<algo>/<key>/<id>.
        sacred = Path(args.epymarl or ".") / "results" / "sacred" / algo / TASKS[task][2]
        before = set(sacred.glob("*")) if lib == "epymarl" else set()
        print(f"[{lib}] start {task} {algo} seed {seed}", flush=True)
        t0 = time.time()
        with open(str(run) + ".log", "w") as log:
            code = subprocess.run(argv, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode
        wall = time.time() - t0
        if lib == "epymarl":
            for new in sorted(set(sacred.glob("*")) - before):
                shutil.copytree(new, run / "sacred" / algo / task / new.name)
        if code != 0:
            print(f"[{lib}] FAILED {task} {algo} seed {seed}: exit {code} (log {run}.log)", flush=True)
            continue
        dest = keep(lib, task, algo, seed, run, wall)
        print(f"[{lib}] done {task} {algo} seed {seed}: {wall:.0f} s -> {dest}", flush=True)


# ---------------------------------------------------------------- report

def load(path: Path):
    lines = path.read_text().splitlines()
    wall = float(re.search(r"([\d.]+) s", lines[0]).group(1))
    rows = [{k: (float(v) if v not in ("", "None") else None) for k, v in r.items()}
            for r in csv.DictReader(lines[1:])]
    return wall, rows


def _ms(vals) -> str:
    vals = [v for v in vals if v is not None]
    if not vals:
        return "–"
    if len(vals) == 1:
        return f"{vals[0]:.2f}"
    return f"{statistics.mean(vals):.2f} ± {statistics.stdev(vals):.2f}"


def summarize(task: str, algo: str, lib: str) -> Optional[dict]:
    files = sorted((DATA / lib / task).glob(f"{algo}_seed*.csv"))
    if not files:
        return None
    runs = [load(f) for f in files]
    steps = min(max(r["env_steps"] for r in rows) for _, rows in runs)
    train = [next((r["train_return"] for r in reversed(rows) if r["train_return"] is not None), None)
             for _, rows in runs]
    evals = [[(r["env_steps"], r["eval_return"]) for r in rows if r["eval_return"] is not None] for _, rows in runs]
    final = [e[-1][1] if e else None for e in evals]
    # The paper's "maximum returns": the evaluation step whose mean over seeds is highest.
    best = None
    n = min(len(e) for e in evals) if all(evals) else 0
    for i in range(n):
        vals = [e[i][1] for e in evals]
        if best is None or statistics.mean(vals) > statistics.mean(best):
            best = vals
    wall = [w for w, _ in runs]
    return {"seeds": len(runs), "env_steps": steps, "train": _ms(train), "final": _ms(final),
            "max": _ms(best or []), "wall": statistics.median(wall),
            "rate": statistics.median(max(r["env_steps"] for r in rows) / w for w, rows in runs)}


def report(docs: Path) -> str:
    lines = ["| task | algorithm | library | seeds | env steps | train | greedy, final | greedy, max | "
             "wall time (median) | env steps/s |", "|---|---|---|---|---|---|---|---|---|---|"]
    plotted = []
    order = ("mappo", "ippo", "qmix", "maddpg")
    for task in TASKS:
        found = {f.name.split("_seed")[0] for lib in LIBS for f in (DATA / lib / task).glob("*_seed*.csv")}
        for algo in sorted(found, key=lambda a: (order.index(a.split("-")[0]) if a.split("-")[0] in order else 9, a)):
            for lib in LIBS:
                s = summarize(task, algo, lib)
                if s is None:
                    continue
                plotted.append((task, algo, lib))
                lines.append(f"| {task} | {algo} | {lib} | {s['seeds']} | {int(s['env_steps']):,} | {s['train']} | "
                             f"{s['final']} | {s['max']} | {s['wall']:.0f} s | {s['rate']:,.0f} |")
    table = "\n".join(lines)
    print(table)
    for task in sorted({t for t, _, _ in plotted}):
        _plot(task, [(a, lib) for t, a, lib in plotted if t == task], docs / f"epymarl_{task}.png")
    return table


def _plot(task: str, runs, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"mappo": "tab:blue", "ippo": "tab:green", "qmix": "tab:red", "maddpg": "tab:purple",
              "mappo-gru": "tab:cyan", "ippo-gru": "tab:olive"}
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for algo, lib in runs:
        curves = [load(f)[1] for f in sorted((DATA / lib / task).glob(f"{algo}_seed*.csv"))]
        for ax, x in zip(axes, ("env_steps", "wall_s")):
            pts = [[(r[x], r["train_return"]) for r in rows if r["train_return"] is not None] for rows in curves]
            n = min(len(p) for p in pts)
            xs = [statistics.mean(p[i][0] for p in pts) for i in range(n)]
            ys = [statistics.mean(p[i][1] for p in pts) for i in range(n)]
            lo = [min(p[i][1] for p in pts) for i in range(n)]
            hi = [max(p[i][1] for p in pts) for i in range(n)]
            style = "-" if lib == "ours" else "--"
            ax.plot(xs, ys, style, color=colors.get(algo, "tab:gray"), label=f"{algo} ({lib}, {len(pts)} seeds)")
            ax.fill_between(xs, lo, hi, color=colors.get(algo, "tab:gray"), alpha=0.12)
    axes[0].set_xlabel("env steps")
    axes[1].set_xlabel("wall time (s), one core each")
    for ax in axes:
        ax.set_ylabel("team return (training episodes)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{task}: ours (solid) and EPyMARL (dashed); mean over seeds, band = min-max")
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)
    print(f"wrote {png}")


def main() -> int:
    global DATA
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tasks", default="lbf-8x8-2p-2f-coop")
    p.add_argument("--algos", default="mappo,qmix")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--env-steps", type=int, default=300_000)
    p.add_argument("--plan", help='instead of --tasks/--algos: "task:algo,algo;task:algo", run in this order')
    p.add_argument("--libs", default="ours,epymarl")
    p.add_argument("--epymarl", help="EPyMARL checkout (its src/main.py)")
    p.add_argument("--epymarl-python", help="the python of EPyMARL's virtual environment")
    p.add_argument("--cores", default="0,1", help="the core of our queue, then EPyMARL's")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--docs", default=str(ROOT / "docs"))
    p.add_argument("--data", default=str(ROOT / "docs" / "data" / "epymarl"), help="where the curves are kept and read")
    p.add_argument("--skip-existing", action="store_true", help="leave out runs whose curve docs/data holds")
    p.add_argument("--report", action="store_true", help="only the table and figures from docs/data/epymarl")
    args = p.parse_args()
    DATA = Path(args.data)
    if args.report:
        report(Path(args.docs))
        return 0
    libs = args.libs.split(",")
    if "epymarl" in libs and not (args.epymarl and args.epymarl_python):
        p.error("--epymarl and --epymarl-python are needed to run EPyMARL (or --libs ours)")
    for t in [t for t, _ in ([(x, "") for x in args.tasks.split(",")] if not args.plan else
                             [part.split(":", 1) for part in args.plan.split(";")])]:
        if t not in TASKS:
            p.error(f"unknown task {t!r}; known: {', '.join(TASKS)}")
    plan = [(t, args.algos) for t in args.tasks.split(",")]
    if args.plan:  # "task:algo,algo;task:algo": this order, task by task
        plan = [tuple(part.split(":", 1)) for part in args.plan.split(";")]
    jobs = [(t, a, int(s)) for t, algos in plan for a in algos.split(",") for s in args.seeds.split(",")]
    for t, a, _ in jobs:
        our_config(a, t)
    out = Path(args.out)
    threads = [threading.Thread(target=run_queue, args=(lib, jobs, args, out)) for lib in libs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    report(Path(args.docs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
