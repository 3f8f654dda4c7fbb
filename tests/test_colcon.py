"""``colcon build`` of the package in a workspace (colcon-core + colcon-ros from PyPI) and the installed layout
where ``ros2 run`` / ``ros2 launch`` look: executables in <prefix>/lib/robot_rl, launch and config in
<prefix>/share/robot_rl, the ament index marker; the safety kernels compiled at install time."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NODES = ("control_node", "demo_trajectory_node", "safety_filter_node", "policy_node", "command_mux_node",
         "teleop_node", "hil_learner_node", "camera_node", "robot-rl")


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> Path:
    """A colcon workspace with this checkout's tracked files as src/robot_rl, built; returns install/robot_rl."""
    ws = tmp_path_factory.mktemp("ws")
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode().split("\0")):
        if (ROOT / name).is_file():
            (ws / "src" / "robot_rl" / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, ws / "src" / "robot_rl" / name)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    build = subprocess.run(["colcon", "build", "--packages-select", "robot_rl"], cwd=ws, env=env,
                           capture_output=True, text=True, timeout=900)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return ws / "install" / "robot_rl"


def test_executables_are_where_ros2_run_looks(install, monkeypatch):
    from ament_index_python.packages import get_package_prefix, get_package_share_directory

    monkeypatch.setenv("AMENT_PREFIX_PATH", str(install))  # what install/setup.sh sets
    assert Path(get_package_prefix("robot_rl")) == install  # the ament index marker is installed
    for name in NODES:
        exe = install / "lib" / "robot_rl" / name
        assert exe.is_file() and os.access(exe, os.X_OK), name
    share = Path(get_package_share_directory("robot_rl"))
    assert (share / "launch" / "bringup.launch.py").is_file() and (share / "package.xml").is_file()
    for folder in ("config/robots", "config/nodes", "config/hardware"):
        assert sorted(p.name for p in (share / folder).glob("*.yaml")) == \
            sorted(p.name for p in (ROOT / folder).glob("*.yaml"))


def test_installed_entry_point_runs_from_the_install(install, tmp_path):
    site = next((install / "lib").glob("python3*/site-packages"))
    env = {**os.environ, "PYTHONPATH": str(site), "AMENT_PREFIX_PATH": str(install)}
    out = subprocess.run([str(install / "lib" / "robot_rl" / "robot-rl"), "check-robot", "--help"], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--hostile-seconds" in out.stdout, out.stderr
    where = subprocess.run([sys.executable, "-c", "import robot_rl.safety.kernels as k; print(k.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60).stdout.strip()
    assert Path(where).is_relative_to(site)


def test_safety_kernels_are_compiled_at_install(install):
    cache = next((install / "lib").glob("python3*/site-packages")) / "robot_rl" / "safety" / "__pycache__"
    for module in ("kernels", "torque_bound", "interval_rnea"):  # plan kernels and the torque bound's
        assert any(cache.glob(f"{module}.*.nbi")) and any(cache.glob(f"{module}.*.nbc")), sorted(cache.iterdir())


def test_installed_safety_filter_starts_and_forwards_commands(install, tmp_path, ros_env):
    """`robot-rl bench first-start` on the fresh install: the installed filter reports ready on /diagnostics and
    forwards the probe's hold commands to /robot_rl/safe_command (the times are the benchmark's, not asserted)."""
    import json

    from robot_rl.cli import main as robot_rl_main

    with pytest.raises(SystemExit) as done:
        robot_rl_main(["bench", "first-start", "--install", str(install), "--timeout", "240",
                       "--json", str(tmp_path / "first_start.json")])
    result = json.loads((tmp_path / "first_start.json").read_text())
    assert done.value.code == 0, result
    assert result["ready_s"] is not None and result["first_command_forwarded_s"] is not None, result


def test_installed_safety_filter_interrupted_while_starting_exits_0(install, tmp_path, ros_env):
    """SIGINT while the installed filter starts (an empty numba cache: it compiles its kernels), seen by its
    ``starting`` status on /diagnostics: exit 0 with a message, no traceback."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from robot_rl import topics
    from robot_rl.bench.first_start import node_env

    proc = subprocess.Popen([str(install / "lib" / "robot_rl" / "safety_filter_node")],
                            env=node_env(install, str(tmp_path / "empty_cache")), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen = []
    with rclpy.init():
        probe = rclpy.create_node("starting_probe")
        probe.create_subscription(DiagnosticArray, topics.DIAGNOSTICS,
                                  lambda m: seen.extend(s.message for s in m.status if s.name == "safety_filter"), 10)
        deadline = time.monotonic() + 300
        while "starting" not in seen and proc.poll() is None and time.monotonic() < deadline:
            rclpy.spin_once(probe, timeout_sec=0.1)
    assert seen[:1] == ["starting"], (seen, proc.poll())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out
    assert "interrupted while starting" in out and "Traceback" not in out, out
