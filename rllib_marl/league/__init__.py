"""Self-play league: payoff table, PFSP, Elo ratings, exploitability, matchmaking.

The pieces here are plain Python and numpy (no Ray), so they are tested on
their own; the league callback that trains with them builds on these.
"""
