"""The league: learners, frozen snapshots, matchmaking and results (no Ray).

Players are **learners** (trained modules) and **snapshots** (frozen copies of
a learner, named ``<learner>@<n>``). Roles, as in AlphaStar's league:

* ``main``: plays itself (``self_play``), PFSP over every snapshot (``pfsp``),
  and PFSP over its own past snapshots (``verification``);
* ``main_exploiter``: plays the current main agents (PFSP over their snapshots
  while it wins less than 10% against them); reset to its initial weights
  whenever it is snapshotted;
* ``league_exploiter``: PFSP (linear-capped) over every snapshot; reset with
  probability ``league_exploiter_reset`` when snapshotted.

Naive self-play is ``self_play: 1`` (the latest self only); fictitious
self-play is ``pfsp: 1`` with ``pfsp_weighting: uniform`` (uniform over the
pool); PSRO is ``pfsp: 1`` with ``pfsp_weighting: nash``: opponents drawn from
the pool's meta-strategy (:attr:`League.meta`, the Nash mixture of the
meta-game between the snapshots, which the driver solves after every snapshot:
exact for OpenSpiel games, from the payoff table's win rates otherwise, a new
snapshot starting with its learner's record). All are settings of the same
machinery.

``pool_size`` > 0 keeps only the most recent snapshots in the matchmaking pool
(older ones are retired: never drawn again, still in the ratings and the league
table; the driver then removes their modules from the env runners, once no
episode in flight uses them, and from the learners: ``Player.loaded``). A pool
of all history lets early, poor snapshots weigh on the mixture the learner
trains against for a long time (their share falls as 1/n); a bounded pool
forgets them, and keeps a run's cost per iteration from growing with its
history (docs/benchmarks.md, "League cost against pool size").

A match-up is decided once per episode by :func:`stable_choice` of the episode
id and the league's ``version`` (bumped whenever the pool changes), so every
seat of an episode, on every env runner, gets the same answer, and the answer
is reproducible from the league state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

from rllib_marl.league.matchmaking import stable_choice, stable_uniform
from rllib_marl.league.payoff import PFSP_WEIGHTINGS, PayoffTable
from rllib_marl.league.ratings import Elo
from rllib_marl.schema import bounded, choices, field_problem


# Opponent weightings: PFSP's functions of the win rate, and "nash": the pool's
# meta-strategy (PSRO), the Nash mixture of the meta-game between the pool's
# snapshots, set by the driver after each snapshot (League.meta).
WEIGHTINGS = PFSP_WEIGHTINGS + ("nash",)

ROLES = ("main", "main_exploiter", "league_exploiter")
SNAPSHOT_SEP = "@"


@dataclass
class LeagueConfig:
    """The ``league:`` block of an experiment."""

    mains: int = bounded(1, ge=1)
    main_exploiters: int = bounded(0, ge=0)
    league_exploiters: int = bounded(0, ge=0)
    # The main agents' opponents (probabilities; normalized; not all 0: see check()).
    self_play: float = bounded(0.35, ge=0)
    pfsp: float = bounded(0.5, ge=0)
    verification: float = bounded(0.15, ge=0)
    pfsp_weighting: str = choices(*WEIGHTINGS, default="squared")
    exploiter_pfsp_weighting: str = choices(*WEIGHTINGS, default="linear_capped")
    # Snapshots: every K iterations (0: never by count) and/or when a learner's
    # win rate against its opponents reaches this (evaluation games).
    snapshot_every: int = bounded(0, ge=0)
    snapshot_win_rate: float = bounded(0.7, ge=0, le=1)
    min_games_for_snapshot: int = bounded(20, ge=0)
    league_exploiter_reset: float = bounded(0.25, ge=0, le=1)
    payoff_decay: float = bounded(0.99, gt=0, le=1)
    elo_k: float = bounded(16.0, gt=0)
    pool_size: int = bounded(0, ge=0)  # most recent snapshots in matchmaking (0: all)

    def check(self) -> List[Tuple[str, str]]:
        """``(key, problem)`` pairs; empty when the block is valid."""
        errors = [(f.name, problem) for f in dataclasses.fields(self)
                  for problem in [field_problem(f, getattr(self, f.name))] if problem]
        mix = (self.self_play, self.pfsp, self.verification)
        if not errors and sum(mix) <= 0:
            errors.append(("self_play", "self_play, pfsp and verification must not all be 0"))
        return errors


@dataclass
class Player:
    name: str
    role: str
    learner: bool  # trained (False: a frozen snapshot)
    source: Optional[str] = None  # a snapshot's learner
    iteration: int = 0  # when it was taken (snapshots) / last reset (learners)
    snapshots: int = 0  # learners: how many snapshots taken so far
    active: bool = True  # snapshots: still in the matchmaking pool (see pool_size)
    loaded: bool = True  # snapshots: still a module on the learners and env runners


@dataclass
class Matchup:
    learner: str  # the trained player this episode is for
    opponent: str  # a learner (self-play or exploiters) or a snapshot
    learner_seat: int  # 0 or 1: which side the learner plays


class League:
    """League state and decisions (see module docstring)."""

    def __init__(self, config: LeagueConfig, seed: int = 0):
        errors = config.check()
        if errors:
            raise ValueError("; ".join(f"league.{k}: {m}" for k, m in errors))
        self.config = config
        self.seed = int(seed)
        self.version = 0
        self.players: Dict[str, Player] = {}
        self._meta: Dict[str, float] = {}  # the pool's meta-strategy (weighting "nash"), by snapshot
        self._pfsp_cache: Dict[Tuple, np.ndarray] = {}  # opponent weights, until the state changes
        for role, count in (("main", config.mains), ("main_exploiter", config.main_exploiters),
                            ("league_exploiter", config.league_exploiters)):
            for i in range(count):
                name = f"{role}_{i}"
                self.players[name] = Player(name, role, learner=True)
        self.payoff = PayoffTable(config.payoff_decay)
        self.elo = Elo(config.elo_k)

    # ----- players ---------------------------------------------------------------------

    @property
    def learners(self) -> List[str]:
        return [p.name for p in self.players.values() if p.learner]

    @property
    def meta(self) -> Dict[str, float]:
        return self._meta

    @meta.setter
    def meta(self, value: Dict[str, float]) -> None:
        self._meta = dict(value)
        self._pfsp_cache.clear()

    @property
    def snapshots(self) -> List[str]:
        """The snapshots that are modules on the learners and runners (the pool, and
        retired ones not yet removed)."""
        return [p.name for p in self.players.values() if not p.learner and p.loaded]

    @property
    def retired_loaded(self) -> List[str]:
        """Retired snapshots whose modules are still loaded (to be removed)."""
        return [p.name for p in self.players.values() if not p.learner and p.loaded and not p.active]

    @property
    def pool(self) -> List[str]:
        """The snapshots matchmaking draws from (all but the retired)."""
        return [p.name for p in self.players.values() if not p.learner and p.active]

    def _of_role(self, role: str) -> List[str]:
        return [p.name for p in self.players.values() if p.learner and p.role == role]

    def _snapshots_of(self, sources: List[str]) -> List[str]:
        return [p.name for p in self.players.values() if not p.learner and p.active and p.source in sources]

    # ----- matchmaking -----------------------------------------------------------------

    def matchup(self, episode_id: str) -> Matchup:
        """The match-up of one episode: a function of the episode id and the state."""
        key = (self.seed, self.version, str(episode_id))
        learners = self.learners
        learner = stable_choice(learners, [1.0] * len(learners), *key, "learner")
        opponent = self._opponent(learner, key)
        seat = int(stable_uniform(*key, "seat") < 0.5)
        return Matchup(learner, opponent, seat)

    def _pfsp(self, learner: str, pool: List[str], weighting: str, key) -> str:
        ck = (learner, weighting, tuple(pool))
        w = self._pfsp_cache.get(ck)
        if w is None:  # the same for every episode until a game, a snapshot or the meta-strategy changes it
            if weighting == "nash":
                w = [self.meta.get(o, 0.0) for o in pool]
                w = w if sum(w) > 0 else [1.0] * len(pool)
            else:
                w = self.payoff.pfsp(learner, pool, weighting)
            w = self._pfsp_cache[ck] = np.asarray(w, np.float64)
        return stable_choice(pool, w, *key, "pfsp")

    @property
    def wants_meta(self) -> bool:
        """Whether matchmaking reads the meta-strategy."""
        return "nash" in (self.config.pfsp_weighting, self.config.exploiter_pfsp_weighting)

    def payoff_meta_game(self, pool: List[str]) -> np.ndarray:
        """The meta-game between pool members from the payoff table:
        ``M[i, j] = 2 * win_rate(i, j) - 1`` (0 for a pair that never met)."""
        return np.array([[2.0 * self.payoff.win_rate(a, b) - 1.0 for b in pool] for a in pool])

    def _opponent(self, learner: str, key) -> str:
        c = self.config
        role = self.players[learner].role
        everyone = self.pool
        if role == "main":
            sources = ["self_play", "pfsp", "verification"]
            probs = [c.self_play, c.pfsp if everyone else 0.0,
                     c.verification if self._snapshots_of([learner]) else 0.0]
            if sum(probs) <= 0:
                return learner
            kind = stable_choice(sources, probs, *key, "source")
            if kind == "self_play":
                return learner
            pool = everyone if kind == "pfsp" else self._snapshots_of([learner])
            return self._pfsp(learner, pool, c.pfsp_weighting, key)
        if role == "main_exploiter":
            mains = self._of_role("main")
            target = stable_choice(mains, [1.0] * len(mains), *key, "main")
            past = self._snapshots_of([target])
            if past and self.payoff.games(learner, target) >= c.min_games_for_snapshot \
                    and self.payoff.win_rate(learner, target) < 0.1:
                return self._pfsp(learner, past, "variance", key)
            return target
        # league exploiter
        if not everyone:
            mains = self._of_role("main")
            return stable_choice(mains, [1.0] * len(mains), *key, "main")
        return self._pfsp(learner, everyone, c.exploiter_pfsp_weighting, key)

    # ----- results ---------------------------------------------------------------------

    def record(self, a: str, b: str, score_a: float) -> None:
        """One finished game: ``score_a`` 1 (A won), 0.5 (draw), 0 (B won)."""
        if a == b:  # self-play: nothing to learn about relative strength
            return
        self._pfsp_cache.clear()
        self.payoff.record(a, b, score_a)
        self.elo.update(a, b, score_a)

    def win_rate_against_pool(self, learner: str) -> Tuple[float, float]:
        """``(win rate, games)`` of a learner over its opponents in the payoff table."""
        return self.payoff.overall(learner)

    # ----- snapshots -------------------------------------------------------------------

    def snapshot_due(self, learner: str, iteration: int) -> bool:
        c = self.config
        p = self.players[learner]
        if c.snapshot_every and iteration - p.iteration >= c.snapshot_every:
            return True
        rate, games = self.win_rate_against_pool(learner)
        return games >= c.min_games_for_snapshot and rate >= c.snapshot_win_rate and bool(self.pool)

    def add_snapshot(self, learner: str, iteration: int) -> Tuple[str, bool]:
        """Adds a frozen copy of ``learner``: returns ``(snapshot name, reset learner?)``.

        The caller copies the weights (and resets the learner when asked). The
        snapshot starts with the learner's Elo rating.
        """
        p = self.players[learner]
        p.snapshots += 1
        name = f"{learner}{SNAPSHOT_SEP}{p.snapshots}"
        self.players[name] = Player(name, p.role, learner=False, source=learner, iteration=iteration)
        self.elo.ratings[name] = self.elo.rating(learner)
        # The snapshot is the learner as it is now: it starts with the learner's record
        # against everyone else still in play (the meta-game's row of a new pool member;
        # retired snapshots are left out, or the table would grow as the square of history).
        in_play = set(self.learners) | set(self.pool)
        for (a, b), c in list(self.payoff.counts.items()):
            if a == learner and b != name and b in in_play:
                self.payoff.counts[(name, b)] = list(c)
                self.payoff.counts[(b, name)] = [c[2], c[1], c[0]]
        reset = p.role == "main_exploiter" or (
            p.role == "league_exploiter"
            and stable_uniform(self.seed, name, "reset") < self.config.league_exploiter_reset)
        p.iteration = iteration
        self._pfsp_cache.clear()
        if self.config.pool_size:
            for old in self.pool[: max(0, len(self.pool) - self.config.pool_size)]:
                self.players[old].active = False  # oldest first (players keep insertion order)
        self.version += 1
        return name, reset

    # ----- state -----------------------------------------------------------------------

    def get_state(self) -> dict:
        return {
            "config": dataclasses.asdict(self.config),
            "seed": self.seed,
            "version": self.version,
            "players": [dataclasses.asdict(p) for p in self.players.values()],
            "payoff": self.payoff.get_state(),
            "elo": self.elo.get_state(),
            "meta": dict(self.meta),
        }

    def matchmaking_state(self) -> dict:
        """:meth:`get_state` with only what match-ups read (learners, the pool, their
        payoff entries, the meta-strategy): what the env runners' mapping carries,
        of a size that does not grow with retired snapshots."""
        keep = set(self.learners) | set(self.pool)
        state = self.get_state()
        state["players"] = [p for p in state["players"] if p["name"] in keep]
        state["payoff"]["counts"] = [c for c in state["payoff"]["counts"] if c[0] in keep and c[1] in keep]
        state["elo"] = Elo(self.config.elo_k).get_state()
        state["meta"] = {k: v for k, v in state["meta"].items() if k in keep}
        return state

    @classmethod
    def from_state(cls, state: dict) -> "League":
        league = cls(LeagueConfig(**state["config"]), state["seed"])
        league.version = state["version"]
        league.players = {p["name"]: Player(**p) for p in state["players"]}
        league.payoff = PayoffTable.from_state(state["payoff"])
        league.elo = Elo.from_state(state["elo"])
        league.meta = dict(state.get("meta") or {})
        return league


