"""A/B in one process: the local env runner sampling with all torch threads vs one.

The raw env (random actions) and our runner (8 sub-envs, MAPPO's module,
``num_env_runners=0``) are measured in turn, ``--rounds`` times, 4000 env steps
each; the runner alternates ``inference_threads`` between torch's thread count
and 1. Prints medians and the median of the per-round ratios.

Usage:
    python benchmarks/inference_threads.py --rounds 10
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from throughput import BATCH, _ours_config, _raw_stepper  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--rounds", type=int, default=10)
    args = p.parse_args()

    import ray
    import torch

    ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level="ERROR")
    raw = _raw_stepper(adapter=False)
    config = _ours_config(8)
    runner = config.env_runner_cls(config=config)
    all_threads = torch.get_num_threads()
    variants = {f"{all_threads} threads": all_threads, "1 thread": 1}
    runner.sample(num_timesteps=BATCH, explore=True)
    rates = {"raw": [], **{name: [] for name in variants}}
    for _ in range(args.rounds):
        t = time.perf_counter()
        raw(BATCH)
        rates["raw"].append(BATCH / (time.perf_counter() - t))
        for name, n in variants.items():
            runner.inference_threads = n
            t = time.perf_counter()
            k = sum(len(e) for e in runner.sample(num_timesteps=BATCH, explore=True))
            rates[name].append(k / (time.perf_counter() - t))
    print(f"torch {torch.__version__}, {all_threads} threads outside sampling; {args.rounds} rounds\n")
    print("| sampler | env steps/s (median) | vs raw env (median of per-round ratios) |")
    print("|---|---|---|")
    for name, v in rates.items():
        ratio = statistics.median(a / b for a, b in zip(v, rates["raw"]))
        print(f"| {name} | {statistics.median(v):,.0f} | {ratio:.0%} |")
    one, many = rates["1 thread"], rates[f"{all_threads} threads"]
    print(f"\n1 thread vs {all_threads}: {statistics.median(a / b for a, b in zip(one, many)):.2f}x "
          "(median of per-round ratios)")
    runner.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
