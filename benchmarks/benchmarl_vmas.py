"""MAPPO on a VMAS task: ours beside BenchMARL, same env steps, same machine, one run.

BenchMARL (``benchmarl`` 1.5.2, TorchRL) runs in its own virtual environment
(``--benchmarl-python``) with its fine-tuned VMAS settings (its repository's
``fine_tuned/vmas/conf/config.yaml``: 600 envs per worker, 60,000 frames per
batch, 45 minibatch iterations of 4,096, gamma 0.9, lr 5e-5, gradient norm clip 5,
MLP 256x256 tanh, continuous actions, shared parameters) moved to CPU, and its own
task config for the scenario (``benchmarl/conf/task/vmas/<task>.yaml``; the same
kwargs reach our run). Ours: MAPPO through the batched env runner at the settings
given by ``--ours`` (JSON of ``training`` settings; defaults below). Runs take
turns, one at a time, each with both cores.

Both report the mean over agents of the per-agent episode return of the episodes
finished in each iteration's batch (BenchMARL's ``collection/reward/episode_reward_mean``;
ours ``team_return_mean`` under the ``mean`` convention, smoothed over the last
100 episodes per runner).

Usage:
    python benchmarks/benchmarl_vmas.py --benchmarl-python /tmp/bmvenv/bin/python \\
        --task navigation --frames 1200000 --seeds 0,1,2 --out /tmp/bm_vmas --docs docs
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import time
from pathlib import Path


# Ours: benchmarks/vmas_learning.py's run (tuned_examples/mappo/vmas_navigation.yaml's settings:
# MAPPO, 600 sub-envs, 60k env steps per iteration, 2 epochs of 4,096-row minibatches, 64x64 relu,
# lr 1e-3, gamma 0.9) with the task's kwargs from BenchMARL's task config.

BENCHMARL_CHILD = r'''
import json, sys, time
from pathlib import Path
from benchmarl.algorithms import MappoConfig
from benchmarl.environments import VmasTask
from benchmarl.experiment import Experiment, ExperimentConfig
from benchmarl.models.mlp import MlpConfig
task_name, frames, seed, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
exp = ExperimentConfig.get_from_yaml()
# fine_tuned/vmas/conf/config.yaml, moved to CPU
exp.sampling_device = exp.train_device = exp.buffer_device = "cpu"
exp.share_policy_params = True; exp.prefer_continuous_actions = True
exp.gamma = 0.9; exp.lr = 5e-5; exp.clip_grad_norm = True; exp.clip_grad_val = 5
exp.on_policy_collected_frames_per_batch = 60_000; exp.on_policy_n_envs_per_worker = 600
exp.on_policy_n_minibatch_iters = 45; exp.on_policy_minibatch_size = 4096
exp.max_n_frames = frames; exp.evaluation = False; exp.render = False; exp.loggers = ["csv"]
exp.create_json = False; exp.checkpoint_at_end = False
out.mkdir(parents=True, exist_ok=True); exp.save_folder = str(out)
task = getattr(VmasTask, task_name.upper()).get_from_yaml()
json.dump(dict(task.config), open(out / "task.json", "w"))
e = Experiment(task=task, algorithm_config=MappoConfig.get_from_yaml(), model_config=MlpConfig.get_from_yaml(),
               critic_model_config=MlpConfig.get_from_yaml(), seed=seed, config=exp)
e.run()
'''

def run_benchmarl(py: str, task: str, frames: int, seed: int, out: Path) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    subprocess.run([py, "-c", BENCHMARL_CHILD, task, str(frames), str(seed), str(out)], check=True,
                   stdout=subprocess.DEVNULL, stderr=open(out / "stderr.txt", "w"))
    wall = time.time() - t0
    scal = next(out.glob("*/*/scalars"))

    def col(name):
        return [float(line.split(",")[1]) for line in (scal / f"{name}.csv").read_text().split()]

    rets, frames_, times = col("collection_reward_episode_reward_mean"), col("counters_total_frames"), \
        col("timers_total_time")
    rows = [{"frames": int(f), "wall_s": t, "return": r} for f, t, r in zip(frames_, times, rets)]
    return {"rows": rows, "process_wall_s": wall, "task": json.loads((out / "task.json").read_text())}


def run_ours(task: str, frames: int, seed: int, overrides: list, kwargs: dict, out: Path) -> dict:
    """Our CLI on the tuned example with the task's kwargs, as a user runs it."""
    from vmas_learning import run

    t0 = time.time()
    rows = run(task, seed, frames, out, overrides, kwargs)
    return {"rows": [{"frames": r["env_steps"], "wall_s": r["wall_s"], "return": r["return"]} for r in rows],
            "process_wall_s": time.time() - t0}


