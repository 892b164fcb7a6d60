"""VMAS sampling benchmark: our batched env runner beside VMAS alone.

For each scenario and sub-env count (``--num-envs``), in one process, round-robin
over ``--rounds`` rounds:

* ``vmas alone``: ``vmas.make_env(scenario, num_envs)`` stepped with uniformly
  random actions, no policy, no resets beyond VMAS's own (it has none without a
  time limit; here ``max_steps`` is unset, as in the figures quoted in issue 30);
  once as a user steps it (the issue's reference) and once inside
  ``torch.inference_mode()``, as our runner steps it (VMAS itself runs faster
  there: no autograd version counters on its tensors);
* ``ours``: :class:`rllib_marl.batched_runner.BatchedEnvRunner` ``sample()`` with
  MAPPO's module (64x64, ``--activation``) exploring (one forward pass per step over every agent of every
  sub-env, actions sampled, log-probabilities kept), the env's time limit
  (100 steps) and resets, the value targets computed at the end of each sample —
  everything the learner gets, without the learner; each rollout is released
  after it is timed, as the training step releases it after the learners'
  update (the next sample reuses its storage).

Each figure is env steps per second (sub-env steps; ``agent steps = env steps x
agents``), the median over rounds; the ratio is the median of the per-round
ratios. Discrete actions, CPU, torch threads as the machine gives them.

Usage:
    python benchmarks/vmas_sampling.py                                  # simple_spread and navigation
    python benchmarks/vmas_sampling.py --scenarios simple_spread --num-envs 1024 --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

STEPS_PER_CALL = 50_000  # env steps per timed call (at least 20 steps per sub-env)


def vmas_alone(scenario: str, n: int, steps: int, inference: bool = False) -> float:
    if inference:
        with torch.inference_mode():
            return vmas_alone(scenario, n, steps)
    import vmas

    env = vmas.make_env(scenario, num_envs=n, device="cpu", continuous_actions=False, seed=0)
    env.reset()
    n_actions = [int(s.n) for s in env.action_space]
    for _ in range(3):
        env.step([torch.randint(0, k, (n,)) for k in n_actions])
    t0 = time.perf_counter()
    for _ in range(steps):
        env.step([torch.randint(0, k, (n,)) for k in n_actions])
    return steps * n / (time.perf_counter() - t0)


def make_runner(scenario: str, n: int, steps: int, activation: str):
    from rllib_marl import MAPPOConfig
    from rllib_marl.batched_runner import BatchedEnvRunner

    cfg = (MAPPOConfig()
           .environment(env_config={"name": f"vmas:{scenario}",
                                    "kwargs": {"num_envs": n, "continuous_actions": False}})
           .env_runners(num_env_runners=0, rollout_fragment_length=steps)
           .training(train_batch_size=steps * n, minibatch_size=min(steps * n, 4096))
           .rl_module(model_config={"hidden": [64, 64], "activation": activation})
           .sampling("batched"))
    cfg.validate()
    runner = BatchedEnvRunner(config=cfg)
    runner.sample()  # warm-up: builds the batched env
    return runner


def ours(runner, steps: int, n: int) -> float:
    t0 = time.perf_counter()
    (rollout,) = runner.sample()
    seconds = time.perf_counter() - t0
    rollout.release()  # as MAPPO's training step does after the learners' update
    return steps * n / seconds


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenarios", default="simple_spread,navigation")
    p.add_argument("--num-envs", default="1,64,256,1024,4096")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--activation", default="relu",
                   help="the module's activation: relu (tuned_examples/mappo/vmas_navigation.yaml) or tanh "
                        "(the library's default, MAPPO paper's)")
    args = p.parse_args()
    counts = [int(x) for x in args.num_envs.split(",")]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; env steps/s, median of "
          f"{args.rounds} rounds; module 64x64 {args.activation}")
    print("| scenario | sub-envs | VMAS alone (random) | VMAS alone, inference mode | ours: batched runner, "
          "MAPPO exploring | ours / VMAS | ours / VMAS in inference mode |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for scenario in args.scenarios.split(","):
        for n in counts:
            steps = max(20, min(1000, STEPS_PER_CALL // n))
            runner = make_runner(scenario, n, steps, args.activation)
            alone, alone_inf, mine, ratio, ratio_inf = [], [], [], [], []
            for _ in range(args.rounds):
                a = vmas_alone(scenario, n, steps)
                ai = vmas_alone(scenario, n, steps, inference=True)
                b = ours(runner, steps, n)
                alone.append(a)
                alone_inf.append(ai)
                mine.append(b)
                ratio.append(b / a)
                ratio_inf.append(b / ai)
            med = statistics.median
            print(f"| {scenario} | {n:,} | {med(alone):,.0f} | {med(alone_inf):,.0f} | {med(mine):,.0f} | "
                  f"{med(ratio):.2f} | {med(ratio_inf):.2f} |", flush=True)
            runner.stop()


if __name__ == "__main__":
    main()
