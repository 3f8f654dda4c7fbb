"""Policy node in the real node graph (separate processes, MuJoCo Panda): Isaac Lab imports drive the robot to
pose goals (a LEAPP bundle, its gain outputs on /diagnostics) and joint targets (an rsl_rl run dir); a hot swap
to a bad file is refused and the old policy keeps running; a good swap takes over; a chunked policy sends a
heartbeat every policy period so the safety filter never brakes between chunks, and the node exits 0 on SIGINT
with a clean log. The pure scheduler (frames, inference, heartbeats) is unit-tested
without ROS."""

from __future__ import annotations

import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String

from isaaclab_exports import REACH_BODY, make_isaaclab_leapp_bundle, make_rsl_rl_run
from policy_helpers import write_joint_target_policy
from robot_rl.errors import ConfigError
from robot_rl.policy.chunking import ActionChunk
from robot_rl.policy.scheduler import PolicyScheduler, ScheduleConfig
from robot_rl.policy.worker import InferenceWorker
from robot_rl.bringup.runner import GraphRunner
from robot_rl.policy.isaaclab_import import import_rsl_rl
from robot_rl.policy.leapp_import import import_leapp
from robot_rl.robot.model import load_robot_model
from robot_rl_sim.gate.observer import GateObserver
from robot_rl_sim.gate.run import GateConfig, gate_graph, run_gate
from robot_rl_sim.gate.tasks import EE_POSE


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


def test_pose_goal_leapp_bundle_drives_the_panda_through_the_gate_and_reports_its_gains(tmp_path, ros_env, panda):
    """An Isaac-Reach-Franka-shaped bundle (ee_pose command, last-action feedback, kp/kd gain outputs, inputs over
    the 9 Franka joints) imported unchanged: the gate sends pose goals of panda_hand (x y z qx qy qz qw, base
    frame) on /robot_rl/goal, the MuJoCo Panda reaches them, and the policy node reports the bundle's gains (not
    the robot YAML's) on /diagnostics, read by the gate's observer over ROS."""
    policy = tmp_path / "reach.onnx"
    bundle = make_isaaclab_leapp_bundle(tmp_path / "bundle", "ee_pose")
    import_leapp(bundle, policy, task=EE_POSE, robot="panda", goal_body=REACH_BODY)
    report = run_gate(GateConfig(policy=str(policy), episodes=2, episode_s=4.0), tmp_path / "logs")
    assert report["passed"], (report["reasons"], report["episodes"], _log_tails(tmp_path / "logs"))
    print([(e["final_error"], e["final"]["orientation_error_rad"]) for e in report["episodes"]])
    diag = report["policy_diagnostics"]
    assert diag["output.arm_action_kp_gains"] == str([400.0] * 7), diag
    assert diag["output.arm_action_kd_gains"] == str([80.0] * 7), diag


def _log_tails(log_dir, lines: int = 15) -> str:
    """The last lines of every node log, for a failure message."""
    return "\n".join(f"--- {log.name}\n" + "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
                     for log in sorted(log_dir.glob("*.log")))


