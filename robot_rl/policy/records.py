"""Smaller contract records: provenance, residual link, reward classifier, golden vectors, gate pass criteria."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError


@dataclass(frozen=True)
class Provenance:
    """Where the policy came from."""

    training_lib: str = "unknown"  # e.g. "rsl_rl", "robot_rl.learning", "leapp"
    sim_backend: str = "unknown"  # e.g. "mujoco", "isaaclab"
    task: str = ""  # e.g. "panda-reach", "panda-pick-cube"
    robot: str = ""  # robot config name it was trained for
    git_commit: str = ""
    opset: int = 0  # ONNX default-domain opset (filled in by the writer)
    created: str = ""  # ISO 8601 UTC


@dataclass(frozen=True)
class Residual:
    """This policy is a residual on base policy ``base_policy_id`` (sha256 of the base ONNX file), or with
    ``kind`` "noise" a noise policy choosing that base's initial noise (:mod:`robot_rl.policy.noise_policy`)."""

    base_policy_id: str
    scale: float  # raw = base_raw + scale * residual_raw (kind "action"); the latent bound (kind "noise")
    kind: str = "action"  # action: a residual on the base's actions; noise: the base's initial noise (DSRL)

    def __post_init__(self) -> None:
        if self.kind not in ("action", "noise"):
            raise ConfigError(f"contract residual.kind must be 'action' or 'noise', got {self.kind!r}")
        if len(self.base_policy_id) != 64:
            raise ConfigError(f"contract residual.base_policy_id must be a sha256 hex digest, got {self.base_policy_id!r}")
        if not np.isfinite(self.scale):
            raise ConfigError(f"contract residual.scale must be finite, got {self.scale}")


@dataclass(frozen=True)
class NoiseInput:
    """The distribution of the graph input with role ``noise`` (e.g. a diffusion policy's initial DDIM noise,
    exported as an input): elementwise ``distribution`` with ``mean`` and ``std``. The runtime samples it
    (seeded) or feeds its mean, and checks a supplied one (shape, finite values)."""

    distribution: str = "normal"
    mean: float = 0.0
    std: float = 1.0

    def __post_init__(self) -> None:
        if self.distribution != "normal":
            raise ConfigError(f"contract noise.distribution must be 'normal', got {self.distribution!r}")
        if not (np.isfinite(self.mean) and np.isfinite(self.std) and self.std > 0):
            raise ConfigError(f"contract noise: need a finite mean and std > 0, got {self.mean}, {self.std}")


@dataclass(frozen=True)
class RewardClassifier:
    """This graph is a binary success classifier (output ``success_logit``), not a policy: success when
    sigmoid(logit) >= ``threshold``. ``features`` names the inputs it was trained on, in order."""

    threshold: float = 0.5
    features: tuple[str, ...] = ("obs",)

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(self.features))
        if not (np.isfinite(self.threshold) and 0.0 < self.threshold < 1.0):
            raise ConfigError(f"contract reward_classifier.threshold must be in (0, 1), got {self.threshold}")


@dataclass(frozen=True)
class GoldenVector:
    """Recorded input->output pair: ONNX tensor name -> nested list; checked with atol + rtol*|expected|."""

    inputs: dict
    outputs: dict
    atol: float = 1e-5
    rtol: float = 1e-4

    def __post_init__(self) -> None:
        for name in ("inputs", "outputs"):
            table = getattr(self, name)
            if not isinstance(table, dict) or not table:
                raise ConfigError(f"contract golden {name}: expected a non-empty mapping of tensor name -> values")
            object.__setattr__(self, name, {str(k): np.asarray(v, dtype=float).tolist() for k, v in table.items()})
        if self.atol < 0 or self.rtol < 0:
            raise ConfigError(f"contract golden tolerances must be >= 0, got atol {self.atol}, rtol {self.rtol}")


@dataclass(frozen=True)
class PassCriteria:
    """What the sim2sim gate requires of this policy (None = not checked)."""

    min_success_rate: float = 0.8
    min_success_ci_low: float | None = None  # lower end of the 95% Wilson interval
    max_tracking_error_rad: float | None = None  # mean |commanded - measured| over the episode
    max_saturation_fraction: float | None = None  # share of action entries hitting the clip
    max_interventions_per_episode: float | None = None  # safety-filter interventions


@dataclass(frozen=True)
class Feedback:
    """A feedback state carried across steps, as LEAPP's InferenceManager carries it: graph output ``output``
    feeds graph input ``input`` at the next step; ``initial`` (flat, float) is its value at the first step and
    after every reset (e.g. Isaac Lab's ``last_action_out`` -> ``last_action_in``, initially zeros)."""

    output: str
    input: str
    initial: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "initial", tuple(float(x) for x in np.asarray(self.initial, dtype=float).reshape(-1)))
        if not np.all(np.isfinite(self.initial)):
            raise ConfigError(f"contract feedback {self.output!r} -> {self.input!r}: initial values must be finite")
