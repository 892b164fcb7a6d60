"""The quick cases of benchmarks/faults.py (the whole table: docs/faults.md)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))


def test_digest_sees_contents_not_addresses():
    import numpy as np
    from faults import digest

    class Fn:
        def __init__(self, m):
            self.m = m

    a = {"episodes": [{"obs": np.arange(3.0), "fn": Fn({"a": "x"})}]}
    b = {"episodes": [{"obs": np.arange(3.0), "fn": Fn({"a": "x"})}]}
    assert digest(a) == digest(b)
    b["episodes"][0]["obs"][1] = 7.0
    assert digest(a) != digest(b)
    assert digest({"x": np.zeros(2, np.float32)}) != digest({"x": np.zeros(2, np.float64)})


@pytest.mark.slow
@pytest.mark.parametrize("algorithm,case", [("qmix", "driver_sigkill"), ("mappo", "env_raises"),
                                                  ("mappo", "damaged_weights")])
def test_a_run_survives(algorithm, case):
    from faults import run_case

    res = run_case(algorithm, case, iterations=4)  # the docs' table runs 6
    assert res["ok"], res["what"]

