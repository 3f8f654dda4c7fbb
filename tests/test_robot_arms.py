"""Every arm as it comes: URDF damping and friction in the feedforward, mesh load failures as ConfigErrors,
the Z1 and SO-101 configs, a node interrupted while starting."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl.robot import load_robot_config, load_robot_model
from robot_rl.robot.conformance import standard_move
from robot_rl.robot.friction import FRICTION_SMOOTHING_RAD_S, friction_torque

KINOVA_YAML = """\
name: kinova
urdf: example-robot-data://robots/kinova_description/robots/kinova.urdf
joints: [j2s6s200_joint_2, j2s6s200_joint_3, j2s6s200_joint_5]
ee_frame: j2s6s200_end_effector
acceleration_limits: [10, 10, 10]
jerk_limits: [5000, 5000, 5000]
default_pose: [3.14, 3.14, 3.14]
gains: {kp: [100, 100, 100], kd: [10, 10, 10]}
workspace: {lower: [-1, -1, 0.0], upper: [1, 1, 1], links: [j2s6s200_end_effector]}
"""


def test_friction_torque_is_viscous_plus_smoothed_coulomb():
    v = np.array([0.0, FRICTION_SMOOTHING_RAD_S, 1.0, -1.0])
    tau = friction_torque(np.full(4, 2.0), np.full(4, 1.5), v)
    np.testing.assert_allclose(tau, 2.0 * v + 1.5 * np.tanh(v / FRICTION_SMOOTHING_RAD_S))
    assert tau[0] == 0.0 and tau[2] == pytest.approx(3.5, abs=1e-6)  # continuous at rest, full friction when moving


def test_z1_feedforward_of_urdf_damping_and_friction_cuts_tracking_error():
    model = load_robot_model("z1")
    np.testing.assert_allclose(model.model.damping, [1, 2, 1, 1, 1, 1])  # read from the URDF by pinocchio
    np.testing.assert_allclose(model.model.friction, [1, 2, 1, 1, 1, 1])
    before = standard_move(model, friction_feedforward=False)
    after = standard_move(model)
    print(f"z1 standard move: without feedforward {before}, with {after}")
    assert after["tracking_error_rad"] < 0.2 * before["tracking_error_rad"]
    assert after["settle_s"] is not None and after["settle_s"] < 1.5


@pytest.mark.parametrize("robot", ["z1", "so101"])
def test_new_arms_load_with_stated_gains(robot):
    config = load_robot_config(robot)
    model = load_robot_model(robot)
    assert model.min_collision_distance(config.default_pose)[0] > config.collision.margin
    assert config.workspace.contains(model.frame_positions(config.default_pose, config.workspace.links))


def test_undecodable_mesh_is_a_config_error_naming_the_file(tmp_path):
    from robot_rl_sim.hardware import MujocoHardware

    path = tmp_path / "kinova.yaml"
    path.write_text(KINOVA_YAML)
    with pytest.raises(ConfigError, match=r"could not build robot 'kinova' from URDF .*kinova.urdf: .*base\.dae"):
        MujocoHardware(load_robot_config(path))


def test_a_node_interrupted_while_starting_exits_0_with_a_message(ros_env):
    script = textwrap.dedent("""
        import sys, time
        from robot_rl.nodes.main import run_node
        def slow_start():
            print("starting", flush=True)
            time.sleep(60)  # a model load or kernel compilation
        sys.exit(run_node(slow_start, []))
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], env={**os.environ, **ros_env}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout.readline().strip() == "starting"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "interrupted while starting" in out and "Traceback" not in out


def test_bench_safety_filter_takes_a_robot():
    from robot_rl.bench.safety_filter import measure

    result = measure(True, "jumps", commands=5, chunk=4, chunk_dt=0.02, period=0.02, robot="z1")
    assert result["commands"] == 5 and result["rejected"] <= 5


def test_a_slow_start_reports_starting_on_diagnostics(ros_env):
    import threading
    import time

    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor

    from robot_rl import topics
    from robot_rl.nodes.starting import reporting_starting

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = rclpy.create_node("slow_starter", context=context)
        probe = rclpy.create_node("probe", context=context)
        seen = []
        probe.create_subscription(DiagnosticArray, topics.DIAGNOSTICS,
                                  lambda m: seen.extend((s.name, s.message) for s in m.status), 10)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(probe)
        spin = threading.Thread(target=executor.spin, daemon=True)
        spin.start()
        publisher = node.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        with reporting_starting(node, publisher, "safety_filter", period=0.1):
            time.sleep(3.0)  # the constructor's slow work (discovery takes part of it)
        count = len(seen)
        time.sleep(0.5)
        assert count >= 1 and set(seen) == {("safety_filter", "starting")} and len(seen) == count  # stops after
    finally:
        executor.shutdown()
        rclpy.shutdown(context=context)
