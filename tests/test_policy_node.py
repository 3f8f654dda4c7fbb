"""Policy node in the real node graph (separate processes, MuJoCo Panda): Isaac Lab imports drive the robot to
joint targets; a hot swap to a bad file is refused and the old policy keeps running; a good swap takes over."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String

from isaaclab_exports import make_leapp_bundle, make_rsl_rl_run
from robot_rl.bringup.runner import GraphRunner
from robot_rl.policy.isaaclab_import import import_rsl_rl
from robot_rl.policy.leapp_import import import_leapp
from robot_rl.robot.model import load_robot_model
from robot_rl_sim.gate.observer import GateObserver
from robot_rl_sim.gate.run import GateConfig, gate_graph, run_gate


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


def test_leapp_bundle_drives_the_panda_through_the_graph(tmp_path, ros_env, panda):
    policy = tmp_path / "leapp.onnx"
    import_leapp(make_leapp_bundle(tmp_path / "bundle"), policy, task="joint-target", robot="panda")
    report = run_gate(GateConfig(policy=str(policy), episodes=2, episode_s=4.0), tmp_path / "logs")
    assert report["passed"], (report["reasons"], report["episodes"], report["log_dir"])
    assert all(e["final_error"] < 0.05 for e in report["episodes"])


def _wait_until(observer, target, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if observer._q is not None and np.max(np.abs(observer._q - target)) < 0.03:
            return True
        time.sleep(0.1)
    return False


def test_rsl_rl_export_drives_the_panda_and_hot_swap(tmp_path, ros_env, panda):
    default = panda.config.default_pose
    first, second = default + 0.25, default - np.array([0.2, 0.2, 0.2, 0.2, 0.2, -0.2, 0.2])
    paths = {}
    for name, target in (("first", first), ("second", second)):
        onnx_path, env_path = make_rsl_rl_run(tmp_path / name, target)
        paths[name] = tmp_path / f"{name}.onnx"
        import_rsl_rl(onnx_path, env_path, paths[name], joint_order=panda.joint_names)
    tampered = tmp_path / "tampered.onnx"
    tampered.write_bytes(paths["second"].read_bytes()[:-1] + b"\x01")
    (tmp_path / "tampered.onnx.contract.json").write_bytes((tmp_path / "second.onnx.contract.json").read_bytes())
    specs, _ = gate_graph(GateConfig(policy=str(paths["first"])), tmp_path / "logs")
    with GraphRunner(specs, tmp_path / "logs", env=ros_env) as runner, GateObserver(panda.joint_names) as obs:
        statuses = []
        latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
        obs.node.create_subscription(String, "/policy_node/status", lambda m: statuses.append(m.data), latched)
        load = obs.node.create_publisher(String, "/policy_node/load", 10)
        obs.wait_for(runner, 30.0)
        assert _wait_until(obs, first, 20.0), f"did not reach the first target; q={obs._q}"
        deadline = time.monotonic() + 10.0
        while load.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # discovery: a message published before the match is lost
        load.publish(String(data=str(tampered)))
        deadline = time.monotonic() + 10.0
        while not any(s.startswith("refused") for s in statuses) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("tampered" in s and s.startswith("refused") for s in statuses), statuses
        time.sleep(1.0)
        assert np.max(np.abs(obs._q - first)) < 0.03, "the old policy must keep holding its target"
        load.publish(String(data=str(paths["second"])))
        assert _wait_until(obs, second, 20.0), f"did not reach the swapped policy's target; q={obs._q}"
        assert runner.exited() == {}
