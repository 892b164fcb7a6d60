"""Scripted tic-tac-toe players, for scoring trained agents on PettingZoo's
``tictactoe_v3``: uniformly random, a one-ply heuristic and an exact minimax player.

A board is PettingZoo's ``board.squares``: 9 cells, row-major, 0 empty, 1 the
first player's mark, 2 the second's; a move is the index of an empty cell (the
env's action). ``me`` is the mark of the player to move (1 or 2).

:func:`play` runs one game between an agent (a callable on the adapter's
observation, e.g. :class:`ModulePlayer`) and one of these players, through the
env adapter the agent trained on; :func:`score` tallies games per opponent and seat.
"""

from __future__ import annotations

import functools
from typing import List, Sequence, Tuple

import numpy as np

LINES = ((0, 1, 2), (3, 4, 5), (6, 7, 8), (0, 3, 6), (1, 4, 7), (2, 5, 8), (0, 4, 8), (2, 4, 6))


def empty_cells(board: Sequence[int]) -> List[int]:
    return [i for i, v in enumerate(board) if v == 0]


def winner(board: Sequence[int]) -> int:
    """1 or 2 for a completed line, 0 otherwise."""
    for a, b, c in LINES:
        if board[a] and board[a] == board[b] == board[c]:
            return int(board[a])
    return 0


def _completing(board: Sequence[int], mark: int) -> List[int]:
    """Empty cells that would complete a line of ``mark``."""
    out = []
    for line in LINES:
        vals = [board[i] for i in line]
        if vals.count(mark) == 2 and vals.count(0) == 1:
            out.append(line[vals.index(0)])
    return sorted(set(out))


def random_move(board: Sequence[int], me: int, rng: np.random.Generator) -> int:
    return int(rng.choice(empty_cells(board)))


def heuristic_move(board: Sequence[int], me: int, rng: np.random.Generator) -> int:
    """Win if possible, else block the opponent's win, else random."""
    win = _completing(board, me)
    if win:
        return int(rng.choice(win))
    block = _completing(board, 3 - me)
    if block:
        return int(rng.choice(block))
    return random_move(board, me, rng)


@functools.lru_cache(maxsize=None)
def _solve(board: Tuple[int, ...], me: int) -> Tuple[int, Tuple[int, ...]]:
    """``(value for the player to move, its optimal moves)``: value 1 win, 0 draw,
    -1 loss under perfect play by both."""
    w = winner(board)
    if w:
        return (1 if w == me else -1), ()
    cells = empty_cells(board)
    if not cells:
        return 0, ()
    best, moves = -2, []
    for i in cells:
        nxt = list(board)
        nxt[i] = me
        v = -_solve(tuple(nxt), 3 - me)[0]
        if v > best:
            best, moves = v, [i]
        elif v == best:
            moves.append(i)
    return best, tuple(moves)


def game_value(board: Sequence[int], me: int) -> int:
    """The game's value for the player to move under perfect play."""
    return _solve(tuple(int(v) for v in board), int(me))[0]


def minimax_move(board: Sequence[int], me: int, rng: np.random.Generator) -> int:
    """An optimal move (ties broken at random): never loses."""
    return int(rng.choice(_solve(tuple(int(v) for v in board), int(me))[1]))


PLAYERS = {"random": random_move, "heuristic": heuristic_move, "minimax": minimax_move}


class ModulePlayer:
    """Greedy moves of a trained RLModule (the most probable legal move), fed the
    adapter's observations."""

    def __init__(self, module):
        self.module = module

    def __call__(self, obs) -> int:
        import torch
        from ray.rllib.core.columns import Columns

        batch = {Columns.OBS: {k: torch.as_tensor(np.asarray(v)[None]) for k, v in obs.items()}}
        with torch.no_grad():
            logits = self.module.forward_inference(batch)[Columns.ACTION_DIST_INPUTS][0].numpy()
        logits = np.where(np.asarray(obs["action_mask"]) > 0.5, logits, -np.inf)  # legal moves only
        return int(np.argmax(logits))


def play(agent, opponent, agent_seat: int, rng: np.random.Generator, env) -> int:
    """One game on ``env`` (``rllib_marl.envs.adapter.make_env`` of tictactoe_v3):
    +1 the agent won, 0 draw, -1 lost. ``agent_seat`` 0 moves first."""
    obs, _ = env.reset(seed=int(rng.integers(2**31)))
    agents = env.possible_agents  # sorted: player_1 moves first (seat 0)
    mine = agents[agent_seat]
    board = env.env.unwrapped.board
    ret = {a: 0.0 for a in agents}
    while True:
        (who, o), = obs.items()
        if who == mine:
            move = agent(o)
        else:
            move = opponent(list(board.squares), agents.index(who) + 1, rng)
        obs, rewards, terms, truncs, _ = env.step({who: move})
        for a, r in rewards.items():
            ret[a] += r
        if terms.get("__all__") or truncs.get("__all__"):
            break
    other = agents[1 - agent_seat]
    return int(np.sign(ret[mine] - ret[other]))


def score(agent, games: int, rng: np.random.Generator) -> dict:
    """``{"<player>/<first|second>": {"win", "draw", "loss"}}``: ``games`` games
    against each scripted player from each seat (the agent's seat named)."""
    from rllib_marl.envs.adapter import make_env

    env = make_env({"name": "pettingzoo.classic.tictactoe_v3"})
    out = {}
    try:
        for name, opponent in PLAYERS.items():
            for seat, label in ((0, "first"), (1, "second")):
                scores = [play(agent, opponent, seat, rng, env) for _ in range(games)]
                out[f"{name}/{label}"] = {"win": scores.count(1), "draw": scores.count(0),
                                          "loss": scores.count(-1)}
    finally:
        env.close()
    return out
