"""What the gate asks of a policy per task: goals, the scene the control node simulates, and success.

Registered tasks (:func:`robot_rl_sim.tasks.task_names`) are judged with the task's own code on a MuJoCo
replica of the task scene (:func:`robot_rl_sim.tasks.env.build_task_scene`, the builder TaskEnv uses):

* ``panda-reach``: the goal is drawn by the task's own reset (``ReachTask.reset``: uniform in the declared
  goal box, m, base frame) from the gate's RNG; success = ``ReachTask.success`` (EE from pinocchio FK of the
  measured joints within the declared threshold) at ANY policy step, as the in-process evaluation counts it.
* ``panda-pick-cube``: no goal; the control node simulates the task (cube re-sampled at every reset) and
  publishes the cube pose; success = the task's lift (``PickCubeTask.quantities``' ``lift``, m above its
  initial height) >= the declared threshold at any policy step. The grasp half of the task's rule (both
  fingers touching the cube) needs MuJoCo contacts, which do not travel over ROS.

The test task ``joint-target`` (no scene): goal = joint positions (n,) rad near the default pose; success =
every joint within 0.05 rad of its goal at the episode's END.

The test task ``ee-pose`` (no scene), for pose-goal policies (an Isaac Lab ``UniformPoseCommand``): the goal is
the pose, in the layout the contract's goal term states (:mod:`robot_rl.policy.pose_goal`: body, element
order), of that body at joint positions drawn like joint-target's goals, so it is reachable; success = the
body (pinocchio FK of the measured joints) within 0.01 m and 0.05 rad of the goal pose at the episode's END.
"""

from __future__ import annotations

import mujoco
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.robot.config import RobotConfig

JOINT_TOLERANCE_RAD = 0.05
JOINT_TARGET = "joint-target"
EE_POSE = "ee-pose"
POSE_TOLERANCE_M, POSE_TOLERANCE_RAD = 0.01, 0.05


class GateTask:
    """Goal sampler and success test for one task name (the contract's ``provenance.task``).

    Not thread-safe (holds a MuJoCo replica and is used with a pinocchio model from one thread).
    """

    def __init__(self, name: str, config: RobotConfig, spread_rad: float = 0.3, goal_units: str = ""):
        from robot_rl.policy.pose_goal import parse_pose_goal
        from robot_rl_sim.tasks import get_task, task_names
        from robot_rl_sim.tasks.env import build_task_scene

        self.name, self.config, self.spread_rad = name, config, spread_rad
        self.spec, self.pose = None, parse_pose_goal(goal_units) if name == EE_POSE else None
        if name == EE_POSE and self.pose is None:
            raise ConfigError(f"gate task {EE_POSE!r} needs a goal term whose units state a pose layout "
                              f"(body and order), got {goal_units!r}: import the policy with its goal body")
        if name in (JOINT_TARGET, EE_POSE):
            return
        if name not in task_names():
            raise ConfigError(f"the gate knows tasks {task_names() + [JOINT_TARGET, EE_POSE]}, not {name!r} "
                              "(contract provenance.task)")
        self.spec = get_task(name)
        if tuple(self.spec.joint_names) != tuple(config.joints):
            raise ConfigError(f"task {name!r} is for joints {self.spec.joint_names}, robot {config.name!r} "
                              f"has {config.joints}")
        self.scene, self.logic = build_task_scene(self.spec, config)
        self.data = mujoco.MjData(self.scene)

    @property
    def control_task(self) -> str:
        """Value of the control node's ``task`` parameter ("" = plain robot scene)."""
        return self.spec.name if self.spec is not None else ""

    @property
    def episode_s(self) -> float | None:
        """The task's episode length, s (None for the test task)."""
        return self.spec.episode_seconds if self.spec is not None else None

    @property
    def policy_dt(self) -> float:
        """Seconds between two success checks (the task's policy period; 0.1 s for the test task)."""
        return self.spec.policy_dt if self.spec is not None else 0.1

    @property
    def any_step(self) -> bool:
        """Success at any check (registered tasks) or only at the episode's end (test task)."""
        return self.spec is not None

    @property
    def needs_object(self) -> bool:
        """Whether success is judged from /robot_rl/object_pose."""
        return self.spec is not None and self.spec.object is not None

    def sample_goal(self, model, rng: np.random.Generator) -> np.ndarray | None:
        """The episode's goal vector for /robot_rl/goal, or None when the task has no goal term."""
        if self.spec is None:
            limits = model.limits
            q = np.clip(model.config.default_pose + rng.uniform(-self.spread_rad, self.spread_rad, model.dof),
                        limits.soft_lower, limits.soft_upper)
            return q if self.pose is None else self.pose.values(model.frame_pose(q, self.pose.body))
        if not any(t.source == "goal" for t in self.spec.obs_terms):
            return None
        self.logic.reset(rng, self.scene, self.data)  # the task's own goal sampler
        return np.asarray(self.logic.observe(self.data)["goal"], dtype=float).copy()

    def measure(self, model, q: np.ndarray, goal: np.ndarray | None,
                object_pose: np.ndarray | None = None) -> dict[str, float]:
        """Task quantities of the measured state: q (n,) rad, goal, object pose (7,) (pos m + quat wxyz).

        Returns ``success`` (0/1) and ``error``, the distance still to go: max |q - goal| rad (joint-target),
        EE-goal distance m (reach, also as ``ee_goal_dist``), lift still missing m (pick, with ``lift`` m), the
        goal body's distance m (ee-pose, with ``orientation_error_rad``).
        """
        if self.pose is not None:
            return self._measure_pose(model, q, goal)
        if self.spec is None:
            error = float(np.max(np.abs(q - goal)))
            return {"error": error, "success": float(error <= JOINT_TOLERANCE_RAD)}
        ee_pos = model.fk(q)
        if self.spec.object is None:
            self.logic.goal = np.asarray(goal, dtype=float)  # the goal ReachTask.reset drew for this episode
            quantities = self.logic.quantities(self.data, ee_pos)
            return {**quantities, "error": quantities["ee_goal_dist"]}
        threshold = self.spec.success.threshold
        if object_pose is None:
            return {"lift": float("nan"), "error": float("nan"), "success": 0.0}
        self._place_object(object_pose)
        lift = self.logic.quantities(self.data, ee_pos)["lift"]
        return {"lift": lift, "error": max(threshold - lift, 0.0), "success": float(lift >= threshold)}

    def _measure_pose(self, model, q: np.ndarray, goal: np.ndarray) -> dict[str, float]:
        """Position error (m, as ``error``) and rotation angle to the goal (rad) of the goal's body."""
        pose = model.frame_pose(q, self.pose.body)
        position, rotation = self.pose.pose(goal)
        angle = float(np.arccos(np.clip((np.trace(pose[:3, :3].T @ rotation) - 1.0) / 2.0, -1.0, 1.0)))
        error = float(np.linalg.norm(pose[:3, 3] - position))
        return {"error": error, "orientation_error_rad": angle,
                "success": float(error <= POSE_TOLERANCE_M and angle <= POSE_TOLERANCE_RAD)}

    def _place_object(self, pose: np.ndarray) -> None:
        body = self.scene.body(self.spec.object.name)
        adr = int(self.scene.jnt_qposadr[body.jntadr[0]])
        self.data.qpos[adr:adr + 7] = pose
