"""robot_rl: ament_python package, also pip-installable.

The pip ROS 2 wheels are an extra (``ros``), never a hard requirement: on a
robot, rclpy and the message packages come from the apt ROS 2 install.
"""

import os
import subprocess
import sys
from glob import glob
from pathlib import Path

from setuptools import find_packages, setup
from setuptools.command.install import install

PACKAGE = "robot_rl"


def _requirements(name: str) -> list[str]:
    with open(f"requirements/{name}.txt") as f:
        return [line.split("#")[0].strip() for line in f if line.split("#")[0].strip()]


NODES = {
    "control_node": "robot_rl.nodes.control_node:main",
    "demo_trajectory_node": "robot_rl.nodes.demo_trajectory_node:main",
    "safety_filter_node": "robot_rl.nodes.safety_filter_node:main",
    "policy_node": "robot_rl.nodes.policy_node:main",
    "command_mux_node": "robot_rl.nodes.command_mux_node:main",
    "teleop_node": "robot_rl.nodes.teleop_node:main",
    "hil_learner_node": "robot_rl.nodes.hil_learner_node:main",
    "camera_node": "robot_rl.nodes.camera_node:main",
    "recorder_node": "robot_rl.nodes.recorder_node:main",
    "object_pose_node": "robot_rl.nodes.object_pose_node:main",
}

class InstallCompilingKernels(install):
    """``setup.py install`` (what colcon's ament_python build runs), then compile the safety filter's numba
    kernels (plan and torque bound) into the installed package's cache, so the first start of the filter does not
    compile them (60 s at load 21 on 2 cores). A failure only warns: the filter then compiles at its first start."""

    def run(self):
        super().run()
        code = "import sys; from robot_rl.safety.dynamics import compile_kernels; compile_kernels(sys.argv[1])"
        robot_yaml = str(Path(__file__).resolve().parent / "config" / "robots" / "panda.yaml")
        path = os.pathsep.join(filter(None, [self.install_lib, os.environ.get("PYTHONPATH")]))
        env = {**os.environ, "PYTHONPATH": path}
        # cwd: the installed package, not the source tree (``-c`` puts the cwd first on sys.path)
        if subprocess.run([sys.executable, "-c", code, robot_yaml], env=env, cwd=self.install_lib,
                          check=False).returncode != 0:
            print("robot_rl: safety kernels not compiled at install; the safety filter compiles them at first start")


setup(
    name=PACKAGE,
    cmdclass={"install": InstallCompilingKernels},
    version="0.1.0",
    description="Learning control on real robots as a ROS 2 stack",
    packages=find_packages(include=["robot_rl", "robot_rl.*"]) + ["robot_rl_sim"]
    + [f"robot_rl_sim.{p}" for p in find_packages(where="sim/robot_rl_sim")],
    package_dir={"robot_rl_sim": "sim/robot_rl_sim"},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.py")),
        (f"share/{PACKAGE}/config/robots", glob("config/robots/*.yaml")),
        (f"share/{PACKAGE}/config/nodes", glob("config/nodes/*.yaml")),
        (f"share/{PACKAGE}/config/objects", glob("config/objects/*.yaml")),
        (f"share/{PACKAGE}/config/hardware", glob("config/hardware/*.yaml")),
    ],
    python_requires=">=3.10",
    install_requires=_requirements("core"),
    extras_require={
        "sim": _requirements("sim"),
        "learn": _requirements("learn"),
        "ros": _requirements("ros"),
        "test": _requirements("test"),
        "camera": _requirements("camera"),
        "teleop": _requirements("teleop"),
        "feetech": _requirements("feetech"),
    },
    zip_safe=False,
    entry_points={
        "console_scripts": [f"{name} = {target}" for name, target in NODES.items()]
        + ["robot-rl = robot_rl.cli:main"],
    },
)
