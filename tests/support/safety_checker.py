"""An independent checker of the safety filter's output: pinocchio and coal directly, no robot_rl.safety code.

It judges a grid trajectory (m, n) rad, spaced dt s, rebuilt from the filter's output messages alone:
finiteness; position against the soft limits; velocity, acceleration and jerk by finite differences;
torque = pinocchio RNEA at every grid point with finite-difference velocity and acceleration, plus the
URDF's joint damping and friction, against the URDF effort limit; the workspace-box frames by pinocchio
forward kinematics; the distance of every checked pair of links (and links to the floor) by
pinocchio.computeDistances (coal) against the collision margin.

Position, box and collision use one rule that covers a robot found outside the allowed set: at every point
each excess (per joint past the soft limits; of the box frames outside the box; of the collision margin over
the closest distance) is 0, or no larger than at the point before. A trajectory that starts inside must
therefore stay inside; one that starts outside may only come back in.
"""

from __future__ import annotations

import numpy as np
import pinocchio as pin

from robot_rl.robot.model import RobotModel

TOL = 1e-9
DISTANCE_TOL = 1e-6  # m: coal's GJK distances agree to about this between two queries of one configuration


class IndependentChecker:
    """Limits from the URDF (effort, damping, friction) and the robot YAML (through RobotModel.limits)."""

    def __init__(self, model: RobotModel, margin: float | None = None):
        self.model, self.pm = model, model.model
        self.data = self.pm.createData()
        lim = model.limits
        self.lower, self.upper = lim.soft_lower, lim.soft_upper
        self.velocity, self.acceleration, self.jerk = lim.velocity, lim.acceleration, lim.jerk
        self.effort = np.array(self.pm.effortLimit, dtype=float)
        self.damping, self.friction = np.array(self.pm.damping), np.array(self.pm.friction)
        box = model.config.workspace
        self.box_lower, self.box_upper = box.lower, box.upper
        body = pin.FrameType.BODY  # a link name can also name a joint or fixed frame (z1: gripperStator)
        self.frames = [self.pm.getFrameId(name, body) if self.pm.existFrame(name, body) else self.pm.getFrameId(name)
                       for name in box.links]
        model.collision_pairs()  # the pairs the robot's YAML asks for (adjacent and ignored pairs left out)
        self.geom = model.collision_model
        self.geom_data = pin.GeometryData(self.geom)
        self.margin = model.config.collision.margin if margin is None else margin

    def torque_ratios(self, seq: np.ndarray, dt: float) -> np.ndarray:
        """|tau| / effort (m - 2, n) at points 2.. of ``seq`` (m, n): RNEA + damping v + friction sign(v)."""
        v = np.diff(seq, axis=0) / dt
        a = np.diff(v, axis=0) / dt
        tau = np.array([pin.rnea(self.pm, self.data, seq[k + 2], v[k + 1], a[k]) for k in range(len(a))])
        tau = tau + self.damping * v[1:] + self.friction * np.sign(v[1:])
        return np.abs(tau) / self.effort

    def excess(self, q: np.ndarray, box: bool, collision: bool) -> np.ndarray:
        """Excess (n + 2,) at q: per joint past the soft limits (rad), box (m), collision margin shortfall (m)."""
        joints = np.maximum(np.maximum(q - self.upper, self.lower - q), 0.0)
        box_excess = collision_excess = 0.0
        if box:
            pin.framesForwardKinematics(self.pm, self.data, q)
            pts = np.array([self.data.oMf[f].translation for f in self.frames])
            box_excess = max(float(np.max(np.maximum(pts - self.box_upper, self.box_lower - pts))), 0.0)
        if collision and len(self.geom.collisionPairs):
            closest_pair = pin.computeDistances(self.pm, self.data, self.geom, self.geom_data, q)  # its argmin
            closest = self.geom_data.distanceResults[closest_pair].min_distance
            collision_excess = max(self.margin - closest, 0.0)
        return np.concatenate([joints, [box_excess, collision_excess]])

    def violations(self, seq: np.ndarray, dt: float, box: bool = True, collision: bool = True) -> list[str]:
        """Everything wrong with the grid trajectory ``seq`` (m, n) (its first two points are the history before
        the first output point; the last point is held)."""
        if not np.all(np.isfinite(seq)):
            return ["non-finite output"]
        seq = np.vstack([seq, seq[-1:], seq[-1:], seq[-1:]])  # the hold after the last point
        found = []
        v = np.diff(seq, axis=0) / dt
        a = np.diff(v, axis=0) / dt
        j = np.diff(a, axis=0) / dt
        for name, values, limit, slack in (("velocity", v, self.velocity, 1e-9), ("acceleration", a, self.acceleration,
                                           1e-6), ("jerk", j, self.jerk, 1e-3)):
            worst = np.max(np.abs(values) / (limit * (1 + 1e-7) + slack), axis=0)
            if np.any(worst > 1.0):
                found.append(f"{name} {np.round(worst, 4).tolist()} x the limit")
        ratios = self.torque_ratios(seq, dt)
        if np.any(ratios > 1.0 + TOL):
            k, joint = np.unravel_index(int(np.argmax(ratios)), ratios.shape)
            found.append(f"torque {ratios[k, joint]:.4f} x the URDF effort limit, joint {joint}, point {k + 2}")
        found += self._excess_violations(seq, box, collision)
        return found

    def _excess_violations(self, seq: np.ndarray, box: bool, collision: bool) -> list[str]:
        found, before, previous = [], None, None
        for k, q in enumerate(seq):
            if previous is not None and np.array_equal(q, previous):
                continue  # a held point: the same excess
            now = self.excess(q, box, collision)
            if before is not None:
                tolerance = np.full(len(now), TOL)
                tolerance[-1] = DISTANCE_TOL  # the collision excess comes from GJK distances
                grown = (now > 0) & (now > before + tolerance)
                if grown.any():
                    found.append(f"point {k}: excess {now[grown].tolist()} grew from {before[grown].tolist()} "
                                 f"(joints, box, collision: {np.flatnonzero(grown).tolist()})")
                    break
            before, previous = now, q
        return found
