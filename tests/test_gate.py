"""Sim2sim gate: the real node graph (processes) passes a good policy and fails the same policy with its
action scale tampered, naming the failed criterion; exit codes follow."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import onnx

from policy_helpers import write_joint_target_policy
from robot_rl.policy.contract import read_contract, write_policy
from robot_rl_sim.gate.stats import wilson_interval


def _gate(policy, tmp_path, env, name):
    report = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "gate", "--policy", str(policy), "--episodes", "3",
                           "--episode-s", "4.0", "--latency-ms", "3", "--jitter-ms", "2", "--position-noise", "0.001",
                           "--report", str(report), "--log-dir", str(tmp_path / name)],
                          env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=240)
    return proc, json.loads(report.read_text()) if report.is_file() else None


def test_gate_passes_good_policy_and_fails_tampered_scale(tmp_path, ros_env):
    good = tmp_path / "good.onnx"
    write_joint_target_policy(good)
    proc, report = _gate(good, tmp_path, ros_env, "good")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["passed"] and report["success_rate"] == 1.0
    assert report["tracking_error_rad"] is not None and report["saturation_fraction"] == 0.0
    assert report["injection"]["latency_ms"] == 3.0

    contract, _ = read_contract(good)
    tampered = dataclasses.replace(contract, action=dataclasses.replace(contract.action, scale=(1.0,) * 7),
                                   golden=())
    bad = tmp_path / "tampered.onnx"
    write_policy(onnx.load(str(good)), tampered, bad)
    proc, report = _gate(bad, tmp_path, ros_env, "tampered")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not report["passed"] and report["success_rate"] < 0.5
    assert "success rate" in proc.stderr and "min_success_rate" in proc.stderr


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert round(low, 3) == 0.490 and round(high, 3) == 0.943
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_gate_reach_success_agrees_with_task_env(panda_model):
    """The gate judges reach with the task's own goal sampler and success rule: same verdict as TaskEnv."""
    import numpy as np

    from robot_rl_sim.experts import make_expert
    from robot_rl_sim.gate.tasks import GateTask
    from robot_rl_sim.tasks import get_task, make_env

    spec = get_task("panda-reach")
    gate = GateTask("panda-reach", panda_model.config)
    assert gate.control_task == "panda-reach" and gate.episode_s == spec.episode_seconds and gate.any_step
    goals = [gate.sample_goal(panda_model, np.random.default_rng(5)) for _ in range(2)]
    assert np.array_equal(goals[0], goals[1])  # reproducible from the gate's seed
    box = [gate.sample_goal(panda_model, np.random.default_rng(s)) for s in range(20)]
    assert np.all((np.array(box) >= spec.reset.goal_low) & (np.array(box) <= spec.reset.goal_high))

    env = make_env("panda-reach", seed=3)
    expert = make_expert(spec, seed=3, noise=0.0, model=panda_model)
    obs, verdicts = env.reset(seed=3), []
    expert.reset()
    for _ in range(spec.max_steps):
        obs, _, success, info = env.step(expert.act(obs))
        measured = gate.measure(panda_model, obs["joint_pos"], obs["goal"])
        assert bool(measured["success"]) == success
        assert abs(measured["ee_goal_dist"] - info["quantities"]["ee_goal_dist"]) < 1e-9
        verdicts.append(success)
    assert any(verdicts) and not all(verdicts)  # both verdicts were compared


def test_gate_pick_cube_success_is_the_task_lift(panda_model):
    """Lift is measured from the object pose against the task's initial height and threshold."""
    import numpy as np

    from robot_rl_sim.gate.tasks import GateTask
    from robot_rl_sim.tasks import get_task

    spec = get_task("panda-pick-cube")
    gate = GateTask("panda-pick-cube", panda_model.config)
    assert gate.needs_object and gate.sample_goal(panda_model, np.random.default_rng(0)) is None
    q = panda_model.config.default_pose
    rest = np.array([0.5, 0.0, spec.object.half_size, 1.0, 0.0, 0.0, 0.0])
    lifted = rest + np.r_[0, 0, spec.success.threshold + 0.005, 0, 0, 0, 0]
    assert gate.measure(panda_model, q, None, rest) == {"lift": 0.0, "error": spec.success.threshold, "success": 0.0}
    assert gate.measure(panda_model, q, None, lifted)["success"] == 1.0
    assert gate.measure(panda_model, q, None, None)["success"] == 0.0


