"""MuJoCo implementation of the hardware interface: a torque-driven simulated robot.

``write`` applies torques and advances physics by one control period, so the
robot runs exactly as fast as the loop that drives it: paced in real time under
the control node (bringup), free-running in tests.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.hardware.base import JointStateSample
from robot_rl.robot.config import RobotConfig
from robot_rl_sim.scene import build_model


class MujocoHardware:
    """Simulated robot; arrays are (n,) in ``config.joints`` order.

    Args:
        config: the robot.
        model: a compiled scene (default: :func:`robot_rl_sim.scene.build_model`); tasks pass their own.
        initial_position: (n,) rad, default: the YAML's default pose.
        control_period: s per ``write`` (default: the robot's control period); must be a
            whole number of physics steps.
    """

    def __init__(self, config: RobotConfig, model: mujoco.MjModel | None = None,
                 initial_position: np.ndarray | None = None, control_period: float | None = None):
        self.config = config
        self.joint_names = config.joints
        self.model = model if model is not None else build_model(config)
        self.data = mujoco.MjData(self.model)
        self._qpos = np.array([self.model.joint(n).qposadr[0] for n in config.joints])
        self._dof = np.array([self.model.joint(n).dofadr[0] for n in config.joints])
        self._act = np.array([self.model.actuator(n).id for n in config.joints])
        self._gripper_act = self._gripper_actuators()
        self.substeps = _substeps(control_period or config.control_period, self.model.opt.timestep)
        self.reset(config.default_pose if initial_position is None else initial_position)

    def _gripper_actuators(self) -> np.ndarray:
        if self.config.gripper is None:
            return np.zeros(0, dtype=int)
        return np.array([self.model.actuator(n).id for n in self.config.gripper.joints])

    def reset(self, position: np.ndarray) -> None:
        """Put the robot at rest at ``position`` (n,) rad, gripper open, time 0."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos] = np.asarray(position, dtype=float)
        if self.config.gripper is not None:
            self.set_gripper(self.config.gripper.open_position)
            for name in self.config.gripper.joints:
                self.data.qpos[self.model.joint(name).qposadr[0]] = self.config.gripper.open_position
        mujoco.mj_forward(self.model, self.data)

    def read(self) -> JointStateSample:
        """Current simulated state."""
        d = self.data
        return JointStateSample(
            stamp=float(d.time), position=d.qpos[self._qpos].copy(), velocity=d.qvel[self._dof].copy(),
            effort=d.actuator_force[self._act].copy(),
        )

    def write(self, effort: np.ndarray) -> None:
        """Apply torques (n,) Nm (clipped by the actuators' URDF effort limits) for one control period."""
        self.data.ctrl[self._act] = effort
        for _ in range(self.substeps):
            mujoco.mj_step(self.model, self.data)

    def set_gripper(self, position: float) -> None:
        """Command every gripper finger to ``position`` (m); ConfigError if the robot has no gripper."""
        if self.config.gripper is None:
            raise ConfigError(f"robot {self.config.name!r} has no gripper")
        self.data.ctrl[self._gripper_act] = position

    def close(self) -> None:
        """Nothing to release for a simulation."""


def _substeps(period: float, timestep: float) -> int:
    n = round(period / timestep)
    if n < 1 or abs(n * timestep - period) > 1e-9:
        raise ConfigError(f"control period {period} s is not a whole number of MuJoCo steps of {timestep} s")
    return n
