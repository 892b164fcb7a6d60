"""Meta-strategies over a league's pool (PSRO): the Nash equilibrium of the
empirical two-player zero-sum game whose pure strategies are the pool's policies.

``M[i, j]`` is what policy ``i`` scores against policy ``j`` (seats averaged);
in a symmetric zero-sum meta-game ``M = -M^T``. The row player's maximin
mixture solves the linear program::

    maximize v  subject to  (x^T M)_j >= v for every j,  sum(x) = 1,  x >= 0

(scipy's HiGHS solver). Its value is 0 in a symmetric game, and no policy of the
pool beats the mixture on average: this is the mixture PSRO trains the next best
response against, and the one whose exploitability in the full game is reported
beside the latest learner's.
"""

from __future__ import annotations

from typing import Tuple

import numpy as np


def maximin(M) -> Tuple[np.ndarray, float]:
    """The row player's maximin mixture of the zero-sum matrix game ``M`` and its value."""
    from scipy.optimize import linprog

    M = np.asarray(M, np.float64)
    n, m = M.shape
    if n == 1:
        return np.ones(1), float(M[0].min())
    # variables (x_1..x_n, v); minimize -v
    c = np.zeros(n + 1)
    c[-1] = -1.0
    A_ub = np.hstack([-M.T, np.ones((m, 1))])  # v - (x^T M)_j <= 0
    b_ub = np.zeros(m)
    A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
    bounds = [(0.0, None)] * n + [(None, None)]
    res = linprog(c, A_ub=A_ub, b_ub=b_ub, A_eq=A_eq, b_eq=[1.0], bounds=bounds, method="highs")
    if not res.success:  # pragma: no cover - a bounded LP with a feasible point always solves
        raise RuntimeError(f"meta-game LP failed: {res.message}")
    x = np.clip(res.x[:n], 0.0, None)
    return x / x.sum(), float(res.x[-1])


def symmetric_nash(M) -> np.ndarray:
    """A Nash mixture of a symmetric zero-sum meta-game (``M = -M^T``, checked up
    to rounding): the maximin mixture, which both seats may play."""
    M = np.asarray(M, np.float64)
    if M.shape[0] != M.shape[1] or not np.allclose(M, -M.T, atol=1e-6):
        raise ValueError("a symmetric zero-sum meta-game needs a square matrix with M = -M^T")
    return maximin(M)[0]
