"""Observation assembly per the contract: named joint states in, one flat (or stacked) policy input out.

Joints are matched by NAME. Per term: value = clip(raw - offset, clip) * scale;
each term keeps its own history (oldest first, filled with the first sample
after a reset, like Isaac Lab's CircularBuffer); terms are concatenated in
contract order; ``normalization`` (mean_std) is applied to the whole vector;
with ``chunking.obs_history`` > 1 the last whole vectors are stacked, oldest first.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import CommandError, ConfigError
from robot_rl.policy.schema import ObsTerm, PolicyContract

FK_SOURCES = ("ee_pos", "ee_goal_dist", "ee_object_dist")
"""Observation sources computed from the end effector position (forward kinematics of the measured joints)."""


@dataclass(frozen=True)
class ObservationInputs:
    """What the robot and task report at one instant.

    Attributes:
        stamp: time of the measurement, s (ROS clock).
        joint_names: names of the measured joints, (m,).
        position: (m,) rad; velocity: (m,) rad/s, in ``joint_names`` order.
        goal: task goal vector (g,) or None; object_pose: (7,) m + wxyz or None.
    """

    stamp: float
    joint_names: tuple[str, ...]
    position: np.ndarray
    velocity: np.ndarray
    goal: np.ndarray | None = None
    object_pose: np.ndarray | None = None


class ObservationAssembler:
    """Builds the policy's observation from :class:`ObservationInputs`; keeps term and frame histories.

    Args:
        contract: the policy contract.
        robot_model: a RobotModel (pinocchio FK), needed only if a term has source ``ee_pos``; its joints must
            be the contract's obs joints (by name) or a superset present in the measurement.
        gripper_joints: names whose mean position is ``gripper_pos`` (m).
    """

    def __init__(self, contract: PolicyContract, robot_model=None, gripper_joints: tuple[str, ...] = ()):
        self.contract = contract
        self.robot_model = robot_model
        self.gripper_joints = tuple(gripper_joints)
        fk_source = next((t.source for t in contract.observations if t.source in FK_SOURCES), None)
        if fk_source and robot_model is None:
            raise ConfigError(f"contract observes {fk_source!r} but no robot model was given for forward kinematics")
        self._last_action = np.zeros(contract.action_dim)
        self.reset()

    def reset(self) -> None:
        """Forget histories (next sample fills them) and zero the last action."""
        self._terms: dict[str, deque] = {t.name: deque(maxlen=t.history) for t in self.contract.observations}
        self._frames: deque = deque(maxlen=self.contract.chunking.obs_history)
        self._last_action = np.zeros(self.contract.action_dim)

    def set_last_action(self, action: np.ndarray) -> None:
        """Record the action (a,) fed back by the ``last_action`` term (raw or processed per the contract)."""
        action = np.asarray(action, dtype=float).reshape(-1)
        if action.shape != self._last_action.shape:
            raise ConfigError(f"last action has {action.size} values, contract action_dim is {self._last_action.size}")
        self._last_action = action

    def joint_values(self, inputs: ObservationInputs, names: tuple[str, ...], field: str) -> np.ndarray:
        """``field`` (position|velocity) of ``names`` from the measurement, by name; CommandError if missing."""
        index = {n: i for i, n in enumerate(inputs.joint_names)}
        missing = [n for n in names if n not in index]
        if missing:
            raise CommandError(f"joint state lacks joints {missing} that the policy observes")
        return np.asarray(getattr(inputs, field), dtype=float)[[index[n] for n in names]]

    def _raw(self, term: ObsTerm, inputs: ObservationInputs) -> np.ndarray:
        source = term.source
        if source == "joint_pos":
            return self.joint_values(inputs, self.contract.obs_joint_names, "position")
        if source == "joint_vel":
            return self.joint_values(inputs, self.contract.obs_joint_names, "velocity")
        if source == "ee_pos":
            return self._ee_pos(inputs)
        if source in ("ee_goal_dist", "ee_object_dist"):
            target = self._measured(term, inputs, "goal" if source == "ee_goal_dist" else "object_pose")
            if source == "ee_goal_dist" and target.size != 3:
                raise CommandError(f"observation term {term.name!r} needs a Cartesian goal (3 values, m), "
                                   f"got {target.size} values")
            return np.array([np.linalg.norm(target[:3] - self._ee_pos(inputs))])  # object_pose: xyz + wxyz
        if source == "gripper_pos":
            if not self.gripper_joints:
                raise ConfigError("contract observes 'gripper_pos' but the robot has no gripper joints")
            return np.array([self.joint_values(inputs, self.gripper_joints, "position").mean()])
        if source == "last_action":
            return self._last_action
        return self._measured(term, inputs, source)

    def _ee_pos(self, inputs: ObservationInputs) -> np.ndarray:
        """End effector position (3,) m, base frame, by FK of the measured joints."""
        return self.robot_model.fk(self.joint_values(inputs, tuple(self.robot_model.joint_names), "position"))

    @staticmethod
    def _measured(term: ObsTerm, inputs: ObservationInputs, field: str) -> np.ndarray:
        """``inputs.goal`` or ``inputs.object_pose`` (flat); CommandError if none was received yet."""
        value = getattr(inputs, field)
        if value is None:
            raise CommandError(f"observation term {term.name!r} needs '{field}' but none was received yet")
        return np.asarray(value, dtype=float).reshape(-1)

    def _term_value(self, term: ObsTerm, inputs: ObservationInputs) -> np.ndarray:
        raw = self._raw(term, inputs)
        if raw.shape != (term.size,):
            raise CommandError(f"observation term {term.name!r} ({term.source}) has {raw.size} values, "
                               f"the contract expects {term.size}")
        value = raw - np.asarray(term.offset)
        if term.clip is not None:
            value = np.clip(value, term.clip[0], term.clip[1])
        return value * np.asarray(term.scale)

    def frame(self, inputs: ObservationInputs) -> np.ndarray:
        """Push one measurement; return the flat observation vector (obs_dim,) with term histories."""
        parts = []
        for term in self.contract.observations:
            history = self._terms[term.name]
            value = self._term_value(term, inputs)
            if not history:
                history.extend([value] * term.history)
            else:
                history.append(value)
            parts.extend(history)
        vector = np.concatenate(parts)
        norm = self.contract.normalization
        if norm.kind == "mean_std":
            vector = (vector - np.asarray(norm.mean)) / (np.asarray(norm.std) + norm.eps)
            if norm.clip is not None:
                vector = np.clip(vector, -norm.clip, norm.clip)
        return vector

    def __call__(self, inputs: ObservationInputs) -> np.ndarray:
        """Push one measurement; return the policy input without batch dim: (obs_dim,) or (obs_history, obs_dim)."""
        vector = self.frame(inputs)
        if not self._frames:
            self._frames.extend([vector] * self._frames.maxlen)
        else:
            self._frames.append(vector)
        if self.contract.chunking.obs_history == 1:
            return vector
        return np.stack(self._frames)
