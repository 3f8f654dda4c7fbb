"""Hostile joint targets for the safety tests: now in the package (robot_rl.robot.hostile, also run by
``robot-rl check-robot``); re-exported for hostile_source.py (over ROS) and tests/test_safety_hostile_sim.py."""

from robot_rl.robot.hostile import BURST_COMMANDS, BURST_KINDS, TARGET_KINDS, HostileTargets  # noqa: F401
