"""Pixel tuned examples: learning curves over seeds, random play, and the peak
memory of each run.

Each seed runs ``python -m rllib_marl.train`` on the tuned example (embedded local
Ray, the default scale: no remote env runners, 8 sub-envs) while this script
samples, every 0.5 s, the resident memory (RSS) of the run's whole process tree
(the driver and every Ray process it started) from /proc; the peak is reported
beside the run's own estimate (the ``memory estimate`` line it prints).

Random play: the same env and wrappers, uniformly random actions, ``--random-episodes``
episodes, in this process.

Usage:
    python benchmarks/pixels.py --example mappo/cooperative_pong --seeds 0,1,2 [--jobs 2]
    python benchmarks/pixels.py --example mappo/cooperative_pong --report

``--example NAME`` is ``tuned_examples/NAME.yaml``, or ``benchmarks/configs/<NAME with / as _>.yaml``
(configs that are not tuned examples, e.g. cooperative pong, which has not learned yet).
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "docs" / "data" / "pixels"
PAGE = 4096


def _children() -> Dict[int, List[int]]:
    kids: Dict[int, List[int]] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        kids.setdefault(ppid, []).append(int(d))
    return kids


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and all its descendants (Ray's raylet, GCS and
    workers are children of the driver for an embedded local Ray)."""
    kids, total, todo = _children(), 0, [root]
    while todo:
        pid = todo.pop()
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * PAGE
        except (OSError, ValueError, IndexError):
            pass
        todo.extend(kids.get(pid, []))
    return total


def config_path(example: str) -> Path:
    tuned = ROOT / "tuned_examples" / f"{example}.yaml"
    return tuned if tuned.exists() else ROOT / "benchmarks" / "configs" / f"{example.replace('/', '_')}.yaml"


def run_seed(example: str, seed: int, out: Path, extra: List[str], jobs: int = 1) -> Dict[str, object]:
    if out.exists():
        shutil.rmtree(out)
    cmd = [sys.executable, "-m", "rllib_marl.train", "--config", str(config_path(example)),
           "--seed", str(seed), "--output", str(out), "--quiet", *extra]
    log = open(str(out) + ".log", "w")
    # Runs side by side share the cores: one torch thread each.
    env = dict(os.environ, OMP_NUM_THREADS="1") if jobs > 1 else None
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    peak, stop = [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], tree_rss(proc.pid))
            stop.wait(0.5)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    rc = proc.wait()
    stop.set()
    t.join()
    log.close()
    text = Path(str(out) + ".log").read_text()
    m = re.search(r"memory estimate: ([\d,]+) bytes per env step; train batch ([\d.]+) GB", text)
    return {"seed": seed, "rc": rc, "peak_rss_bytes": peak[0],
            "estimate_bytes_per_env_step": int(m.group(1).replace(",", "")) if m else None,
            "estimate_train_batch_gb": float(m.group(2)) if m else None}


def random_play(example: str, episodes: int, seed: int = 0) -> List[float]:

    sys.path.insert(0, str(ROOT))
    from rllib_marl.config import load_experiment, resolved_env_config
    from rllib_marl.envs.adapter import make_env
    from rllib_marl.metrics import team_value

    exp = load_experiment(config_path(example))
    env = make_env(resolved_env_config(exp))
    for i, a in enumerate(env.possible_agents):
        env.action_spaces[a].seed(seed + i)
    out = []
    for i in range(episodes):
        obs, infos = env.reset(seed=seed + i)
        done = False
        while not done:
            acts = {a: env.action_spaces[a].sample() for a in obs}
            obs, rew, terms, truncs, infos = env.step(acts)
            done = terms.get("__all__") or truncs.get("__all__")
        returns = env.env_returns  # the team return under the convention the run's curve uses
        out.append(team_value(returns, list(returns), env.team_return_convention))
    return out


def curve(run_dir: Path) -> List[Dict[str, float]]:
    with open(run_dir / "progress.csv") as f:
        return [{"env_steps": int(float(r["env_steps"])), "team_return": float(r["team_return"]),
                 "wall_s": float(r["wall_s"])}
                for r in csv.DictReader(f)]


def report(example: str, data: Path) -> None:
    meta = json.loads((data / "runs.json").read_text())
    rand = meta["random"]
    print(f"{example}: random play team return {statistics.mean(rand):.2f} ± {statistics.stdev(rand):.2f} "
          f"({len(rand)} episodes)")
    print("| seed | env steps | team return, first iteration | last 5 iterations (mean) | best iteration | "
          "peak RSS (process tree) | estimate (train batch) | wall s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in meta["runs"]:
        rows = curve(data / f"seed{r['seed']}")
        last = statistics.mean(x["team_return"] for x in rows[-5:])
        best = max(x["team_return"] for x in rows)
        # An interrupted run (SIGTERM / Ctrl-C) writes no summary: its last row's wall time.
        summary = data / f"seed{r['seed']}" / "summary.json"
        wall = json.loads(summary.read_text())["wall_s"] if summary.exists() else rows[-1]["wall_s"]
        stopped = "" if r.get("rc", 0) == 0 else f" (stopped, exit {r['rc']})"
        # A run made outside this script (adopted into runs.json) has no memory samples.
        peak = "not sampled" if r.get("peak_rss_bytes") is None else f"{r['peak_rss_bytes'] / 2**30:.2f} GB"
        est = r.get("estimate_train_batch_gb")
        print(f"| {r['seed']} | {rows[-1]['env_steps']:,} | {rows[0]['team_return']:.2f} | {last:.2f} | {best:.2f} | "
              f"{peak} | {'—' if est is None else f'{est:.2f} GB'} | {wall:.0f}{stopped} |")


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--example", default="mappo/cooperative_pong")
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--random-episodes", type=int, default=50)
    p.add_argument("--report", action="store_true")
    p.add_argument("--set", action="append", default=[])
    p.add_argument("--jobs", type=int, default=1, help="seeds run side by side (each with one torch thread)")
    args = p.parse_args()
    data = DATA / args.example.replace("/", "__")
    if args.report:
        report(args.example, data)
        return 0
    data.mkdir(parents=True, exist_ok=True)
    runs_file = data / "runs.json"
    meta = json.loads(runs_file.read_text()) if runs_file.exists() else {"runs": []}
    if "random" not in meta:
        meta["random"] = random_play(args.example, args.random_episodes)
    extra = [x for s in args.set for x in ("--set", s)]
    lock = threading.Lock()

    def one(seed: int) -> None:
        out = ROOT / "benchmarks" / "out" / "pixels" / args.example.replace("/", "__") / f"seed{seed}"
        out.parent.mkdir(parents=True, exist_ok=True)
        r = run_seed(args.example, seed, out, extra, args.jobs)
        print(json.dumps(r), flush=True)
        keep = data / f"seed{seed}"
        keep.mkdir(exist_ok=True)
        for name in ("progress.csv", "summary.json", "learning_curve.png"):
            if (out / name).exists():
                shutil.copy(out / name, keep / name)
        with lock:  # re-read: another invocation may have added its seeds meanwhile
            if runs_file.exists():
                meta["runs"] = json.loads(runs_file.read_text())["runs"]
            meta["runs"] = sorted([x for x in meta["runs"] if x["seed"] != seed] + [r], key=lambda x: x["seed"])
            runs_file.write_text(json.dumps(meta, indent=2))

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(one, [int(s) for s in args.seeds.split(",")]))
    report(args.example, data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
