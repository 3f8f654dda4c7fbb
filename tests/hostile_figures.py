"""What a hostile command stream did to the MuJoCo robot, and the limits it must stay within (robot_rl.robot.hostile).

Shared by the ROS closed loop (tests/test_safety_closed_loop.py) and the in-process one
(tests/test_safety_hostile_sim.py), so both judge the measured state by the same figures.
"""

from __future__ import annotations

from robot_rl.robot.hostile import hostile_figures, violations  # noqa: F401


def assert_within_limits(figures: dict[str, float]) -> None:
    """Fail naming every limit the measured state left (10 mrad / 10 mm of tracking error allowed)."""
    problems = violations(figures)
    assert not problems, "; ".join(problems)
