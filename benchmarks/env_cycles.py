"""Env steps per second through pettingzoo's AEC→parallel step and through ours
(rllib_marl/envs/cycles.py, which skips the ``last()`` pettingzoo reads and
discards for every agent), side by side, alternating rounds in one process.

    python benchmarks/env_cycles.py [--steps 600] [--rounds 5]

Random actions, the env as the named config builds it (wrappers included);
prints the median env steps/s of each over the rounds and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIGS = {
    "cooperative pong (42x42x4 frames)": "benchmarks/configs/ippo_cooperative_pong_probe.yaml",
    "pistonball, 10 pistons (42x42x3 frames)": "tuned_examples/ippo/pistonball_10.yaml",
    "simple_spread (vectors)": "tuned_examples/mappo/simple_spread.yaml",
}


def build(path: str, ours: bool):
    from rllib_marl.config import load_experiment, resolved_env_config
    from rllib_marl.envs.adapter import make_env
    from rllib_marl.envs.cycles import restore_pettingzoo_step

    env = make_env(resolved_env_config(load_experiment(str(ROOT / path))))
    if not ours:
        assert restore_pettingzoo_step(env) >= 1  # pettingzoo's own step again
    return env


def rate(env, steps: int, seed: int) -> float:
    obs, _ = env.reset(seed=seed)
    t = time.perf_counter()
    for _ in range(steps):
        obs, _, terms, truncs, _ = env.step({a: env.action_spaces[a].sample() for a in obs})
        if terms.get("__all__") or truncs.get("__all__"):
            obs, _ = env.reset()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    print("| env | pettingzoo step (env steps/s) | ours (env steps/s) | ratio |")
    print("|---|---|---|---|")
    for name, path in CONFIGS.items():
        envs = {False: build(path, False), True: build(path, True)}
        got = {False: [], True: []}
        for r in range(args.rounds):
            for ours in ((False, True) if r % 2 == 0 else (True, False)):
                got[ours].append(rate(envs[ours], args.steps, seed=r))
        a, b = statistics.median(got[False]), statistics.median(got[True])
        print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f} |", flush=True)


if __name__ == "__main__":
    main()
