"""A stand-in ROS shell for tests/test_loop_process.py: starts the loop process (Panda on MuJoCo), sends it one
long move, prints {"child": pid, "memory_fd": fd} and waits to be killed."""

import json
import sys
import time

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.loop_process import LoopProcess, LoopSpec
from robot_rl.robot import load_robot_config

robot = load_robot_config("panda")
loop = LoopProcess()
loop.start(LoopSpec("panda", "mujoco", len(robot.joints), len(robot.gripper.joints), rt_priority=80))
target = robot.default_pose.copy()
target[0] += 1.5
loop.submit(JointTrajectoryCommand(robot.joints, time.time(), np.array([3.0]), target[None, :]))
print(json.dumps({"child": loop.proc.pid, "memory_fd": loop.shared.fd}), flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 60.0)
