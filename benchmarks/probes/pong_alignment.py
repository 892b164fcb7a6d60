"""Does a cooperative-pong policy move its paddle toward the ball?

For checkpoints of a run (a tuned example or probe on cooperative_pong_v6),
plays episodes with uniform random actions (so every policy is scored on the
same kind of states), reads the ball's and each paddle's true height from the
game, and reports

    alignment = mean over steps of (p(down) - p(up)) * sign(ball below paddle)

over the steps where the ball is more than 20 px above or below the paddle's
centre: 0 for a policy that ignores the ball, 1 for one that always moves
toward it (the tracker of docs/benchmarks.md, "Pixels", scores 100 in 10 of 10
episodes). Actions: 0 stay, 1 up, 2 down.

    python benchmarks/probes/pong_alignment.py RUN_DIR [--episodes 20] [--checkpoints final]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def game_of(env):
    from rllib_marl.envs.cycles import wrapper_chain

    for e in wrapper_chain(env.par_env if hasattr(env, "par_env") else env):
        if hasattr(e, "ball") and hasattr(e, "p0"):
            return e
        raw = getattr(e, "unwrapped", None)
        if raw is not None and hasattr(getattr(raw, "env", None), "ball"):
            return raw.env
    raise RuntimeError("no cooperative pong game found under the env")


FAR_PX = 20  # steps where the ball is nearer the paddle's centre are not scored


def ball_offset(game, agent: str) -> float:
    """The ball's centre height minus the agent's paddle's, in px (> 0: the ball is below)."""
    paddle = (game.p0 if agent.endswith("0") else game.p1).rects[0].centery
    return float(game.ball._rect.centery - paddle)


def alignment_of(probs: np.ndarray, offsets: np.ndarray):
    """``(alignment, steps scored)`` of action probabilities (rows: stay, up,
    down) against the ball offsets of the same steps."""
    far = np.abs(offsets) > FAR_PX
    return float(np.mean((probs[far, 2] - probs[far, 1]) * np.sign(offsets[far]))), int(far.sum())


def alignment(module, env, episodes: int, seed: int = 0, only=None):
    """``only``: score just this agent (a module of its own, per_agent sharing)."""
    import torch

    rng = np.random.default_rng(seed)
    probs, offsets = [], []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        game = game_of(env)
        while env.agents:
            agents = list(env.agents)
            batch = {k: torch.as_tensor(np.stack([obs[a][k] for a in agents])) for k in obs[agents[0]]}
            with torch.no_grad():
                logits = module.forward_inference({"obs": batch})["action_dist_inputs"]
            p = torch.softmax(logits, -1).numpy()
            for i, a in enumerate(agents):
                if only is None or a == only:
                    probs.append(p[i])
                    offsets.append(ball_offset(game, a))
            obs, *_ = env.step({a: int(rng.integers(3)) for a in agents})
    return alignment_of(np.stack(probs), np.asarray(offsets))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("run_dir")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--checkpoints", default="*", help="glob of checkpoint names (e.g. final)")
    args = ap.parse_args()
    from ray.rllib.core.rl_module.rl_module import RLModule

    from rllib_marl.config import load_experiment, resolved_env_config
    from rllib_marl.envs.adapter import make_env

    run = Path(args.run_dir).resolve()
    exp = load_experiment(run / "run_config.yaml")
    env = make_env(resolved_env_config(exp))
    cks = sorted(c for c in (run / "checkpoints").glob(args.checkpoints) if (c / "learner_group").is_dir())
    print("| checkpoint | alignment | steps scored |\n|---|---|---|")
    for ck in cks:
        mods = ck / "learner_group" / "learner" / "rl_module"
        for mdir in sorted(d for d in mods.iterdir() if d.is_dir()):
            module = RLModule.from_checkpoint(mdir)
            only = mdir.name if mdir.name in env.possible_agents else None
            score, n = alignment(module, env, args.episodes, only=only)
            print(f"| {ck.name} ({mdir.name}) | {score:+.3f} | {n} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
