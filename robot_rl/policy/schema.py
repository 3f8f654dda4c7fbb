"""The policy contract schema: typed, versioned, validated dataclasses that travel with an exported policy.

Every number that a deployment needs and the ONNX graph does not carry lives
here: joint names and order, observation terms (units, scale, offset, clip,
history), normalisation, action semantics, rates, chunking, residual
composition, provenance, golden input->output vectors and the gate's pass
criteria. Conventions (all SI: rad, rad/s, m, s):

* observation term value = clip(raw - offset, clip) * scale  (Isaac Lab order:
  offset, clip, then scale), per term, flattened oldest-first over its history,
  terms concatenated in contract order;
* action processed = clip(raw * scale + offset, clip_lo, clip_hi) per joint;
  for ``joint_pos_delta`` the target is current position + processed.

Serialisation lives in :mod:`robot_rl.policy.contract`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.fields import _clip_pair, _floats, _names
from robot_rl.policy.records import (Feedback, GoldenVector, NoiseInput, PassCriteria, Provenance, Residual,
                                    RewardClassifier)

SCHEMA_VERSION = 1
OBS_SOURCES = ("joint_pos", "joint_vel", "ee_pos", "goal", "object_pose", "gripper_pos", "last_action",
               "ee_goal_dist", "ee_object_dist")  # the two last: derived, |goal - ee| and |object xyz - ee| (m)
ACTION_TYPES = ("joint_pos_abs", "joint_pos_delta", "joint_vel")
TENSOR_ROLES = ("obs", "noise", "base_action", "state", "action", "info", "success_logit")
DTYPES = ("float32", "float64")
_FIXED_SIZES = {"ee_pos": 3, "object_pose": 7, "gripper_pos": 1, "ee_goal_dist": 1, "ee_object_dist": 1}


@dataclass(frozen=True)
class TensorSpec:
    """One ONNX input or output. ``shape`` entries are ints or symbolic names (str)."""

    name: str
    shape: tuple[int | str, ...]
    dtype: str = "float32"
    role: str = "obs"  # obs | noise | base_action | state (inputs); action | state | info | success_logit (outputs)

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(d if isinstance(d, str) else int(d) for d in self.shape))
        if self.dtype not in DTYPES:
            raise ConfigError(f"contract io tensor {self.name!r}: dtype {self.dtype!r} not in {DTYPES}")
        if self.role not in TENSOR_ROLES:
            raise ConfigError(f"contract io tensor {self.name!r}: role {self.role!r} not in {TENSOR_ROLES}")


@dataclass(frozen=True)
class ObsTerm:
    """One observation term; ``size`` values per step, ``history`` steps (oldest first)."""

    name: str
    source: str
    size: int
    units: str = ""
    scale: tuple[float, ...] = (1.0,)
    offset: tuple[float, ...] = (0.0,)
    clip: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    history: int = 1

    def __post_init__(self) -> None:
        where = f"observations[{self.name!r}]"
        if self.source not in OBS_SOURCES:
            raise ConfigError(f"contract {where}.source: {self.source!r} not in {OBS_SOURCES}")
        if self.size < 1 or self.history < 1:
            raise ConfigError(f"contract {where}: size ({self.size}) and history ({self.history}) must be >= 1")
        fixed = _FIXED_SIZES.get(self.source)
        if fixed is not None and self.size != fixed:
            raise ConfigError(f"contract {where}.size: source {self.source!r} has size {fixed}, got {self.size}")
        object.__setattr__(self, "scale", _floats(f"{where}.scale", self.scale, self.size))
        object.__setattr__(self, "offset", _floats(f"{where}.offset", self.offset, self.size))
        object.__setattr__(self, "clip", _clip_pair(f"{where}.clip", self.clip, self.size))

    @property
    def width(self) -> int:
        """Flat width of this term in the observation vector: size * history."""
        return self.size * self.history


@dataclass(frozen=True)
class Normalization:
    """Whole-vector observation normalisation: ``none``, ``baked`` (inside the ONNX graph) or ``mean_std``."""

    kind: str = "none"
    mean: tuple[float, ...] = ()
    std: tuple[float, ...] = ()
    eps: float = 1e-8
    clip: float | None = None  # symmetric clip after normalising

    def __post_init__(self) -> None:
        if self.kind not in ("none", "baked", "mean_std"):
            raise ConfigError(f"contract normalization.kind: {self.kind!r} not in ('none', 'baked', 'mean_std')")
        object.__setattr__(self, "mean", tuple(float(x) for x in self.mean))
        object.__setattr__(self, "std", tuple(float(x) for x in self.std))
        n = len(self.mean)
        if self.kind == "mean_std":
            object.__setattr__(self, "mean", _floats("normalization.mean", self.mean, n))
            object.__setattr__(self, "std", _floats("normalization.std", self.std, n))
            if n == 0 or min(self.std) < 0:
                raise ConfigError("contract normalization: mean_std needs non-empty mean and std >= 0")


@dataclass(frozen=True)
class ActionSpec:
    """Action semantics for ``len(joints)`` arm joints (+1 gripper scalar at the end if ``gripper``)."""

    type: str
    scale: tuple[float, ...]
    offset: tuple[float, ...]
    clip: tuple[tuple[float, ...], tuple[float, ...]] | None = None
    last_action: str = "raw"  # what the last_action observation carries: raw | processed
    gripper: bool = False

    def __post_init__(self) -> None:
        if self.type not in ACTION_TYPES:
            raise ConfigError(f"contract action.type: {self.type!r} not in {ACTION_TYPES}")
        if self.last_action not in ("raw", "processed"):
            raise ConfigError(f"contract action.last_action: {self.last_action!r} not in ('raw', 'processed')")

    def sized(self, n: int) -> ActionSpec:
        """This spec with scale/offset/clip validated and broadcast to n arm joints."""
        object.__setattr__(self, "scale", _floats("action.scale", self.scale, n))
        object.__setattr__(self, "offset", _floats("action.offset", self.offset, n))
        object.__setattr__(self, "clip", _clip_pair("action.clip", self.clip, n))
        return self


@dataclass(frozen=True)
class Timing:
    """Rates: policy_hz must equal 1 / (physics_dt * decimation)."""

    physics_dt: float  # s
    decimation: int
    policy_hz: float
    max_latency_ms: float = 50.0  # observation -> command, beyond which steps are stale

    def __post_init__(self) -> None:
        if not (0 < self.physics_dt < 1) or self.decimation < 1:
            raise ConfigError(f"contract timing: physics_dt {self.physics_dt} s must be in (0, 1) and "
                              f"decimation {self.decimation} >= 1")
        expected = 1.0 / (self.physics_dt * self.decimation)
        if abs(self.policy_hz - expected) > 1e-6 * expected:
            raise ConfigError(f"contract timing.policy_hz {self.policy_hz:g} Hz does not equal 1/(physics_dt "
                              f"{self.physics_dt} s * decimation {self.decimation}) = {expected:.6g} Hz")
        if self.max_latency_ms <= 0:
            raise ConfigError(f"contract timing.max_latency_ms must be > 0, got {self.max_latency_ms}")

    @property
    def period(self) -> float:
        """Policy period, s."""
        return self.physics_dt * self.decimation


@dataclass(frozen=True)
class Chunking:
    """Action chunking: ``horizon`` steps per inference, first ``n_action_steps`` executed.

    ``replace_from`` (0: the whole chunk): a new chunk replaces the current one from its step ``replace_from``
    (0-based) on; its earlier steps run only when there is no current chunk (the ``--replan-hz`` export, whose
    steps before the first trained one start from the measured position; :mod:`robot_rl.policy.chunking`).
    ``ensemble`` (0: off) in [0, 1): where a new chunk's executed step falls within the current chunk, its target
    is ``ensemble`` * the current chunk's target at that time + (1 - ``ensemble``) * its own (temporal
    ensembling, exponential weights over successive chunks; :func:`robot_rl.policy.chunking.blend`).
    """

    horizon: int = 1
    n_action_steps: int = 1
    denoising_steps: int = 0  # 0 for a non-diffusion policy
    obs_history: int = 1  # stacked whole observation vectors (diffusion policies), oldest first
    replace_from: int = 0
    ensemble: float = 0.0

    def __post_init__(self) -> None:
        if not (1 <= self.n_action_steps <= self.horizon):
            raise ConfigError(f"contract chunking: need 1 <= n_action_steps ({self.n_action_steps}) <= "
                              f"horizon ({self.horizon})")
        if self.denoising_steps < 0 or self.obs_history < 1:
            raise ConfigError("contract chunking: denoising_steps must be >= 0 and obs_history >= 1")
        if not (0 <= self.replace_from < self.horizon):
            raise ConfigError(f"contract chunking: need 0 <= replace_from ({self.replace_from}) < horizon "
                              f"({self.horizon})")
        check_ensemble(self.ensemble, "contract chunking")


def check_ensemble(value: float, where: str) -> None:
    """ConfigError unless ``value`` (the chunking ``ensemble`` weight) is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ConfigError(f"{where}: ensemble must be a number in [0, 1) (0: off), got {value!r}")


