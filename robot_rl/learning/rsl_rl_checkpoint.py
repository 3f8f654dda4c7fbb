"""Read an rsl_rl PPO checkpoint (``model_<iter>.pt``, as Isaac Lab's rsl_rl runner saves it) into a torch actor.

Three on-disk layouts are recognised by their keys (checked against the rsl_rl sources):

* ``actor_state_dict`` (rsl-rl-lib 5.x; Isaac Lab 3 pins 5.0.1): the actor ``MLPModel`` with
  ``mlp.<i>.weight|bias``, ``obs_normalizer._mean|_var|_std|count`` when observation normalisation
  is on, and ``distribution.std_param`` (or ``log_std_param``) for the Gaussian noise;
* ``model_state_dict`` with ``actor_obs_normalizer.*`` (rsl-rl-lib 3.x; Isaac Lab 2.3): ``ActorCritic``
  with ``actor.<i>.weight|bias``, ``critic.*``, ``std`` (or ``log_std``) and the normaliser inside the model;
* ``model_state_dict`` plus an optional top-level ``obs_norm_state_dict`` (rsl-rl-lib 2.x; Isaac Lab
  2.0-2.2, ``empirical_normalization=True``): same actor keys, normaliser saved by the runner.

The deployed action is the Gaussian's mean: ``actor(normalise(obs))``; rsl_rl's normaliser is
``(obs - _mean) / (_std + eps)`` with eps = 0.01. The activation is not stored in the checkpoint
(it is in the run's ``params/agent.yaml``); it must be given, default ``elu`` as in Isaac Lab's configs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.learning.checkpoint import read_torch_file

NORMALIZER_EPS = 1e-2
"""rsl_rl ``EmpiricalNormalization`` default eps (added to the std)."""

ACTIVATIONS = {"elu": nn.ELU, "selu": nn.SELU, "relu": nn.ReLU, "crelu": nn.CELU, "lrelu": nn.LeakyReLU,
               "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "softplus": nn.Softplus, "gelu": nn.GELU, "swish": nn.SiLU,
               "mish": nn.Mish, "identity": nn.Identity}
"""rsl_rl ``resolve_nn_activation`` names -> torch modules (same defaults)."""


@dataclass(frozen=True)
class RslRlCheckpoint:
    """The parts of an rsl_rl checkpoint the exporter needs.

    Attributes:
        layers: actor Linear layers in order, each (weight (out, in), bias (out,)).
        obs_mean, obs_std: (obs_dim,) empirical normaliser statistics, or None when not normalised.
        layout: which of the layouts in the module docstring was found.
        iteration: the training iteration stored with the checkpoint (-1 if absent).
    """

    layers: tuple[tuple[torch.Tensor, torch.Tensor], ...]
    obs_mean: torch.Tensor | None
    obs_std: torch.Tensor | None
    layout: str
    iteration: int

    @property
    def obs_dim(self) -> int:
        """Actor input width."""
        return int(self.layers[0][0].shape[1])

    @property
    def action_dim(self) -> int:
        """Actor output width."""
        return int(self.layers[-1][0].shape[0])

    @property
    def hidden_dims(self) -> tuple[int, ...]:
        """Widths of the hidden layers."""
        return tuple(int(w.shape[0]) for w, _ in self.layers[:-1])


def _linear_layers(state: dict, prefix: str, where: str) -> tuple[tuple[torch.Tensor, torch.Tensor], ...]:
    """``<prefix><i>.weight|bias`` entries ordered by i; checks that consecutive widths chain."""
    pattern = re.compile(re.escape(prefix) + r"(\d+)\.weight$")
    indices = sorted(int(m.group(1)) for key in state if (m := pattern.match(key)))
    if not indices:
        raise ConfigError(f"{where}: no actor layers '{prefix}<i>.weight' in the checkpoint (keys: {sorted(state)[:8]}"
                          "...)")
    layers = []
    for i in indices:
        weight, bias = state[f"{prefix}{i}.weight"], state.get(f"{prefix}{i}.bias")
        if weight.ndim != 2 or bias is None or bias.shape != (weight.shape[0],):
            raise ConfigError(f"{where}: '{prefix}{i}' is not a Linear layer (weight {tuple(weight.shape)})")
        if layers and layers[-1][0].shape[0] != weight.shape[1]:
            raise ConfigError(f"{where}: '{prefix}{i}.weight' takes {weight.shape[1]} inputs but the previous layer "
                              f"gives {layers[-1][0].shape[0]}")
        layers.append((weight.detach().float().cpu(), bias.detach().float().cpu()))
    return tuple(layers)


def _normalizer(state: dict | None, prefix: str, width: int, where: str) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(mean, std) of an rsl_rl EmpiricalNormalization stored under ``prefix`` (``_mean``/``_std``), or None."""
    if not state or f"{prefix}_mean" not in state:
        return None
    mean, std = state[f"{prefix}_mean"].reshape(-1), state.get(f"{prefix}_std")
    if std is None:
        raise ConfigError(f"{where}: normaliser '{prefix}_mean' without '{prefix}_std'")
    std = std.reshape(-1)
    if mean.shape != (width,) or std.shape != (width,):
        raise ConfigError(f"{where}: normaliser statistics have {mean.numel()} values, the actor takes {width} inputs")
    return mean.detach().float().cpu(), std.detach().float().cpu()