def _wait_until(observer, target, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        q = observer.joint_positions()
        if q is not None and np.max(np.abs(q - target)) < 0.03:
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
        import_rsl_rl(onnx_path, env_path, paths[name])
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
        assert _wait_until(obs, first, 20.0), \
            f"did not reach the first target; q={obs.joint_positions()}\n{_log_tails(tmp_path / 'logs')}"
        deadline = time.monotonic() + 10.0
        while load.get_subscription_count() == 0 and time.monotonic() < deadline:
            time.sleep(0.05)  # discovery: a message published before the match is lost
        load.publish(String(data=str(tampered)))
        deadline = time.monotonic() + 10.0
        while not any(s.startswith("refused") for s in statuses) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any("tampered" in s and s.startswith("refused") for s in statuses), statuses
        time.sleep(1.0)
        assert np.max(np.abs(obs.joint_positions() - first)) < 0.03, "the old policy must keep holding its target"
        load.publish(String(data=str(paths["second"])))
        assert _wait_until(obs, second, 20.0), f"did not reach the swapped policy's target; q={obs.joint_positions()}"
        assert runner.exited() == {}


# ----- pure scheduling core -------------------------------------------------------------------------------
DT = 0.1


def _chunk(stamp: float, steps: int = 8, n: int = 2, dt: float = DT) -> ActionChunk:
    positions = np.arange(steps * n, dtype=float).reshape(steps, n)
    return ActionChunk(stamp=stamp, joint_names=("a", "b")[:n], deadlines=dt * np.arange(1, steps + 1),
                       positions=positions, velocities=np.ones((steps, n)), gripper=np.arange(steps) * 0.01,
                       raw=positions.copy(), saturated=np.zeros((steps, n), bool))


def test_scheduler_infers_once_per_chunk_and_heartbeats_every_period_at_the_original_times():
    sched = PolicyScheduler(ScheduleConfig(period=DT, max_latency=0.1))
    first = sched.tick(0.0)
    assert first.infer and first.command is None  # nothing to hold before the first chunk
    sent = sched.accept(_chunk(0.0), 0.03)
    assert sent.stamp == 0.0 and sent.num_steps == 8
    infers = []
    for k in range(1, 17):
        now = k * DT + 0.004 * (-1) ** k  # timer jitter of +-4 ms
        tick = sched.tick(now)
        infers.append(tick.infer)
        if tick.infer:
            assert k in (8, 16) and tick.hold and tick.command.num_steps == 1
            assert np.array_equal(tick.command.positions[0], sent.positions[-1])
            assert not tick.command.velocities.any()  # the hold is at rest
            sent = sched.accept(_chunk(now), now + 0.05)
            continue
        due = sent.stamp + sent.deadlines
        remaining = due > now + 0.002
        assert tick.command.stamp == now and not tick.hold
        assert np.allclose(tick.command.stamp + tick.command.deadlines, due[remaining])  # same absolute times
        assert np.array_equal(tick.command.positions, sent.positions[remaining])
        assert np.array_equal(tick.command.gripper, sent.gripper[remaining])
    assert infers.count(True) == 2
    assert sched.stats["ticks"] == 17 and sched.stats["heartbeats"] == 16 and sched.stats["chunks"] == 3
    assert sched.stats["late_ticks"] == 0 and sched.stats["tick_interval_max_ms"] <= 108.0 + 1e-6


def test_scheduler_replans_after_n_action_steps_and_bridges_a_slow_inference_with_the_same_chunk():
    """Horizon 16, 8 executed: inference is requested at the 8th period; while it runs (150 ms here) the
    heartbeat carries the chunk's steps 9.. (no hold, no stop); the late chunk then replaces the rest from
    its first non-stale step. Without latency this is "execute 8, replan" exactly."""
    sched = PolicyScheduler(ScheduleConfig(period=DT, max_latency=0.8, n_action_steps=8))
    assert sched.tick(0.0).infer
    sent = sched.accept(_chunk(0.0, steps=16), 0.01)
    assert sent.num_steps == 16
    assert not any(sched.tick(k * DT).infer for k in range(1, 8))
    replan = sched.tick(0.8)
    assert replan.infer and not replan.hold
    np.testing.assert_array_equal(replan.command.positions, sent.positions[8:])  # steps 9..16 go on
    bridge = sched.tick(0.9)  # the inference is still running
    assert not bridge.infer and not bridge.hold and sched.stats["holds"] == 0
    np.testing.assert_array_equal(bridge.command.positions, sent.positions[9:])
    late = sched.accept(_chunk(0.8, steps=16), 0.95)  # observation 150 ms old: its first step is stale
    assert late.num_steps == 15 and late.stamp == 0.8
    np.testing.assert_array_equal(sched.tick(1.0).command.positions, _chunk(0.8, steps=16).positions[2:])
    assert sched.stats["dropped_chunks"] == 0 and sched.stats["dropped_steps"] == 1
    assert sched.tick(1.6).infer  # 8 periods after the late chunk's observation


def test_scheduler_with_one_action_step_infers_every_period():
    sched = PolicyScheduler(ScheduleConfig(period=0.02, max_latency=0.05))
    for k in range(5):
        tick = sched.tick(k * 0.02)
        assert tick.infer
        sched.accept(_chunk(k * 0.02, steps=1, dt=0.02), k * 0.02 + 0.003)
    assert sched.stats["chunks"] == 5 and sched.stats["dropped_chunks"] == 0


def test_scheduler_holds_only_while_inference_is_bounded_and_never_infers_twice():
    sched = PolicyScheduler(ScheduleConfig(period=DT, max_latency=0.15))
    sched.tick(0.0)
    sched.accept(_chunk(0.0, steps=2), 0.01)
    assert sched.tick(0.1).command.num_steps == 1
    assert sched.tick(0.2).infer  # chunk ran out: infer, hold its last target
    late = sched.tick(0.3)
    assert not late.infer and late.hold and sched.stats["overruns"] == 1
    stalled = sched.tick(0.4)  # inference running 0.2 s > max_latency: stop the heartbeat, the filter brakes
    assert stalled.command is None and not stalled.infer and sched.stats["late_ticks"] == 0
    assert sched.accept(_chunk(0.2), 0.45) is None  # too old: dropped whole
    assert sched.stats["dropped_chunks"] == 1 and sched.stats["dropped_steps"] == 8
    assert sched.tick(0.5).infer  # and the next tick asks again
    sched.failed()
    assert sched.tick(0.6).infer
    sched.reset()
    assert sched.current is None and not sched.inferring


def test_scheduler_counts_late_ticks():
    sched = PolicyScheduler(ScheduleConfig(period=DT, max_latency=0.1))
    for now in (0.0, 0.1, 0.36, 0.46):
        sched.tick(now)
    assert sched.stats["late_ticks"] == 1 and abs(sched.stats["tick_interval_max_ms"] - 260.0) < 1e-6


@pytest.mark.parametrize("field, value", [("period", 0.0), ("max_latency", -1.0), ("min_lead", 0.2),
                                          ("n_action_steps", 0)])
def test_schedule_config_names_the_bad_field(field, value):
    kwargs = {"period": 0.1, "max_latency": 0.1, field: value}
    with pytest.raises(ConfigError, match=field):
        ScheduleConfig(**kwargs)


def test_inference_worker_runs_jobs_off_thread_and_reports_a_crash():
    import threading

    worker, ran, started, release = InferenceWorker(), [], threading.Event(), threading.Event()
    assert worker.submit(lambda: (started.set(), release.wait(5), ran.append(threading.current_thread().name)))
    assert started.wait(5)
    assert worker.submit(lambda: ran.append("second"))
    assert not worker.submit(lambda: ran.append("third"))  # one running, one waiting: busy
    release.set()
    deadline = time.monotonic() + 5
    while len(ran) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert ran == ["policy-inference", "second"]
    worker.submit(lambda: 1 / 0)
    deadline = time.monotonic() + 5
    while worker.error is None and time.monotonic() < deadline:
        time.sleep(0.01)
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        worker.raise_if_failed()
    worker.stop()
    assert not worker.submit(lambda: None)


# ----- chunked policy through the graph -------------------------------------------------------------------
def _values(diags, name):
    return {kv.key: kv.value for _, msg in diags for st in msg.status if st.name == name for kv in st.values}


def test_chunked_policy_heartbeats_every_period_without_watchdog_stops_and_exits_cleanly(tmp_path, ros_env, panda):
    """10 Hz policy, 16-step horizon, 8 executed steps: a command every ~0.1 s, inference every 8 periods, the
    safety filter (watchdog 0.2 s from bringup_graph) never brakes, the robot reaches the goal; SIGINT: exit 0."""
    from diagnostic_msgs.msg import DiagnosticArray
    from std_msgs.msg import Float64MultiArray
    from trajectory_msgs.msg import JointTrajectory

    from robot_rl import topics
    from ros_probe import RosProbe

    policy = tmp_path / "chunked.onnx"
    write_joint_target_policy(policy, horizon=16, n_action_steps=8, policy_hz=10.0)
    specs, watchdog = gate_graph(GateConfig(policy=str(policy)), tmp_path / "logs")
    assert watchdog == pytest.approx(0.2)
    goal = panda.config.default_pose + 0.2
    latched = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    with GraphRunner(specs, tmp_path / "logs", env=ros_env) as runner, RosProbe("chunk_probe") as probe:
        commands = probe.collect(JointTrajectory, topics.COMMAND)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        probe.node.create_publisher(Float64MultiArray, topics.GOAL, latched).publish(
            Float64MultiArray(data=goal.tolist()))
        deadline = time.monotonic() + 60
        while (len(commands) < 5 or "watchdog" not in _values(diags, "safety_filter")) and time.monotonic() < deadline:
            assert not runner.exited(), runner.log("policy_node")
            time.sleep(0.1)
        time.sleep(1.1)  # a diagnostics period after the first commands: the baseline covers the start-up
        start, first_watchdog = time.time(), _values(diags, "safety_filter").get("watchdog")
        policy_before = _values(diags, "policy_node")  # cumulative since activation, incl. the first inference
        assert first_watchdog is not None and len(commands) >= 5, runner.log("policy_node")
        time.sleep(4.0)
        window = [t for t, _ in commands if t >= start]
        safety, policy_diag = _values(diags, "safety_filter"), _values(diags, "policy_node")
        stopped = runner.stop()
    assert stopped["policy_node"] == 0, runner.log("policy_node")
    assert "Traceback" not in runner.log("policy_node") and "RuntimeError" not in runner.log("policy_node")
    assert 30 <= len(window) <= 50, f"{len(window)} commands in 4 s at 10 Hz"  # heartbeats + 1 chunk / 8
    assert safety["watchdog"] == first_watchdog, (safety, policy_diag)
    ticks, chunks, heartbeats = (int(policy_diag[k]) - int(policy_before.get(k, 0))
                                 for k in ("ticks", "chunks", "heartbeats"))  # over the window only
    assert heartbeats >= ticks - 2 and ticks / 8 - 2 <= chunks <= ticks / 8 + 2, (policy_before, policy_diag)
    last = commands[-1][1]
    index = [list(last.joint_names).index(n) for n in panda.joint_names]
    assert np.max(np.abs(np.asarray(last.points[-1].positions)[index] - goal)) < 1e-6
