"""Policy runtime: onnxruntime with explicit threads, base (+ optional residual) policy, timestamped targets.

Pure: numpy in, :class:`ActionChunk` out; no rclpy. Composition of a residual
(a second contract-carrying ONNX model whose contract names the base by its
sha256) is per policy step t in raw action space (ResiP / ResFiT)::

    raw_t = base_raw_t + s * residual(obs_t, base_raw_t)
    processed_t = clip(raw_t * scale + offset, clip)        (per joint)

``base_raw_t`` is step i of the base chunk on the chunk schedule (inferred from the chunk-start
observation every n_action_steps steps), ``obs_t`` is step t's own observation window, so the residual
reacts every period and the learner's transitions are Markov. ``s`` is ``residual.scale`` for the arm
joints and :data:`GRIPPER_RESIDUAL_SCALE` for the gripper scalar (so a residual can open or close it).
:meth:`PolicyRuntime.act_on` composes the whole chunk on the chunk-start observation (exact for its first
step; a prediction for the later ones) and keeps the base's chunk in ``ActionChunk.base_raw``;
:meth:`PolicyRuntime.residual_step` recomputes step t on its own observation. The residual is
deterministic (noise input zeros) unless ``RuntimeConfig.explore_residual`` samples it (its noise input times
``RuntimeConfig.explore_scale``: a fraction of the learned std, a bounded exploration).

Targets: ``joint_pos_abs``: processed; ``joint_pos_delta``: q_obs + processed;
``joint_vel``: q_obs + cumulative sum of processed * dt (velocity = processed).
The gripper scalar g in [-1, 1] maps to open (g <= 0) or closed (g > 0) finger position.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.chunking import ActionChunk
from robot_rl.policy.contract import LoadedPolicy
from robot_rl.policy.noise_policy import check_noise_policy, is_noise_policy, steering_noise
from robot_rl.policy.observation import ObservationAssembler, ObservationInputs
from robot_rl.policy.schema import PolicyContract


@dataclass(frozen=True)
class RuntimeConfig:
    """onnxruntime threading and sampling settings."""

    intra_op_threads: int = 1
    inter_op_threads: int = 1
    seed: int = 0  # for the noise input of diffusion policies
    explore_residual: bool = False  # residual noise input: standard normal (collecting) or zeros (acting)
    explore_scale: float = 1.0  # with explore_residual: the residual's noise input is N(0, explore_scale^2)

    def __post_init__(self) -> None:
        if self.intra_op_threads < 1 or self.inter_op_threads < 1:
            raise ConfigError(f"RuntimeConfig: intra_op_threads ({self.intra_op_threads}) and inter_op_threads "
                              f"({self.inter_op_threads}) must be >= 1")
        if not (np.isfinite(self.explore_scale) and 0.0 < self.explore_scale <= 1.0):
            raise ConfigError(f"RuntimeConfig: explore_scale must be in (0, 1] (a fraction of the residual's "
                              f"learned std), got {self.explore_scale}")


def make_session(model_bytes: bytes, config: RuntimeConfig):
    """onnxruntime CPU session with explicit intra/inter-op thread counts and sequential execution."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = config.intra_op_threads
    options.inter_op_num_threads = config.inter_op_threads
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


