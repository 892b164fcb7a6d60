"""The cost of one MultiAgentEpisode.add_env_step (3 agents, simple_spread-sized Dict observations):
what an episode per sub-env would cost a batched simulator per step (docs/design.md, "Batched simulators").

Usage: python benchmarks/probes/episode_step_cost.py
"""
import time, numpy as np
from ray.rllib.env.multi_agent_episode import MultiAgentEpisode
agents = ["agent_0", "agent_1", "agent_2"]
obs = {a: {"obs": np.zeros(14, np.float32), "state": np.zeros(42, np.float32)} for a in agents}
eps = [MultiAgentEpisode(agent_module_ids={a: "shared" for a in agents}) for _ in range(200)]
for e in eps: e.add_env_reset(observations=obs, infos={a: {} for a in agents})
ext = {a: {"action_logp": np.float32(0), "action_dist_inputs": np.zeros(9, np.float32)} for a in agents}
t0 = time.perf_counter(); k = 0
for t in range(50):
    for e in eps:
        e.add_env_step(observations=obs, actions={a: 1 for a in agents}, rewards={a: 0.0 for a in agents},
                       infos={a: {} for a in agents}, terminateds={a: False for a in agents}, truncateds={a: False for a in agents},
                       extra_model_outputs=ext); k += 1
print("us per add_env_step (3 agents):", (time.perf_counter() - t0) / k * 1e6)