def final_return(rows, k: int = 3) -> float:
    return statistics.mean(r["return"] for r in rows[-k:])


def time_to(rows, target: float):
    for r in rows:
        if r["return"] >= target:
            return r["wall_s"], r["frames"]
    return None, None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--benchmarl-python", required=True)
    p.add_argument("--task", default="navigation")
    p.add_argument("--frames", type=int, default=1_200_000)
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of our tuned example (as train --set)")
    p.add_argument("--out", default="/tmp/bm_vmas")
    p.add_argument("--docs", default=None, help="docs folder: writes data/benchmarl/<task>.json and a PNG")
    args = p.parse_args()
    out = Path(args.out)
    results = {"task": args.task, "frames": args.frames, "ours_overrides": args.set, "seeds": {}}
    for seed in [int(s) for s in args.seeds.split(",")]:
        bm = run_benchmarl(args.benchmarl_python, args.task, args.frames, seed, out / f"benchmarl_{args.task}_{seed}")
        kwargs = {k: v for k, v in bm["task"].items()}
        ours = run_ours(args.task, args.frames, seed, args.set, kwargs, out / f"ours_{args.task}_{seed}")
        results["seeds"][seed] = {"benchmarl": bm, "ours": ours}
        b_final, o_final = final_return(bm["rows"]), final_return(ours["rows"])
        o_t, _ = time_to(ours["rows"], b_final)
        print(f"seed {seed}: BenchMARL {b_final:.3f} in {bm['rows'][-1]['wall_s']:.0f} s; ours {o_final:.3f} in "
              f"{ours['rows'][-1]['wall_s']:.0f} s; ours reached BenchMARL's final return after "
              f"{'never' if o_t is None else f'{o_t:.0f} s'}", flush=True)
    print()
    print("| task | seed | env steps | BenchMARL return | BenchMARL wall s | ours return | ours wall s | "
          "ours: wall s to BenchMARL's return |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for seed, r in results["seeds"].items():
        b, o = r["benchmarl"]["rows"], r["ours"]["rows"]
        o_t, _ = time_to(o, final_return(b))
        print(f"| {args.task} | {seed} | {o[-1]['frames']:,} | {final_return(b):.3f} | {b[-1]['wall_s']:.0f} | "
              f"{final_return(o):.3f} | {o[-1]['wall_s']:.0f} | {'-' if o_t is None else f'{o_t:.0f}'} |")
    if args.docs:
        docs = Path(args.docs)
        (docs / "data" / "benchmarl").mkdir(parents=True, exist_ok=True)
        (docs / "data" / "benchmarl" / f"{args.task}.json").write_text(json.dumps(results, indent=1))
        plot(results, docs / f"benchmarl_vmas_{args.task}.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
    for who, color in (("benchmarl", "tab:orange"), ("ours", "tab:blue")):
        for i, r in enumerate(results["seeds"].values()):
            rows = r[who]["rows"]
            label = ("BenchMARL 1.5.2" if who == "benchmarl" else "rllib_marl") if i == 0 else None
            axes[0].plot([x["frames"] for x in rows], [x["return"] for x in rows], color=color, label=label)
            axes[1].plot([x["wall_s"] for x in rows], [x["return"] for x in rows], color=color, label=label)
    axes[0].set_xlabel("env steps")
    axes[1].set_xlabel("wall time (s, 2 cores)")
    for ax in axes:
        ax.set_ylabel("episode return (mean over agents)")
        ax.legend()
    fig.suptitle(f"MAPPO on VMAS {results['task']}")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    main()
