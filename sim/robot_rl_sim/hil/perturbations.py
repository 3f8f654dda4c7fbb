"""The perturbations a sim-to-real gap is made of (:mod:`.gaps` declares the named gaps).

Each perturbation changes one thing between the simulated world and what the base policy was trained
on. Three hooks, all optional:

- ``apply_model(env)``: once, on the wrapped env's own MuJoCo model (physics: masses, friction,
  damping, actuator gear);
- ``measure(obs, env, rng)``: the observation the policy receives, from the true one (sensors);
- ``to_true(action)`` / ``to_measured(action)``: raw actions between the policy's (measured)
  coordinates and the truth (only encoder offsets change coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np

from robot_rl.errors import ConfigError


def _terms(spec) -> dict[str, str]:
    """Observation source -> term name of ``spec``."""
    return {t.source: t.name for t in spec.obs_terms}


class Perturbation:
    """No-op hooks; subclasses override what they change."""

    def check(self, env) -> None:
        """ConfigError if this perturbation cannot apply to ``env``'s task."""

    def apply_model(self, env) -> None:
        """Change ``env.model`` once (physics)."""

    def measure(self, obs: dict[str, np.ndarray], env, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The measured observation (a new dict) from ``obs``."""
        return obs

    def to_true(self, action: np.ndarray) -> np.ndarray:
        """A raw action (a,) in measured coordinates -> true coordinates."""
        return action

    def to_measured(self, action: np.ndarray) -> np.ndarray:
        """A raw action (a,) in true coordinates -> measured coordinates."""
        return action


@dataclass(frozen=True)
class EncoderOffset(Perturbation):
    """Joint encoders read ``true + offset`` (n,) rad. The policy's end effector is computed from the measured
    joints (as the policy node computes it from /joint_states) and its absolute targets land ``-offset`` off."""

    offset: tuple[float, ...]

    def check(self, env) -> None:
        n = len(env.config.joints)
        if len(self.offset) != n or not np.all(np.isfinite(self.offset)):
            raise ConfigError(f"encoder offset must be {n} finite values (rad), got {list(self.offset)}")
        if env.spec.action.type != "joint_pos_abs":
            raise ConfigError(f"encoder offsets need joint_pos_abs actions, task {env.spec.name!r} has "
                              f"{env.spec.action.type!r}")

    def measure(self, obs, env, rng):
        terms = _terms(env.spec)
        q = obs[terms["joint_pos"]] + np.asarray(self.offset)
        out = dict(obs, **{terms["joint_pos"]: q})
        if "ee_pos" in terms:
            out[terms["ee_pos"]] = env.robot.fk(q)
        return out

    def to_true(self, action):
        out = np.array(action, dtype=float)
        out[: len(self.offset)] -= self.offset
        return out

    def to_measured(self, action):
        out = np.array(action, dtype=float)
        out[: len(self.offset)] += self.offset
        return out


@dataclass(frozen=True)
class PoseEstimateError(Perturbation):
    """A camera-calibration error on the estimated object (pick: ``object_pose``; reach: the ``goal``, the
    target a camera would locate): a constant position bias (3,) m and yaw bias (rad, about world z), plus
    Gaussian position noise of ``noise_m`` (m, per axis) drawn every observation from the gap's RNG."""

    bias_m: tuple[float, float, float] = (0.0, 0.0, 0.0)
    yaw_bias_rad: float = 0.0
    noise_m: float = 0.0

    def check(self, env) -> None:
        terms = _terms(env.spec)
        if "object_pose" not in terms and "goal" not in terms:
            raise ConfigError(f"task {env.spec.name!r} observes no object pose or goal to bias")
        if self.noise_m < 0 or len(self.bias_m) != 3:
            raise ConfigError(f"pose estimate error: need 3 bias values and noise_m >= 0, got {self}")

    def measure(self, obs, env, rng):
        terms = _terms(env.spec)
        key = terms.get("object_pose", terms.get("goal"))
        pose = obs[key].copy()
        pose[:3] += np.asarray(self.bias_m) + rng.normal(0.0, self.noise_m, 3)
        if len(pose) == 7 and self.yaw_bias_rad:
            half = self.yaw_bias_rad / 2
            pose[3:] = _quat_mul(np.array([np.cos(half), 0.0, 0.0, np.sin(half)]), pose[3:])
        return dict(obs, **{key: pose})


def _quat_mul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Hamilton product of quaternions wxyz."""
    w1, x1, y1, z1 = a
    w2, x2, y2, z2 = b
    return np.array([w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2, w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
                     w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2, w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2])


@dataclass(frozen=True)
class ObjectPhysics(Perturbation):
    """The object's mass (and inertia) scaled by ``mass_scale`` and its sliding friction by ``friction_scale``."""

    mass_scale: float = 1.0
    friction_scale: float = 1.0

    def check(self, env) -> None:
        if env.spec.object is None:
            raise ConfigError(f"task {env.spec.name!r} has no object whose mass or friction to change")
        if not (self.mass_scale > 0 and self.friction_scale > 0):
            raise ConfigError(f"object physics scales must be > 0, got {self}")

    def apply_model(self, env) -> None:
        geom = env.model.geom(env.spec.object.name).id
        body = int(env.model.geom_bodyid[geom])
        env.model.body_mass[body] *= self.mass_scale
        env.model.body_inertia[body] *= self.mass_scale
        env.model.geom_friction[geom, 0] *= self.friction_scale


@dataclass(frozen=True)
class GripperSpeed(Perturbation):
    """Slower fingers: viscous damping on each finger joint, kp x ``time_constant_s`` (N s/m, kp the finger
    position actuator's gain), so a finger follows its command with a first-order lag of ``time_constant_s``
    (s; the simulated fingers' own lag is a few ms). The grip force at rest is unchanged."""

    time_constant_s: float

    def check(self, env) -> None:
        if env.config.gripper is None:
            raise ConfigError(f"robot {env.config.name!r} has no gripper to slow down")
        if not self.time_constant_s > 0:
            raise ConfigError(f"gripper time_constant_s must be > 0 s, got {self.time_constant_s}")

    def apply_model(self, env) -> None:
        for name in env.config.gripper.joints:
            kp = env.model.actuator_gainprm[env.model.actuator(name).id, 0]
            env.model.dof_damping[env.model.joint(name).dofadr[0]] = kp * self.time_constant_s


@dataclass(frozen=True)
class ActuationGain(Perturbation):
    """The arm's motors deliver ``gain`` x the commanded torque (per joint, or one value for all): a torque
    constant / gear ratio calibration error. The reported effort stays the commanded one. Its effect depends
    on the state (gravity and acceleration torques), so no constant action shift undoes it."""

    gain: tuple[float, ...]

    def check(self, env) -> None:
        n = len(env.config.joints)
        if len(self.gain) not in (1, n) or not all(g > 0 for g in self.gain):
            raise ConfigError(f"actuation gain: need 1 or {n} values > 0, got {list(self.gain)}")

    def apply_model(self, env) -> None:
        gains = np.broadcast_to(np.asarray(self.gain, dtype=float), (len(env.config.joints),))
        for name, g in zip(env.config.joints, gains):
            env.model.actuator_gear[env.model.actuator(name).id, 0] *= g


@dataclass(frozen=True)
class TargetGain(Perturbation):
    """Joint position targets land at ``pose + gain * (target - pose)`` (per joint, or one value for all): a
    mis-set position gain or transmission ratio about ``pose`` (n,) rad. The error grows with the distance
    from ``pose``, so no constant offset corrects it. Observations stay true."""

    gain: tuple[float, ...]
    pose: tuple[float, ...]

    def check(self, env) -> None:
        n = len(env.config.joints)
        if len(self.gain) not in (1, n) or not all(g > 0 for g in self.gain) or len(self.pose) != n:
            raise ConfigError(f"target gain: need 1 or {n} gains > 0 and a {n}-joint pose, got "
                              f"{list(self.gain)}, {list(self.pose)}")
        if env.spec.action.type != "joint_pos_abs":
            raise ConfigError(f"a target gain needs joint_pos_abs actions, task {env.spec.name!r} has "
                              f"{env.spec.action.type!r}")

    def to_true(self, action: np.ndarray) -> np.ndarray:
        out, n = np.array(action, dtype=float), len(self.pose)
        out[:n] = np.asarray(self.pose) + np.asarray(self.gain) * (out[:n] - np.asarray(self.pose))
        return out

    def to_measured(self, action: np.ndarray) -> np.ndarray:
        out, n = np.array(action, dtype=float), len(self.pose)
        out[:n] = np.asarray(self.pose) + (out[:n] - np.asarray(self.pose)) / np.asarray(self.gain)
        return out


def finish_model(env) -> None:
    """Recompute the model's derived constants after ``apply_model`` changes."""
    mujoco.mj_setConst(env.model, env.data)