class OnnxPolicy:
    """One ONNX policy: feeds obs (and noise / base_action when declared), returns raw actions (horizon, a)."""

    def __init__(self, policy: LoadedPolicy, config: RuntimeConfig):
        self.policy = policy
        self.contract = policy.contract
        self.session = make_session(policy.model_bytes, config)
        self._rng = np.random.default_rng(config.seed)
        self.sample_noise = policy.contract.residual is None or config.explore_residual
        self._noise_scale = 1.0 if policy.contract.residual is None else config.explore_scale
        self._dtypes = {t.name: t.dtype for t in self.contract.inputs}
        c = self.contract
        self._outputs = ([c.action_output.name] + [f.output for f in c.feedback]
                         + [t.name for t in c.outputs if t.role == "info"])
        self.info: dict[str, np.ndarray] = {}  # the last run's info outputs (e.g. LEAPP kp/kd gains), by name
        self.last_noise: np.ndarray | None = None  # the last run's role-noise value (no batch dimension)
        self.reset_state()

    def reset_state(self) -> None:
        """Feedback state inputs back to their initial values (as LEAPP's InferenceManager.reset)."""
        specs = {t.name: t for t in self.contract.inputs}
        self.state = {f.input: np.asarray(f.initial, dtype=specs[f.input].dtype).reshape(
            tuple(1 if isinstance(d, str) else d for d in specs[f.input].shape)) for f in self.contract.feedback}

    def _input(self, role: str, value: np.ndarray) -> tuple[str, np.ndarray]:
        spec = self.contract.input(role)
        return spec.name, np.asarray(value, dtype=spec.dtype)[None]

    def noise_value(self, noise: np.ndarray | None = None) -> np.ndarray | None:
        """The value of the role-``noise`` input (without its batch dimension; None if the graph has none):
        ``noise`` checked against the contract (shape, finite), else a seeded draw of the contract's distribution
        (standard normal when it declares none; a residual's draw times ``RuntimeConfig.explore_scale``), or its
        mean for a residual that does not explore."""
        spec = self.contract.input("noise")
        if spec is None:
            if noise is not None:
                raise ConfigError("a noise value was given but the policy has no input with role 'noise'")
            return None
        shape = tuple(1 if isinstance(d, str) else d for d in spec.shape[1:])
        if noise is not None:
            noise = np.asarray(noise, dtype=float)
            if noise.shape != shape or not np.all(np.isfinite(noise)):
                raise ConfigError(f"noise input {spec.name!r}: need finite values of shape {shape}, got shape "
                                  f"{noise.shape}" + ("" if noise.shape != shape else " with non-finite values"))
            return noise
        mean, std = (self.contract.noise.mean, self.contract.noise.std) if self.contract.noise else (0.0, 1.0)
        std = std * self._noise_scale
        return mean + std * self._rng.standard_normal(shape) if self.sample_noise else np.full(shape, mean)

    def run(self, obs: np.ndarray, base_action: np.ndarray | None = None,
            noise: np.ndarray | None = None) -> np.ndarray:
        """Raw actions (horizon, a) for one observation (obs_dim,) or (obs_history, obs_dim); ``noise`` feeds the
        role-``noise`` input (default: :meth:`noise_value`)."""
        feed = dict([self._input("obs", obs)])
        value = self.last_noise = self.noise_value(noise)  # kept: the latent a DSRL learner records
        if value is not None:
            feed.update([self._input("noise", value)])
        if base_action is not None:
            feed.update([self._input("base_action", base_action)])
        outputs = dict(zip(self._outputs, self.session.run(self._outputs, {**feed, **self.state})))
        self.state = {f.input: outputs[f.output] for f in self.contract.feedback}  # fed back at the next step
        self.info = {name: outputs[name] for name in self._outputs[1 + len(self.contract.feedback):]}
        return np.asarray(outputs[self._outputs[0]], dtype=float).reshape(-1, self.contract.action_dim)


GRIPPER_RESIDUAL_SCALE = 2.0
"""Residual scale of the gripper scalar (raw units): a residual of +-1 moves it across 0 from +-1."""


def residual_scales(contract: PolicyContract, scale: float) -> np.ndarray:
    """Per-entry residual scale (a,): ``scale`` for the arm joints, GRIPPER_RESIDUAL_SCALE for the gripper."""
    out = np.full(contract.action_dim, float(scale))
    out[len(contract.action_joint_names):] = GRIPPER_RESIDUAL_SCALE
    return out


def residual_step(residual: OnnxPolicy, obs: np.ndarray, base_raw: np.ndarray) -> np.ndarray:
    """Raw action (a,) of one step: ``base_raw + s * residual(obs, base_raw)`` (obs: this step's window);
    ``base_raw`` for a noise policy (it acted on the chunk's initial noise)."""
    if is_noise_policy(residual.contract):
        return np.asarray(base_raw, dtype=float)
    scales = residual_scales(residual.contract, residual.contract.residual.scale)
    return base_raw + scales * residual.run(obs, base_action=base_raw)[0]


