"""A memory estimate before Ray starts: a run whose train batch or replay buffer
cannot fit is refused with the numbers, instead of being killed by the kernel.

What is counted, from the env's spaces (as the modules see them: float32, frames
uint8, the global state included) and the config:

* **one env step**: every agent's observation (all its keys), action, reward and
  a few per-step columns (log-prob, value, flags; 64 bytes);
* **on-policy** (MAPPO / IPPO): ``train_batch_size`` env steps, held ``ON_POLICY_COPIES``
  times at the peak of an update (the env runners' episodes, the learner
  connector's batch, its tensors, the minibatch being built);
* **frames, on-policy**: the learner computes the value of every row of the
  train batch in one pass; the critic's CNN activations for the whole batch
  (the frame as float32 and each conv layer's output) are added;
* **off-policy** (QMIX, MADDPG): ``replay_capacity`` env steps held
  ``REPLAY_COPIES`` times (the stored episodes with their next observations,
  and the packed rows a joint sample reads), plus the train batch.

It is an estimate, not a measurement: it leaves out the processes' fixed cost
(Ray, torch, the modules; about 1-2 GB for a local run) and counts on the
machine's *available* memory now.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

ON_POLICY_COPIES = 4
REPLAY_COPIES = 3
PER_STEP_EXTRA = 64  # bytes per agent step: reward, log-prob, value, flags, ids
REFUSE_ABOVE = 0.8  # of the available memory


def _space_bytes(space) -> int:
    from gymnasium import spaces

    if isinstance(space, spaces.Dict):
        return sum(_space_bytes(s) for s in space.spaces.values())
    if isinstance(space, spaces.Tuple):
        return sum(_space_bytes(s) for s in space.spaces)
    if isinstance(space, spaces.Discrete):
        return 8
    shape = getattr(space, "shape", None) or (1,)
    dtype = getattr(space, "dtype", None)
    return int(np.prod(shape)) * (np.dtype(dtype).itemsize if dtype is not None else 4)


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GB"


@dataclass
class MemoryEstimate:
    bytes_per_env_step: int
    batch_env_steps: int
    batch_bytes: int
    replay_env_steps: int
    replay_bytes: int
    available: Optional[int]
    critic_pass_bytes: int = 0  # on-policy, frames: the critic's CNN over the whole batch

    @property
    def total(self) -> int:
        return self.batch_bytes + self.replay_bytes + self.critic_pass_bytes

    def line(self) -> str:
        parts = [f"memory estimate: {self.bytes_per_env_step:,} bytes per env step; "
                 f"train batch {_gb(self.batch_bytes)}"]
        if self.replay_env_steps:
            parts.append(f"replay {_gb(self.replay_bytes)}")
        if self.critic_pass_bytes:
            parts.append(f"critic pass over the batch {_gb(self.critic_pass_bytes)}")
        text = ", ".join(parts) + f"; total {_gb(self.total)}"
        if self.available is not None:
            text += f" of {_gb(self.available)} available"
        return text

    def problem(self) -> Optional[str]:
        if self.available is None or self.total <= REFUSE_ABOVE * self.available:
            return None
        fixes = []
        if self.replay_bytes > self.batch_bytes:
            fixes.append(f"training.replay_capacity (now {self.replay_env_steps:,} env steps)")
        fixes.append(f"the train batch (now {self.batch_env_steps:,} env steps)")
        fixes.append("the observations (wrappers such as resize_v1 / color_reduction_v0, "
                     "env.global_state: concat or none)")
        return (f"the run needs about {_gb(self.total)} ({self.bytes_per_env_step:,} bytes per env step; "
                f"train batch {_gb(self.batch_bytes)}"
                + (f", replay {_gb(self.replay_bytes)}" if self.replay_env_steps else "")
                + (f", critic pass {_gb(self.critic_pass_bytes)}" if self.critic_pass_bytes else "")
                + f"), more than {int(REFUSE_ABOVE * 100)}% of the {_gb(self.available)} available; "
                f"reduce {', or '.join(fixes)}")


def available_bytes() -> Optional[int]:
    try:
        import psutil
    except ImportError:  # pragma: no cover - psutil comes with ray
        return None
    return int(psutil.virtual_memory().available)


def estimate(config, env, available: Optional[int] = None) -> MemoryEstimate:
    """The estimate for an algorithm's config and its (adapter) env; see module docstring."""
    per_step = sum(_space_bytes(env.observation_spaces[a]) + _space_bytes(env.action_spaces[a]) + PER_STEP_EXTRA
                   for a in env.possible_agents)
    capacity = int(getattr(config, "replay_capacity", 0) or 0)
    batch = int(getattr(config, "train_batch_size", 0) or 0)
    if capacity:
        # Off-policy batches are in transitions (or windows of them); a window of
        # max_seq_len env steps per row is the most a batch can hold.
        # (QMIX's window is its config's max_seq_len, with the agent module's default.)
        window = getattr(config, "max_seq_len", None) or config.acting_model_config().get("max_seq_len", 1)
        window = max(1, int(window or 1))
        batch_steps = batch * window
        batch_bytes = batch_steps * per_step * 2
        replay_bytes = capacity * per_step * REPLAY_COPIES
    else:
        batch_steps = batch
        batch_bytes = batch * per_step * ON_POLICY_COPIES
        replay_bytes = 0
    return MemoryEstimate(per_step, batch_steps, batch_bytes, capacity, replay_bytes, available,
                          0 if capacity else batch * critic_pass_bytes_per_env_step(config, env))


def critic_pass_bytes_per_env_step(config, env) -> int:
    """On-policy learners compute every row's value in one pass over the whole
    train batch; for frames, the critic's CNN activations dominate (float32)."""
    from rllib_marl.envs.observations import OBS, STATE, is_image
    from rllib_marl.policies.defaults import cnn_spec, encoder_floats

    mc = config.acting_model_config()  # the modules' own settings (critic_input resolved)
    crit, cnn = mc.get("critic_input", "obs"), cnn_spec(mc)
    reads = ([STATE] if crit in ("state", "state+obs") else []) + ([OBS] if crit in ("state+obs", "obs") else [])
    floats = 0
    for a in env.possible_agents:
        space = env.observation_spaces[a]
        for key in reads:
            if key in space.spaces and is_image(space[key]):
                floats += encoder_floats(space[key].shape, cnn)
    return floats * 4
