"""Elo ratings from match results."""

from __future__ import annotations

from typing import Dict, Iterable, Tuple

ELO_SCALE = 400.0
DEFAULT_RATING = 1200.0


def expected_score(rating_a: float, rating_b: float) -> float:
    """Expected score of A against B (win 1, draw 0.5, loss 0)."""
    return 1.0 / (1.0 + 10.0 ** ((rating_b - rating_a) / ELO_SCALE))


class Elo:
    """Elo ratings of every player, updated game by game.

    Args:
        k: the K-factor (rating points moved by a fully unexpected result).
        initial: the rating of a player before its first game.
    """

    def __init__(self, k: float = 16.0, initial: float = DEFAULT_RATING):
        self.k = float(k)
        self.initial = float(initial)
        self.ratings: Dict[str, float] = {}

    def rating(self, player: str) -> float:
        return self.ratings.get(player, self.initial)

    def update(self, a: str, b: str, score_a: float) -> Tuple[float, float]:
        """One game: ``score_a`` is 1 (A won), 0.5 (draw) or 0 (B won). Returns the
        new ratings; the points A gains B loses."""
        if not 0.0 <= score_a <= 1.0:
            raise ValueError(f"score_a must be in [0, 1], got {score_a}")
        ra, rb = self.rating(a), self.rating(b)
        delta = self.k * (score_a - expected_score(ra, rb))
        self.ratings[a], self.ratings[b] = ra + delta, rb - delta
        return self.ratings[a], self.ratings[b]

    def update_many(self, games: Iterable[Tuple[str, str, float]]) -> None:
        for a, b, s in games:
            self.update(a, b, s)

    def get_state(self) -> dict:
        return {"k": self.k, "initial": self.initial, "ratings": dict(self.ratings)}

    @classmethod
    def from_state(cls, state: dict) -> "Elo":
        elo = cls(state["k"], state["initial"])
        elo.ratings = dict(state["ratings"])
        return elo
