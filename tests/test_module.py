"""ActorCriticModule: what the actor and the critic see, masks, GRU, value norm."""

import numpy as np
import pytest
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns

from rllib_marl.envs import ACTION_MASK, AGENT_ID, OBS, STATE
from rllib_marl.policies import ActorCriticModule, RunningMeanStd

OBS_SPACE = spaces.Dict({
    OBS: spaces.Box(-1, 1, (4,), np.float32),
    STATE: spaces.Box(-np.inf, np.inf, (12,), np.float32),
    AGENT_ID: spaces.Box(0, 1, (3,), np.float32),
})


def make(critic_input="state", action_space=spaces.Discrete(5), obs_space=OBS_SPACE, **model):
    return ActorCriticModule(
        observation_space=obs_space,
        action_space=action_space,
        model_config={"critic_input": critic_input, **model},
    )


def batch(B=6, seed=0, obs_space=OBS_SPACE, T=None):
    g = torch.Generator().manual_seed(seed)
    shape = (B,) if T is None else (B, T)
    return {Columns.OBS: {k: torch.rand(*shape, *s.shape, generator=g) for k, s in obs_space.spaces.items()}}


def test_actor_never_sees_the_state():
    torch.manual_seed(0)
    m = make()
    b = batch()
    logits = m.forward_exploration(b)[Columns.ACTION_DIST_INPUTS]
    b2 = {Columns.OBS: dict(b[Columns.OBS], **{STATE: torch.randn(6, 12) * 10})}
    torch.testing.assert_close(m.forward_exploration(b2)[Columns.ACTION_DIST_INPUTS], logits)
    b3 = {Columns.OBS: dict(b[Columns.OBS], **{OBS: torch.rand(6, 4)})}
    assert not torch.allclose(m.forward_exploration(b3)[Columns.ACTION_DIST_INPUTS], logits)
    # The agent id is an actor input.
    b4 = {Columns.OBS: dict(b[Columns.OBS], **{AGENT_ID: torch.eye(3)[[1, 2, 0, 1, 2, 0]]})}
    assert not torch.allclose(m.forward_exploration(b4)[Columns.ACTION_DIST_INPUTS], logits)


@pytest.mark.parametrize("critic_input,sees_state,sees_obs", [
    ("state", True, False), ("state+obs", True, True), ("obs", False, True)])
def test_critic_inputs(critic_input, sees_state, sees_obs):
    torch.manual_seed(0)
    m = make(critic_input)
    b = batch()
    v = m.compute_values(b)
    assert v.shape == (6,)
    vs = m.compute_values({Columns.OBS: dict(b[Columns.OBS], **{STATE: torch.randn(6, 12)})})
    vo = m.compute_values({Columns.OBS: dict(b[Columns.OBS], **{OBS: torch.rand(6, 4)})})
    assert (not torch.allclose(vs, v)) == sees_state
    assert (not torch.allclose(vo, v)) == sees_obs


def test_ippo_module_needs_no_state_and_mappo_refuses_missing_state():
    no_state = spaces.Dict({OBS: spaces.Box(-1, 1, (4,), np.float32)})
    make("obs", obs_space=no_state)
    with pytest.raises(ValueError, match="needs a global state"):
        make("state", obs_space=no_state)


def test_action_mask_makes_masked_actions_impossible():
    space = spaces.Dict({OBS: spaces.Box(-1, 1, (4,), np.float32),
                         ACTION_MASK: spaces.Box(0, 1, (5,), np.float32)})
    m = make("obs", obs_space=space)
    b = batch(B=64, obs_space=space)
    mask = torch.zeros(64, 5)
    mask[:, [1, 3]] = 1
    b[Columns.OBS][ACTION_MASK] = mask
    logits = m.forward_exploration(b)[Columns.ACTION_DIST_INPUTS]
    dist = m.get_exploration_action_dist_cls().from_logits(logits)
    acts = torch.stack([dist.sample() for _ in range(50)])
    assert set(acts.unique().tolist()) <= {1, 3}
    probs = torch.softmax(logits, -1)
    assert probs[:, [0, 2, 4]].max() < 1e-12


