"""MuJoCo implementation of the hardware interface: a torque-driven simulated robot.

``write`` applies torques and advances physics by one control period, so the
robot runs exactly as fast as the loop that drives it: paced in real time under
the control node (bringup), free-running in tests.

With ``task="panda-pick-cube"`` (any registered task) the scene is the task's own
(:func:`robot_rl_sim.tasks.env.build_task_scene`, the builder TaskEnv uses), and every
reset re-samples the task's reset distribution from the hardware's RNG, seeded once
from ``seed``: a sequence of resets is reproducible.
"""

from __future__ import annotations

import threading

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
        task: registered task name whose scene and reset distribution to simulate ("" = plain robot
            scene); excludes ``model``.
        seed: seeds the RNG of the task's reset distribution (None: fresh entropy).
    """

    lockstep = True  # physics advances only in write(): the control loop catches up missed ticks

    def __init__(self, config: RobotConfig, model: mujoco.MjModel | None = None,
                 initial_position: np.ndarray | None = None, control_period: float | None = None,
                 task: str = "", seed: int | None = None):
        self.config = config
        self.joint_names = config.joints
        self.task_spec, self.task_logic = None, None
        self._rng = np.random.default_rng(seed)
        self._rng_lock = threading.Lock()
        if task:
            if model is not None:
                raise ConfigError(f"MujocoHardware: pass either model or task ({task!r}), not both")
            model = self._build_task_scene(task)
        self.model = model if model is not None else build_model(config)
        self.data = mujoco.MjData(self.model)
        self._qpos = np.array([self.model.joint(n).qposadr[0] for n in config.joints])
        self._dof = np.array([self.model.joint(n).dofadr[0] for n in config.joints])
        self._act = np.array([self.model.actuator(n).id for n in config.joints])
        # the same indices as slices where they are contiguous (every tick reads and writes through these)
        self._qpos_at, self._dof_at, self._act_at = (_contiguous(i) for i in (self._qpos, self._dof, self._act))
        self._gripper_act = self._gripper_actuators()
        fingers = config.gripper.joints if config.gripper else ()
        self._gripper_qpos = np.array([self.model.joint(n).qposadr[0] for n in fingers], dtype=int)
        self._gripper_dof = np.array([self.model.joint(n).dofadr[0] for n in fingers], dtype=int)
        self.substeps = _substeps(control_period or config.control_period, self.model.opt.timestep)
        self.reset(config.default_pose if initial_position is None else initial_position)

    def _build_task_scene(self, task: str) -> mujoco.MjModel:
        from robot_rl.robot.model import RobotModel
        from robot_rl_sim.tasks import get_task
        from robot_rl_sim.tasks.env import build_task_scene

        spec = get_task(task)
        if tuple(spec.joint_names) != tuple(self.config.joints):
            raise ConfigError(f"task {task!r} is for joints {spec.joint_names}, robot {self.config.name!r} has "
                              f"{self.config.joints} (control_node parameter 'task')")
        model, self.task_logic = build_task_scene(spec, self.config)
        self.task_spec, self._limits = spec, RobotModel(self.config).limits
        return model

    @property
    def base_frame(self) -> str:
        """Name of the robot's root body (the URDF base link): the frame of :meth:`object_pose`."""
        return self.model.body(1).name

    def has_object(self) -> bool:
        """Whether the task scene has an object whose pose :meth:`object_pose` reports."""
        return hasattr(self.task_logic, "pose")

    def object_pose(self) -> np.ndarray:
        """Object position (3,) m + quaternion wxyz (4,) in the base frame; ConfigError without an object."""
        if not self.has_object():
            raise ConfigError(f"the MuJoCo scene ({self.task_spec.name if self.task_spec else 'plain robot'}) "
                              "has no object")
        return self.task_logic.pose(self.data)

    def sample_reset_position(self, nominal: np.ndarray) -> np.ndarray:
        """``nominal`` (n,) rad plus the task's joint noise from the hardware RNG (``nominal`` without a task).

        The control node calls this before ``reset`` so that its controller holds where the robot is put.
        """
        if self.task_spec is None:
            return np.asarray(nominal, dtype=float).copy()
        from robot_rl_sim.tasks.env import sample_joint_reset

        with self._rng_lock:
            return sample_joint_reset(self.task_spec, self._rng, nominal, self._limits)

    def _gripper_actuators(self) -> np.ndarray:
        if self.config.gripper is None:
            return np.zeros(0, dtype=int)
        return np.array([self.model.actuator(n).id for n in self.config.gripper.joints])

    def reset(self, position: np.ndarray) -> None:
        """Put the robot at rest at ``position`` (n,) rad, gripper open, time 0; with a task, re-sample the
        task's scene (goal / object pose) from the hardware RNG, as TaskEnv does after placing the robot."""
        mujoco.mj_resetData(self.model, self.data)
        self.data.qpos[self._qpos] = np.asarray(position, dtype=float)
        if self.config.gripper is not None:
            self.set_gripper(self.config.gripper.open_position)
            for name in self.config.gripper.joints:
                self.data.qpos[self.model.joint(name).qposadr[0]] = self.config.gripper.open_position
        if self.task_logic is not None:
            with self._rng_lock:
                self.task_logic.reset(self._rng, self.model, self.data)
        mujoco.mj_forward(self.model, self.data)

    def read(self) -> JointStateSample:
        """Current simulated state."""
        d = self.data
        return JointStateSample(
            stamp=float(d.time), position=d.qpos[self._qpos_at].copy(), velocity=d.qvel[self._dof_at].copy(),
            effort=d.actuator_force[self._act_at].copy(),
        )

    def write(self, effort: np.ndarray) -> None:
        """Apply torques (n,) Nm (clipped by the actuators' URDF effort limits) for one control period."""
        self.data.ctrl[self._act_at] = effort
        mujoco.mj_step(self.model, self.data, self.substeps)

    def gripper_state(self) -> tuple[tuple[str, ...], np.ndarray, np.ndarray]:
        """(gripper joint names, positions (g,) m, velocities (g,) m/s); empty without a gripper."""
        if self.config.gripper is None:
            return (), np.zeros(0), np.zeros(0)
        return self.config.gripper.joints, self.data.qpos[self._gripper_qpos], self.data.qvel[self._gripper_dof]

    def set_gripper(self, position: float) -> None:
        """Command every gripper finger to ``position`` (m); ConfigError if the robot has no gripper."""
        if self.config.gripper is None:
            raise ConfigError(f"robot {self.config.name!r} has no gripper")
        self.data.ctrl[self._gripper_act] = position

    def close(self) -> None:
        """Nothing to release for a simulation."""


def _contiguous(index: np.ndarray) -> slice | np.ndarray:
    """``index`` (k,) as the equal slice if it is a run of consecutive integers, else itself."""
    if len(index) and np.array_equal(index, np.arange(index[0], index[0] + len(index))):
        return slice(int(index[0]), int(index[0]) + len(index))
    return index


def _substeps(period: float, timestep: float) -> int:
    n = round(period / timestep)
    if n < 1 or abs(n * timestep - period) > 1e-9:
        raise ConfigError(f"control period {period} s is not a whole number of MuJoCo steps of {timestep} s")
    return n
