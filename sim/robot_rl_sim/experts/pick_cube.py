"""Scripted expert for ``panda-pick-cube``: approach above the cube, descend, close, lift; pinocchio IK."""

from __future__ import annotations

import numpy as np

from robot_rl.robot.model import RobotModel
from robot_rl_sim.experts.ik import current_yaw, solve_ik, step_towards, yaw_down_rotation
from robot_rl_sim.tasks.spec import TaskSpec

APPROACH_HEIGHT = 0.10  # m above the cube centre
LIFT_HEIGHT = 0.16  # m above the cube's start height (success needs 0.10)
ARRIVED = 0.012  # m, waypoint-to-EE distance that ends a motion phase
GRASP_ARRIVED = 0.004  # m, EE-to-grasp-point distance before the fingers close (the arm has settled)
GRASP_DEPTH = 0.007  # m, grasp point above the cube centre: the TCP stays above the workspace floor (z 0.02 m)
DWELL_STEPS = 3  # policy steps held at the grasp pose, fingers open, before closing (0.3 s at 10 Hz)
CLOSE_STEPS = 5  # policy steps spent closing the gripper
FINGERS_SETTLED = 0.0005  # m per policy step: the fingers have stopped (wait_for_fingers)
ALIGNED_M = 0.003  # m, horizontal hand-to-cube offset that ends ``recentre``


def cube_yaw(quat_wxyz: np.ndarray) -> float:
    """Yaw (rad) of a quaternion whose rotation is about world z."""
    w, x, y, z = quat_wxyz
    return float(np.arctan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z)))


def grasp_yaw(cube: float, hand: float) -> float:
    """Hand yaw (rad) closest to ``hand`` that aligns the fingers with a cube face (period pi/2)."""
    k = np.round((hand - cube) / (np.pi / 2))
    return float(cube + k * np.pi / 2)