def parse_checkpoint(raw: dict, where: str = "checkpoint") -> RslRlCheckpoint:
    """Recognise the layout of a loaded rsl_rl checkpoint dict and extract the actor; ConfigError if unknown."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a dict saved by rsl_rl's OnPolicyRunner, got {type(raw).__name__}")
    iteration = int(raw.get("iter", -1))
    if isinstance(raw.get("actor_state_dict"), dict):
        state = raw["actor_state_dict"]
        if not any(k.startswith("distribution.") for k in state):
            raise ConfigError(f"{where}: actor_state_dict has no Gaussian 'distribution.*' parameters; only "
                              "GaussianDistribution actors (mean = MLP output) can be exported")
        layers = _linear_layers(state, "mlp.", where)
        stats = _normalizer(state, "obs_normalizer.", int(layers[0][0].shape[1]), where)
        layout = "actor_state_dict (rsl-rl-lib 5.x)"
    elif isinstance(raw.get("model_state_dict"), dict):
        state = raw["model_state_dict"]
        layers = _linear_layers(state, "actor.", where)
        width = int(layers[0][0].shape[1])
        stats = _normalizer(state, "actor_obs_normalizer.", width, where)
        layout = "model_state_dict + actor_obs_normalizer (rsl-rl-lib 3.x)"
        if stats is None:
            stats = _normalizer(raw.get("obs_norm_state_dict"), "", width, where)
            layout = "model_state_dict (rsl-rl-lib 2.x)"
    else:
        raise ConfigError(f"{where}: neither 'actor_state_dict' nor 'model_state_dict' found (top-level keys "
                          f"{sorted(raw)}); not an rsl_rl PPO checkpoint")
    mean, std = stats if stats is not None else (None, None)
    return RslRlCheckpoint(layers=layers, obs_mean=mean, obs_std=std, layout=layout, iteration=iteration)


def load_rsl_rl_checkpoint(path: str | Path) -> RslRlCheckpoint:
    """Load ``path`` (a ``model_<iter>.pt``) on the CPU and parse it; ConfigError naming the file on failure."""
    path = Path(path)
    raw = read_torch_file(path, "rsl_rl checkpoint", weights_only=False)  # rsl_rl pickles its config objects
    return parse_checkpoint(raw, str(path))


class RslRlActor(nn.Module):
    """Deterministic rsl_rl actor: forward(obs (B, O) float32) -> action means (B, A).

    The empirical normaliser (if any) is baked in as buffers, so the exported graph takes raw observations.
    """

    def __init__(self, checkpoint: RslRlCheckpoint, activation: str = "elu"):
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ConfigError(f"activation {activation!r} is not an rsl_rl activation; known: {sorted(ACTIVATIONS)}")
        modules: list[nn.Module] = []
        for i, (weight, bias) in enumerate(checkpoint.layers):
            linear = nn.Linear(weight.shape[1], weight.shape[0])
            with torch.no_grad():
                linear.weight.copy_(weight)
                linear.bias.copy_(bias)
            modules.append(linear)
            if i < len(checkpoint.layers) - 1:
                modules.append(ACTIVATIONS[activation]())
        self.mlp = nn.Sequential(*modules)
        self.normalized = checkpoint.obs_mean is not None
        if self.normalized:
            width = checkpoint.obs_dim
            self.register_buffer("obs_mean", checkpoint.obs_mean.reshape(1, width).clone())
            self.register_buffer("obs_scale", checkpoint.obs_std.reshape(1, width) + NORMALIZER_EPS)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.normalized:
            obs = (obs - self.obs_mean) / self.obs_scale
        return self.mlp(obs)
