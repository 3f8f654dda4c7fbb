"""Leader-arm teleop device: a second Feetech arm (an SO-101 leader) moved by hand, read at its servo bus and mapped
joint to joint onto the follower by name, with an offset-free handover at takeover.

The leader is hardware ``feetech`` opened with ``torque=False`` (its own calibration YAML, its bus checked at
start, read by its bus thread: :meth:`LeaderArm.poll` never waits on the bus). Each poll gives the follower's
joint targets by follower joint name (``joint_map``: leader joint -> follower joint; by default every joint the
two robots share by name) and the gripper (0 open .. 1 closed, from the leader's jaw between its robot's
``gripper.open_position`` and ``closed_position``).

Handover: at :meth:`LeaderArm.takeover` (the human's takeover control) the device stores, per joint, the
offset between the follower's measured pose and the leader's. The targets are the leader's pose plus that
offset, so the first target IS the follower's pose (no jump), and the follower then moves as the leader moves.
The offset then shrinks toward zero at ``offset_rate`` rad/s, so that the follower ends up mirroring the leader
joint for joint, without a step. :meth:`LeaderArm.release` hands back.

A :class:`robot_rl.teleop.device.TeleopDevice` (teleop kind ``leader``, robot_rl/teleop/devices.py). The leader
has no buttons: the teleop node offers the takeover as its ``~/takeover`` service (std_srvs/SetBool) and calls
:meth:`LeaderArm.takeover` with the follower's measured joint positions (/joint_states), or :meth:`LeaderArm.release`
(docs/teleop.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware.feetech import FeetechHardware
from robot_rl.robot.config import RobotConfig
from robot_rl.teleop.device import DISCONNECTED, TeleopSample


@dataclass(frozen=True)
class LeaderConfig:
    """``joint_map``: leader joint -> follower joint ({} = the joints both robots name alike); ``offset_rate``:
    rad/s at which the handover offset shrinks (0 keeps it: the follower stays relative to the leader)."""

    joint_map: Mapping[str, str] = field(default_factory=dict)
    offset_rate: float = 0.2

    def __post_init__(self) -> None:
        if not (isinstance(self.offset_rate, (int, float)) and 0.0 <= self.offset_rate < np.inf):
            raise ConfigError(f"leader arm: offset_rate must be a finite rate >= 0 rad/s, got {self.offset_rate!r}")


class LeaderArm:
    """The leader arm ``leader`` on ``port`` (calibration YAML ``calibration``) driving the follower ``follower``.

    Raises:
        ConfigError: no joint maps, an unknown joint in ``joint_map``, or the leader's bus does not match its
            calibration.
        HardwareError: the leader's bus cannot be opened.
    """

    def __init__(self, leader: RobotConfig, follower: RobotConfig, port: str, calibration: str,
                 config: LeaderConfig | None = None, **bus_options):
        self.config = config or LeaderConfig()
        mapping = dict(self.config.joint_map) or {n: n for n in leader.joints if n in follower.joints}
        unknown = [f"{a}->{b}" for a, b in mapping.items() if a not in leader.joints or b not in follower.joints]
        if unknown or not mapping:
            raise ConfigError(f"leader arm: joint_map {mapping} maps no joint or names unknown joints {unknown} "
                              f"(leader {leader.joints}, follower {follower.joints})")
        self._leader_index = [leader.joints.index(a) for a in mapping]
        self.follower_joints = tuple(mapping.values())
        self._jaw = leader.gripper
        self.arm = FeetechHardware(leader, port=port, calibration=calibration, torque=False, **bus_options)
        self.name = f"leader arm {leader.name} on {port}"
        self.error = ""
        self._offset: np.ndarray | None = None
        self._last_poll = 0.0

    def _pose(self) -> np.ndarray:
        return self.arm.read().position[self._leader_index]

    def takeover(self, follower_pose: Mapping[str, float], now: float) -> float:
        """Engage, handing over from the follower's measured pose (rad by follower joint name) at ``now`` (s).

        Returns the handover's largest joint step (rad): first target minus the follower's pose, 0 by design.

        Raises:
            ConfigError: ``follower_pose`` lacks a mapped joint.
            HardwareError: the leader's bus is lost.
        """
        if self.error:
            raise HardwareError(f"{self.name}: lost ({self.error})")
        missing = [n for n in self.follower_joints if n not in follower_pose]
        if missing:
            raise ConfigError(f"leader arm takeover: follower pose lacks joints {missing}")
        follower = np.array([follower_pose[n] for n in self.follower_joints], dtype=float)
        self._offset, self._last_poll = follower - self._pose(), now
        return float(np.abs(self._pose() + self._offset - follower).max())

    def release(self) -> None:
        """Hand back: later polls carry no joint target."""
        self._offset = None

    def poll(self, now: float) -> TeleopSample:
        """The leader's pose as follower targets (``joint_target``, follower joint name -> rad, while engaged),
        its jaw as the gripper (0 open .. 1 closed, None without a jaw); never raises for a lost bus (a
        disconnected sample, and every later one, with ``error`` naming why)."""
        if self.error:
            return DISCONNECTED
        try:
            pose, gripper = self._pose(), self._gripper()
        except HardwareError as exc:
            self.error = str(exc)
            return DISCONNECTED
        if self._offset is None:
            return TeleopSample(gripper=gripper)
        shrink = self.config.offset_rate * max(0.0, now - self._last_poll)
        self._offset = np.sign(self._offset) * np.maximum(np.abs(self._offset) - shrink, 0.0)
        self._last_poll = now
        target = pose + self._offset
        return TeleopSample(engaged=True, joint_target=dict(zip(self.follower_joints, target.tolist())),
                            gripper=gripper)

    def _gripper(self) -> float | None:
        if self._jaw is None:
            return None
        _, position, _ = self.arm.gripper_state()
        span = self._jaw.open_position - self._jaw.closed_position
        return float(np.clip((self._jaw.open_position - position[0]) / span, 0.0, 1.0))

    def close(self) -> None:
        """Release the leader's bus (idempotent)."""
        if self.arm is not None:
            self.arm.close()
            self.arm, self.error = None, self.error or "closed"