class PickCubeExpert:
    """Phases: ``approach`` (above the cube), ``descend``, ``dwell``, ``close``, ``lift``, ``hold``.
    ``reset(phase)`` may start in another phase (the simulated human's short corrections, .hil.anticipate):
    ``recentre`` (only so started) moves the hand over the cube at its current height, fingers open, and
    passes to ``descend`` once within ``ALIGNED_M`` horizontally; ``close`` started at once drives the hand
    to the grasp point with the fingers closing.

    ``dwell`` holds the arrived grasp pose with the fingers open for ``DWELL_STEPS`` policy steps, so
    a policy cloned from these demos sees the close follow the settled grasp pose, not a time.

    Noise (scaled by ``noise``): speed factor in [1 - 0.3 noise, 1 + 0.3 noise], approach height
    +- 3 cm, grasp height +7 +- 3 mm, yaw error +- 0.1 rad, 2 mm waypoint jitter while moving.

    ``wait_for_fingers`` (the simulated human's closed-loop variant): lift only once the observed finger
    opening has stopped changing (< ``FINGERS_SETTLED`` m per step), however slow the gripper; and when
    started (``reset``) with a lifted cube between closed fingers, carry on lifting instead of re-grasping.
    The demonstrations use the default (False): a fixed ``CLOSE_STEPS``.
    """

    def __init__(self, spec: TaskSpec, model: RobotModel, seed: int | None = None, noise: float = 1.0,
                 speed: float = 0.3, wait_for_fingers: bool = False):
        self.spec, self.model, self.noise, self.speed = spec, model, noise, speed
        self.wait_for_fingers = wait_for_fingers
        self.half = spec.object.half_size if spec.object else 0.02
        self.rng = np.random.default_rng(seed)
        self.reset()

    def reset(self, phase: str = "approach") -> None:
        """Start a new episode (new noise draws), in ``phase`` (see the class docstring)."""
        n, r = self.noise, self.rng
        self._speed = self.speed * r.uniform(1 - 0.3 * n, 1 + 0.3 * n)
        self._approach = APPROACH_HEIGHT + r.uniform(-0.03, 0.03) * n
        self._depth = GRASP_DEPTH + r.uniform(-0.003, 0.003) * n
        self._yaw_error = r.uniform(-0.1, 0.1) * n
        self.phase = phase
        self._q = self._waypoint = self._rotation = self._start = None
        self._dwelling = self._closing = 0
        self._fingers = None

    def act(self, obs: dict[str, np.ndarray]) -> np.ndarray:
        """Raw action (spec.action_dim,): absolute joint targets (rad) then the gripper command."""
        if self._q is None:
            self._begin(obs)
        goal, gripper = self._phase_goal(obs)
        self._waypoint = step_towards(self._waypoint, goal, self._speed * self.spec.policy_dt)
        moving = float(np.linalg.norm(goal - self._waypoint)) > 1e-6
        jitter = self.rng.normal(0.0, 0.002 * self.noise, 3) if moving else np.zeros(3)
        self._q = solve_ik(self.model, self._q, self._waypoint + jitter, self._rotation)
        return np.concatenate([self._q, [gripper]])

    def _begin(self, obs: dict[str, np.ndarray]) -> None:
        self._q = obs["joint_pos"].copy()
        self._waypoint = self.model.fk(self._q)
        self._start = obs["object_pose"][:3].copy()
        self._level = float(self._waypoint[2])  # recentre keeps the hand's height (m)
        yaw = grasp_yaw(cube_yaw(obs["object_pose"][3:]), current_yaw(self.model, self._q))
        self._rotation = yaw_down_rotation(yaw + self._yaw_error)
        if self.wait_for_fingers and self._holding(obs):
            self.phase = "lift"

    def _holding(self, obs: dict[str, np.ndarray]) -> bool:
        """The cube is off the table (> 5 mm) with the fingers closed on it (opening under the cube's size)."""
        lifted = obs["object_pose"][2] > self.half + 0.005
        return bool(lifted and obs["gripper_pos"][0] < self.half + 0.002)

    def _fingers_settled(self, obs: dict[str, np.ndarray]) -> bool:
        """Always without ``wait_for_fingers``; else the finger opening moved < FINGERS_SETTLED m since last step."""
        if not self.wait_for_fingers:
            return True
        previous, self._fingers = self._fingers, float(obs["gripper_pos"][0])
        return previous is not None and abs(previous - self._fingers) < FINGERS_SETTLED

    def _phase_goal(self, obs: dict[str, np.ndarray]) -> tuple[np.ndarray, float]:
        """(Cartesian waypoint goal (3,) m, gripper command in [-1, 1]) for the current phase."""
        cube = self._start
        above = cube + np.array([0.0, 0.0, self._approach])
        grasp = cube + np.array([0.0, 0.0, self._depth])
        lifted = cube + np.array([0.0, 0.0, LIFT_HEIGHT])
        ee = obs["ee_pos"]
        if self.phase == "recentre" and np.linalg.norm(ee[:2] - cube[:2]) < ALIGNED_M:
            self.phase = "descend"
        elif self.phase == "approach" and self._reached(above, ee):
            self.phase = "descend"
        elif self.phase == "descend" and self._reached(grasp, ee, GRASP_ARRIVED):
            self.phase = "dwell"
        elif self.phase == "dwell":
            self._dwelling += 1
            if self._dwelling >= DWELL_STEPS:
                self.phase = "close"
        elif self.phase == "close":
            self._closing += 1
            if self._fingers_settled(obs) and self._closing >= CLOSE_STEPS:
                self.phase = "lift"
        elif self.phase == "lift" and self._reached(lifted, ee):
            self.phase = "hold"
        level = np.array([cube[0], cube[1], self._level])
        return {"recentre": (level, -1.0), "approach": (above, -1.0), "descend": (grasp, -1.0), "dwell": (grasp, -1.0),
                "close": (grasp, 1.0), "lift": (lifted, 1.0), "hold": (lifted, 1.0)}[self.phase]

    def _reached(self, goal: np.ndarray, ee: np.ndarray, tolerance: float = ARRIVED) -> bool:
        """The waypoint is at ``goal`` and the measured EE within ``tolerance`` m of it."""
        return bool(np.linalg.norm(self._waypoint - goal) < 1e-6 and np.linalg.norm(ee - goal) < tolerance)
