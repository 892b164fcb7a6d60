"""Play an exported team with onnxruntime alone (no Ray, no torch):
``python -m rllib_marl.deploy EXPORT_DIR [--episodes N] [--seed S] [--sample]``.

``EXPORT_DIR`` is what ``python -m rllib_marl.evaluate RUN --export EXPORT_DIR``
wrote (``layout.json`` and one ``.onnx`` file per module). In your own code::

    from rllib_marl.deploy import ExportedTeam, make_env

    team = ExportedTeam("export/")
    env = make_env(team.layout)              # the PettingZoo env the team was trained on
    obs, infos = env.reset(seed=0)
    team.reset()
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step(team.act(obs, infos))

Greedy by default; ``--sample`` (``ExportedTeam(..., sample=True, seed=S)``) draws
each action from the exported distribution instead: the mixed strategy of a
policy trained for a game like poker, where the greedy action is exploitable.
Each module's ``probs`` output (Discrete actions) is also there to read directly.

Needs numpy, pettingzoo and onnxruntime (``pip install 'rllib_marl[export]'``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy as np

from rllib_marl.envs.observations import (
    ACTION_MASK,
    AGENT_ID,
    COMM_KEYS,
    OBS,
    add_comm_inputs,
    agent_onehot,
    split_obs_space,
    split_observation,
)

LAYOUT = "layout.json"
HOW_TO_EXPORT = "write it again with python -m rllib_marl.evaluate RUN --export DIR"


class ExportError(ValueError):
    """An export directory that is missing a file or holds a damaged one."""


def check_export(export_dir) -> Dict[str, Any]:
    """The export's layout, after checking its files against its manifest;
    :class:`ExportError` naming the file that is missing or damaged."""
    from rllib_marl.rundir import manifest_problem

    d = Path(export_dir)
    if not (d / LAYOUT).is_file():
        raise ExportError(f"{d} has no {LAYOUT}; {HOW_TO_EXPORT}")
    problem = manifest_problem(d)
    if problem:
        raise ExportError(f"{d} is damaged: {problem}; {HOW_TO_EXPORT}")
    try:
        layout = json.loads((d / LAYOUT).read_text())
        modules = layout["modules"]
        files = [m["onnx"] for m in modules.values()]
    except (ValueError, KeyError, TypeError) as e:
        raise ExportError(f"{d / LAYOUT} cannot be read ({type(e).__name__}: {e}); {HOW_TO_EXPORT}") from e
    missing = [f for f in files if not (d / f).is_file()]
    if missing:
        raise ExportError(f"{d} is missing {', '.join(missing)}; {HOW_TO_EXPORT}")
    return layout


class ExportedTeam:
    """The exported modules of a team, acting for every agent of a PettingZoo env."""

    def __init__(self, export_dir, providers: Optional[List[str]] = None, sample: bool = False,
                 seed: Optional[int] = None):
        """``sample``: draw every action from the exported policy's distribution
        (``probs``; Box actions: the Gaussian of ``dist_inputs``, then the action
        bounds), with a ``numpy`` generator seeded by ``seed``, instead of the greedy
        action; refused (:class:`ExportError`) for a module that acts deterministically."""
        import onnxruntime as ort

        self.dir = Path(export_dir)
        self.layout = check_export(self.dir)
        self.sample = bool(sample)
        self.rng = np.random.default_rng(seed)
        if self.sample:
            for mid, m in self.layout["modules"].items():
                kind = m.get("distribution")
                if kind is None:
                    raise ExportError(f"{self.dir} was exported without action distributions (module {mid}); "
                                      f"{HOW_TO_EXPORT}, or deploy without --sample")
                if kind not in ("categorical", "gaussian"):
                    raise ExportError(f"module {mid} acts deterministically (its export has actions only: "
                                      f"{m['class'].rsplit('.', 1)[-1]}); deploy it without --sample")
        self.sessions = {}
        for mid, m in self.layout["modules"].items():
            try:
                self.sessions[mid] = ort.InferenceSession(str(self.dir / m["onnx"]),
                                                          providers=providers or ["CPUExecutionProvider"])
            except Exception as e:  # noqa: BLE001 - onnxruntime raises its own types for a bad model file
                raise ExportError(f"{self.dir / m['onnx']} cannot be loaded by onnxruntime "
                                  f"({type(e).__name__}); {HOW_TO_EXPORT}") from e
        self._raw_spaces: Dict[str, Any] = {}
        self.reset()

    def reset(self) -> None:
        """Forget the recurrent states (call at the start of every episode)."""
        self.states: Dict[str, Dict[str, np.ndarray]] = {}

    def inputs(self, agent: str, raw_obs: Any, info: Optional[dict] = None, space=None) -> Dict[str, np.ndarray]:
        """One agent's input arrays (no batch axis) from its raw PettingZoo observation
        (without the communication inputs, which :meth:`act` builds from the whole
        team; with communication the agent's ``obs`` and ``agent_id`` are always
        built, as its entry in its team's inputs)."""
        a = self.layout["agents"][agent]
        m = self.layout["modules"][a["module"]]
        part_space = self._raw_spaces.get(agent)
        if part_space is None and space is not None:
            part_space = self._raw_spaces[agent] = split_obs_space(space)[0]
        obs, mask = split_observation(raw_obs, part_space)
        out = {}
        for spec in m["inputs"]:
            name = spec["name"]
            if name in COMM_KEYS:
                continue
            if name == OBS:
                x = obs
            elif name == AGENT_ID:
                x = agent_onehot(a["index"], self.layout["num_agents"])
            elif name == ACTION_MASK:
                if mask is None:
                    mask = (info or {}).get(ACTION_MASK)
                x = np.ones(spec["shape"], np.float32) if mask is None else mask
            else:
                raise KeyError(f"layout input {name!r} is not built from an env observation")
            out[name] = np.asarray(x, dtype=spec["dtype"]).reshape(spec["shape"])
        if self.layout.get("comm"):
            out.setdefault(OBS, obs)
            if self.layout["env"].get("agent_id"):
                out.setdefault(AGENT_ID, agent_onehot(a["index"], self.layout["num_agents"]))
        return out

    def act(self, observations: Dict[str, Any], infos: Optional[Dict[str, dict]] = None,
            spaces: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """Greedy actions for the agents in ``observations`` (one batched run per module).

        ``spaces``: each agent's raw observation space; needed once per agent when
        an observation is Discrete (one-hot input); :func:`play_episode` passes them.
        """
        infos = infos or {}
        by_module: Dict[str, List[str]] = {}
        for agent in observations:
            by_module.setdefault(self.layout["agents"][agent]["module"], []).append(agent)
        rows_of = {a: self.inputs(a, o, infos.get(a), (spaces or {}).get(a)) for a, o in observations.items()}
        if self.layout.get("comm"):  # each team's messages: every member's inputs hold the team's observations
            add_comm_inputs(rows_of, self.layout["comm"]["teams"])
        actions = {}
        for mid, agents in by_module.items():
            m = self.layout["modules"][mid]
            rows = [rows_of[a] for a in agents]
            feed = {spec["name"]: np.stack([r[spec["name"]] for r in rows]) for spec in m["inputs"]}
            for st in m["state"]:
                feed[st["input"]] = np.stack([
                    self.states.get(a, {}).get(st["input"], np.zeros(st["shape"], st["dtype"])) for a in agents])
            outs = dict(zip(m["outputs"], self.sessions[mid].run(m["outputs"], feed)))
            for j, a in enumerate(agents):
                act = self._draw(m, outs, j) if self.sample else outs["actions"][j]
                actions[a] = int(act) if m["action_space"]["type"] == "Discrete" else act
                for st in m["state"]:
                    self.states.setdefault(a, {})[st["input"]] = outs[st["output"]][j]
        return actions

    def _draw(self, m: Dict[str, Any], outs: Dict[str, np.ndarray], j: int):
        """Row ``j``'s action drawn from the module's exported distribution."""
        if m["distribution"] == "categorical":
            p = np.asarray(outs["probs"][j], np.float64)
            return int(self.rng.choice(len(p), p=p / p.sum()))
        d = np.asarray(outs["dist_inputs"][j], np.float64)
        mean, log_std = np.split(d, 2)
        a = mean + np.exp(log_std) * self.rng.standard_normal(mean.shape)
        space = m["action_space"]
        low, high = np.asarray(space["low"], np.float64), np.asarray(space["high"], np.float64)
        if m["action_postprocess"] == "unsquash":  # as the exported graph does for the greedy action
            a = low + (a + 1.0) * (high - low) / 2.0
        if m["action_postprocess"] in ("unsquash", "clip"):
            a = np.clip(a, low, high)
        return a.astype(space.get("dtype", "float32"))


def make_env(layout: Dict[str, Any], render_mode: Optional[str] = None):
    """The raw PettingZoo env of an export (its wrappers applied)."""
    from rllib_marl.envs.registry import make_pettingzoo
    from rllib_marl.envs.spec import EnvConfig

    env, _ = make_pettingzoo(EnvConfig.from_dict(layout["env"]), render_mode=render_mode)
    return env


def play_episode(team: ExportedTeam, env, seed: Optional[int] = None) -> Dict[str, float]:
    """One episode of the env's own (unshaped) rewards, summed per agent."""
    from pettingzoo import AECEnv

    team.reset()
    returns: Dict[str, float] = {a: 0.0 for a in env.possible_agents}
    spaces = {a: env.observation_space(a) for a in env.possible_agents}
    if isinstance(env, AECEnv):
        env.reset(seed=seed)
        for agent in env.agent_iter():
            obs, reward, term, trunc, info = env.last()
            returns[agent] += float(reward)
            action = None if term or trunc else team.act({agent: obs}, {agent: info}, spaces)[agent]
            env.step(action)
        return returns
    obs, infos = env.reset(seed=seed)
    while env.agents:
        obs, rewards, terms, truncs, infos = env.step(team.act(obs, infos, spaces))
        for a, r in rewards.items():
            returns[a] += float(r)
    return returns


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rllib_marl.deploy",
                                description="Play an exported team with onnxruntime (no Ray, no torch).")
    p.add_argument("export_dir")
    p.add_argument("--episodes", type=int, default=5)
    p.add_argument("--seed", type=int, default=1_000_000,
                   help="seed of the first reset (default: that of evaluate's first episode with the run's seed 0)")
    p.add_argument("--sample", action="store_true",
                   help="draw actions from the exported policy's probabilities (a mixed strategy), "
                        "seeded by --seed, instead of the greedy action")
    args = p.parse_args(argv)
    try:
        team = ExportedTeam(args.export_dir, sample=args.sample, seed=args.seed)
    except ExportError as e:
        print(f"deploy error: {e}", file=sys.stderr)
        return 2
    env = make_env(team.layout)
    print(f"{team.layout['env']['name']}: {len(team.sessions)} module(s) for {len(team.layout['agents'])} agents, "
          + ("actions drawn from the exported probabilities" if args.sample else "greedy actions"))
    from rllib_marl.envs.spec import competitive, team_return_convention

    env_cfg = team.layout["env"]
    conv = team_return_convention(env_cfg.get("team_return", "sum"), env)
    sides = competitive(env_cfg.get("teams", "one"))  # a sum over opponents means nothing
    for i in range(args.episodes):
        # Seeded once, as evaluate's sub-envs: --seed 1000000 replays
        # `evaluate RUN --num-envs-per-env-runner 1` (evaluation envs get seed + 1,000,000).
        r = play_episode(team, env, seed=args.seed if i == 0 else None)
        total = sum(r.values()) / (len(r) if conv == "mean" else 1)
        head = "" if sides else f"team {total:.3f} ({conv} over agents) | "
        print(f"episode {i}: {head}" + " ".join(f"{a} {v:.3f}" for a, v in sorted(r.items())))
    env.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
