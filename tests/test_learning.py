"""Learning tests: thresholds the algorithms really reach on these budgets.

Thresholds come from measured runs (see the tuned examples' comments); each
test runs more than one seed so a lucky seed cannot hide a regression.
"""

import json
from pathlib import Path

import pytest

from rllib_marl import train

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_mappo_two_step_game_reaches_optimum(ray_local, tmp_path, seed):
    # Random play: 4.75; the safe branch: 7; the optimum: 8.
    cfg = ROOT / "tuned_examples" / "mappo" / "two_step.yaml"
    code = train.main(["--config", str(cfg), "--seed", str(seed), "--output", str(tmp_path),
                       "--quiet", "--as-test"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0, summary
    assert summary["team_return"] >= 7.5