@dataclass(frozen=True)
class PolicyContract:
    """Everything needed to run one exported policy correctly. See the module docstring for conventions."""

    obs_joint_names: tuple[str, ...]
    action_joint_names: tuple[str, ...]
    observations: tuple[ObsTerm, ...]
    action: ActionSpec
    timing: Timing
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    chunking: Chunking = field(default_factory=Chunking)
    normalization: Normalization = field(default_factory=Normalization)
    residual: Residual | None = None
    reward_classifier: RewardClassifier | None = None  # set: a success classifier, not a policy
    noise: NoiseInput | None = None  # distribution of the role-'noise' input (None: standard normal)
    provenance: Provenance = field(default_factory=Provenance)
    joint_limits: dict | None = None  # action joint name -> [lower, upper] rad the policy was trained with
    default_joint_pos: dict | None = None  # obs joint name -> rad, the training default pose
    golden: tuple[GoldenVector, ...] = ()
    feedback: tuple[Feedback, ...] = ()  # state outputs fed back to state inputs at the next step
    pass_criteria: PassCriteria = field(default_factory=PassCriteria)
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.schema_version != SCHEMA_VERSION:
            raise ConfigError(f"contract schema_version {self.schema_version} is not supported "
                              f"(this robot_rl reads version {SCHEMA_VERSION})")
        object.__setattr__(self, "obs_joint_names", _names("obs_joint_names", self.obs_joint_names))
        object.__setattr__(self, "action_joint_names", _names("action_joint_names", self.action_joint_names))
        object.__setattr__(self, "observations", tuple(self.observations))
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "outputs", tuple(self.outputs))
        object.__setattr__(self, "golden", tuple(self.golden))
        object.__setattr__(self, "feedback", tuple(self.feedback))
        self.action.sized(len(self.action_joint_names))
        self._check_terms()
        self._check_io()
        self._check_feedback()
        self._check_noise()
        if self.normalization.kind == "mean_std" and len(self.normalization.mean) != self.obs_dim:
            raise ConfigError(f"contract normalization.mean has {len(self.normalization.mean)} values, "
                              f"obs_dim is {self.obs_dim}")
        for name, table in (("joint_limits", self.joint_limits), ("default_joint_pos", self.default_joint_pos)):
            if table is not None:
                expected = self.action_joint_names if name == "joint_limits" else self.obs_joint_names
                if set(table) != set(expected):
                    raise ConfigError(f"contract {name}: keys {sorted(table)} must be exactly {list(expected)}")
                width = 2 if name == "joint_limits" else 1
                object.__setattr__(self, name, {str(k): _floats(f"{name}[{k!r}]", v, width) if width == 2
                                                else float(v) for k, v in table.items()})

    def _check_terms(self) -> None:
        names = [t.name for t in self.observations]
        if not names or len(set(names)) != len(names):
            raise ConfigError(f"contract observations: need unique, non-empty term names, got {names}")
        for term in self.observations:
            expected = {"joint_pos": len(self.obs_joint_names), "joint_vel": len(self.obs_joint_names),
                        "last_action": self.action_dim}.get(term.source)
            if expected is not None and term.size != expected:
                raise ConfigError(f"contract observations[{term.name!r}].size: {term.source} needs "
                                  f"{expected}, got {term.size}")

    def _check_io(self) -> None:
        obs = [t for t in self.inputs if t.role == "obs"]
        kind = "success_logit" if self.reward_classifier is not None else "action"
        acts = [t for t in self.outputs if t.role == kind]
        if len(obs) != 1 or len(acts) != 1 or len(acts) != len(self.outputs) and kind == "success_logit":
            raise ConfigError(f"contract io: need exactly one input with role 'obs' and one output with role {kind!r}"
                              + (" (and no other output: a reward classifier)" if kind == "success_logit" else ""))
        h, horizon, a = self.chunking.obs_history, self.chunking.horizon, self.action_dim
        if kind == "success_logit":
            if tuple(obs[0].shape[1:]) != (self.obs_dim,) or tuple(acts[0].shape[1:]) != (1,) or h != 1:
                raise ConfigError(f"contract io: a reward classifier maps obs (batch, {self.obs_dim}) (one frame, "
                                  f"obs_history 1) to success_logit (batch, 1); got {obs[0].shape} -> {acts[0].shape}, "
                                  f"obs_history {h}")
            return
        want = (self.obs_dim,) if h == 1 else (h, self.obs_dim)
        if tuple(obs[0].shape[1:]) != want:
            raise ConfigError(f"contract io: obs input {obs[0].name!r} shape {obs[0].shape} must be (batch, *{want}) "
                              f"for obs_dim {self.obs_dim} and obs_history {h}")
        allowed = [(horizon, a)] + ([(a,)] if horizon == 1 else [])
        if tuple(acts[0].shape[1:]) not in allowed:
            raise ConfigError(f"contract io: action output {acts[0].name!r} shape {acts[0].shape} must be "
                              f"(batch, *{allowed[-1]}) for horizon {horizon} and action_dim {a}")

    def _check_noise(self) -> None:
        """A declared noise distribution needs a noise input; a diffusion policy's noise is one chunk (H, A)."""
        spec = self.input("noise")
        if self.noise is not None and spec is None:
            raise ConfigError("contract noise: a noise distribution is declared but no input has role 'noise'")
        want = (self.chunking.horizon, self.action_dim)
        if self.noise is not None and self.chunking.denoising_steps >= 1 and tuple(spec.shape[1:]) != want:
            raise ConfigError(f"contract io: noise input {spec.name!r} shape {spec.shape} must be (batch, *{want}): "
                              f"the initial noise of one chunk")

    def _check_feedback(self) -> None:
        """Every state input is fed by exactly one state output, with matching initial values."""
        states_in = {t.name: t for t in self.inputs if t.role == "state"}
        states_out = {t.name: t for t in self.outputs if t.role == "state"}
        fed = [f.input for f in self.feedback]
        if sorted(fed) != sorted(states_in) or len(set(fed)) != len(fed):
            raise ConfigError(f"contract feedback feeds inputs {fed}; the state inputs are {sorted(states_in)}")
        for f in self.feedback:
            if f.output not in states_out:
                raise ConfigError(f"contract feedback {f.output!r} -> {f.input!r}: {f.output!r} is not a state "
                                  f"output (state outputs: {sorted(states_out)})")
            size = int(np.prod([d for d in states_in[f.input].shape[1:]]))
            if len(f.initial) != size:
                raise ConfigError(f"contract feedback {f.input!r}: {len(f.initial)} initial values, the input "
                                  f"has {size}")

    @property
    def obs_dim(self) -> int:
        """Width of one assembled observation vector (all terms, with their histories)."""
        return sum(t.width for t in self.observations)

    @property
    def action_dim(self) -> int:
        """Width of one action step: arm joints + 1 if the gripper is commanded."""
        return len(self.action_joint_names) + int(self.action.gripper)

    def input(self, role: str) -> TensorSpec | None:
        """The input tensor with ``role`` (obs, noise, base_action), or None."""
        return next((t for t in self.inputs if t.role == role), None)

    @property
    def action_output(self) -> TensorSpec:
        """The output tensor carrying actions; ConfigError for a reward classifier (it has none)."""
        if self.reward_classifier is not None:
            raise ConfigError("this contract is a reward classifier's (success_logit output), not a policy's")
        return next(t for t in self.outputs if t.role == "action")
