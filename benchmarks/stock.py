"""The stock RLlib reference used by the benchmarks.

RLlib 2.60's own PPO with one shared policy on mpe2 simple_spread_v3 (N=3),
through RLlib's ``ParallelPettingZooEnv`` wrapper and its ``MultiAgentEnvRunner``:
lr 3e-4, 10 epochs, minibatch 500, 4000-step batches, RLlib's defaults otherwise.
"""

from __future__ import annotations

ENV_NAME = "stock_spread"


def register_stock_env() -> None:
    from mpe2 import simple_spread_v3
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv
    from ray.tune.registry import register_env

    register_env(
        ENV_NAME,
        lambda cfg: ParallelPettingZooEnv(simple_spread_v3.parallel_env(N=3, max_cycles=25)),
    )


def stock_ppo_config(seed: int = 0, num_env_runners: int = 0, num_envs_per_env_runner: int = 1):
    from ray.rllib.algorithms.ppo import PPOConfig

    register_stock_env()
    return (
        PPOConfig()
        .environment(ENV_NAME)
        .framework("torch")
        .env_runners(num_env_runners=num_env_runners, num_envs_per_env_runner=num_envs_per_env_runner)
        .multi_agent(policies={"shared"}, policy_mapping_fn=lambda aid, *a, **k: "shared")
        .training(lr=3e-4, num_epochs=10, minibatch_size=500, train_batch_size=4000)
        .debugging(seed=seed)
    )
