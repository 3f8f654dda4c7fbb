"""The node graph, described once and started by launch files or by ``robot-rl bringup``."""