def compose(base: OnnxPolicy, residual: OnnxPolicy | None, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(raw actions (horizon, a), the base's (horizon, a)) for ``obs``: the residual composed on ``obs`` at
    every step (exact for the first step; a prediction for later ones, see :func:`residual_step`); a noise
    policy chooses the base's initial noise instead (:mod:`robot_rl.policy.noise_policy`)."""
    raw = base.run(obs, noise=steering_noise(residual, obs))
    if residual is None or is_noise_policy(residual.contract):
        return raw, raw
    return np.stack([residual_step(residual, obs, r) for r in raw]), raw


def check_residual(base: PolicyContract, base_id: str, residual: PolicyContract) -> None:
    """The residual must name this base (sha256), share its joints, observations and action size."""
    if residual.residual is None:
        raise ConfigError("the residual policy's contract has no 'residual' section")
    if is_noise_policy(residual):
        return check_noise_policy(base, base_id, residual)
    if residual.residual.base_policy_id != base_id:
        raise ConfigError(f"residual is for base policy {residual.residual.base_policy_id[:12]}..., "
                          f"the loaded base is {base_id[:12]}...")
    if residual.input("base_action") is None:
        raise ConfigError("the residual policy has no input with role 'base_action'")
    for field in ("action_joint_names", "obs_joint_names", "observations"):
        if getattr(residual, field) != getattr(base, field):
            raise ConfigError(f"residual contract {field} differs from the base policy's")
    if residual.action_dim != base.action_dim:
        raise ConfigError(f"residual action_dim {residual.action_dim} != base action_dim {base.action_dim}")


class PolicyRuntime:
    """Observation -> chunk of timestamped joint targets.

    Args:
        base: a loaded, checked base policy.
        residual: optional loaded residual policy (see :func:`check_residual`).
        robot_model: RobotModel for ``ee_pos`` terms (FK) and gripper joint names.
        config: threading and seed.
        gripper_range: (open, closed) finger positions, m, for the gripper action.
    """

    def __init__(self, base: LoadedPolicy, residual: LoadedPolicy | None = None, robot_model=None,
                 config: RuntimeConfig | None = None, gripper_range: tuple[float, float] = (0.04, 0.0)):
        config = config or RuntimeConfig()
        self.contract = base.contract
        self.base = OnnxPolicy(base, config)
        self.residual = None
        if residual is not None:
            check_residual(base.contract, base.sha256, residual.contract)
            self.residual = OnnxPolicy(residual, config)
        gripper_joints = ()
        if robot_model is not None and robot_model.config.gripper is not None:
            gripper_joints = robot_model.config.gripper.joints
        self.observe = ObservationAssembler(self.contract, robot_model, gripper_joints)
        self.gripper_range = gripper_range
        a = self.contract.action
        self._scale, self._offset = np.asarray(a.scale), np.asarray(a.offset)

    def reset(self) -> None:
        """Start a new episode: clear observation histories, the last action and feedback states."""
        self.observe.reset()
        self.base.reset_state()

    def take_over(self, previous: PolicyRuntime) -> PolicyRuntime:
        """Go on with ``previous``'s episode: share its observation histories and last action (a residual hot
        swap, same base file); returns self. ConfigError if the bases differ."""
        if previous.base.policy.sha256 != self.base.policy.sha256:
            raise ConfigError(f"cannot take over the observation state of base {previous.base.policy.sha256[:12]}... "
                              f"with base {self.base.policy.sha256[:12]}...")
        self.observe, self.base.state = previous.observe, previous.base.state
        return self

    def compose(self, obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(raw (horizon, a), base raw (horizon, a)): base chunk plus the scaled residual on ``obs``. The whole
        horizon is kept: the scheduler replans after n_action_steps and executes later steps only while that
        inference runs."""
        return compose(self.base, self.residual, obs)

    def residual_step(self, obs: np.ndarray, base_raw: np.ndarray) -> np.ndarray:
        """Raw action (a,) of one step from its own observation window ``obs`` and the base's step
        ``base_raw`` (a,) (from ``ActionChunk.base_raw``); ``base_raw`` itself without a residual."""
        base_raw = np.asarray(base_raw, dtype=float)
        return base_raw if self.residual is None else residual_step(self.residual, obs, base_raw)

    def restep(self, command: ActionChunk, obs: np.ndarray) -> ActionChunk:
        """``command`` (a heartbeat: the not-yet-due rest of a chunk) with its first step recomputed by the
        residual on this period's observation ``obs`` (per-step residual); unchanged without a residual, a
        base_raw, or for joint_vel actions (whose targets accumulate)."""
        if self.residual is None or command.base_raw is None or self.contract.action.type == "joint_vel" \
                or is_noise_policy(self.residual.contract):
            return command
        raw = self.residual_step(obs, command.base_raw[0])
        new, saturated = self.process(raw[None])
        old, _ = self.process(command.raw[:1])
        shift = new[0] - old[0]  # targets are processed (+ the chunk's q_obs for joint_pos_delta)
        positions, velocities = command.positions.copy(), command.velocities.copy()
        positions[0] += shift
        velocities[0] += shift / self.contract.timing.period
        gripper = command.gripper
        if gripper is not None:
            gripper = gripper.copy()
            gripper[0] = self.gripper_targets(raw[None])[0]
        raws, flags = command.raw.copy(), command.saturated.copy()
        raws[0], flags[0] = raw, saturated[0]
        return replace(command, positions=positions, velocities=velocities, gripper=gripper, raw=raws,
                       saturated=flags)

    def process(self, raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(processed arm actions (k, n), saturated mask (k, a)) for raw actions (k, a)."""
        n = len(self.contract.action_joint_names)
        scaled = raw[:, :n] * self._scale + self._offset
        saturated = np.zeros(raw.shape, dtype=bool)
        clip = self.contract.action.clip
        if clip is not None:
            processed = np.clip(scaled, clip[0], clip[1])
            saturated[:, :n] = processed != scaled
        else:
            processed = scaled
        if self.contract.action.gripper:
            saturated[:, n] = np.abs(raw[:, n]) > 1.0
        return processed, saturated

    def targets(self, processed: np.ndarray, q_obs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Joint position targets and velocities (k, n) from processed actions and the observed q (n,) rad."""
        dt = self.contract.timing.period
        kind = self.contract.action.type
        if kind == "joint_pos_abs":
            positions = processed
        elif kind == "joint_pos_delta":
            positions = q_obs + processed
        else:
            positions = q_obs + np.cumsum(processed, axis=0) * dt
        if kind == "joint_vel":
            return positions, processed
        return positions, np.diff(np.vstack([q_obs, positions]), axis=0) / dt

    def act(self, inputs: ObservationInputs) -> ActionChunk:
        """Run the policy on one measurement; return the chunk stamped with ``inputs.stamp``."""
        start = time.perf_counter()
        return self.act_on(self.observe(inputs), inputs, start)

    def act_on(self, obs: np.ndarray, inputs: ObservationInputs, start: float | None = None) -> ActionChunk:
        """Run the policy on ``obs`` (as returned by ``self.observe(inputs)``, whose frame is already pushed);
        ``start`` (time.perf_counter() s) is where ``latency_ms`` counts from (default: now)."""
        start = time.perf_counter() if start is None else start
        raw, base_raw = self.compose(obs)
        names = self.contract.action_joint_names
        chunk = self.chunk(raw, self.observe.joint_values(inputs, names, "position"), inputs.stamp, base_raw)
        last = raw[0] if self.contract.action.last_action == "raw" else np.concatenate(
            [self.process(raw[:1])[0][0], raw[0, len(names):]])
        self.observe.set_last_action(last)
        return replace(chunk, latency_ms=(time.perf_counter() - start) * 1000.0)

    def chunk(self, raw: np.ndarray, q_obs: np.ndarray, stamp: float,
              base_raw: np.ndarray | None = None) -> ActionChunk:
        """The chunk of raw actions (k, a) inferred on an observation taken at ``stamp`` (s) whose arm joints were
        at ``q_obs`` (n,) rad: targets (:meth:`targets`), gripper targets, deadlines one period apart, and
        ``base_raw`` (k, a) (the base's actions before a residual) if given; latency_ms 0."""
        processed, saturated = self.process(raw)
        positions, velocities = self.targets(processed, q_obs)
        deadlines = self.contract.timing.period * np.arange(1, raw.shape[0] + 1)
        return ActionChunk(stamp=stamp, joint_names=self.contract.action_joint_names, deadlines=deadlines,
                           positions=positions, velocities=velocities, gripper=self.gripper_targets(raw), raw=raw,
                           saturated=saturated, latency_ms=0.0, base_raw=base_raw)

    def gripper_targets(self, raw: np.ndarray) -> np.ndarray | None:
        """Finger position targets (k,) m for raw actions (k, a): ``gripper_range``'s closed position where the
        gripper scalar is > 0, its open one elsewhere; None for a policy without a gripper action."""
        if not self.contract.action.gripper:
            return None
        open_pos, closed_pos = self.gripper_range
        return np.where(raw[:, len(self.contract.action_joint_names)] > 0.0, closed_pos, open_pos)
