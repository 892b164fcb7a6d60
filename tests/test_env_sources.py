"""Bring your own env: every kind of env a user has enters through one adapter
layer (``rllib_marl.envs.sources``), from Python and from YAML."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from gymnasium import spaces
from pettingzoo import AECEnv, ParallelEnv

from rllib_marl import MAPPOConfig, QMIXConfig, train
from rllib_marl.envs.adapter import degenerate_notes, make_env, resolve_teams
from rllib_marl.envs.sources import EnvError

ROOT = Path(__file__).resolve().parent.parent
LBF = "gymnasium:Foraging-8x8-2p-2f-coop-v3"
RWARE = "gymnasium:rware-tiny-2ag-v2"


# ----- small envs of each kind --------------------------------------------------------------


class ZeroRewardEnv(ParallelEnv):
    """Two agents, 5 steps, never a reward."""

    metadata = {"name": "zero_reward_v0"}

    def __init__(self, steps=5):
        self.possible_agents = ["a", "b"]
        self.agents, self.steps, self.t = [], steps, 0

    def observation_space(self, agent):
        return spaces.Box(0.0, 1.0, (1,), np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        self.agents, self.t = list(self.possible_agents), 0
        return {a: np.zeros(1, np.float32) for a in self.agents}, {a: {} for a in self.agents}

    def step(self, actions):
        self.t += 1
        end = self.t >= self.steps
        obs = {a: np.full(1, self.t / self.steps, np.float32) for a in self.agents}
        out = (obs, {a: 0.0 for a in self.agents}, {a: False for a in self.agents},
               {a: end for a in self.agents}, {a: {} for a in self.agents})
        if end:
            self.agents = []
        return out


class OneMoveGame(AECEnv):
    """A turn-based game cut after its first move (as Shimmy cut Kuhn poker)."""

    metadata = {"name": "one_move_v0"}

    def __init__(self):
        super().__init__()
        self.possible_agents = ["player_0", "player_1"]

    def observation_space(self, agent):
        return spaces.Box(0.0, 1.0, (1,), np.float32)

    def action_space(self, agent):
        return spaces.Discrete(2)

    def observe(self, agent):
        return np.zeros(1, np.float32)

    def reset(self, seed=None, options=None):
        self.agents = list(self.possible_agents)
        self.rewards = {a: 0.0 for a in self.agents}
        self._cumulative_rewards = {a: 0.0 for a in self.agents}
        self.terminations = {a: False for a in self.agents}
        self.truncations = {a: False for a in self.agents}
        self.infos = {a: {} for a in self.agents}
        self.agent_selection = "player_0"

    def step(self, action):
        if self.terminations[self.agent_selection] or self.truncations[self.agent_selection]:
            self._was_dead_step(action)
            return
        self.truncations = {a: True for a in self.agents}
        self._cumulative_rewards[self.agent_selection] = 0.0
        self.agent_selection = "player_1"


def _layout(config):
    config.validate()
    return config.env_layout


# ----- each way of passing an env -------------------------------------------------------------


def test_a_pettingzoo_class_and_factory_from_python():
    import mpe2.simple_spread_v3 as ss

    def make(N=2):
        return ss.parallel_env(N=N, max_cycles=10)

    lay = _layout(MAPPOConfig().environment(env_config={"name": make, "kwargs": {"N": 3}}))
    assert lay.agents == ("agent_0", "agent_1", "agent_2")
    lay = _layout(MAPPOConfig().environment(env_config={"name": ZeroRewardEnv, "kwargs": {"steps": 3}}))
    assert lay.agents == ("a", "b")


def test_rllib_multi_agent_envs_are_adopted_from_environment():
    """``.environment(MyMultiAgentEnv, env_config=...)`` (RLlib's own way) trains through our
    adapter: int agent ids become strings, the env config reaches the env as RLlib passes it."""
    from ray.rllib.examples.envs.classes.multi_agent import MultiAgentPendulum
    from ray.rllib.examples.envs.classes.multi_agent.two_step_game import TwoStepGame

    config = QMIXConfig().environment(TwoStepGame, env_config={"one_hot_state_encoding": True,
                                                               "separate_state_space": True})
    lay = _layout(config)
    assert lay.agents == ("0", "1")
    assert config.env_config["name"] is TwoStepGame
    assert config.env_config["kwargs"] == {"one_hot_state_encoding": True, "separate_state_space": True}
    # RLlib's ENV_STATE key is the env's state(): the critic's / mixer's global state.
    assert lay.observation_spaces["0"]["state"].shape == (6,)
    assert lay.observation_spaces["0"]["obs"].shape == (9,)  # MultiDiscrete([2, 2, 2, 3]) one-hot
    lay = _layout(MAPPOConfig().environment(MultiAgentPendulum, env_config={"num_agents": 3}))
    assert lay.agents == ("0", "1", "2") and lay.action_spaces["0"].shape == (1,)


def test_a_register_env_name_and_a_config_creator():
    from ray.rllib.examples.envs.classes.multi_agent.two_step_game import TwoStepGame
    from ray.tune.registry import register_env

    def creator(config):
        return TwoStepGame(config)

    register_env("byo_two_step", creator)
    lay = _layout(MAPPOConfig().environment("byo_two_step", env_config={"actions_are_logits": False}))
    assert lay.agents == ("0", "1")
    # The same name as env.name (YAML's way); the kwargs reach the creator as its config.
    env = make_env({"name": "byo_two_step", "kwargs": {"actions_are_logits": True}})
    assert env.possible_agents == ["0", "1"] and env.env.env.actions_are_logits is True
    assert make_env({"name": creator}).possible_agents == ["0", "1"]


def test_gymnasium_tuple_envs_by_name():
    lbf = make_env({"name": LBF})
    assert lbf.possible_agents == ["agent_0", "agent_1"]
    assert lbf.observation_spaces["agent_0"]["obs"].shape == (12,)
    assert lbf.action_spaces["agent_1"] == spaces.Discrete(6)
    assert make_env({"name": "gymnasium:rware:rware-tiny-4ag-v2"}).possible_agents == [f"agent_{i}" for i in range(4)]


@pytest.mark.parametrize("name,kwargs", [(LBF, {}), (RWARE, {})])
def test_the_tuple_adapter_matches_the_raw_env_step_by_step(name, kwargs):
    """Same observations, rewards and episode ends as the Gymnasium env itself, with
    the step limit reported as a truncation (the value after it is bootstrapped)."""
    import gymnasium as gym

    import lbforaging  # noqa: F401
    import rware  # noqa: F401

    raw = gym.make(name.split(":", 1)[1], **kwargs)
    env = make_env({"name": name, "kwargs": kwargs})
    rng = np.random.default_rng(0)
    for episode in range(2):
        o_raw, _ = raw.reset(seed=episode)
        o, _ = env.reset(seed=episode)
        steps = 0
        while True:
            for i, a in enumerate(env.possible_agents):
                np.testing.assert_array_equal(o[a]["obs"], np.asarray(o_raw[i], np.float32))
            acts = [int(rng.integers(raw.action_space[i].n)) for i in range(len(env.possible_agents))]
            o_raw, r_raw, term, trunc, _ = raw.step(tuple(acts))
            o, r, t, u, _ = env.step(dict(zip(env.possible_agents, acts)))
            steps += 1
            assert [r[a] for a in env.possible_agents] == [float(x) for x in r_raw]
            if term or trunc:
                assert t["__all__"] or u["__all__"]
                at_limit = steps >= env.env.step_limit
                assert u["__all__"] == at_limit and t["__all__"] == (not at_limit)
                break
            assert not (t["__all__"] or u["__all__"])
    raw.close()
    env.close()


def test_the_multi_agent_env_view_matches_rllib_s_env():
    """Time limits in RLlib's make_multi_agent envs (both ``__all__`` flags set) are
    truncations, termination stays termination; rewards under the string ids."""
    from ray.rllib.examples.envs.classes.multi_agent import MultiAgentPendulum
    from ray.rllib.examples.envs.classes.multi_agent.two_step_game import TwoStepGame

    env = make_env({"name": MultiAgentPendulum, "kwargs": {"num_agents": 2}})
    raw = MultiAgentPendulum({"num_agents": 2})
    o, _ = env.reset(seed=3)
    o_raw, _ = raw.reset(seed=3)
    for step in range(200):
        np.testing.assert_allclose(o["0"]["obs"], o_raw[0], rtol=1e-6)
        acts = {a: np.array([0.5], np.float32) for a in env.possible_agents}
        o, r, t, u, _ = env.step(acts)
        o_raw, r_raw, _, _, _ = raw.step({int(a): v for a, v in acts.items()})
        assert r == {str(k): float(v) for k, v in r_raw.items()}
    assert u["__all__"] and not t["__all__"]
    env = make_env({"name": TwoStepGame})
    o, _ = env.reset(seed=0)
    o, r, t, u, _ = env.step({"0": 1, "1": 1})
    o, r, t, u, _ = env.step({"0": 1, "1": 1})
    assert t["__all__"] and not u["__all__"] and r == {"0": 4.0, "1": 4.0}


# ----- what is refused, in one line ------------------------------------------------------------


def _raises_runtime(**kwargs):
    raise RuntimeError("the simulator's licence server is down")


@pytest.mark.parametrize("name,fragment", [
    (ZeroRewardEnv(), "is an env instance; pass its class"),
    ("gymnasium:NoSuchEnv-v0", "NameNotFound"),
    ("gymnasium:CartPole-v1", "single-agent Gymnasium env"),
    ("gymnasium:no_such_pkg_xyz:Foo-v0", "pip install no_such_pkg_xyz"),
    (_raises_runtime, "raised RuntimeError: the simulator's licence server is down"),
    (42, "neither a name nor a class or function"),
])
def test_env_sources_that_cannot_be_built_are_one_error(name, fragment):
    with pytest.raises(EnvError) as e:
        make_env({"name": name})
    assert fragment in str(e.value) and "\n" not in str(e.value)


def test_the_cli_reports_a_raising_constructor_in_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml.safe_dump({"algorithm": "mappo", "env": {"name": "tests.test_env_sources:_raises_runtime"},
                                   "stop": {"iterations": 1}}))
    assert train.main(["--config", str(cfg), "--output", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "licence server is down" in err, err


# ----- sides and degenerate envs -------------------------------------------------------------


@pytest.mark.parametrize("name,teams", [
    ("rps", "per_agent"),
    ("pettingzoo.classic.tictactoe_v3", "per_agent"),
    ("ipd", "one"),
    ("two_step", "one"),
    ("mpe2.simple_spread_v3", "one"),
])
def test_teams_auto_tells_zero_sum_two_player_games(name, teams):
    env = make_env({"name": name})
    assert resolve_teams(env, "auto")[0] == teams
    assert resolve_teams(env, "one") == ("one", "")


def test_a_two_player_game_outside_a_league_reports_each_player(ray_local, tmp_path, capsys):
    """Tic-tac-toe without a league: each player's return, no sum over the two."""
    import json
    import math

    cfg = tmp_path / "ttt.yaml"
    raw = {"algorithm": "ippo", "env": {"name": "pettingzoo.classic.tictactoe_v3"},
           "training": {"train_batch_size": 200, "minibatch_size": 100, "num_epochs": 1},
           "stop": {"iterations": 1}}
    cfg.write_text(yaml.safe_dump(raw))
    assert train.main(["--config", str(cfg), "--output", str(tmp_path / "run"), "--quiet"]) == 0
    s = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert s["teams"] == "per_agent"
    assert set(s["team_returns"]) == {"player_1", "player_2"}
    assert not math.isfinite(s.get("team_return", math.nan))
    out = capsys.readouterr().out
    note, rest = out.split("\n", 1)
    assert note.startswith("env.teams auto -> per_agent") and "team return" not in rest, out
    assert "player_1" in rest and "player_2" in rest, rest
    raw["expected"] = {"team_return": 0.5}
    cfg.write_text(yaml.safe_dump(raw))
    assert train.main(["--config", str(cfg), "--output", str(tmp_path / "run2")]) == 2


def test_degenerate_envs_are_named_and_mpe_is_not():
    zero = degenerate_notes(make_env({"name": ZeroRewardEnv}))
    assert len(zero) == 1 and "every reward was 0 over the first" in zero[0]
    one = degenerate_notes(make_env({"name": OneMoveGame}))
    assert len(one) == 1 and "ended after its first step in a turn-based game" in one[0]
    assert degenerate_notes(make_env({"name": "mpe2.simple_spread_v3"})) == []
    assert degenerate_notes(make_env({"name": "rps"})) == []  # one-shot, and pays: nothing wrong


def test_degenerate_envs_warn_from_python():
    with pytest.warns(UserWarning, match="every reward was 0"):
        MAPPOConfig().environment(env_config={"name": ZeroRewardEnv}).validate()


# ----- remote env runners ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_factory_of_the_users_script_reaches_remote_env_runners(tmp_path):
    """A factory defined in ``__main__`` (a user's script) travels to a remote env
    runner with the config, and an RLlib MultiAgentEnv from RLlib's examples trains
    with QMIX there, from a script outside the repository."""
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent("""
        import mpe2.simple_spread_v3 as ss
        from ray.rllib.examples.envs.classes.multi_agent.two_step_game import TwoStepGame
        from rllib_marl import MAPPOConfig, QMIXConfig

        def make(N=2):
            return ss.parallel_env(N=N, max_cycles=10)

        algo = (MAPPOConfig().environment(env_config={"name": make, "kwargs": {"N": 2}})
                .env_runners(num_env_runners=1).training(train_batch_size=200, minibatch_size=100, num_epochs=1)
                .build_algo())
        r = algo.train()
        assert r["env_steps"] >= 200 and set(r["agent_return_mean"]) == {"agent_0", "agent_1"}, r
        algo.stop()
        algo = (QMIXConfig().environment(TwoStepGame).env_runners(num_env_runners=1)
                .training(learning_starts=64, train_batch_size=32)
                .build_algo())
        r = algo.train()
        assert set(r["agent_return_mean"]) == {"0", "1"}, r
        algo.stop()
        print("OK")
    """))
    out = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0 and "OK" in out.stdout, out.stdout[-2000:] + out.stderr[-4000:]


def test_a_package_attribute_that_is_an_env_module():
    """``package:env_module`` (MaMuJoCo is ``gymnasium_robotics:mamujoco_v1``)."""
    assert make_env({"name": "pettingzoo.classic:rps_v2"}).possible_agents == ["player_0", "player_1"]
