"""rllib_marl as an RLlib library: each algorithm is an ``AlgorithmConfig`` that a
user chains and builds, identical to what the YAML path builds.

Every test here is enrolled from the algorithm registry or the tuned examples: a
newly registered algorithm or example is covered without editing a list.
"""

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from rllib_marl.algorithms.registry import ALGORITHMS
from rllib_marl.config import load_experiment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "tuned_examples").rglob("*.yaml"))


def _python_chain(exp, yaml_config):
    """The config a Python user writes for the same experiment: only the keys the
    YAML file sets, through RLlib's own config methods. The env is the same
    (``env_config`` as the YAML path resolved it): what is compared is the
    algorithm's settings."""
    raw = yaml.safe_load(Path(exp._path).read_text())
    training = dict(raw.get("training") or {})
    if "lambda" in training:
        training["lambda_"] = training.pop("lambda")
    model = {k: v for k, v in (raw.get("model") or {}).items() if k != "critic_input" or v != "auto"}
    runners = dict(raw.get("env_runners") or {})
    runners.pop("sampler", None)
    if not runners.get("rollout_fragment_length"):
        runners.pop("rollout_fragment_length", None)
    env_config = {k: v for k, v in yaml_config.env_config.items() if k not in ("comm", "comm_dropout")}
    config = (exp.spec.config_cls()
              .environment(env_config=env_config)
              # hardware scale is the CLI's, not the experiment's: the same as the YAML path's
              .env_runners(num_env_runners=yaml_config.num_env_runners,
                           num_envs_per_env_runner=yaml_config.num_envs_per_env_runner, **runners)
              .training(**training)
              .rl_module(model_config=model))
    if raw.get("comm"):
        config.communication(**raw["comm"])
    if raw.get("league"):
        config.league(**raw["league"])
    else:
        config.multi_agent(policies=set(yaml_config.policies), policy_mapping_fn=yaml_config.policy_mapping_fn)
    if "seed" in raw:
        config.debugging(seed=raw["seed"])
    return config


def _module_defaults(cls):
    """The settings a module class falls back on when its model config leaves one out."""
    from rllib_marl.policies import actor_critic, defaults, maddpg, q_agent

    return {actor_critic.ActorCriticModule: actor_critic.DEFAULT_MODEL_CONFIG,
            q_agent.QAgentModule: q_agent.DEFAULT_Q_CONFIG,
            maddpg.DeterministicActorModule: defaults.DETERMINISTIC_ACTOR}.get(cls, {})


def _effective(config):
    """What the algorithm does with a config: its training settings, what its
    modules are built from, its sampling budget and joint layout."""
    from rllib_marl.envs.adapter import RLlibEnv

    config = config.copy(copy_frozen=False)
    config.validate()
    env = RLlibEnv(config.env_config)
    spec = config.get_multi_rl_module_spec(env=env)
    env.close()
    modules = {}
    for mid, sub in spec.rl_module_specs.items():
        defaults = _module_defaults(sub.module_class)
        mc = {**defaults, **(sub.model_config or {})}
        modules[mid] = (sub.module_class, repr(sub.observation_space), repr(sub.action_space), sub.learner_only,
                        {k: mc[k] for k in sorted(mc) if k in defaults or sub.learner_only or k == "comm"})
    rllib = {k: v for k, v in config.to_dict().items()
             if k in ("gamma", "train_batch_size", "grad_clip", "lambda", "num_epochs", "minibatch_size",
                      "clip_param", "entropy_coeff", "vf_loss_coeff", "vf_clip_param", "use_kl_loss",
                      "kl_coeff", "kl_target", "lr")}
    out = {"training": config.training_settings(), "learning_rate": config.learning_rate(), "rllib": rllib,
           "modules": modules, "fragment": config.get_rollout_fragment_length(1),
           "learner": config.get_default_learner_class()}
    if config.name in ("qmix", "maddpg"):
        out["groups"] = config.agent_groups
    for name in ("max_seq_len", "resolved_policy_delay", "critic_kinds", "twin_q"):
        if hasattr(type(config), name):
            out[name] = getattr(config, name)
    return out


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_tuned_example_builds_the_same_algorithm_from_python_and_from_yaml(path):
    """The YAML path and the Python chain with the same keys resolve to the same
    settings: the defaults of an algorithm are written once (the MATD3
    ``policy_delay`` split, where YAML said 2 and Python 1, fails here)."""
    from rllib_marl.build import build_algo_config

    exp = load_experiment(path)
    exp._path = path
    yaml_config, _ = build_algo_config(exp)
    assert type(yaml_config) is exp.spec.config_cls().__class__
    assert _effective(_python_chain(exp, yaml_config)) == _effective(yaml_config)


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_each_algorithm_defaults_equal_its_training_dataclass(name):
    """A bare ``XConfig()`` holds every field of the training dataclass at the
    dataclass's default; ``training()`` takes each of them and refuses others."""
    spec = ALGORITHMS[name]
    config = spec.config_cls()
    assert config.training_settings() == spec.training_cls()
    for f in dataclasses.fields(spec.training_cls):
        config.training(**{f.name: getattr(config, f.name)})
    with pytest.raises(TypeError, match="unknown settings"):
        config.training(no_such_setting=1)


