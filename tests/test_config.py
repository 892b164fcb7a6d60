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


@pytest.fixture
def no_ray():
    """No Ray left running by an earlier test module, so that 'Ray never started'
    is what the test sees."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


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
def test_bad_configs_get_one_line_errors_and_exit_2(tmp_path, capsys, no_ray, mutate, path, fragment):
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


# ----- every declared bound and choice, enumerated from the schema ------------------------

# Strings whose allowed values come from a registry, not a declaration (each has its
# own one-line error, tested above: an unknown algorithm, env or wrapper).
REGISTRY_STRINGS = {"algorithm", "env.wrappers.name"}


def _leaves(cls, path=""):
    """(key path, field, type) of every leaf field of dataclass ``cls``, through
    nested, optional and listed dataclasses."""
    import dataclasses
    import typing

    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        t = hints[f.name]
        if typing.get_origin(t) is typing.Union:
            args = [a for a in typing.get_args(t) if a is not type(None)]
            t = args[0] if len(args) == 1 else t
        if typing.get_origin(t) is list and dataclasses.is_dataclass(typing.get_args(t)[0]):
            t = typing.get_args(t)[0]
        if dataclasses.is_dataclass(t):
            yield from _leaves(t, f"{path}{f.name}.")
        else:
            yield f"{path}{f.name}", f, t


def _schema():
    """Every leaf of the experiment schema (the training block once per algorithm)
    and of the scale flags, with the config that holds its block."""
    from rllib_marl.algorithms.registry import ALGORITHMS
    from rllib_marl.config import ScaleConfig

    base = yaml.safe_load(yaml.safe_dump(BASE))
    blocks = {
        "league": yaml.safe_load((ROOT / "tuned_examples" / "league" / "rps.yaml").read_text()),
        "comm": yaml.safe_load((ROOT / "tuned_examples" / "mappo" / "levers_tarmac.yaml").read_text()),
        "tune": {**base, "tune": {"search_space": {"training.lr": {"grid": [1e-3]}},
                                  "scheduler": {"type": "asha"}, "stop": {"iterations": 1}}},
    }
    for key, f, t in _leaves(ExperimentConfig):
        if key.startswith("training"):
            continue
        yield key, f, t, blocks.get(key.split(".")[0], base)
    for name, algo in ALGORITHMS.items():
        for key, f, t in _leaves(algo.training_cls, "training."):
            yield key, f, t, {**base, "algorithm": name}
    for key, f, t in _leaves(ScaleConfig):
        yield "--" + key.replace("_", "-"), f, t, base


def _out_of_range(f, t):
    """A value the field's declaration refuses."""
    allowed = f.metadata.get("choices")
    if allowed is not None:
        if t in (int, float):
            return t(max(allowed) + 1)
        return "not_" + "_".join(map(str, allowed))[:40]
    ge, gt, le, lt = f.metadata["bounds"]
    num = int if t is int else float
    if ge is not None:
        return num(ge - 1)
    if gt is not None:
        return num(gt)
    return num(le + 1) if le is not None else num(lt)


SCHEMA = list(_schema())


def test_every_numeric_and_enumerated_field_declares_what_it_allows():
    """A field added later without bounds, choices or an explicit 'any' fails here."""
    undeclared = [key for key, f, t, _ in SCHEMA
                  if t in (int, float, str) and key not in REGISTRY_STRINGS
                  and not ({"bounds", "choices", "any_number", "free_text"} & set(f.metadata))]
    assert undeclared == []


@pytest.mark.parametrize("key,f,t,base", [s for s in SCHEMA if {"bounds", "choices"} & set(s[1].metadata)],
                         ids=lambda v: v if isinstance(v, str) else "")
def test_every_out_of_range_value_is_one_line_and_exit_2(tmp_path, capsys, no_ray, key, f, t, base):
    import ray

    bad = _out_of_range(f, t)
    argv = ["--config", write(tmp_path, base), "--output", str(tmp_path / "run")]
    argv += [key, str(bad)] if key.startswith("--") else ["--set", f"{key}={bad}"]
    code = train.main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1, err
    assert err.startswith(f"config error: {key}: "), err
    assert ("allowed" in err or "must be" in err), err
    assert not ray.is_initialized()
    assert not (tmp_path / "run").exists()
