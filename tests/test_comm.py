"""Learned communication (CommNet, TarMAC): decentralized execution, gradients
through messages, attention over present senders, dropout, config refusals."""

import numpy as np
import pytest
import torch
from ray.rllib.core.columns import Columns

from rllib_marl.config import parse_experiment
from rllib_marl.build import validate
from rllib_marl.envs import make_env
from rllib_marl.envs.observations import COMM_LINKS, COMM_SELF, OBS, TEAM_OBS, comm_inputs
from rllib_marl.envs.spec import EnvConfig
from rllib_marl.policies import ActorCriticModule
from rllib_marl.policies.comm import TarMACRound
from rllib_marl.schema import ConfigError

LEVERS = {"name": "levers", "kwargs": {"n_agents": 4, "pool_size": 20}, "global_state": "concat"}
COMM_TYPES = ["commnet", "tarmac"]


def lever_env(**kw):
    return make_env(EnvConfig.from_dict({**LEVERS, "comm": True, **kw}))


def module(env, kind, **model):
    a = env.possible_agents[0]
    return ActorCriticModule(
        observation_space=env.observation_spaces[a], action_space=env.action_spaces[a],
        model_config={"hidden": [32], "comm": {"type": kind, "rounds": 2, "message_size": 8}, **model})


def as_batch(obs, agents):
    return {Columns.OBS: {k: torch.as_tensor(np.stack([obs[a][k] for a in agents])) for k in obs[agents[0]]}}


def logits(m, batch):
    return m.forward_inference(batch)[Columns.ACTION_DIST_INPUTS]


def perturb(batch, j, scale=3.0):
    """Agent j's observation changed everywhere it appears (its own row and every team entry)."""
    b = {Columns.OBS: {k: v.clone() for k, v in batch[Columns.OBS].items()}}
    o = b[Columns.OBS]
    delta = torch.randn(o[TEAM_OBS].shape[-1], generator=torch.Generator().manual_seed(j)) * scale
    o[TEAM_OBS][:, j] += delta
    o[OBS][j] += delta[: o[OBS].shape[-1]]
    return b


def test_adapter_gives_every_member_the_team_inputs():
    env = lever_env()
    obs, _ = env.reset(seed=1)
    agents = env.possible_agents
    for i, a in enumerate(agents):
        assert obs[a][TEAM_OBS].shape == (4, 20) and obs[a][COMM_LINKS].shape == (4, 4)
        np.testing.assert_array_equal(obs[a][TEAM_OBS][i], obs[a][OBS])
        np.testing.assert_array_equal(obs[a][COMM_SELF], np.eye(4)[i])
        np.testing.assert_array_equal(obs[a][COMM_LINKS], 1 - np.eye(4))  # no dropout: all hear all others
        assert env.observation_spaces[a].contains(obs[a])


def test_absent_members_send_nothing_and_get_no_inputs():
    members = ["a", "b", "c"]
    out = comm_inputs(members, {"a": np.ones(2, np.float32), "c": np.full(2, 2.0, np.float32)})
    assert set(out) == {"a", "c"}
    np.testing.assert_array_equal(out["a"][TEAM_OBS], [[1, 1], [0, 0], [2, 2]])
    np.testing.assert_array_equal(out["a"][COMM_LINKS], [[0, 0, 1], [0, 0, 0], [1, 0, 0]])


def test_dropout_loses_about_p_of_the_messages_and_is_seeded():
    env = lever_env(comm_dropout=0.25)
    kept = []
    for s in range(200):
        obs, _ = env.reset(seed=s)
        kept.append(obs["agent_0"][COMM_LINKS].sum() / 12)
    assert np.mean(kept) == pytest.approx(0.75, abs=0.03)
    a, _ = env.reset(seed=7)
    b, _ = env.reset(seed=7)
    np.testing.assert_array_equal(a["agent_0"][COMM_LINKS], b["agent_0"][COMM_LINKS])
    full, _ = lever_env(comm_dropout=1.0).reset(seed=0)
    assert full["agent_0"][COMM_LINKS].sum() == 0


@pytest.mark.parametrize("kind", COMM_TYPES)
def test_other_agents_reach_an_action_only_through_messages(kind):
    torch.manual_seed(0)
    env = lever_env()
    m = module(env, kind)
    obs, _ = env.reset(seed=0)
    agents = env.possible_agents
    base = as_batch(obs, agents)
    before = logits(m, base)
    after = logits(m, perturb(base, j=2))
    assert not torch.allclose(before[0], after[0])  # agent 0 hears agent 2
    # Cut every link into agent 0: agent 2's observation no longer moves its action,
    # while agent 1 (who still hears agent 2) does change.
    cut = {Columns.OBS: dict(base[Columns.OBS])}
    links = cut[Columns.OBS][COMM_LINKS].clone()
    links[:, 0, :] = 0.0
    cut[Columns.OBS][COMM_LINKS] = links
    b, a = logits(m, cut), logits(m, perturb(cut, j=2))
    torch.testing.assert_close(b[0], a[0], rtol=0, atol=0)
    assert not torch.allclose(b[1], a[1])


