"""Can the actor's network read "where is the ball, relative to my paddle" from
cooperative pong's frames at all?

Supervised, not RL: play episodes in which each paddle follows a tracker (move
toward the ball's row, read from the game) half of the time and acts at random
otherwise; label every frame with the tracker's action for that paddle, and
fit the actor's architecture (our ObsEncoder CNN, the agent id, an MLP) to the
labels by cross-entropy. Prints held-out accuracy and alignment (as in
pong_alignment.py: (p(down) - p(up)) * sign(ball below paddle), where the ball
is more than 20 px away) after each pass. If this is quick, the frames carry
what the policy needs and the RL signal is what is missing.

    python benchmarks/probes/pong_imitation.py [--config tuned_examples/ippo/cooperative_pong.yaml]
        [--cnn '[[16,4,2],[32,4,2],[32,3,1]]'] [--steps 10000] [--epochs 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks" / "probes"))


def tracker_action(game, agent: str) -> tuple[int, float]:
    from pong_alignment import ball_offset

    dy = ball_offset(game, agent)
    return (2 if dy > 6 else 1 if dy < -6 else 0), dy


def collect(env, steps: int, seed: int = 0):
    from pong_alignment import game_of

    rng = np.random.default_rng(seed)
    obs_l, id_l, y_l, dy_l = [], [], [], []
    n, ep = 0, 0
    while n < steps:
        obs, _ = env.reset(seed=seed + ep)
        ep += 1
        game = game_of(env)
        while env.agents and n < steps:
            acts = {}
            for a in env.agents:
                label, dy = tracker_action(game, a)
                obs_l.append(obs[a]["obs"])
                id_l.append(obs[a]["agent_id"])
                y_l.append(label)
                dy_l.append(dy)
                acts[a] = label if rng.random() < 0.5 else int(rng.integers(3))
            obs, *_ = env.step(acts)
            n += 1
    return np.stack(obs_l), np.stack(id_l), np.asarray(y_l), np.asarray(dy_l)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default=str(ROOT / "tuned_examples" / "ippo" / "cooperative_pong.yaml"))
    ap.add_argument("--cnn", default=None, help="cnn layers as JSON; default: the config's")
    ap.add_argument("--steps", type=int, default=10000)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--lr", type=float, default=1e-3)
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F

    from rllib_marl.config import load_experiment, resolved_env_config
    from rllib_marl.envs.adapter import make_env
    from pong_alignment import alignment_of

    from rllib_marl.policies.nets import ObsEncoder, mlp

    exp = load_experiment(Path(args.config))
    env = make_env(resolved_env_config(exp))
    t0 = time.time()
    X, I, Y, D = collect(env, args.steps)
    print(f"collected {len(Y)} frames in {time.time() - t0:.0f} s; labels stay/up/down "
          f"{np.bincount(Y, minlength=3) / len(Y)}", flush=True)
    cnn = json.loads(args.cnn) if args.cnn else exp.model.cnn_layers
    space = env.observation_spaces[env.possible_agents[0]]["obs"]
    torch.manual_seed(0)
    enc = ObsEncoder(space, cnn)
    head = mlp(enc.out_dim + I.shape[1], list(exp.model.hidden), exp.model.activation, out_dim=3, out_gain=0.01)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=args.lr)
    n_test = len(Y) // 5
    Xt, It, Yt = (torch.as_tensor(a) for a in (X, I, Y))
    test = slice(0, n_test)  # held out; the rest is trained on

    def logits(rows):  # a slice or an index tensor
        return head(torch.cat([enc(Xt[rows]), It[rows].float()], -1))

    for epoch in range(args.epochs + 1):
        if epoch:
            perm = torch.randperm(len(Y) - n_test) + n_test
            for b in range(0, len(perm), 256):
                idx = perm[b:b + 256]
                loss = F.cross_entropy(logits(idx), Yt[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
        with torch.no_grad():
            lg = logits(test)
            p = torch.softmax(lg, -1)
            acc = (lg.argmax(-1) == Yt[test]).float().mean().item()
            align, _ = alignment_of(p.numpy(), D[test])
        print(f"pass {epoch}: held-out accuracy {acc:.3f}, alignment {align:+.3f} "
              f"({time.time() - t0:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
