"""Episode means across iterations in which no episode ended."""

import math

from rllib_marl.metrics import AGENT_RETURN, TEAM_RETURN, carry_last_episodes


def test_an_iteration_without_a_finished_episode_keeps_the_last_episode_means():
    carried = carry_last_episodes({TEAM_RETURN: 1.5, AGENT_RETURN: {"a": 1.0, "b": 2.0}}, {})
    quiet = {TEAM_RETURN: math.nan, AGENT_RETURN: {"a": math.nan, "b": math.nan}}
    carried = carry_last_episodes(quiet, carried)
    assert quiet[TEAM_RETURN] == 1.5 and quiet[AGENT_RETURN] == {"a": 1.0, "b": 2.0}
    fresh = {TEAM_RETURN: 2.5, AGENT_RETURN: {"a": 2.0, "b": 3.0}}
    carry_last_episodes(fresh, carried)
    assert fresh[TEAM_RETURN] == 2.5


def test_nothing_is_made_up_before_the_first_episode_or_where_a_value_is_never_logged():
    first = {TEAM_RETURN: math.nan, AGENT_RETURN: {}}
    carried = carry_last_episodes(first, {})
    assert math.isnan(first[TEAM_RETURN]) and carried == {}
