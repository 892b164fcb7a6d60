"""What every rllib_marl ``AlgorithmConfig`` shares: the config is the algorithm.

:class:`MarlConfig` is mixed in front of an RLlib config class
(``class QMIXConfig(MarlConfig, AlgorithmConfig)``). It makes the plain RLlib
chain train the way the CLI does::

    QMIXConfig().environment(env_config={"name": "two_step"}).training(mixer="vdn").build_algo()

* **Defaults, written once.** Every field of the algorithm's training dataclass
  (``training_cls``) is an attribute of the config at its default, and
  :meth:`training` accepts it; the YAML ``training:`` block fills the same
  attributes. Checks on single values (ranges, choices) are declared once, as
  field metadata of that dataclass, and run in :meth:`validate` (the YAML parser
  reads the same metadata).
* **Our runner and metrics by default**: the env is :class:`~rllib_marl.envs.RLlibEnv`
  (the env named by ``env_config["name"]``: any kind ``rllib_marl.envs.sources``
  takes; ``.environment(MyEnv, env_config=...)`` is adopted, see
  :meth:`MarlConfig.adopt_env`), sampled by
  :class:`~rllib_marl.env_runner.FastMultiAgentEnvRunner`, reported by
  :class:`~rllib_marl.metrics.MarlMetricsCallback` (team and per-agent returns,
  env metrics); one shared module (``"shared"``) plays every agent until
  ``multi_agent()`` says otherwise.
* **What it derives from the env, it derives itself**: :meth:`validate` builds the
  env once in the driver (unless :meth:`derive_from_env` was handed one) and keeps
  an :class:`EnvLayout` (sorted agents, their spaces, the team-return
  convention). The agent groups (which module acts for which agents) follow
  from the layout and ``policy_mapping_fn``; learner-only modules (a mixer,
  critics) and settings a module needs from training (epsilon, exploration
  noise) are added in :meth:`get_multi_rl_module_spec`, so changing the env,
  the mapping or a training value is always seen.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple, Type

from ray.rllib.algorithms.algorithm_config import NotProvided

from rllib_marl import rllib_compat
from rllib_marl.envs.spec import env_label
from rllib_marl.policies.defaults import ModelConfig
from rllib_marl.schema import ConfigError, check_fields, check_mapping

SHARED_MODULE = "shared"


class EnvWarning(UserWarning):
    """An env a run would train on without learning anything (see ``EnvLayout.notes``)."""


class OneModule:
    """Picklable ``policy_mapping_fn``: every agent to one module."""

    def __init__(self, module_id: str = SHARED_MODULE):
        self.module_id = module_id

    def __call__(self, agent_id, episode=None, **kwargs) -> str:
        return self.module_id

    def __repr__(self) -> str:
        return f"OneModule({self.module_id!r})"


class AgentToModule:
    """Picklable ``policy_mapping_fn``: a fixed agent → module table."""

    def __init__(self, mapping: Dict[str, str]):
        self.mapping = dict(mapping)

    def __call__(self, agent_id, episode=None, **kwargs) -> str:
        return self.mapping[agent_id]

    def __repr__(self) -> str:
        return f"AgentToModule({self.mapping!r})"


@dataclass(frozen=True)
class EnvLayout:
    """What an algorithm needs to know about its env, read once from one instance.

    Attributes:
        agents: every possible agent, sorted (the order of mixer inputs, critic
            inputs and one-hot ids).
        observation_spaces / action_spaces: per agent.
        team_return: how per-agent returns add up to the team's (``sum`` or ``mean``).
        api: ``parallel`` (simultaneous moves) or ``aec`` (turn-based).
        source: what it was read from (the env and its config); a config whose
            env or env_config changed reads its layout again.
    """

    agents: Tuple[Any, ...]
    observation_spaces: Dict[Any, Any]
    action_spaces: Dict[Any, Any]
    team_return: str
    api: str
    source: str
    teams: str = "one"  # env.teams with auto resolved (see rllib_marl.envs.adapter.resolve_teams)
    teams_note: str = ""  # why auto resolved as it did, when it was not "one" by default
    notes: Tuple[str, ...] = ()  # warnings about a degenerate env (rllib_marl.envs.adapter.degenerate_notes)
    failure: str = ""  # the error of an env that raised in its first random steps
    batched: bool = False  # a batched simulator (VMAS) stands behind the one-at-a-time view


def env_source(config) -> str:
    """A key of the env a config builds: its env and its ``env_config``."""
    env = config.env
    name = env if isinstance(env, str) else f"{getattr(env, '__module__', '')}.{getattr(env, '__qualname__', repr(env))}"
    # Not env.teams: validate() writes the resolved value there (it does not change the env).
    settings = {k: v for k, v in dict(config.env_config or {}).items() if k != "teams"}
    return name + "|" + json.dumps(settings, sort_keys=True, default=repr)


def layout_of(env, source: str, teams: str = "auto") -> EnvLayout:
    """Reads an :class:`EnvLayout` from a built multi-agent env (``teams``: the
    ``env.teams`` setting, resolved here when it is ``auto``)."""
    agents = getattr(env, "possible_agents", None)
    if not agents:
        raise ConfigError("env", f"{type(env).__name__} is not a multi-agent env with possible_agents; "
                                 "rllib_marl's algorithms need an RLlib MultiAgentEnv (or a PettingZoo env "
                                 "through rllib_marl.envs.RLlibEnv)")
    agents = tuple(sorted(agents, key=str))
    obs = {a: env.get_observation_space(a) for a in agents}
    act = {a: env.get_action_space(a) for a in agents}
    conv = getattr(env, "team_return_convention", "sum")
    resolved, note, notes, failure = teams, "", (), ""
    if hasattr(env, "env_returns"):  # our adapter: its first random steps say more
        from rllib_marl.envs.adapter import degenerate_notes, resolve_teams

        try:
            if teams == "auto":
                # Learned communication's teams are fixed when the env is built: no sides then.
                resolved, note = ("one", "") if getattr(env, "comm_teams", None) else resolve_teams(env, teams)
            notes = tuple(degenerate_notes(env))
        except Exception as e:  # noqa: BLE001 - validate() reports it, after the algorithm's own checks
            failure = f"{type(e).__name__}: {e}".splitlines()[0]
    if resolved == "auto":
        resolved = "one"
    batched = bool(getattr(getattr(env, "env", None), "batched_simulator", False))
    return EnvLayout(agents, obs, act, conv if conv in ("sum", "mean") else "sum",
                     getattr(env, "api", "parallel"), source, resolved, note, notes, failure, batched)


def _training_args(config) -> frozenset:
    """The keyword arguments RLlib's own ``training()`` takes for this config's
    class: its own and, through ``**kwargs``, those of its bases (PPOConfig's
    passes ``model`` and others on to AlgorithmConfig's)."""
    args = set()
    for cls in type(config).__mro__:
        if "training" in vars(cls) and not issubclass(cls, MarlConfig):
            args |= set(inspect.signature(cls.training).parameters)
    return frozenset(args - {"self", "kwargs"})


def training_defaults(training_cls: Type) -> Dict[str, Any]:
    """The fields of a training dataclass at their defaults."""
    return dataclasses.asdict(training_cls())


class MarlConfig:
    """The part of every rllib_marl ``AlgorithmConfig`` that is the same (see module
    docstring). Subclasses set :attr:`name` and :attr:`training_cls` and may
    override :meth:`module_defaults`, :meth:`module_settings`,
    :meth:`learner_only_specs`, :meth:`complete_settings`,
    :meth:`complete_for_env` and :meth:`validate_layout`."""

    #: dataclass of the training settings: the one place their defaults and checks are written.
    training_cls: Type = None
    #: its name in the algorithm registry (``algorithm:`` in YAML); its spec
    #: holds the capability flags that :meth:`validate_layout` checks.
    name: str = ""

    def __init__(self, algo_class=None):
        super().__init__(algo_class=algo_class)
        from rllib_marl.env_runner import FastMultiAgentEnvRunner
        from rllib_marl.envs.adapter import RLlibEnv
        from rllib_marl.metrics import MarlMetricsCallback

        for name, value in training_defaults(self.training_cls).items():
            setattr(self, name, value)
        self.framework_str = "torch"
        self.env = RLlibEnv
        # RLlib's pre-check rejects final observations of agents that finished on
        # the first step (e.g. one-shot matrix games); the adapter has its own tests.
        self.disable_env_checking = True
        self.env_runner_cls = FastMultiAgentEnvRunner
        self.callbacks_class = [MarlMetricsCallback]
        self.multi_agent(policies={SHARED_MODULE}, policy_mapping_fn=OneModule(SHARED_MODULE))
        self.env_layout: Optional[EnvLayout] = None
        self.sampler = "auto"  # sampling()

    def sampling(self, sampler: str = "auto") -> "MarlConfig":
        """Which env runner samples: ``auto`` (the batched runner for a batched
        simulator such as VMAS when the algorithm trains from it, else ``fast``),
        ``fast`` (ours, one sub-env at a time), ``batched``
        (:class:`~rllib_marl.batched_runner.BatchedEnvRunner`) or ``rllib``
        (RLlib's ``MultiAgentEnvRunner``)."""
        from rllib_marl.config import SAMPLERS

        if sampler not in SAMPLERS:
            raise ConfigError("env_runners.sampler", f"unknown value {sampler!r}; allowed: {', '.join(SAMPLERS)}")
        self.sampler = sampler
        if sampler in ("fast", "rllib"):  # known without the env; auto and batched once it is read
            from ray.rllib.env.multi_agent_env_runner import MultiAgentEnvRunner

            from rllib_marl.env_runner import FastMultiAgentEnvRunner

            self.env_runner_cls = FastMultiAgentEnvRunner if sampler == "fast" else MultiAgentEnvRunner
        return self

    def batched(self) -> bool:
        """Whether this config samples with the batched env runner."""
        from rllib_marl.batched_runner import BatchedEnvRunner

        return isinstance(self.env_runner_cls, type) and issubclass(self.env_runner_cls, BatchedEnvRunner)

    def choose_sampler(self, layout: EnvLayout) -> None:
        """Sets the env runner class ``sampling()`` asks for, refusing a batched
        runner where it cannot serve (after the env is read)."""
        from rllib_marl.batched_runner import BatchedEnvRunner
        from rllib_marl.env_runner import FastMultiAgentEnvRunner

        if self.sampler in ("fast", "rllib"):  # set by sampling() itself
            return
        why = self._batched_unfit(layout)
        if self.sampler == "batched":
            if why:
                raise ConfigError("env_runners.sampler", f"batched: {why}; use sampler: fast (or auto)")
            self.env_runner_cls = BatchedEnvRunner
        elif not why and self.env_runner_cls is FastMultiAgentEnvRunner:  # auto, and nobody chose a runner
            self.env_runner_cls = BatchedEnvRunner
        if self.batched():
            # The simulator's sub-envs are env.kwargs.num_envs; the runner's own vector env is the
            # one-at-a-time view its counted (evaluation) episodes are played on.
            self.num_envs_per_env_runner = 1

    def _batched_unfit(self, layout: EnvLayout) -> str:
        """Why the batched runner cannot sample this run ('' when it can)."""
        if not layout.batched:
            return f"{env_label((self.env_config or {}).get('name'))} is not a batched simulator (vmas:<scenario> is)"
        if not self.spec.batched_sampling:
            from rllib_marl.algorithms.registry import algorithms_with

            return f"{self.spec.name} does not train from batched samples yet ({algorithms_with('batched_sampling')} do)"
        env_config = self.env_config or {}
        if env_config.get("wrappers"):
            return "env.wrappers are not applied by the batched simulator"
        if env_config.get("comm") or getattr(self, "league_settings", None) is not None:
            return "learned communication and leagues need episodes (one sub-env at a time)"
        if {**self.module_defaults(), **(self.model_config or {})}.get("use_gru"):
            return "recurrent modules (model.use_gru) need episodes"
        return ""

    # ----- settings -------------------------------------------------------------------

    def own_settings(self) -> frozenset:
        """Settings :meth:`training` sets itself (not RLlib's own arguments)."""
        return frozenset(f.name for f in dataclasses.fields(self.training_cls)) - _training_args(self)

    def training(self, **kwargs):
        own = self.own_settings()
        unknown = set(kwargs) - own - _training_args(self)
        if unknown:
            raise TypeError(f"{type(self).__name__}.training() got unknown settings {sorted(unknown)}; "
                            f"its own are {sorted(own)}")
        super().training(**{k: v for k, v in kwargs.items() if k not in own})
        for name, value in kwargs.items():
            if name in own and value is not NotProvided:
                setattr(self, name, value)
        return self

    def learning_rate(self):
        """What the learners' optimizers take as ``lr_or_lr_schedule``."""
        return self.lr

    def training_settings(self) -> Any:
        """The training dataclass with this config's values (what a YAML
        ``training:`` block with these values would parse to)."""
        return self.training_cls(**{f.name: getattr(self, f.name) for f in dataclasses.fields(self.training_cls)})

    # ----- the env ----------------------------------------------------------------------

    def adopt_env(self) -> None:
        """``.environment(MyEnv, env_config={...})``, RLlib's way to name an env (a
        class, a factory, a ``register_env`` name), becomes ours: ``env`` is
        :class:`~rllib_marl.envs.RLlibEnv` and ``env_config`` is ``{"name": MyEnv,
        "kwargs": <the env_config given>}`` (the env's own config, as RLlib would
        pass it), so the adapter presents it (masks, global state, agent ids,
        returns). Our env settings beside it (``global_state``, ``team_return``,
        ...) are written the other way: ``env_config={"name": MyEnv, "kwargs":
        {...}, "global_state": "concat"}`` with ``env`` left as it is."""
        from rllib_marl.envs.adapter import RLlibEnv

        if self.env is RLlibEnv or self.env is None:
            return
        self.env_config = {"name": self.env, "kwargs": dict(self.env_config or {})}
        self.env = RLlibEnv

    def derive_from_env(self, env=None):
        """Reads the :class:`EnvLayout` from ``env`` (or from an env this config
        builds, when none is given). :meth:`validate` calls it when the layout is
        missing or was read from another env."""
        if env is None:
            self.adopt_env()
        source = env_source(self)
        teams = (self.env_config or {}).get("teams", "auto")
        if env is None:
            env = rllib_compat.make_env(self)
            try:
                self.env_layout = layout_of(env, source, teams)
            finally:
                close = getattr(env, "close", None)
                if close is not None:
                    close()
        else:
            self.env_layout = layout_of(env, source, teams)
        return self

    def _layout(self) -> EnvLayout:
        if self.env_layout is None:
            raise ValueError(f"{type(self).__name__} has not read its env yet: call validate() or "
                             "derive_from_env() first (build_algo() does)")
        return self.env_layout

    @property
    def agent_ids(self) -> List[Any]:
        """Every possible agent, sorted."""
        return list(self.env_layout.agents) if self.env_layout is not None else []

    @property
    def agent_groups(self) -> List[Tuple[str, List[int]]]:
        """``(module id, indices of its agents in sorted order)`` per acting module."""
        groups: Dict[str, List[int]] = {}
        for i, aid in enumerate(self.agent_ids):
            groups.setdefault(self.policy_mapping_fn(aid, None), []).append(i)
        return sorted(groups.items())

    @property
    def acting_modules(self) -> List[str]:
        """Modules the env runners act with (their weights are synced)."""
        return [mid for mid, _ in self.agent_groups]

    @property
    def team_reward(self) -> str:
        """The env's team-return convention (``sum`` or ``mean``)."""
        return self.env_layout.team_return if self.env_layout is not None else "sum"

    @property
    def obs_shapes(self) -> Dict[str, Dict[str, Tuple[int, ...]]]:
        """Per acting module, the shape of each observation key of its agents."""
        lay = self._layout()
        return {mid: {k: tuple(sp.shape) for k, sp in lay.observation_spaces[lay.agents[idx[0]]].spaces.items()}
                for mid, idx in self.agent_groups}

    # ----- modules ----------------------------------------------------------------------

    def module_defaults(self) -> Dict[str, Any]:
        """Model settings an acting module gets unless ``model_config`` sets them."""
        return {}

    def module_settings(self) -> Dict[str, Any]:
        """Model settings an acting module takes from training settings (they win)."""
        return {}

    def learner_only_specs(self, acting: Dict[str, Any]) -> Dict[str, Any]:
        """``{module id: RLModuleSpec}`` of learner-only modules (mixer, critics),
        given the acting modules' completed specs."""
        return {}

    def acting_model_config(self, model_config: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        """An acting module's complete ``model_config``: the algorithm's module
        defaults, then ``model_config`` (default: this config's), then the
        settings it takes from training."""
        given = self.model_config if model_config is None else model_config
        return {**self.module_defaults(), **given, **self.module_settings()}

    def get_multi_rl_module_spec(self, *, env=None, spaces=None, inference_only=False, **kwargs):
        spec = super().get_multi_rl_module_spec(env=env, spaces=spaces, inference_only=inference_only, **kwargs)
        acting = {}
        for mid, sub in spec.rl_module_specs.items():
            if sub.learner_only:
                continue
            sub.model_config = self.acting_model_config(sub.model_config or {})
            acting[mid] = sub
        specs = {**spec.rl_module_specs, **({} if inference_only else self.learner_only_specs(acting))}
        # Modules are built, and their initial weights drawn, in this order: that of
        # a Python set of their ids (sorted first), the order RLlib builds the modules
        # of a `policies` set in and the one every tuned example's seeds were measured
        # with. It is fixed where PYTHONHASHSEED is (the CLI pins it).
        spec.rl_module_specs = {m: specs[m] for m in set(sorted(specs, key=str))}
        return spec

    # ----- checks -----------------------------------------------------------------------

    def validate(self) -> None:
        if not rllib_compat.is_frozen(self):
            self.adopt_env()
            self.complete_settings()
            if self.env_layout is None or self.env_layout.source != env_source(self):
                self.derive_from_env()
                for note in self.env_layout.notes:
                    warnings.warn(f"{env_label((self.env_config or {}).get('name'))}: {note}", EnvWarning,
                                  stacklevel=2)
            from rllib_marl.envs.adapter import RLlibEnv

            if (self.env_config or {}).get("teams", "auto") == "auto" and self.env is RLlibEnv:
                # The runners' metrics read the resolved value (no env of theirs to probe).
                self.env_config = {**dict(self.env_config or {}), "teams": self.env_layout.teams}
            self.complete_for_env(self.env_layout)
            self.choose_sampler(self.env_layout)
            from rllib_marl.metrics import MarlMetricsCallback

            add_callbacks(self, MarlMetricsCallback)
        # Ours first: they name the setting as the user wrote it.
        check_fields(self, self.training_cls, "training")
        check_mapping(self.acting_model_config(), ModelConfig, "model")
        if self.framework_str != "torch":
            raise ConfigError("framework", "rllib_marl supports framework='torch' only")
        self.validate_layout(self._layout())
        if self._layout().failure:
            raise ConfigError("env", f"{env_label((self.env_config or {}).get('name'))} failed in its first reset "
                                     f"or random steps ({self._layout().failure})")
        super().validate()

    @property
    def spec(self):
        """This algorithm's :class:`~rllib_marl.algorithms.spec.AlgorithmSpec`."""
        from rllib_marl.algorithms.registry import ALGORITHMS

        return ALGORITHMS[self.name]

    def complete_settings(self) -> None:
        """Before the env is read: settings that shape ``env_config`` or the model
        (e.g. learned communication). Must give the same result when repeated."""

    def complete_for_env(self, layout: EnvLayout) -> None:
        """After the env is read: what follows from it (e.g. a league's seats and
        learners). Must give the same result when repeated."""

    def validate_layout(self, layout: EnvLayout) -> None:
        """Checks against the env (raise ``ConfigError``): the action spaces, turn
        order and observations the algorithm supports; subclasses add theirs."""
        from rllib_marl.algorithms.registry import ALGORITHMS, algorithms_with
        from rllib_marl.algorithms.spec import space_kind
        from rllib_marl.envs.observations import OBS, is_image

        spec = self.spec
        for aid in layout.agents:
            space = layout.action_spaces[aid]
            kind = space_kind(space)
            if kind not in spec.action_spaces:
                others = [a.name for a in ALGORITHMS.values() if kind in a.action_spaces]
                instead = f"; algorithms that do: {', '.join(others)}" if others else ""
                raise ConfigError("algorithm", f"{spec.name} does not support agent {aid}'s action space {space}; "
                                               f"it supports {' and '.join(spec.action_spaces)} actions{instead}")
        if spec.simultaneous_moves_only and layout.api == "aec":
            others = [a.name for a in ALGORITHMS.values() if not a.simultaneous_moves_only]
            instead = spec.aec_hint or f"use the env's parallel_env version if it has one, or {' / '.join(others)}"
            raise ConfigError("env.api", f"{spec.name} needs simultaneous moves (all agents act every step, aligned "
                                         f"for its joint update); the env is turn-based (AEC): {instead}")
        images = [a for a in layout.agents
                  if is_image(getattr(layout.observation_spaces[a], "spaces", {}).get(OBS))]
        if images and not spec.image_observations:
            shape = "x".join(map(str, layout.observation_spaces[images[0]][OBS].shape))
            raise ConfigError("algorithm", f"{spec.name} does not support image observations yet ({images[0]} sees "
                                           f"uint8 frames {shape}); {algorithms_with('image_observations')} encode "
                                           "frames with a CNN")

    def require_state(self, layout: EnvLayout, why: str) -> None:
        """Refuses an env whose observations carry no global state (``why``: what
        reads it and what to use instead)."""
        from rllib_marl.envs.observations import STATE

        missing = [a for a in layout.agents if STATE not in getattr(layout.observation_spaces[a], "spaces", {})]
        if missing:
            raise ConfigError("env.global_state", f"{why} ({missing[0]}'s observations carry no global state)")


def add_callbacks(config, *classes) -> None:
    """Adds RLlib callback classes to those already configured.

    RLlib 2.60 takes a list of classes, each instantiated on every env runner and
    on the algorithm; ``config.callbacks(X)`` alone would replace what an
    algorithm (or a league) set before. Order: those already there first.
    """
    from ray.rllib.callbacks.callbacks import RLlibCallback

    current = config.callbacks_class
    existing = list(current) if isinstance(current, (list, tuple)) else [current]
    existing = [c for c in existing if c is not RLlibCallback]
    wanted = existing + [c for c in classes if c not in existing]
    if wanted != existing or not isinstance(current, list):
        config.callbacks(callbacks_class=wanted)