def test_without_communication_other_agents_never_reach_an_action():
    torch.manual_seed(0)
    env = make_env(EnvConfig.from_dict(LEVERS))
    a0 = env.possible_agents[0]
    m = ActorCriticModule(observation_space=env.observation_spaces[a0], action_space=env.action_spaces[a0],
                          model_config={"hidden": [32]})
    obs, _ = env.reset(seed=0)
    agents = env.possible_agents
    base = as_batch(obs, agents)
    changed = {Columns.OBS: {k: v.clone() for k, v in base[Columns.OBS].items()}}
    changed[Columns.OBS][OBS][2] = torch.roll(changed[Columns.OBS][OBS][2], 3)
    changed[Columns.OBS]["state"] = torch.randn_like(changed[Columns.OBS]["state"])
    b, a = logits(m, base), logits(m, changed)
    torch.testing.assert_close(b[[0, 1, 3]], a[[0, 1, 3]], rtol=0, atol=0)


@pytest.mark.parametrize("kind", COMM_TYPES)
def test_one_agents_loss_trains_the_others_message_encoder(kind):
    """The gradient of agent 0's log-probability reaches agent 2's entry (its
    message) and the message weights; with agent 0's links cut it reaches no
    other agent's entry."""
    torch.manual_seed(0)
    env = lever_env()
    m = module(env, kind)
    obs, _ = env.reset(seed=3)
    batch = as_batch(obs, env.possible_agents)
    team = batch[Columns.OBS][TEAM_OBS].clone().requires_grad_(True)
    batch[Columns.OBS][TEAM_OBS] = team
    out = m.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    torch.log_softmax(out[0], -1)[1].backward()
    assert team.grad[0, 2].abs().sum() > 0  # agent 2's message, as agent 0 computed it
    assert team.grad[1:].abs().sum() == 0  # other rows are other agents' passes
    sender = m.comm.rounds[0].message if kind == "commnet" else m.comm.rounds[0].value
    assert sender.weight.grad.abs().sum() > 0

    m.zero_grad()
    team.grad = None
    links = batch[Columns.OBS][COMM_LINKS].clone()
    links[0, 0, :] = 0.0
    batch[Columns.OBS][COMM_LINKS] = links
    out = m.forward_train(batch)[Columns.ACTION_DIST_INPUTS]
    torch.log_softmax(out[0], -1)[1].backward()
    assert team.grad[0, 1:].abs().sum() == 0 and team.grad[0, 0].abs().sum() > 0


def test_tarmac_attention_sums_to_one_over_present_senders():
    torch.manual_seed(0)
    rnd = TarMACRound(hidden=16, message_size=8, activation="tanh")
    members = list("abcde")
    present = {a: np.random.default_rng(i).normal(size=16).astype(np.float32) for i, a in enumerate(members)
               if a != "c"}
    ins = comm_inputs(members, present)["a"]
    h = torch.as_tensor(ins[TEAM_OBS])
    with torch.no_grad():
        _, _, w = rnd(h, torch.as_tensor(ins[COMM_LINKS]))
    for r, a in enumerate(members):
        if a == "c":
            assert w[r].sum() == 0  # an absent member hears nothing
        else:
            assert float(w[r].sum()) == pytest.approx(1.0, abs=1e-6)
            assert w[r, r] == 0  # nor itself
    assert w[:, 2].abs().sum() == 0  # nobody listens to the absent member
    alone = torch.zeros(5, 5)
    with torch.no_grad():
        _, c, w0 = rnd(h, alone)
    assert w0.abs().sum() == 0 and c.abs().sum() == 0


@pytest.mark.parametrize("kind", COMM_TYPES)
def test_dropout_one_equals_no_communication(kind):
    """With every message lost, an agent acts exactly as if the others' entries
    were anything at all: its own observation is its only input."""
    torch.manual_seed(0)
    env = lever_env(comm_dropout=1.0)
    m = module(env, kind)
    obs, _ = env.reset(seed=5)
    batch = as_batch(obs, env.possible_agents)
    ref = logits(m, batch)
    for j in range(4):
        other = perturb(batch, j)
        got = logits(m, other)
        keep = [i for i in range(4) if i != j]
        torch.testing.assert_close(ref[keep], got[keep], rtol=0, atol=0)


