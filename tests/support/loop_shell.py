"""A stand-in ROS shell for tests/test_loop_process*.py: starts the loop process, prints {"child": pid, "memory_fd":
fd, "gripper": joints, "diagnostics": the hardware's, or null}, then, after a line on its stdin, sends one move of
the first joint from where the robot is, and waits to be killed.

Argument (optional, JSON): ``robot``, ``hardware``, ``options``, ``core`` as in LoopSpec (default: Panda on MuJoCo),
``move`` (rad, default 1.5) over ``seconds`` (default 3.0).
"""

import json
import sys
import time

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.loop_process import LoopProcess, LoopSpec
from robot_rl.robot import load_robot_config

args = json.loads(sys.argv[1]) if len(sys.argv) > 1 else {}
robot = load_robot_config(args.get("robot", "panda"))
loop = LoopProcess()
info = loop.start(LoopSpec(args.get("robot", "panda"), args.get("hardware", "mujoco"), len(robot.joints),
                           args.get("options", {}), rt_priority=80, core=args.get("core", {})))
diagnostics = loop.hardware_diagnostics() if info["has_diagnostics"] else None
print(json.dumps({"child": loop.proc.pid, "memory_fd": loop.shared.fd, "gripper": info["gripper_joints"],
                  "diagnostics": diagnostics}, default=str), flush=True)
sys.stdin.readline()  # the test is watching
while loop.shared.states_written == 0:
    time.sleep(0.01)
target = loop.shared.split(loop.shared.states_since(loop.shared.states_written - 1)[1][-1])[1].copy()
target[0] += args.get("move", 1.5)
loop.submit(JointTrajectoryCommand(robot.joints, time.time(), np.array([args.get("seconds", 3.0)]), target[None, :]))
time.sleep(60.0)