def test_control_node_task_scene_publishes_object_pose_and_reset_resamples(tmp_path, ros_env):
    """control_node task=panda-pick-cube: a resting cube pose on /robot_rl/object_pose in the task's box;
    each ~/reset re-samples it; the sequence equals MujocoHardware's with the same seed (reproducible)."""
    import time

    import numpy as np

    from robot_rl.bringup.graph import NodeSpec
    from robot_rl.bringup.runner import GraphRunner
    from robot_rl.hardware import create_hardware
    from robot_rl.robot import load_robot_config
    from robot_rl_sim.gate.observer import GateObserver
    from robot_rl_sim.tasks import get_task

    config, spec, seed = load_robot_config("panda"), get_task("panda-pick-cube"), 7
    reference = create_hardware("mujoco", config, task="panda-pick-cube", seed=seed)
    expected = [reference.object_pose()]
    for _ in range(2):
        reference.reset(reference.sample_reset_position(config.default_pose))
        expected.append(reference.object_pose())

    node = NodeSpec("control_node", "control_node", "robot_rl.nodes.control_node",
                    {"robot": "panda", "hardware": "mujoco", "task": "panda-pick-cube", "seed": seed})
    with GraphRunner([node], tmp_path, env=ros_env) as runner, GateObserver(config.joints) as observer:
        poses = [_next_pose(observer, runner, 0.0)]
        for _ in range(2):
            deadline = time.monotonic() + 60
            while not observer.reset_client.service_is_ready() and time.monotonic() < deadline:
                time.sleep(0.1)
            observer.reset()
            time.sleep(0.3)
            poses.append(_next_pose(observer, runner, time.time()))
    for pose, want in zip(poses, expected):
        assert abs(np.linalg.norm(pose[3:]) - 1.0) < 1e-6
        assert abs(pose[2] - spec.object.half_size) < 0.003  # resting on the table
        assert np.all(pose[:2] >= np.array(spec.reset.object_xy_low) - 0.003)
        assert np.all(pose[:2] <= np.array(spec.reset.object_xy_high) + 0.003)
        assert np.allclose(pose[:3], want[:3], atol=0.003) and np.allclose(np.abs(pose[3:] @ want[3:]), 1, atol=1e-3)
    assert np.linalg.norm(poses[1][:2] - poses[0][:2]) > 1e-3 and np.linalg.norm(poses[2][:2] - poses[1][:2]) > 1e-3


def _next_pose(observer, runner, since: float, timeout: float = 60.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pose = observer.object_pose(since)
        if pose is not None:
            return pose
        assert not runner.exited(), runner.log("control_node")
        time.sleep(0.05)
    raise AssertionError("no object pose on /robot_rl/object_pose:\n" + runner.log("control_node"))


def test_watchdog_follows_the_policy_period_and_stops_are_not_interventions():
    """The policy node sends a heartbeat every policy period, so the safety watchdog is two policy periods
    (never below the filter's default), whatever the chunk length; the gate uses bringup_graph's value; the
    gate's own episode switching (watchdog/estop/reset stops) is not counted against the policy."""
    from policy_helpers import panda_contract
    from robot_rl.bringup.graph import policy_watchdog_timeout_s
    from robot_rl_sim.gate.run import interventions

    chunked = panda_contract(horizon=16, n_action_steps=8, policy_hz=10.0)  # 0.8 s chunks
    assert abs(policy_watchdog_timeout_s(chunked) - 0.2) < 1e-9
    assert policy_watchdog_timeout_s(panda_contract()) == 0.1  # 50 Hz: the filter's default
    total, by_reason = interventions({"state": "ok", "commands": "40", "acceleration_limit": "3",
                                      "stale": "2", "watchdog": "5", "reset": "1"})
    assert total == 5 and by_reason["watchdog"] == 5 and "commands" not in by_reason
    assert interventions({}) == (None, {})