def test_box_actions_give_mean_and_log_std():
    m = make(action_space=spaces.Box(0, 1, (5,), np.float32))
    b = batch()
    out = m.forward_exploration(b)[Columns.ACTION_DIST_INPUTS]
    assert out.shape == (6, 10)
    # Second half: the state-independent log-std parameter (initial -0.5) on every row;
    # first half: a mean that depends on the observation.
    np.testing.assert_allclose(out[:, 5:].detach().numpy(), -0.5)
    assert m.log_std.requires_grad and m.log_std.shape == (5,)
    b2 = batch()
    b2[Columns.OBS][OBS] = b2[Columns.OBS][OBS] + 1.0
    out2 = m.forward_exploration(b2)[Columns.ACTION_DIST_INPUTS]
    assert not torch.allclose(out[:, :5], out2[:, :5])
    torch.testing.assert_close(out[:, 5:], out2[:, 5:])


def test_box_actions_reach_the_env_inside_its_bounds():
    """Gaussian samples are unbounded; what the env receives is inside Box(0, 1)."""
    from rllib_marl.build import build_algo_config
    from rllib_marl.config import ScaleConfig, parse_experiment

    exp = parse_experiment({"algorithm": "mappo", "stop": {"iterations": 1},
                            "env": {"name": "mpe2.simple_spread_v3",
                                    "kwargs": {"N": 2, "max_cycles": 10, "continuous_actions": True}}})
    config, _ = build_algo_config(exp, ScaleConfig(num_envs_per_env_runner=2))
    runner = config.env_runner_cls(config=config)
    sent, raw = [], []
    to_env = runner._actions_for_env

    def record(actions, episode):
        raw.extend(np.asarray(a) for a in actions.values())
        out = to_env(actions, episode)
        sent.extend(np.asarray(a) for a in out.values())
        return out

    runner._actions_for_env = record
    runner.sample(num_timesteps=200, explore=True)
    sent, raw = np.stack(sent), np.stack(raw)
    assert sent.shape[1] == 5 and sent.min() >= 0.0 and sent.max() <= 1.0
    assert raw.min() < 0.0 or raw.max() > 1.0  # the module's samples did leave the box


def test_gru_actor_carries_state_over_time():
    torch.manual_seed(0)
    m = make(use_gru=True, gru_hidden=16)
    assert m.is_stateful()
    h0 = torch.as_tensor(m.get_initial_state()["h"]).expand(3, 16)
    b = batch(B=3, T=5)
    b[Columns.STATE_IN] = {"h": h0}
    out = m.forward_train(b)
    assert out[Columns.ACTION_DIST_INPUTS].shape == (3, 5, 5)
    assert out[Columns.STATE_OUT]["h"].shape == (3, 16)
    # Same observation at t=0 and t=4 but different history -> different logits.
    b[Columns.OBS][OBS][:, 4] = b[Columns.OBS][OBS][:, 0]
    b[Columns.OBS][AGENT_ID][:, 4] = b[Columns.OBS][AGENT_ID][:, 0]
    logits = m.forward_train(b)[Columns.ACTION_DIST_INPUTS]
    assert not torch.allclose(logits[:, 0], logits[:, 4])
    assert m.compute_values(b).shape == (3, 5)


def test_inference_only_module_has_no_critic():
    m = ActorCriticModule(observation_space=OBS_SPACE, action_space=spaces.Discrete(5),
                          inference_only=True, model_config={"critic_input": "state"})
    assert not hasattr(m, "critic")
    full = make()
    names = {k for k in full.state_dict() if not k.startswith(("critic", "value_norm"))}
    assert names == set(m.state_dict())


def test_running_mean_std_tracks_targets():
    rms = RunningMeanStd(beta=0.99)
    g = torch.Generator().manual_seed(0)
    for _ in range(2000):
        rms.update(torch.randn(64, generator=g) * 5 + 20)
    mean, std = rms.stats()
    assert abs(mean - 20) < 0.5 and abs(std - 5) < 0.5
    x = torch.tensor([10.0, 20.0, 30.0])
    torch.testing.assert_close(rms.denormalize(rms.normalize(x)), x)


def test_gru_is_a_drop_in_nn_gru():
    """Our GRU (re-flattens its weights on CUDA) keeps nn.GRU's names and maths."""
    import copy

    from rllib_marl.policies.nets import GRU

    torch.manual_seed(0)
    ours = GRU(6, 5, batch_first=True)
    ref = torch.nn.GRU(6, 5, batch_first=True)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ref.load_state_dict(ours.state_dict())
    x, h = torch.randn(3, 4, 6), torch.randn(1, 3, 5)
    for net in (ours, copy.deepcopy(ours)):  # target networks are deep copies
        out, h_out = net(x, h)
        ref_out, ref_h = ref(x, h)
        assert torch.allclose(out, ref_out) and torch.allclose(h_out, ref_h)
