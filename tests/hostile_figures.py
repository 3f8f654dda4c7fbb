"""What a hostile command stream did to the MuJoCo robot, and the limits it must stay within.

Shared by the ROS closed loop (tests/test_safety_closed_loop.py) and the in-process one
(tests/test_safety_hostile_sim.py), so both judge the measured state by the same figures.
"""

from __future__ import annotations

import numpy as np

from robot_rl.robot.model import RobotModel


def hostile_figures(model: RobotModel, q: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """Figures of measured positions q (k, n) rad and velocities v (k, n) rad/s (box and collision every 10th)."""
    lim, box = model.limits, model.config.workspace
    frames = np.array([model.frame_positions(x, box.links) for x in q[::10]])
    return {
        "speed_of_urdf_limit": float((np.abs(v) / model.model.velocityLimit).max()),
        "speed_of_plan_limit": float((np.abs(v) / lim.velocity).max()),  # the YAML's velocity_scale of the URDF's
        "soft_limit_excess_rad": float(np.maximum(q - lim.soft_upper, lim.soft_lower - q).max()),
        "workspace_excess_m": float(np.maximum(frames - box.upper, box.lower - frames).max()),
        "min_link_or_floor_distance_m": min(model.min_collision_distance(x)[0] for x in q[::10]),
    }


def assert_within_limits(figures: dict[str, float]) -> None:
    """Fail naming the limit the measured state left (10 mrad / 10 mm of tracking error allowed)."""
    assert figures["soft_limit_excess_rad"] < 0.01, "MuJoCo state left the soft limits (by more than 10 mrad)"
    assert figures["speed_of_urdf_limit"] < 1.0, "MuJoCo exceeded the URDF velocity limit"
    assert figures["speed_of_plan_limit"] < 1.1, "tracking overshoot of the plans' velocity above 10 %"
    assert figures["workspace_excess_m"] < 0.01, "a workspace link left the box"
    assert figures["min_link_or_floor_distance_m"] > 0.0, "links touched each other or the table"
