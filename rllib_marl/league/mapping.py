"""The league's agent → module mapping, decided once per episode.

RLlib calls ``policy_mapping_fn(agent_id, episode)`` for each agent when it
first appears, in whichever env runner plays the episode. A
:class:`LeagueMapping` carries a copy of the league state and answers from the
episode's match-up (:meth:`League.matchup` of the episode id), so both seats of
one episode agree and every runner holding the same league version decides the
same; it keeps no counters. The driver sends a new one whenever the league
changes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Dict, Sequence

from rllib_marl.envs.spec import agent_prefix
from rllib_marl.league.league import League


def seats_of(agents: Sequence[str], teams: str) -> Dict[str, int]:
    """Seat (0 or 1) of each agent: the two agents of a two-player game in sorted
    order (``teams`` ``one``, ``per_agent`` or ``auto``), or the two teams
    (``teams: by_prefix``) in sorted order of their prefix."""
    agents = sorted(agents)
    if teams == "by_prefix":
        sides = sorted({agent_prefix(a) for a in agents})
        if len(sides) != 2:
            raise ValueError(f"a league needs exactly two teams; the agents {agents} form {len(sides)}: {sides}")
        return {a: sides.index(agent_prefix(a)) for a in agents}
    if len(agents) != 2:
        raise ValueError(f"a league needs a two-player game or env.teams: by_prefix with two teams; "
                         f"the env has {len(agents)} agents: {agents}")
    return {a: i for i, a in enumerate(agents)}


class LeagueMapping:
    """Picklable ``policy_mapping_fn`` for league play (see module docstring)."""

    CACHE = 4096  # match-ups remembered (episodes in flight on one runner are far fewer)

    def __init__(self, league_state: Dict[str, Any], seats: Dict[str, int]):
        self.league_state = league_state
        self.seats = dict(seats)
        self._league = None
        self._cache: "OrderedDict[str, Any]" = OrderedDict()

    def matchup(self, episode_id: str):
        m = self._cache.get(episode_id)
        if m is None:
            if self._league is None:
                self._league = League.from_state(self.league_state)
            m = self._league.matchup(episode_id)
            self._cache[episode_id] = m
            if len(self._cache) > self.CACHE:
                self._cache.popitem(last=False)
        return m

    def __call__(self, agent_id, episode=None, **kwargs) -> str:
        if episode is None:
            raise ValueError("the league's mapping needs the episode (RLlib passes it on the new API stack)")
        m = self.matchup(str(episode.id_))
        return m.learner if self.seats[agent_id] == m.learner_seat else m.opponent

    def __getstate__(self):
        return {"league_state": self.league_state, "seats": self.seats}

    def __setstate__(self, state):
        self.__init__(state["league_state"], state["seats"])
