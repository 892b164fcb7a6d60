"""Learner on CPU vs GPU, side by side, for MAPPO and QMIX on mpe2 simple_spread_v3.

Each row builds the tuned example (``tuned_examples/{mappo,qmix}/simple_spread.yaml``)
the way ``python -m rllib_marl.train`` does, with ``num_gpus_per_learner`` 0 or 1,
in its own process, and reports:

* where the learner's parameters live (read back from the learner, not assumed);
* end-to-end env steps/s (median of ``--repeats`` timed ``algo.train()`` calls after
  one warm-up; QMIX is first filled to ``learning_starts``);
* the mean learner-update and sampling time per iteration (RLlib's timers).

GPU rows are skipped, with a line saying so, where torch sees no CUDA device.

Usage:
    python benchmarks/gpu_learner.py                        # 0 remote env runners
    python benchmarks/gpu_learner.py --num-env-runners 4    # on a machine with cores
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

from child import emit, run_child

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "mappo": ROOT / "tuned_examples" / "mappo" / "simple_spread.yaml",
    "qmix": ROOT / "tuned_examples" / "qmix" / "simple_spread.yaml",
}


def _learner_devices(algo) -> list:
    def where(learner):
        multi = learner.module
        return sorted({str(p.device) for mid in multi.keys() for p in multi[mid].parameters()})

    group = algo.learner_group
    if group.is_local:
        return where(group._learner)
    return sorted({d for ds in group.foreach_learner(where) for d in ds})


def measure(algorithm: str, gpus: float, runners: int, envs: int, repeats: int) -> dict:
    import ray

    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, load_experiment

    exp = load_experiment(EXAMPLES[algorithm], ["seed=0"])
    scale = ScaleConfig(num_env_runners=runners, num_envs_per_env_runner=envs,
                        num_gpus_per_learner=gpus)
    config, _ = build_algo_config(exp, scale)
    ray.init(address="local", include_dashboard=False, logging_level="ERROR")
    algo = config.build_algo()
    devices = _learner_devices(algo)
    steps = 0
    if algorithm == "qmix":
        while steps < config.learning_starts:
            steps = int(algo.train()["env_runners"]["num_env_steps_sampled_lifetime"])
    algo.train()  # warm-up
    steps = int(algo.train()["env_runners"]["num_env_steps_sampled_lifetime"])
    rates, learn, sample = [], [], []
    for _ in range(repeats):
        t = time.perf_counter()
        r = algo.train()
        dt = time.perf_counter() - t
        total = int(r["env_runners"]["num_env_steps_sampled_lifetime"])
        rates.append((total - steps) / dt)
        steps = total
        timers = r.get("timers", {})
        learn.append(float(timers.get("learner_update_timer", float("nan"))))
        sample.append(float(timers.get("env_runner_sampling_timer", float("nan"))))
    team = float(r.get("team_return_mean", float("nan")))
    algo.stop()
    return {
        "devices": devices,
        "steps_per_s": statistics.median(rates),
        "learner_update_s": statistics.median(learn),
        "sampling_s": statistics.median(sample),
        "env_steps": steps,
        "team_return": team,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--algorithms", default="mappo,qmix")
    p.add_argument("--num-env-runners", type=int, default=0)
    p.add_argument("--num-envs-per-env-runner", type=int, default=8)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        opts = json.loads(args.child)
        emit(measure(**opts))
        return 0

    import platform

    import torch

    cuda = torch.cuda.is_available()
    gpu_name = torch.cuda.get_device_name(0) if cuda else "none"
    print(f"# {platform.node()} | {os.cpu_count()} CPUs | GPU: {gpu_name} | torch {torch.__version__} | "
          f"{time.strftime('%Y-%m-%d %H:%M')} | env runners {args.num_env_runners} x "
          f"{args.num_envs_per_env_runner} envs | median of {args.repeats} iterations after warm-up\n")
    print("| algorithm | learner | parameters on | env steps/s | learner update s/iter | "
          "sampling s/iter | GPU vs CPU |")
    print("|---|---|---|---|---|---|---|")
    for algorithm in [a.strip() for a in args.algorithms.split(",") if a.strip()]:
        cpu_rate = None
        for gpus in (0.0, 1.0):
            label = "GPU" if gpus else "CPU"
            if gpus and not cuda:
                print(f"| {algorithm} | {label} | (skipped: torch sees no CUDA device) | | | | |")
                continue
            r = run_child(__file__, {"algorithm": algorithm, "gpus": gpus, "runners": args.num_env_runners,
                            "envs": args.num_envs_per_env_runner, "repeats": args.repeats})
            cpu_rate = r["steps_per_s"] if not gpus else cpu_rate
            ratio = f"{r['steps_per_s'] / cpu_rate:.2f}x" if gpus and cpu_rate else ""
            print(f"| {algorithm} | {label} | {', '.join(r['devices'])} | {r['steps_per_s']:,.0f} | "
                  f"{r['learner_update_s']:.3f} | {r['sampling_s']:.3f} | {ratio} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
