"""Default network settings of the library's RLModules, in one place.

Read by the modules (when ``model_config`` leaves a key out), by the ``model:``
block of experiment configs (:class:`ModelConfig`, whose declared choices and
bounds every algorithm config also holds its ``model_config`` to) and by each
algorithm's spec. No torch or RLlib imports here, so config parsing can read
them cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from rllib_marl.schema import bounded, choices

#: ActorCriticModule (MAPPO / IPPO); also the ``model:`` block's defaults.
ACTOR_CRITIC: Dict[str, Any] = {
    "hidden": [64, 64],
    "activation": "tanh",
    "use_gru": False,
    "gru_hidden": 64,
    "max_seq_len": 20,
    "critic_input": "state",
    "value_normalization": True,
    # Image observations (uint8 frames): "auto" picks a CNN for the frame size,
    # "none" flattens them into the MLP; cnn_layers ([channels, kernel, stride]
    # per conv layer) overrides auto.
    "cnn": "auto",
    "cnn_layers": [],
    # The critic reads the actor's observation encoder (one CNN for both, trained
    # by both losses) instead of its own; critic_input obs or state+obs.
    "share_encoder": False,
}

#: Learned communication (a ``comm:`` block; rllib_marl/policies/comm.py).
COMM_TYPES = ("commnet", "tarmac")

#: QAgentModule (QMIX / VDN / IQL): network and epsilon-greedy schedule.
Q_AGENT: Dict[str, Any] = {
    "hidden": [64],
    "activation": "relu",
    "use_gru": True,
    "gru_hidden": 64,
    "max_seq_len": 25,
    "cnn": "auto",
    "cnn_layers": [],
    "epsilon_start": 1.0,
    "epsilon_end": 0.05,
    "epsilon_timesteps": 50_000,
}

#: DeterministicActorModule / CriticModule (MADDPG / MATD3).
DETERMINISTIC_ACTOR: Dict[str, Any] = {
    "hidden": [64, 64],
    "activation": "relu",
    # Constant 0.1: on simple_spread (continuous, 1M env steps, seed 0) -54.4
    # against -62.4 with 0.3 -> 0.05 over 500k (docs/benchmarks.md).
    "noise_std_start": 0.1,
    "noise_std_end": 0.1,
    "noise_timesteps": 500_000,
    "gumbel_temperature": 1.0,
    "straight_through": True,
}


@dataclass
class ModelConfig:
    """Network settings of the algorithm's RLModules.

    Attributes:
        hidden: hidden layer sizes of actor and critic MLPs.
        activation: tanh, relu or elu.
        use_gru: recurrent actor (a GRU after the MLP) for partial observability.
        gru_hidden: GRU size.
        max_seq_len: training sequence length with a GRU (QMIX: the length of
            the sampled replay windows).
        critic_input: ``state``, ``state+obs``, ``obs``, or ``auto`` (the
            algorithm's default: MAPPO ``state``, IPPO ``obs``).
        value_normalization: running mean/std normalization of value targets.
        cnn: image observations (uint8 frames, e.g. after SuperSuit's resize):
            ``auto`` encodes them with a CNN sized for the frame (policies/defaults.py,
            ``auto_cnn``), ``none`` flattens them into the MLP. Frames stay uint8
            until the model's first layer, which scales them to [0, 1].
        cnn_layers: explicit conv layers, each ``[channels, kernel, stride]``
            (overrides ``auto``).
        share_encoder: the critic reads the actor's observation encoder (for
            frames: one CNN, trained by the policy and the value loss) instead
            of an encoder of its own. Needs ``critic_input`` ``obs`` or
            ``state+obs`` (MAPPO / IPPO, without a ``comm`` block).
    """

    hidden: List[int] = field(default_factory=lambda: list(ACTOR_CRITIC["hidden"]))
    activation: str = choices("tanh", "relu", "elu", default=ACTOR_CRITIC["activation"])
    use_gru: bool = ACTOR_CRITIC["use_gru"]
    gru_hidden: int = bounded(ACTOR_CRITIC["gru_hidden"], ge=1)
    max_seq_len: int = bounded(ACTOR_CRITIC["max_seq_len"], ge=1)
    critic_input: str = choices("auto", "state", "state+obs", "obs", default="auto")
    value_normalization: bool = ACTOR_CRITIC["value_normalization"]
    cnn: str = choices("auto", "none", default=ACTOR_CRITIC["cnn"])
    cnn_layers: List[List[int]] = field(default_factory=list)
    share_encoder: bool = ACTOR_CRITIC["share_encoder"]


def auto_cnn(height: int, width: int) -> list:
    """Conv layers ``[channels, kernel, stride]`` for a frame size (``model.cnn:
    auto``): the Nature DQN stack for frames of 64 px and more, smaller kernels
    and strides below, so that every layer keeps at least 3x3 outputs."""
    if min(height, width) >= 64:
        return [[32, 8, 4], [64, 4, 2], [64, 3, 1]]
    if min(height, width) >= 24:
        return [[16, 5, 2], [32, 3, 2], [32, 3, 1]]
    return [[16, 3, 1], [32, 3, 1]]


def cnn_spec(model_config) -> object:
    """The image-encoder setting of a model config: its ``cnn_layers`` when set,
    else ``cnn`` (``"auto"`` or ``"none"``)."""
    layers = model_config.get("cnn_layers") or []
    return [list(x) for x in layers] if layers else model_config.get("cnn", "auto")


def conv_layers(height: int, width: int, cnn="auto") -> list:
    """The conv layers ``[channels, kernel, stride]`` an image encoder builds for
    a frame size and a :func:`cnn_spec` setting (none for ``"none"``)."""
    if cnn == "none":
        return []
    return auto_cnn(height, width) if cnn == "auto" else [list(x) for x in cnn]


def encoder_floats(shape, cnn="auto") -> int:
    """Floats an image encoder holds per row in a forward pass: the frame as
    float, then every conv layer's output (what a no-grad pass over a whole batch
    keeps at its peak, at most; torch frees some earlier)."""
    h, w = int(shape[0]), int(shape[1])
    c = int(shape[2]) if len(shape) == 3 else 1
    total = h * w * c
    for out_ch, k, s in conv_layers(h, w, cnn):
        h, w = (h - int(k)) // int(s) + 1, (w - int(k)) // int(s) + 1
        total += h * w * int(out_ch)
    return total
