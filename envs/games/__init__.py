"""Small games of our own, all PettingZoo Parallel envs."""

from rllib_marl.envs.games.levers import LeverEnv, lever_game, no_comm_ceiling
from rllib_marl.envs.games.matrix import (
    MatrixGameEnv,
    climbing_game,
    iterated_prisoners_dilemma,
    penalty_game,
    rock_paper_scissors,
)
from rllib_marl.envs.games.quadrant import QuadrantEnv, quadrant_game
from rllib_marl.envs.games.target_sum import TargetSumEnv, target_sum_game
from rllib_marl.envs.games.two_step import TwoStepGameEnv, two_step_game

__all__ = [
    "LeverEnv",
    "lever_game",
    "no_comm_ceiling",
    "MatrixGameEnv",
    "QuadrantEnv",
    "TargetSumEnv",
    "TwoStepGameEnv",
    "climbing_game",
    "iterated_prisoners_dilemma",
    "penalty_game",
    "quadrant_game",
    "rock_paper_scissors",
    "target_sum_game",
    "two_step_game",
]
