"""Scripted tic-tac-toe players, for scoring trained agents on PettingZoo's
``tictactoe_v3``: uniformly random, a one-ply heuristic and an exact minimax player.

A board is PettingZoo's ``board.squares``: 9 cells, row-major, 0 empty, 1 the
first player's mark, 2 the second's; a move is the index of an empty cell (the
env's action). ``me`` is the mark of the player to move (1 or 2).
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