def test_matd3_resolves_its_policy_delay_from_python_as_from_yaml():
    from rllib_marl import MADDPGConfig

    assert MADDPGConfig().training(variant="matd3").resolved_policy_delay == 2
    assert MADDPGConfig().training(variant="matd3", policy_delay=3).resolved_policy_delay == 3
    assert MADDPGConfig().resolved_policy_delay == 1


def test_exploration_settings_reach_the_acting_module():
    """``training(epsilon_start=...)`` is read: the agent module's model config
    carries it (it was accepted and never read before)."""
    from rllib_marl import QMIXConfig

    config = QMIXConfig().environment(env_config={"name": "two_step"}).training(epsilon_start=0.5, mixer="vdn")
    config.validate()
    from rllib_marl.envs.adapter import RLlibEnv

    env = RLlibEnv(config.env_config)
    spec = config.get_multi_rl_module_spec(env=env)
    assert spec.rl_module_specs["shared"].model_config["epsilon_start"] == 0.5
    assert "mixer" not in spec.rl_module_specs  # vdn: no learner-only mixer
    config.training(mixer="qmix")
    assert spec.rl_module_specs.keys() < config.get_multi_rl_module_spec(env=env).rl_module_specs.keys()


@pytest.mark.parametrize("setting,value,path", [
    ("lr", -1.0, "training.lr"),
    ("mixer", "sum", "training.mixer"),
    ("epsilon_start", 1.5, "training.epsilon_start"),
])
def test_python_configs_are_checked_by_the_same_declarations_as_yaml(setting, value, path):
    from rllib_marl import QMIXConfig
    from rllib_marl.schema import ConfigError

    config = QMIXConfig().environment(env_config={"name": "two_step"}).training(**{setting: value})
    with pytest.raises(ConfigError) as e:
        config.validate()
    assert e.value.path == path


@pytest.mark.parametrize("model_config,path", [
    ({"max_seq_len": 0}, "model.max_seq_len"),
    ({"activation": "sigmoid"}, "model.activation"),
])
def test_python_model_configs_are_checked_by_the_model_blocks_declarations(model_config, path):
    from rllib_marl import QMIXConfig
    from rllib_marl.schema import ConfigError

    config = QMIXConfig().environment(env_config={"name": "two_step"}).rl_module(model_config=model_config)
    with pytest.raises(ConfigError) as e:
        config.validate()
    assert e.value.path == path


