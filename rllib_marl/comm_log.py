"""Who listens to whom: one greedy episode's messages, for ``evaluate --comm-log``.

Plays one episode in this process with the run's modules (torch, no Ray) and
records, for every env step, team and round of exchange, the links (who could
hear whom after message dropout), the weight each receiver gave each sender
(TarMAC: its attention; CommNet: the mean, 1/k over the k senders it heard) and
the size of what each received. Written as JSON, with the weights averaged
over the episode, and printed as a listener x speaker table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List

import numpy as np

EPISODE_SEED_OFFSET = 1_000_000  # as evaluate's env runners (RLlib's evaluation seeding)


def _greedy(module, obs_rows: List[Dict[str, np.ndarray]], states):
    import torch
    from ray.rllib.core.columns import Columns

    batch = {Columns.OBS: {k: torch.as_tensor(np.stack([o[k] for o in obs_rows])) for k in obs_rows[0]}}
    recurrent = bool(states and states[0])
    if recurrent:
        batch[Columns.OBS] = {k: v.unsqueeze(1) for k, v in batch[Columns.OBS].items()}
        batch[Columns.STATE_IN] = {k: torch.as_tensor(np.stack([s[k] for s in states])) for k in states[0]}
    with torch.no_grad():
        out = module.forward_inference(batch)
        logits = out[Columns.ACTION_DIST_INPUTS]
        if recurrent:
            logits = logits.squeeze(1)
        dist = module.get_inference_action_dist_cls().from_logits(logits).to_deterministic()
        actions = dist.sample().numpy()
    new_states = ([{k: v[i].numpy() for k, v in out[Columns.STATE_OUT].items()} for i in range(len(obs_rows))]
                  if recurrent else [{}] * len(obs_rows))
    return actions, new_states


def _exchange(module, row: Dict[str, np.ndarray]):
    """Per round: (weights receiver x sender, norm of what each member received)."""
    import torch

    from rllib_marl.envs.observations import COMM_LINKS, TEAM_OBS

    with torch.no_grad():
        _, trace = module.comm.exchange(torch.as_tensor(row[TEAM_OBS]), torch.as_tensor(row[COMM_LINKS]))
    return [(t["weights"].numpy(), t["received"].norm(dim=-1).numpy()) for t in trace]


def message_log(plan) -> Dict[str, Any]:
    from rllib_marl.config import resolved_env_config
    from rllib_marl.envs.adapter import make_env
    from rllib_marl.envs.observations import COMM_LINKS
    from rllib_marl.eval_plan import eval_module_id

    exp = plan.main.exp
    cfg = resolved_env_config(exp)
    cfg.comm_dropout = plan.comm_dropout
    env = make_env(cfg)
    seed = plan.seed + EPISODE_SEED_OFFSET
    module_of = {a: eval_module_id(src, mid) for a, (src, mid) in plan.seats.items()}
    teams = {f"team_{i}": members for i, members in enumerate(env.comm_teams)}
    states = {a: plan.modules[module_of[a]].get_initial_state() for a in env.possible_agents}
    obs, _ = env.reset(seed=seed)
    steps, returns, t = [], {a: 0.0 for a in env.possible_agents}, 0
    try:
        while obs:
            for name, members in teams.items():
                present = [a for a in members if a in obs]
                if not present:
                    continue
                module = plan.modules[module_of[present[0]]]
                if getattr(module, "comm", None) is None:  # cross-play: a seat played without messages
                    continue
                rounds = _exchange(module, obs[present[0]])
                steps.append({
                    "t": t, "team": name,
                    "links": obs[present[0]][COMM_LINKS].tolist(),
                    "weights": [w.astype(float).round(4).tolist() for w, _ in rounds],
                    "received_norm": [n.astype(float).round(4).tolist() for _, n in rounds],
                })
            actions = {}
            for mid in sorted({module_of[a] for a in obs}):
                agents = [a for a in obs if module_of[a] == mid]
                acts, new = _greedy(plan.modules[mid], [obs[a] for a in agents], [states[a] for a in agents])
                for a, act, s in zip(agents, acts, new):
                    actions[a] = act.item() if np.ndim(act) == 0 else act
                    states[a] = s
            obs, rewards, terms, truncs, _ = env.step(actions)
            for a, r in rewards.items():
                returns[a] += float(r)
            t += 1
            if terms.get("__all__") or truncs.get("__all__"):
                break
    finally:
        env.close()
    mean = {}
    for name in teams:
        ws = [np.array(s["weights"]) for s in steps if s["team"] == name]
        if ws:
            mean[name] = np.mean(ws, axis=0).round(4).tolist()
    return {"env": exp.env.label, "comm": exp.comm.type, "rounds": exp.comm.rounds, "dropout": plan.comm_dropout,
            "episode_seed": seed, "length": t, "returns": returns, "teams": teams,
            "mean_weights": mean, "steps": steps,
            "about": "weights[round][receiver][sender], members in each team's order; links[r][s] = 1 when r "
                     "heard s in that step; received_norm[round][member]: the size of what it received"}


def listening_table(log: Dict[str, Any]) -> str:
    lines = []
    for name, members in log["teams"].items():
        if name not in log["mean_weights"]:
            continue
        w = np.array(log["mean_weights"][name])[-1]
        lines.append(f"{name}: mean weight a listener (row) gave a speaker (column) in the last round, "
                     f"over {log['length']} steps")
        width = max(len(a) for a in members) + 2
        lines.append(" " * width + "".join(f"{a:>{width}}" for a in members))
        for i, a in enumerate(members):
            lines.append(f"{a:<{width}}" + "".join(f"{x:>{width}.2f}" for x in w[i]))
    return "\n".join(lines)


def write_message_log(plan, path: Path) -> str:
    """Writes :func:`message_log` to ``path``; returns the text to print."""
    from rllib_marl.report import write_json

    log = message_log(plan)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, log)
    return f"{listening_table(log)}\nmessage log: {path}"
