"""Who beat whom: a payoff table of wins, draws and losses, and PFSP weights.

Win rate of A against B: ``(wins + draws / 2) / games`` with decayed counts
(each new result of a pairing first multiplies that pairing's counts by
``decay``, as in AlphaStar's league), 0.5 before any game.

Prioritized fictitious self-play (PFSP, AlphaStar) picks an opponent with
probability proportional to ``f(x)``, ``x`` the learner's win rate against it:

* ``squared``: ``(1 - x)^2`` (focus on the opponents it loses to),
* ``variance``: ``x (1 - x)`` (focus on even matches),
* ``linear``: ``1 - x``, ``linear_capped``: ``min(0.5, 1 - x)``,
* ``uniform``: 1 (fictitious self-play).

When every weight is (about) zero — a learner that beats the whole pool — the
choice falls back to uniform instead of dividing 0 by 0.
"""

from __future__ import annotations

from typing import Dict, List, Sequence, Tuple

import numpy as np

PFSP_WEIGHTINGS = ("squared", "variance", "linear", "linear_capped", "uniform")


def pfsp_weight(x: np.ndarray, weighting: str) -> np.ndarray:
    x = np.asarray(x, np.float64)
    if weighting == "squared":
        return (1.0 - x) ** 2
    if weighting == "variance":
        return x * (1.0 - x)
    if weighting == "linear":
        return 1.0 - x
    if weighting == "linear_capped":
        return np.minimum(0.5, 1.0 - x)
    if weighting == "uniform":
        return np.ones_like(x)
    raise ValueError(f"unknown PFSP weighting {weighting!r}; allowed: {', '.join(PFSP_WEIGHTINGS)}")


def pfsp_probabilities(win_rates: Sequence[float], weighting: str) -> np.ndarray:
    """Opponent probabilities from the learner's win rates against each."""
    w = pfsp_weight(np.asarray(win_rates, np.float64), weighting)
    total = w.sum()
    if len(w) == 0:
        return w
    if not np.isfinite(total) or total <= 1e-12:
        return np.full(len(w), 1.0 / len(w))
    return w / total


class PayoffTable:
    """Decayed wins / draws / losses per ordered pair of players."""

    def __init__(self, decay: float = 0.99):
        if not 0.0 < decay <= 1.0:
            raise ValueError(f"decay must be in (0, 1], got {decay}")
        self.decay = float(decay)
        # (player, opponent) -> [wins, draws, losses] from the player's side.
        self.counts: Dict[Tuple[str, str], List[float]] = {}

    def record(self, a: str, b: str, score_a: float) -> None:
        """One game of A against B: ``score_a`` 1 (A won), 0.5 (draw), 0 (B won)."""
        for p, q, s in ((a, b, score_a), (b, a, 1.0 - score_a)):
            c = self.counts.setdefault((p, q), [0.0, 0.0, 0.0])
            c[:] = [v * self.decay for v in c]
            c[0 if s > 0.5 else 1 if s == 0.5 else 2] += 1.0

    def games(self, a: str, b: str) -> float:
        return float(sum(self.counts.get((a, b), (0.0, 0.0, 0.0))))

    def win_rate(self, a: str, b: str) -> float:
        w, d, l = self.counts.get((a, b), (0.0, 0.0, 0.0))
        n = w + d + l
        return 0.5 if n <= 0 else (w + 0.5 * d) / n

    def wdl(self, a: str, b: str) -> Tuple[float, float, float]:
        w, d, l = self.counts.get((a, b), (0.0, 0.0, 0.0))
        return w, d, l

    def overall(self, player: str) -> Tuple[float, float]:
        """``(win rate, games)`` of a player over all its opponents (0.5 before any game)."""
        w = d = n = 0.0
        for (p, _), (wi, di, li) in self.counts.items():
            if p == player:
                w, d, n = w + wi, d + di, n + wi + di + li
        return ((w + 0.5 * d) / n if n else 0.5), n

    def pfsp(self, learner: str, opponents: Sequence[str], weighting: str) -> np.ndarray:
        return pfsp_probabilities([self.win_rate(learner, o) for o in opponents], weighting)

    def get_state(self) -> dict:
        return {"decay": self.decay, "counts": [[a, b, *c] for (a, b), c in sorted(self.counts.items())]}

    @classmethod
    def from_state(cls, state: dict) -> "PayoffTable":
        t = cls(state["decay"])
        t.counts = {(a, b): [w, d, l] for a, b, w, d, l in state["counts"]}
        return t
