"""Config validation: every bad input is refused before Ray starts, exit status 2."""

from pathlib import Path

import pytest
import yaml

from rllib_marl import train
from rllib_marl.config import ExperimentConfig, load_experiment, parse_experiment
from rllib_marl.build import validate
from rllib_marl.schema import ConfigError

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "tuned_examples").rglob("*.yaml"))

BASE = {
    "algorithm": "mappo",
    "env": {"name": "mpe2.simple_spread_v3", "kwargs": {"N": 3}},
    "stop": {"iterations": 1},
}


def write(tmp_path, data, name="c.yaml"):
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(p)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_tuned_examples_validate(path):
    exp = load_experiment(path)
    e = exp.expected
    assert e.team_return is not None or e.team_returns or e.exploitability is not None or e.win_rate, \
        "a tuned example states its expected result"
    env, mapping = validate(exp)
    assert mapping


@pytest.mark.parametrize(
    "mutate,path,fragment",
    [
        (lambda d: d.update(algoritm="mappo"), "algoritm", "unknown key; allowed: algorithm"),
        (lambda d: d.update(algorithm="qmixx"), "algorithm", "allowed: mappo, ippo"),
        (lambda d: d.pop("algorithm"), "algorithm", "missing"),
        (lambda d: d["env"].update(name="mpe2.simple_sprad_v3"), "env.name", "cannot import"),
        (lambda d: d["env"].update(reward={"mode": "selfish"}), "env.reward.mode",
         "allowed: individual, team, mix"),
        (lambda d: d.update(training={"lr": "fast"}), "training.lr", "expected a number"),
        (lambda d: d.update(training={"num_epochs": 2.5}), "training.num_epochs", "integer"),
        (lambda d: d.update(training={"learning_rate": 1e-3}), "training.learning_rate",
         "unknown key"),
        (lambda d: d.update(model={"hidden": "64"}), "model.hidden", "list of int"),
        (lambda d: d.update(model={"use_gru": "yes"}), "model.use_gru", "true or false"),
        (lambda d: d.update(multi_agent={"sharing": "some"}), "multi_agent.sharing",
         "allowed: shared, per_agent, per_group"),
        (lambda d: d.update(stop={}), "stop", "at least one"),
        (lambda d: d.update(training={"minibatch_size": 5000}), "training.minibatch_size",
         "larger than training.train_batch_size"),
        (lambda d: d["env"].update(global_state="none"), "env.global_state",
         "centralized critic"),
        (lambda d: d.update(env={"name": "fixture_envs:multibinary"}), "algorithm",
         "does not support"),
        (lambda d: d.update(env={"name": "fixture_envs:flaky", "kwargs": {"fail_at": 1}}), "env",
         "failed in its first reset or random steps (RuntimeError: flaky env: simulated crash)"),
        (lambda d: d.update(env={"name": "mpe2.simple_adversary_v3"}), "multi_agent.sharing",
         "per_group"),
        (lambda d: d.update(env_runners={"num_env_runners": 4}), "env_runners.num_env_runners",
         "unknown key"),
        (lambda d: d.update(evaluation={"interval": -1}), "evaluation.interval", ">= 0"),
        (lambda d: d.update(evaluation={"episodes": 0}), "evaluation.episodes", ">= 1"),
        (lambda d: d.update(evaluation={"greedy": True}), "evaluation.greedy",
         "unknown key; allowed: interval, episodes, explore"),
        (lambda d: d.update(tune={"search_space": {"training.lrr": {"choice": [1]}}}),
         "tune.search_space.training.lrr", "unknown training key"),
        (lambda d: d.update(tune={"search_space": {"training.lr": {"loguniform": [0, 1]}}}),
         "tune.search_space.training.lr.loguniform", "low < high"),
        (lambda d: d.update(env={**d["env"], "teams": "by_prefix"}, stop={"team_return": -50}),
         "stop.team_return", "sum over opponents"),
        (lambda d: d.update(expected={"team_returns": {"agent": -50.0}}),
         "expected.team_returns", "env.teams: by_prefix"),
        (lambda d: d.update(env={**d["env"], "teams": "by_prefix"}, expected={"team_returns": {"prey": 1.0}}),
         "expected.team_returns.prey", "teams (by agent-name prefix) are agent"),
    ],
)
def test_bad_configs_get_one_line_errors_and_exit_2(tmp_path, capsys, mutate, path, fragment):
    import ray

    data = yaml.safe_load(yaml.safe_dump(BASE))
    mutate(data)
    code = train.main(["--config", write(tmp_path, data)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"config error: {path}:"), err
    assert fragment in err, err
    assert not ray.is_initialized()


def test_cli_input_errors(tmp_path, capsys):
    assert train.main(["--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert train.main(["--config", write(tmp_path, "algorithm: [mappo\n")]) == 2
    assert "not valid YAML" in capsys.readouterr().err
    assert train.main(["--resume", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err
    (tmp_path / "run_config.yaml").write_text(yaml.safe_dump(BASE))
    assert train.main(["--resume", str(tmp_path)]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    cfg = write(tmp_path, BASE)
    # A fresh run into a directory that holds one would overwrite its progress.
    assert train.main(["--config", cfg, "--output", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "run_config.yaml").read_text() == yaml.safe_dump(BASE)
    assert train.main(["--config", cfg, "--set", "training.lr"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert train.main(["--config", cfg, "--tune"]) == 2
    assert "tune: block" in capsys.readouterr().err
    assert train.main(["--config", cfg, "--num-envs-per-env-runner", "0"]) == 2
    assert "--num-envs-per-env-runner" in capsys.readouterr().err


def test_overrides_and_aliases():
    exp = parse_experiment(BASE, ["training.lr=1e-4", "training.lambda=0.9", "seed=3",
                                  "env.kwargs.N=4", "model.hidden=[32, 32]"])
    assert isinstance(exp, ExperimentConfig)
    tr = exp.training_config()
    assert tr.lr == 1e-4 and tr.lambda_ == 0.9 and exp.seed == 3
    assert exp.env.kwargs["N"] == 4 and exp.model.hidden == [32, 32]
    with pytest.raises(ConfigError, match="training.lr: expected a number"):
        parse_experiment(BASE, ["training.lr=[1]"])


def test_sharing_modes_map_agents_to_modules():
    exp = parse_experiment({**BASE, "env": {"name": "mpe2.simple_adversary_v3"},
                            "multi_agent": {"sharing": "per_group"}})
    _, mapping = validate(exp)
    assert mapping == {"adversary_0": "adversary", "agent_0": "agent", "agent_1": "agent"}
    exp = parse_experiment({**BASE, "multi_agent": {"sharing": "per_agent"}})
    _, mapping = validate(exp)
    assert mapping == {a: a for a in ("agent_0", "agent_1", "agent_2")}


def test_parsing_a_config_imports_neither_torch_nor_ray():
    """Specs and defaults are light modules: config errors come back fast."""
    import subprocess
    import sys

    code = ("import sys; from rllib_marl.config import load_experiment; "
            "load_experiment(sys.argv[1]); "
            "print(sorted(m for m in ('torch', 'ray') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "tuned_examples" / "maddpg" / "simple_tag.yaml")],
                         check=True, capture_output=True, text=True).stdout.strip()
    assert out == "[]"
