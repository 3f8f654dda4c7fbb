"""Gripper mux: whose gripper command reaches the robot, the policy's or the human's (pure, no rclpy).

The gripper follows the arm's :class:`robot_rl.teleop.mux.CommandMux`: while the human intervenes (the mux's
``teleop`` and ``teleop_stale`` states) the human's gripper commands are forwarded and the policy's dropped;
otherwise the policy's are forwarded and the human's dropped. Only the human's commands sent during the takeover
count: a device's gripper state from before it (a released gamepad trigger, an earlier toggle) never moves the
gripper when the takeover starts, so a takeover does not drop a held object. When the takeover ends the gripper
holds the human's last target until the policy's next gripper command.

``held`` is the executed gripper target: the last one forwarded (None before the first). The node republishes
it periodically so the robot side and the HIL learner (which labels each step's gripper from the newest command,
fresh within its timeout) see the executed gripper even while no source sends (devices send on change only).

Inputs: the policy's target in robot gripper units (exactly ``open_position`` or ``closed_position`` from the
policy runtime); the human's fraction, 0 (open) .. 1 (closed), converted with
:func:`robot_rl.robot.gripper.gripper_position_from_fraction`. A bad value (no gripper on this robot, not finite,
out of range) raises :class:`CommandError` naming it, is counted as ``rejected`` and never forwarded.
"""

from __future__ import annotations

from dataclasses import dataclass

from robot_rl.errors import CommandError
from robot_rl.robot.config import GripperConfig
from robot_rl.robot.gripper import check_gripper_position, gripper_position_from_fraction


@dataclass
class GripperCounts:
    """Running counts, reported in the mux's /diagnostics as ``gripper_<name>``."""

    policy_forwarded: int = 0
    policy_dropped: int = 0  # received while the human intervenes
    teleop_forwarded: int = 0
    teleop_dropped: int = 0  # received while the policy drives
    rejected: int = 0  # bad values (no gripper, not finite, out of range), from either source


class GripperMux:
    """Routes gripper commands; see the module docstring. ``robot`` names the robot in error messages."""

    def __init__(self, gripper: GripperConfig | None, robot: str = ""):
        self.gripper, self.robot = gripper, robot
        self.counts = GripperCounts()
        self.held: float | None = None

    def policy(self, position: float, intervening: bool) -> float | None:
        """The policy's target ``position`` (robot units): the target to forward, or None (the human drives).

        Raises:
            CommandError: a bad value (counted, never forwarded).
        """
        checked = self._checked(check_gripper_position, position)
        if intervening:
            self.counts.policy_dropped += 1
            return None
        self.counts.policy_forwarded += 1
        self.held = checked
        return checked

    def teleop(self, fraction: float, intervening: bool) -> float | None:
        """The human's ``fraction`` (0 open .. 1 closed): the target to forward (robot units), or None (the
        policy drives).

        Raises:
            CommandError: a bad value (counted, never forwarded).
        """
        checked = self._checked(gripper_position_from_fraction, fraction)
        if not intervening:
            self.counts.teleop_dropped += 1
            return None
        self.counts.teleop_forwarded += 1
        self.held = checked
        return checked

    def _checked(self, check, value) -> float:
        try:
            return check(self.gripper, value, self.robot)
        except CommandError:
            self.counts.rejected += 1
            raise
