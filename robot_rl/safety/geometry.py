"""Workspace-box and self-collision checks along a planned path, with provably safe skipping.

Checking every grid point with pinocchio is too slow for the latency budget (collision ~150 us per
configuration), so the checker uses a Lipschitz bound: moving joint j by dq_j moves any point of
the robot (geometry or workspace frame) downstream of j by at most R_j |dq_j|, with R_j the largest
distance from joint j's origin to such a point (computed from the model's placements and geometry
bounding spheres). Between two checks the distance to the box faces, and the distance between two
links, can therefore shrink by at most sum_j R_j |path length of joint j|; a point is checked again
before that sum reaches the slack measured at the last check.

The same bound carries proofs across commands: the checker remembers the last few configurations
it evaluated ("anchors", each with its slack s_c). A new path whose start q0 satisfies
sum_j R_j |q0_j - c_j| < s_c starts with the remaining slack s_c - sum_j R_j |q0_j - c_j| instead of
an evaluation, so a stream of small overlapping commands needs few pinocchio/coal calls.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from robot_rl.robot.model import FLOOR_GEOMETRY, RobotModel
from robot_rl.safety import kernels
from robot_rl.safety.result import Intervention, Reason

ANCHORS = 4  # evaluated configurations remembered across commands


@lru_cache(maxsize=16)
def lever_arms(model: RobotModel, frames: tuple[str, ...]) -> np.ndarray:
    """R_j (n,) m: bound on the distance from joint j's origin to any point of the robot it moves."""
    pm = model.model
    reach = np.zeros(pm.njoints)  # per joint: farthest point attached directly to it, from its origin
    for obj in model.collision_model.geometryObjects:
        if obj.parentJoint == 0:  # fixed to the base (the floor): no joint moves it
            continue
        geom = obj.geometry
        geom.computeLocalAABB()
        extent = np.linalg.norm(obj.placement.translation) + np.linalg.norm(geom.aabb_center) + geom.aabb_radius
        reach[obj.parentJoint] = max(reach[obj.parentJoint], extent)
    for frame in frames:
        f = pm.frames[model.frame_id(frame)]
        reach[f.parentJoint] = max(reach[f.parentJoint], np.linalg.norm(f.placement.translation))
    arms = np.zeros(pm.njoints)
    for j in range(pm.njoints - 1, 0, -1):  # children have larger indices in pinocchio
        arms[j] = max(arms[j], reach[j])
        parent = pm.parents[j]
        if parent > 0:
            arms[parent] = max(arms[parent], arms[j] + np.linalg.norm(pm.jointPlacements[j].translation))
    prismatic = np.array([pm.joints[j].shortname().startswith("JointModelP") for j in range(1, pm.njoints)])
    result = np.where(prismatic, 1.0, arms[1:])
    result.flags.writeable = False
    return result


class PathChecker:
    """Checks planned grid points against the workspace box and the self-collision margin."""

    def __init__(self, model: RobotModel, check_workspace: bool, check_collision: bool, collision_margin: float):
        self.model = model
        box = model.config.workspace
        self.links, self.lower, self.upper = box.links, box.lower, box.upper
        self.check_workspace, self.check_collision = check_workspace, check_collision
        self.margin = collision_margin
        self.arms = lever_arms(model, self.links)
        self.anchors = np.zeros((ANCHORS, model.dof))  # configurations evaluated as safe, rad
        self.anchor_slack = np.full(ANCHORS, -np.inf)  # their slack, m (-inf: empty slot)
        self._next_anchor = 0
        self.evaluations = 0  # workspace/collision evaluations so far (for benchmarks)

    def first_violation(self, start_q: np.ndarray, points: np.ndarray) -> tuple[int | None, Intervention | None]:
        """Index of the first point (m, n) that leaves the box or comes too close to itself, and why.

        ``start_q`` (n,) is where the path starts (already known safe); it is not re-checked, but if
        it lies within an anchor's slack the path is covered up to the remaining slack.
        """
        if not (self.check_workspace or self.check_collision) or len(points) == 0:
            return None, None
        travelled = np.empty(len(points))  # bound on how far any robot point has moved, m
        kernels.path_travel(start_q, points, self.arms, travelled)
        i, checked_at = 0, 0.0
        slack = kernels.anchor_slack(start_q, self.anchors, self.anchor_slack, self.arms)
        while i < len(points):
            if travelled[i] - checked_at < slack:
                i = int(np.searchsorted(travelled, checked_at + slack, side="left"))
                continue
            slack, problem = self._slack(points[i])
            if problem is not None:
                return i, problem
            self._remember(points[i], slack)
            checked_at = travelled[i]
            i += 1
        return None, None

    def _remember(self, q: np.ndarray, slack: float) -> None:
        self.anchors[self._next_anchor] = q
        self.anchor_slack[self._next_anchor] = slack
        self._next_anchor = (self._next_anchor + 1) % ANCHORS

    def _slack(self, q: np.ndarray) -> tuple[float, Intervention | None]:
        """Distance (m) the robot may move before a check can fail, or the failure at q."""
        self.evaluations += 1
        slack = np.inf
        if self.check_workspace:
            pts = self.model.frame_positions(q, self.links)
            room = np.minimum(pts - self.lower, self.upper - pts)
            worst = np.unravel_index(int(np.argmin(room)), room.shape)
            if room[worst] < 0:
                link = self.links[worst[0]]
                return 0.0, Intervention(Reason.WORKSPACE, None,
                                         f"{link} would reach {np.round(pts[worst[0]], 3).tolist()} m, outside the box "
                                         f"{self.lower.tolist()}..{self.upper.tolist()}")
            slack = float(room[worst])
        if self.check_collision:
            dist, pair = self.model.min_collision_distance(q)
            if dist < self.margin:
                return 0.0, _collision(pair, dist, self.margin)
            slack = min(slack, dist - self.margin)
        return slack, None


def _collision(pair: tuple[str, str], distance: float, margin: float) -> Intervention:
    """The intervention for geometries ``pair`` closer than ``margin`` (m): a link near the floor leaves the
    workspace; two links near each other are a self-collision."""
    if FLOOR_GEOMETRY in pair:
        link = pair[0] if pair[1] == FLOOR_GEOMETRY else pair[1]
        return Intervention(Reason.WORKSPACE, None, f"{link} would be {distance * 1000:.1f} mm above the floor "
                                                    f"(margin {margin * 1000:.1f} mm)")
    return Intervention(Reason.SELF_COLLISION, None, f"{pair[0]} and {pair[1]} would be {distance * 1000:.1f} mm "
                                                     f"apart (margin {margin * 1000:.1f} mm)")
