"""Export a trained team's acting modules as ONNX and TorchScript.

Each module that plays a seat becomes ``<module>.onnx`` and ``<module>.pt``: a
graph from the agent's observation inputs (and recurrent state) to the greedy
action the env runner would send to the env (masked, and unsquashed or clipped
for Box actions as the run's config says), then the policy's action
distribution where it has one — ``probs`` (Discrete actions: the softmax of the
masked logits, what the module samples from) or ``dist_inputs`` (Box actions:
the diagonal Gaussian's means then log standard deviations, before the action
bounds) — plus the next recurrent state. A module that acts deterministically
(QMIX's greedy Q values, MADDPG's actor) exports the action alone.
``layout.json`` says which agent uses which file, the inputs' names, shapes and
dtypes, how each input is built from PettingZoo's raw observation, and the env
to build; ``python -m rllib_marl.deploy DIR`` plays the team with onnxruntime
alone (see :mod:`rllib_marl.deploy`).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import torch
from gymnasium import spaces
from ray.rllib.core.columns import Columns

from rllib_marl.envs.observations import actor_keys

LAYOUT = "layout.json"
LAYOUT_VERSION = 1
ACTIONS = "actions"
PROBS = "probs"
DIST_INPUTS = "dist_inputs"
STATE_IN, STATE_OUT = "state_in_", "state_out_"


def input_keys(module) -> List[str]:
    """The observation keys a module's actor reads, in a fixed order (a module
    may name them itself: an actor with messages reads its team's inputs, not
    its own ``obs``)."""
    own = getattr(module, "actor_input_keys", None)
    return own() if callable(own) else actor_keys(module.observation_space)


class GreedyActor(torch.nn.Module):
    """``(obs inputs..., state inputs...) -> (actions, [probs | dist_inputs], next
    states...)`` of one RLModule: the action the env runner takes greedily
    (``forward_inference``, the deterministic action of its distribution, then
    the env's action bounds), and the distribution it is the mode of where the
    module has one (:func:`distribution_kind`)."""

    def __init__(self, module, keys: List[str], state_keys: List[str], postprocess: str):
        super().__init__()
        self.module = module
        self.keys = keys
        self.state_keys = state_keys
        self.postprocess = postprocess
        self.distribution = distribution_kind(module)
        act = module.action_space
        if isinstance(act, spaces.Box):
            self.register_buffer("low", torch.as_tensor(np.broadcast_to(act.low, act.shape), dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(np.broadcast_to(act.high, act.shape), dtype=torch.float32))

    def forward(self, *inputs):
        out, state_out = self._module_out(*inputs)
        dist_out = []
        if Columns.ACTIONS in out:
            actions = out[Columns.ACTIONS]
        else:
            logits = out[Columns.ACTION_DIST_INPUTS]
            dist = self.module.get_inference_action_dist_cls().from_logits(logits)
            actions = dist.to_deterministic().sample()
            if self.distribution == "categorical":
                dist_out = [torch.softmax(logits, dim=-1)]
            elif self.distribution == "gaussian":
                dist_out = [logits]
        if self.postprocess == "unsquash":
            actions = self.low + (actions + 1.0) * (self.high - self.low) / 2.0
            actions = torch.maximum(torch.minimum(actions, self.high), self.low)
        elif self.postprocess == "clip":
            actions = torch.maximum(torch.minimum(actions, self.high), self.low)
        outputs = [actions] + dist_out
        if self.state_keys:
            outputs += [state_out[k] for k in self.state_keys]
        return tuple(outputs)

    def _module_out(self, *inputs):
        """The module's ``forward_inference`` outputs (time axis removed) and next state."""
        obs = dict(zip(self.keys, inputs[: len(self.keys)]))
        batch: Dict[str, Any] = {Columns.OBS: obs}
        stateful = bool(self.state_keys)
        if stateful:  # one time step: a time axis of 1, as the env runner adds it
            batch[Columns.OBS] = {k: v.unsqueeze(1) for k, v in obs.items()}
            batch[Columns.STATE_IN] = dict(zip(self.state_keys, inputs[len(self.keys):]))
        out = dict(self.module.forward_inference(batch))
        state_out = out.pop(Columns.STATE_OUT, None) if stateful else None
        if stateful:
            out = {k: v.squeeze(1) if isinstance(v, torch.Tensor) and v.dim() > 1 else v for k, v in out.items()}
        return out, state_out


def distribution_kind(module) -> str:
    """What the module's inference action distribution is, for the export:
    ``categorical`` (probabilities exported), ``gaussian`` (means and log stds
    exported) or ``none`` (the module returns its actions itself, or a
    distribution the export does not describe)."""
    from ray.rllib.core.distribution.torch.torch_distribution import TorchCategorical, TorchDiagGaussian

    try:
        cls = module.get_inference_action_dist_cls()
    except (NotImplementedError, AttributeError):
        return "none"
    if isinstance(cls, type) and issubclass(cls, TorchCategorical):
        return "categorical"
    if isinstance(cls, type) and issubclass(cls, TorchDiagGaussian):
        return "gaussian"
    return "none"


def _postprocess(module, config) -> str:
    act = module.action_space
    if not isinstance(act, spaces.Box):
        return "none"
    bounded = bool(np.all(np.isfinite(act.low)) and np.all(np.isfinite(act.high)))
    if config.normalize_actions and bounded and np.issubdtype(act.dtype, np.floating):
        return "unsquash"
    return "clip" if config.clip_actions else "none"


def _space_json(space) -> Dict[str, Any]:
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    return {"type": type(space).__name__, "shape": list(space.shape), "dtype": str(space.dtype),
            "low": np.broadcast_to(space.low, space.shape).tolist(),
            "high": np.broadcast_to(space.high, space.shape).tolist()}


def actor_for(module, config) -> GreedyActor:
    init = module.get_initial_state() if module.is_stateful() else {}
    actor = GreedyActor(module, input_keys(module), sorted(init), _postprocess(module, config)).eval()
    with torch.no_grad():  # a module that returns its actions itself has no distribution to export
        out, _ = actor._module_out(*example_inputs(actor))
    if Columns.ACTIONS in out:
        actor.distribution = "none"
    return actor


def example_inputs(actor: GreedyActor, batch: int = 2) -> List[torch.Tensor]:
    space = actor.module.observation_space
    xs = [torch.zeros((batch, *space[k].shape), dtype=torch.as_tensor(np.zeros(0, space[k].dtype)).dtype)
          for k in actor.keys]
    init = actor.module.get_initial_state() if actor.state_keys else {}
    xs += [torch.as_tensor(np.stack([np.asarray(init[k])] * batch)) for k in actor.state_keys]
    return xs


def export_module(module, config, path_stem: Path) -> Dict[str, Any]:
    """Writes ``<stem>.onnx`` and ``<stem>.pt``; returns the module's layout entry."""
    import warnings

    actor = actor_for(module, config)
    xs = example_inputs(actor)
    in_names = list(actor.keys) + [STATE_IN + k for k in actor.state_keys]
    dist_names = {"categorical": [PROBS], "gaussian": [DIST_INPUTS]}.get(actor.distribution, [])
    out_names = [ACTIONS] + dist_names + [STATE_OUT + k for k in actor.state_keys]
    dyn = {n: {0: "batch"} for n in in_names + out_names}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        torch.onnx.export(actor, tuple(xs), str(path_stem) + ".onnx", input_names=in_names,
                          output_names=out_names, dynamic_axes=dyn, dynamo=False, opset_version=17)
        traced = torch.jit.trace(actor, tuple(xs), check_trace=False)
    traced.save(str(path_stem) + ".pt")
    space = module.observation_space
    init = module.get_initial_state() if actor.state_keys else {}
    return {
        "onnx": path_stem.name + ".onnx",
        "torchscript": path_stem.name + ".pt",
        "class": f"{type(module).__module__}.{type(module).__name__}",
        "inputs": [{"name": k, "shape": list(space[k].shape), "dtype": str(space[k].dtype)} for k in actor.keys],
        "state": [{"input": STATE_IN + k, "output": STATE_OUT + k, "shape": list(np.shape(init[k])),
                   "dtype": str(np.asarray(init[k]).dtype), "initial": "zeros"} for k in actor.state_keys],
        "outputs": out_names,
        "action_space": _space_json(module.action_space),
        "action_postprocess": actor.postprocess,
        # how `deploy --sample` draws an action: from `probs`, from the Gaussian of
        # `dist_inputs` (then action_postprocess), or not at all (deterministic)
        "distribution": actor.distribution,
    }


def export_team(plan, out_dir: Path) -> Path:
    """Exports every module on ``plan.seats`` (an :class:`rllib_marl.eval_plan.EvalPlan`)
    to ``out_dir``; returns the path of ``layout.json``."""
    from rllib_marl.config import resolved_env_config
    from rllib_marl.eval_plan import eval_config, eval_module_id

    out_dir.mkdir(parents=True, exist_ok=True)
    config = eval_config(plan, 0, 1)
    modules = {}
    for eid, module in plan.modules.items():
        modules[eid] = export_module(module, config, out_dir / eid)
    agents = plan.agents
    mask_from_info = bool(plan.main.exp.env.action_mask_from_info)
    env_cfg = dataclasses.asdict(resolved_env_config(plan.main.exp))
    layout = {
        "version": LAYOUT_VERSION,
        "checkpoint": str(plan.main.checkpoint),
        "opponent": str(plan.opponent.checkpoint) if plan.opponent else None,
        "algorithm": plan.main.exp.algorithm,
        "env": env_cfg,
        "api": plan.api,
        "agents": {a: {"module": eval_module_id(src, mid), "index": agents.index(a)}
                   for a, (src, mid) in plan.seats.items()},
        "num_agents": len(agents),
        "inputs_from_env": {
            "obs": "the agent's raw observation (its 'observation' entry when it is a dict) in the input's "
                   "dtype: uint8 frames as they are, anything else as float32; a Discrete observation "
                   "becomes a one-hot vector",
            "agent_id": "one-hot of the agent's index (agents sorted by name) over num_agents",
            "action_mask": "1 = allowed: the raw observation's 'action_mask' entry"
                           + (", else infos[agent]['action_mask']" if mask_from_info else ""),
            "team_obs, comm_links, comm_self": "learned communication (layout 'comm'): per team, every "
                                               "present member's obs (then its agent_id, if an input) "
                                               "flattened, in the team's order, zeros for absent members; "
                                               "links[r][s] = 1 when both are present and r != s; the "
                                               "agent's one-hot position in its team",
            "state_in_*": "the module's recurrent state: zeros at the start of an episode, then the "
                          "state_out_* of the agent's previous step",
        },
        "modules": modules,
    }
    if plan.main.exp.comm is not None:  # which agents exchange messages (deploy builds their inputs)
        from rllib_marl.envs.spec import team_lists

        layout["comm"] = {"type": plan.main.exp.comm.type, "teams": team_lists(agents, plan.main.exp.env.teams)}
    path = out_dir / LAYOUT
    path.write_text(json.dumps(layout, indent=2))
    from rllib_marl.rundir import write_manifest

    write_manifest(out_dir, [path] + [out_dir / f for m in modules.values() for f in (m["onnx"], m.get("torchscript"))
                                      if f])
    return path
