"""Ray Tune: search spaces land where RLlib reads them; a tiny search runs end to end."""

from pathlib import Path

import pytest
import yaml

from rllib_marl import train
from rllib_marl.config import ScaleConfig, parse_experiment
from rllib_marl.build import build_algo_config
from rllib_marl.tune import build_param_space, build_tuner

BASE = {
    "algorithm": "ippo",
    "env": {"name": "two_step"},
    "training": {"train_batch_size": 100, "minibatch_size": 50, "num_epochs": 1},
    "stop": {"iterations": 1},
    "checkpoint": {"interval": 1},
}


def test_search_space_placement_and_schedulers(tmp_path):
    from ray.tune.search.sample import Domain

    tune_block = {
        "search_space": {
            "training.lr": {"loguniform": [1.0e-4, 1.0e-2]},
            "training.lambda_": {"uniform": [0.9, 1.0]},
            "env.reward.team_weight": {"grid": [0.0, 1.0]},
        },
        "scheduler": {"type": "asha", "max_t": 10, "grace_period": 2},
    }
    exp = parse_experiment({**BASE, "tune": tune_block})
    config, _ = build_algo_config(exp)
    ps, paths = build_param_space(exp, config)
    assert isinstance(ps["lr"], Domain) and isinstance(ps["lambda"], Domain)
    assert ps["env_config"]["reward"]["team_weight"] == {"grid_search": [0.0, 1.0]}
    assert paths["training.lambda_"] == ("lambda",)
    assert paths["env.reward.team_weight"] == ("env_config", "reward", "team_weight")
    build_tuner(exp, ScaleConfig(), tmp_path)
    pbt = dict(tune_block, scheduler={"type": "pbt", "perturbation_interval": 2,
                                      "hyperparam_mutations": {"training.lr": {"choice": [1e-3, 1e-4]}}})
    build_tuner(parse_experiment({**BASE, "tune": pbt}), ScaleConfig(), tmp_path / "pbt")


@pytest.mark.slow
def test_tiny_grid_search_end_to_end(ray_local, tmp_path, capsys):
    cfg = dict(BASE, tune={"search_space": {"training.lr": {"grid": [1.0e-3, 3.0e-3]}},
                           "metric": "team_return_mean", "mode": "max"})
    path = tmp_path / "tune.yaml"
    path.write_text(yaml.safe_dump(cfg))
    code = train.main(["--config", str(path), "--tune", "--output", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0, out
    # Tune's own result grid, read back from the run directory.
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(str(tmp_path / "out" / "tune"))
    trials = analysis.trials
    assert len(trials) == 2 and all(t.status == "TERMINATED" for t in trials)
    assert sorted(t.config["lr"] for t in trials) == [1.0e-3, 3.0e-3]  # the grid, each value once
    scores = {t.trial_id: t.last_result["team_return_mean"] for t in trials}
    best = Path((tmp_path / "out" / "best_checkpoint.txt").read_text())
    assert best.is_dir()
    chosen = [tid for tid in scores if tid in best.parent.name]  # the trial whose checkpoint it is
    assert len(chosen) == 1 and scores[chosen[0]] == max(scores.values())  # argmax of the metric