def test_the_package_exports_the_configs_without_importing_torch():
    code = ("import sys, rllib_marl; assert 'torch' not in sys.modules and 'ray' not in sys.modules; "
            "from rllib_marl import MAPPOConfig, IPPOConfig, QMIXConfig, MADDPGConfig, RLlibEnv, LeagueConfig; "
            "print(MAPPOConfig.__name__, QMIXConfig().algo_class.__name__)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.split() == ["MAPPOConfig", "QMIX"]


# ----- the chain a Python user writes, end to end -----------------------------------------


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_the_rllib_chain_trains_saves_restores_and_evaluates(ray_local, tmp_path, name):
    """``XConfig().environment(...).training(...).build_algo()``, ``train()``,
    ``save_to_path()``, ``Algorithm.from_checkpoint()``, then the evaluate CLI and
    ``train --resume`` on that checkpoint: on the iterated prisoner's dilemma,
    which no tuned example names. Our env runner and metrics come with the chain."""
    import json
    import math

    from ray.rllib.algorithms.algorithm import Algorithm

    from rllib_marl import evaluate
    from rllib_marl.env_runner import FastMultiAgentEnvRunner

    spec = ALGORITHMS[name]
    config = (spec.config_cls()
              .environment(env_config={"name": "ipd", "kwargs": {"rounds": 5}})
              .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
              .training(**spec.smoke_training)
              .debugging(seed=0))
    algo = config.build_algo()
    try:
        result = algo.train()
        assert isinstance(algo.env_runner, FastMultiAgentEnvRunner)
        assert math.isfinite(result["team_return_mean"])
        assert set(result["agent_return_mean"]) == {"player_0", "player_1"}
        path = algo.save_to_path(str(tmp_path / "ck"))
    finally:
        algo.stop()
    restored = Algorithm.from_checkpoint(path)
    try:
        assert restored.train()["training_iteration"] == 2
    finally:
        restored.stop()
    out = tmp_path / "eval.json"
    assert evaluate.main([path, "--episodes", "4", "--output", str(out)]) == 0
    stats = json.loads(out.read_text())
    assert stats["episodes"] == 4 and math.isfinite(stats["team_return"]["mean"])
    # The CLI continues it: a new run directory, the checkpoint's own config.
    from rllib_marl import train

    run = tmp_path / "run"
    assert train.main(["--resume", path, "--set", "stop.iterations=3"]) == 2  # where to?
    assert train.main(["--resume", path, "--output", str(run)]) == 2  # how long?
    assert not run.exists()
    assert train.main(["--resume", path, "--output", str(run), "--set", "stop.iterations=3", "--quiet"]) == 0
    summary = json.loads((run / "summary.json").read_text())
    assert summary["iterations"] == 3
    assert [int(r.split(",")[0]) for r in (run / "progress.csv").read_text().splitlines()[1:]] == [2, 3]


@pytest.mark.parametrize("name", sorted(ALGORITHMS))
def test_tune_searches_a_python_config(ray_local, tmp_path, name):
    """``tune.Tuner(X, param_space=config.training(lr=tune.grid_search([...])))``
    for every algorithm (PPO-based configs take Tune's config dict through
    RLlib's ``update_from_dict`` differently from the off-policy ones)."""
    import math

    from ray import tune

    spec = ALGORITHMS[name]
    fields = [f.name for f in dataclasses.fields(spec.training_cls)]
    lr = "lr" if "lr" in fields else next(f for f in fields if f.endswith("_lr"))
    config = (spec.config_cls()
              .environment(env_config={"name": "two_step"})
              .env_runners(num_env_runners=0, num_envs_per_env_runner=2)
              .training(**{**spec.smoke_training, lr: tune.grid_search([1e-3, 5e-4])}))
    tuner = tune.Tuner(config.algo_class, param_space=config,
                       run_config=tune.RunConfig(storage_path=str(tmp_path), stop={"training_iteration": 1},
                                                 verbose=0))
    grid = tuner.fit()
    assert not grid.errors, grid.errors
    assert sorted(r.config[lr] for r in grid) == [5e-4, 1e-3]
    assert all(math.isfinite(r.metrics["team_return_mean"]) for r in grid)


def test_console_scripts_pin_the_hash_seed_as_python_m_does(tmp_path):
    """``rllib-marl-train`` runs as ``python -m rllib_marl.train`` does: with
    PYTHONHASHSEED pinned (the reproducibility promise)."""
    import os

    # The console entry, with main() replaced by one that reports the hash seed:
    # run without PYTHONHASHSEED, the entry re-executes `python -m rllib_marl.train`
    # (whose real main prints --help); run with it pinned, it calls main() at once.
    code = ("import os, sys; sys.argv = ['rllib-marl-train', '--help']; "
            "from rllib_marl import session; "
            "session.console_entry(lambda: print('hash seed', os.environ.get('PYTHONHASHSEED')) or 0, "
            "'rllib_marl.train')()")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONHASHSEED"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0 and "usage: python -m rllib_marl.train" in out.stdout
    assert "hash seed" not in out.stdout
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "PYTHONHASHSEED": "0"})
    assert out.stdout.strip() == "hash seed 0"
    from importlib import metadata

    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")
               if e.name.startswith("rllib-marl")}
    assert scripts["rllib-marl-train"] == "rllib_marl.train:cli"
    assert scripts["rllib-marl-evaluate"] == "rllib_marl.evaluate:cli"


# ----- the README's Python examples run as written ---------------------------------------


def _readme_examples():
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    blocks = section.split("```python\n")[1:]
    return [b.split("\n```", 1)[0] for b in blocks]


def _example_id(code: str) -> str:
    first = next(line for line in code.splitlines() if line.startswith("from rllib_marl import"))
    name = first.split("import", 1)[1].strip().split(",")[-1].strip()
    return name + ("-tune" if "tune.Tuner" in code else "-league" if ".league(" in code else "")


@pytest.mark.slow
@pytest.mark.parametrize("code", _readme_examples(), ids=_example_id)
def test_readme_python_examples_run_and_reach_their_results(tmp_path, code):
    """Each example asserts what it reaches (above random play): run as a user
    would, in a fresh process with an embedded local Ray."""
    import os

    env = {**os.environ, "PYTHONHASHSEED": "0"}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-4000:]


def test_the_readme_has_an_example_per_family():
    names = {_example_id(c) for c in _readme_examples()}
    assert {"MAPPOConfig", "QMIXConfig", "MADDPGConfig", "IPPOConfig-league", "QMIXConfig-tune"} <= names