def test_recurrent_actor_with_messages_keeps_its_state():
    torch.manual_seed(0)
    env = lever_env()
    m = module(env, "tarmac", use_gru=True, gru_hidden=16)
    obs, _ = env.reset(seed=0)
    b = as_batch(obs, env.possible_agents)
    b[Columns.OBS] = {k: v.unsqueeze(1) for k, v in b[Columns.OBS].items()}
    b[Columns.STATE_IN] = {"h": torch.zeros(4, 16)}
    out = m.forward_inference(b)
    assert out[Columns.STATE_OUT]["h"].shape == (4, 16)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (4, 1, 4)


# ----- config ----------------------------------------------------------------------------


def exp(**over):
    raw = {"algorithm": "mappo", "env": dict(LEVERS), "comm": {"type": "tarmac"}, "stop": {"env_steps": 1000}}
    raw.update(over)
    return parse_experiment(raw)


@pytest.mark.parametrize("raw, path, words", [
    ({"algorithm": "qmix"}, "comm", "qmix does not support learned communication yet; algorithms that do: mappo, ippo"),
    ({"comm": {"type": "tarmac", "dropout": 1.5}}, "comm.dropout", "must be in [0, 1], got 1.5"),
    ({"comm": {"type": "gossip"}}, "comm.type", "allowed: commnet, tarmac"),
    ({"comm": {"rounds": 0}}, "comm.rounds", "must be >= 1, got 0"),
    ({"env": {**LEVERS, "comm": True}, "comm": None}, "env.comm", "is set from the top-level comm block"),
])
def test_bad_comm_configs_are_refused_before_ray(raw, path, words):
    with pytest.raises(ConfigError) as e:
        validate(exp(**raw))  # (parse_experiment inside exp() already refuses most)
    assert e.value.path == path and words in e.value.message


def test_a_team_split_over_modules_is_refused():
    with pytest.raises(ConfigError) as e:
        validate(exp(multi_agent={"sharing": "per_agent"}))
    assert e.value.path == "multi_agent.sharing" and "share one module" in e.value.message


def test_turn_based_and_image_envs_are_refused():
    with pytest.raises(ConfigError) as e:
        validate(exp(env={"name": "pettingzoo.classic.tictactoe_v3"}))
    assert "turn-based" in str(e.value) and "parallel env" in str(e.value)
    with pytest.raises(ConfigError) as e:
        validate(exp(env={"name": "quadrant"}))
    assert "image frames" in str(e.value) and "vector observations only" in str(e.value)


def test_heterogeneous_team_gets_the_padding_hint():
    with pytest.raises(ConfigError) as e:
        validate(exp(env={"name": "mpe2.simple_speaker_listener_v4"}))
    assert "pad_observations_v0" in str(e.value)


# ----- learning ----------------------------------------------------------------------------


@pytest.mark.slow
# One seed per architecture in CI (about 3 minutes each on 2 cores); both seeds of both
# were measured well above the bar (below), and benchmarks/comm.py runs them again.
@pytest.mark.parametrize("kind, seed", [("commnet", 0), ("tarmac", 0)])
def test_messages_lift_lever_pulling_above_the_no_communication_ceiling(ray_local, tmp_path, kind, seed):
    """The tuned lever examples cut to 40k env steps. Without messages no policy
    can expect more than 0.6894 (pool 50, 5 agents); greedy evaluation over 100
    episodes must reach 0.78. Measured at 40k (2026-11-28, the same command):
    CommNet 0.848 and 0.854 (seeds 0, 1), TarMAC 0.828 and 0.838 (seeds 0, 1)."""
    import json
    from pathlib import Path

    from rllib_marl import train
    from rllib_marl.envs.games.levers import no_comm_ceiling

    cfg = Path(__file__).resolve().parent.parent / "tuned_examples" / "mappo" / f"levers_{kind}.yaml"
    code = train.main(["--config", str(cfg), "--seed", str(seed), "--set", "stop.env_steps=40000",
                       "--output", str(tmp_path), "--quiet"])
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert code == 0
    assert no_comm_ceiling(50, 5) < 0.69
    assert summary["eval_team_return"] >= 0.78, summary["eval_team_return"]


def test_teams_by_prefix_talk_among_themselves():
    """simple_tag: the three adversaries exchange messages, the prey (a team of one) hears nobody."""
    e = parse_experiment({"algorithm": "mappo", "env": {"name": "mpe2.simple_tag_v3", "teams": "by_prefix"},
                          "multi_agent": {"sharing": "per_group"}, "comm": {"type": "commnet"},
                          "stop": {"iterations": 1}})
    env, mapping = validate(e)
    assert env.comm_teams == [["adversary_0", "adversary_1", "adversary_2"], ["agent_0"]]
    obs, _ = env.reset(seed=0)
    assert obs["adversary_1"][TEAM_OBS].shape == (3, 16) and obs["agent_0"][COMM_LINKS].sum() == 0
    np.testing.assert_array_equal(obs["adversary_1"][TEAM_OBS][2], obs["adversary_2"][OBS])
