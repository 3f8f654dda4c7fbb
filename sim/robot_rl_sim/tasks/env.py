"""The MuJoCo env every task runs in: the ROS graph's safety filter, control core and control law.

Each policy step turns the action into a joint target due one policy period later and sends it the way
the deployed graph does: through a :class:`robot_rl.safety.SafetyFilter` with the safety filter node's
parameters (its YAML defaults, the watchdog bringup derives for a policy source, no transport look-ahead
in-process), whose dense velocity-carrying plan goes to a :class:`robot_rl.control.ControlCore`; then
``decimation`` control ticks of ``physics_dt`` run the plan follower, the joint impedance law and the
last-line limits on a :class:`robot_rl_sim.hardware.MujocoHardware`, as the control node does.

Why the filter is in the loop: without it the core approached each one-waypoint command with ruckig
(decelerating towards every waypoint), while on ROS the filter's plan runs through the policy's
waypoints. Policies trained on the first and deployed on the second overshot and oscillated (measured:
panda-reach 9/10 in-process, 2/6 through filter + core in-process, 2/10 through the ROS gate).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import mujoco
import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore
from robot_rl.errors import CommandError, ConfigError
from robot_rl.robot.config import RobotConfig, load_robot_config
from robot_rl.robot.model import RobotModel
from robot_rl.safety import SafetyConfig, SafetyFilter
from robot_rl_sim.hardware import MujocoHardware
from robot_rl_sim.scene import build_spec, compile_spec
from robot_rl_sim.tasks.pick_cube import PickCubeTask
from robot_rl_sim.tasks.reach import ReachTask
from robot_rl_sim.tasks.spec import TaskSpec
from robot_rl_sim.tasks.terms import TaskLogic, reward


def finger_bodies(config: RobotConfig) -> tuple[str, ...]:
    """Child links (= MuJoCo bodies) of the gripper joints, in gripper-joint order, from the URDF."""
    if config.gripper is None:
        raise ConfigError(f"robot {config.name!r} has no gripper")
    root = ET.parse(config.urdf_path).getroot()
    children = {j.get("name"): j.find("child").get("link") for j in root.iter("joint")}
    missing = [j for j in config.gripper.joints if j not in children]
    if missing:
        raise ConfigError(f"gripper joints {missing} are not in {config.urdf_path}")
    return tuple(children[j] for j in config.gripper.joints)


def deployed_safety_config(spec: TaskSpec) -> SafetyConfig:
    """The safety filter settings a policy of ``spec`` meets on ROS: the filter node's YAML defaults, the
    watchdog :func:`robot_rl.bringup.graph.policy_watchdog_timeout_s` sets for a policy source, and
    ``output_latency`` 0 (in-process the plan reaches the control core on its next tick)."""
    from robot_rl.bringup.graph import WATCHDOG_POLICY_PERIODS
    from robot_rl.params import load_param_specs

    defaults = {name: p.default for name, p in load_param_specs("safety_filter").items()}
    params = dict(defaults, output_latency=0.0,
                  watchdog_timeout=max(float(defaults["watchdog_timeout"]), WATCHDOG_POLICY_PERIODS * spec.policy_dt))
    return SafetyConfig.from_params(params)


def task_logic(spec: TaskSpec, config: RobotConfig) -> TaskLogic:
    """The task logic that implements ``spec`` (chosen by its success rule)."""
    if spec.success.kind == "ee_within_goal":
        return ReachTask(spec)
    if spec.success.kind == "object_lifted":
        left, right = finger_bodies(config)[:2]
        return PickCubeTask(spec, (left, right))
    raise ConfigError(f"task {spec.name!r}: no task logic for success kind {spec.success.kind!r}")


def build_task_scene(spec: TaskSpec, config: RobotConfig) -> tuple[mujoco.MjModel, TaskLogic]:
    """The task's compiled MuJoCo scene and its bound task logic.

    The one scene builder: :class:`TaskEnv` and :class:`robot_rl_sim.hardware.MujocoHardware` (``task=...``,
    as run by the control node in the sim2sim gate) both call it, so both simulate the same world.
    """
    logic = task_logic(spec, config)
    mj_spec = build_spec(config, spec.physics_dt)
    logic.add_to_scene(mj_spec)
    model = compile_spec(mj_spec, config)
    logic.bind(model)
    return model, logic


def sample_joint_reset(spec: TaskSpec, rng: np.random.Generator, nominal: np.ndarray, limits) -> np.ndarray:
    """Initial arm position (n,) rad: ``nominal`` plus the task's uniform joint noise (``reset.joint_noise``,
    rad), clipped to the soft limits of ``limits`` (:class:`robot_rl.robot.model.JointLimits`). Draws n values
    from ``rng`` (before the task logic's own reset draws, in TaskEnv and in the gate alike)."""
    noise = rng.uniform(-spec.reset.joint_noise, spec.reset.joint_noise, len(nominal))
    return np.clip(np.asarray(nominal, dtype=float) + noise, limits.soft_lower, limits.soft_upper)


class TaskEnv:
    """One MuJoCo env for a :class:`TaskSpec`. Not thread-safe; one instance per process/thread.

    ``reset(seed) -> obs``; ``step(action) -> (obs, reward, success, info)`` with obs a dict
    (term name -> (size,) float64) and action (spec.action_dim,) raw as the spec declares.
    """

    def __init__(self, spec: TaskSpec):
        self.spec = spec
        self.config = load_robot_config(spec.robot)
        if abs(spec.physics_dt - self.config.control_period) > 1e-12:
            raise ConfigError(f"task {spec.name!r}: physics_dt {spec.physics_dt} s must equal the robot's control "
                              f"period {self.config.control_period} s (the control core ticks once per physics step)")
        self.robot = RobotModel(self.config)
        self.model, self.task = build_task_scene(spec, self.config)
        self.hardware = MujocoHardware(self.config, model=self.model, control_period=spec.physics_dt)
        self.data = self.hardware.data
        grip = self.config.gripper
        self._finger_qpos = (np.array([self.model.joint(j).qposadr[0] for j in grip.joints])
                             if grip else np.zeros(0, dtype=int))
        self.core = ControlCore(self.robot, self.hardware, clock=lambda: float(self.data.time))
        self.safety_config = deployed_safety_config(spec)
        self.safety = SafetyFilter(self.robot, self.safety_config)
        self.interventions = 0  # safety-filter changes (clamps, rate limits) this episode
        self._ready = False
        self.step_count = 0
        self._target = self.config.default_pose.copy()
        self._last_action = np.zeros(spec.action_dim)

    def reset(self, seed: int | None = None) -> dict[str, np.ndarray]:
        """Sample the reset distribution with ``seed``; returns the first observation."""
        rng = np.random.default_rng(seed)
        q0 = sample_joint_reset(self.spec, rng, self.config.default_pose, self.robot.limits)
        self.hardware.reset(q0)
        self.core.request_reset(q0)
        self.safety = SafetyFilter(self.robot, self.safety_config)  # its plan starts at q0 (cheap after the first)
        self.interventions = 0
        self.task.reset(rng, self.model, self.data)
        mujoco.mj_forward(self.model, self.data)
        self._ready = True
        self.step_count = 0
        self._target = q0.copy()
        self._last_action = np.zeros(self.spec.action_dim)
        return self.observe()

    def step(self, action: np.ndarray) -> tuple[dict[str, np.ndarray], float, bool, dict]:
        """Apply one raw action for ``decimation`` physics steps.

        Returns:
            obs after the step, reward (declared terms), success (task solved now), info with
            ``step``, ``time`` (s), ``time_limit`` (episode length reached) and ``quantities``.
        Raises:
            CommandError: wrong action shape or non-finite values.
        """
        if not self._ready:
            raise ConfigError("TaskEnv.step called before reset()")
        action = self._check_action(action)
        target = self._arm_target(action, self.data.qpos[self.hardware._qpos])
        if self.spec.action.gripper:
            self.hardware.set_gripper(self.spec.action.gripper_target(action))
        self._follow(target)
        self._target = target
        quantities = self._quantities(action)
        self._last_action = action
        self.step_count += 1
        info = {"step": self.step_count, "time": float(self.data.time),
                "time_limit": self.step_count >= self.spec.max_steps, "quantities": quantities}
        return self.observe(), reward(self.spec, quantities), bool(quantities["success"]), info

    def _follow(self, target: np.ndarray) -> None:
        """``decimation`` control ticks towards ``target`` (n,) rad, due one policy period from now, along the
        safety filter's plan (a rejected command leaves the previous plan running, as on ROS)."""
        now = float(self.data.time)
        command = JointTrajectoryCommand(self.config.joints, now, [self.spec.policy_dt], target[None, :], source="env")
        result = self.safety.filter(command, self.data.qpos[self.hardware._qpos].copy(), now)
        self.interventions += len(result.interventions)
        if result.allowed is not None:
            self.core.submit(result.allowed)
        for _ in range(self.spec.decimation):
            self.core.tick()

    def observe(self) -> dict[str, np.ndarray]:
        """Observation dict: every declared term name -> (size,) float64."""
        q = self.data.qpos[self.hardware._qpos].copy()
        sources = {"joint_pos": q, "joint_vel": self.data.qvel[self.hardware._dof].copy(),
                   "ee_pos": self.robot.fk(q), "last_action": self._last_action.copy(),
                   "gripper_pos": np.array([self.data.qpos[self._finger_qpos].mean()]) if len(self._finger_qpos)
                   else np.zeros(1)}
        sources.update(self.task.observe(self.data))
        return {t.name: np.asarray(sources[t.source], dtype=float).reshape(t.size) for t in self.spec.obs_terms}

    def ee_pos(self) -> np.ndarray:
        """End-effector position (3,) m from pinocchio FK of the measured joints."""
        return self.robot.fk(self.data.qpos[self.hardware._qpos])

    def _quantities(self, action: np.ndarray) -> dict[str, float]:
        quantities = self.task.quantities(self.data, self.ee_pos())
        quantities["action_rate"] = float(np.sum((action - self._last_action) ** 2))
        return quantities

    def _arm_target(self, action: np.ndarray, q: np.ndarray) -> np.ndarray:
        act = self.spec.action
        processed = act.process(action, q)
        if act.type == "joint_vel":
            lim = self.robot.limits
            return np.clip(self._target + processed * self.spec.policy_dt, lim.soft_lower, lim.soft_upper)
        return processed

    def _check_action(self, action: np.ndarray) -> np.ndarray:
        arr = np.asarray(action, dtype=float).reshape(-1)
        if arr.shape != (self.spec.action_dim,):
            raise CommandError(f"task {self.spec.name!r}: action has {arr.size} values, expected "
                               f"{self.spec.action_dim} ({len(self.config.joints)} joints"
                               f"{' + gripper' if self.spec.action.gripper else ''})")
        if not np.all(np.isfinite(arr)):
            raise CommandError(f"task {self.spec.name!r}: action has non-finite values {arr}")
        return arr
