"""Closed loop through real ROS 2 processes: hostile source -> safety filter -> control node -> MuJoCo.

The robot's state is read from /joint_states, which the control node publishes from MuJoCo.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_probe import RosProbe, wait_for
from hostile_figures import assert_within_limits, hostile_figures
from stop_criterion import STOP_TOLERANCE, assert_stopped_in_time
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from robot_rl import topics
from robot_rl.bench.hogs import CpuHogs, load_average
from robot_rl.bench.stop import MONITOR_PRIORITY
from robot_rl.bringup.graph import bringup_graph
from robot_rl.bringup.runner import GraphRunner
from robot_rl.control.stop import missing_samples, stop_deadline, stop_metrics
from robot_rl.nodes.control_node import JOINT_STATES_HISTORY
from robot_rl.nodes.conversions import joint_state_from_msg, stamp_to_seconds
from robot_rl.robot import load_robot_model

pytestmark = pytest.mark.ros
SOURCE = Path(__file__).parent / "support" / "hostile_source.py"
MODEL = load_robot_model("panda")
GRAPH = {spec.name: spec.parameters for spec in bringup_graph("panda", source="none")}
WATCHDOG = GRAPH["safety_filter"]["watchdog_timeout"]
OUTPUT_LATENCY = GRAPH["safety_filter"]["output_latency"]
OUTPUT_DT = GRAPH["safety_filter"]["output_dt"]
COMMAND_TIMEOUT = GRAPH["control_node"]["command_timeout"]
CONTROL_PERIOD = MODEL.config.control_period
STOP_TEST_HOGS = 2
"""CPU-burning processes the SIGKILL test runs beside the graph: CI machines are rarely idle."""


def _start_source(tmp_path, env, mode: str, duration: float, name: str = "source") -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - owned by the child
    return subprocess.Popen([sys.executable, str(SOURCE), "--mode", mode, "--duration", str(duration)],
                            stdout=log, stderr=subprocess.STDOUT, env={**__import__("os").environ, **env})


def _states(msgs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(measurement times (k,), positions (k, n), velocities (k, n)) from collected JointState messages.

    The time is the message's header stamp (the control tick that measured the state), not the
    probe's receive time, which trails it by however late this process is scheduled.
    """
    parsed = [joint_state_from_msg(m, MODEL.joint_names) for _, m in msgs]
    return tuple(np.array([p[i] for p in parsed]) for i in range(3))


def _graph(tmp_path, ros_env):
    return GraphRunner(bringup_graph("panda", source="none"), tmp_path, env=ros_env)


def test_hostile_source_for_30_s_never_pushes_mujoco_past_limits_or_workspace(tmp_path, ros_env):
    with _graph(tmp_path, ros_env) as graph, RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES, keep=200_000)
        wait_for(lambda: len(states) > 500, timeout=60)
        source = _start_source(tmp_path, ros_env, "hostile", 30.0)
        assert source.wait(timeout=90) == 0
        time.sleep(0.5)
        assert graph.exited() == {}
        log = graph.log("safety_filter")
    _, q, v = _states(states)
    figures = hostile_figures(MODEL, q, v)
    print(f"samples={len(q)} {figures}")
    assert np.all(np.isfinite(q))
    assert_within_limits(figures)
    # A fresh random target every 20 ms rarely reaches the box or a self-collision (in-process, seed 0: 0-14
    # such interventions in 30 s), so only reasons every run meets are required in the log here; driving into
    # every boundary is tests/test_safety_hostile_sim.py's burst stream.
    for reason in ("non_finite", "missing_joint", "stale", "position_limit", "velocity_limit"):
        assert reason in log, f"no logged intervention {reason!r}"


def test_sigkill_of_the_source_brakes_the_robot_at_the_watchdog_timeout(tmp_path, ros_env):
    """Next to STOP_TEST_HOGS busy processes. The deadline is the one of the layer that holds it (the filter's plan
    if it reached the control node within output_latency, else the control node's own watchdog), timed by the
    measured receipts (robot_rl/control/stop.py); a robot that does not stop fails either way."""
    with _graph(tmp_path, ros_env) as graph, RosProbe(rt_priority=MONITOR_PRIORITY) as probe, \
            CpuHogs(STOP_TEST_HOGS) as hogs:
        states = probe.collect(JointState, topics.JOINT_STATES, keep=200_000, depth=JOINT_STATES_HISTORY)
        safe = probe.collect(JointTrajectory, topics.SAFE_COMMAND)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        wait_for(lambda: len(states) > 500, timeout=90)
        source = _start_source(tmp_path, ros_env, "sweep", 60.0)
        wait_for(lambda: len(safe) > 10 and abs(states[-1][1].velocity[0]) > 0.8, timeout=90)
        source.kill()
        source.wait(timeout=10)
        time.sleep(2.0)
        assert graph.exited() == {} and hogs.running() == STOP_TEST_HOGS
        load = load_average()["1min"]
    published = re.findall(r"^PUBLISHED (\d+\.\d+)$", (tmp_path / "source.log").read_text(), re.MULTILINE)
    last_published = float(published[-1])  # complete lines only: SIGKILL may cut the last one
    # T = the filter's receipt of the last valid command: where its watchdog timeout starts.
    last_command = float(_last_diagnostics(diags, "safety_filter")["last_valid_command_time"])
    # Sanity: it is this run's last command (the source prints its time just after publishing, so the
    # filter's receipt can precede the print by a few ms).
    assert abs(last_command - last_published) < 0.5
    control = _last_diagnostics(diags, "control_node")
    node_receipt = float(control["last_command_time"])  # the control tick that applied its last new plan
    t, _, v = _states(states)
    plan = safe[-1][1]  # the filter's last output: ends at rest
    plan_rest = stamp_to_seconds(plan.header.stamp) + plan.points[-1].time_from_start.sec \
        + plan.points[-1].time_from_start.nanosec * 1e-9
    deadline, layer = stop_deadline(last_command, node_receipt, WATCHDOG, OUTPUT_LATENCY, OUTPUT_DT, COMMAND_TIMEOUT,
                                    CONTROL_PERIOD)
    rise, rest, budget = stop_metrics(t, v, deadline, MODEL.limits)
    missing, gap = missing_samples(t, deadline, rest, CONTROL_PERIOD)
    print(f"load {load:.1f} with {STOP_TEST_HOGS} hogs; last command {last_command:.3f}, plan applied "
          f"{(node_receipt - last_command) * 1000:.1f} ms later; deadline of the {layer}: "
          f"+{(deadline - last_command) * 1000:.0f} ms; speed rise {rise:.4f} rad/s, at rest after {rest * 1000:.1f} ms "
          f"(braking budget {budget * 1000:.1f} ms + {STOP_TOLERANCE * 1000:.0f} ms); filter plan at rest "
          f"{(plan_rest - last_command) * 1000:.1f} ms after the last command")
    print(f"source's last publish -> filter's receipt: {(last_command - last_published) * 1000:.1f} ms")
    print("control node:", {k: control[k] for k in ("loop_reanchors", "plan_chase_ticks", "max_plan_lag_ms",
                                                    "stale_command_brakes", "plans_refused", "late_plans_refused")})
    assert missing == 0, f"{missing} /joint_states samples lost around the stop (gap {gap * 1e3:.0f} ms): not judged"
    assert_stopped_in_time(rise, rest, budget)


def _last_diagnostics(diags, name: str) -> dict[str, str]:
    """The last /diagnostics key-values node ``name`` reported."""
    for _, msg in reversed(diags):
        for status in msg.status:
            if status.name == name:
                return {kv.key: kv.value for kv in status.values}
    raise AssertionError(f"no {name} diagnostics received")


def test_estop_halts_and_reset_does_not_resume(tmp_path, ros_env):
    with _graph(tmp_path, ros_env) as graph, RosProbe() as probe:
        states = probe.collect(JointState, topics.JOINT_STATES, keep=200_000)
        wait_for(lambda: len(states) > 500, timeout=60)
        source = _start_source(tmp_path, ros_env, "sweep", 6.0)
        wait_for(lambda: abs(states[-1][1].velocity[0]) > 0.5, timeout=60)
        assert probe.call(Trigger, "/safety_filter/estop", Trigger.Request()).success
        t_estop = time.time()
        source.wait(timeout=30)  # the source keeps commanding while latched
        t_source_done = time.time()
        assert probe.call(Trigger, "/safety_filter/reset", Trigger.Request()).success
        t_reset = time.time()
        time.sleep(2.0)
        t_quiet_end = time.time()
        second = _start_source(tmp_path, ros_env, "sweep", 60.0, name="source2")
        wait_for(lambda: abs(states[-1][1].velocity[0]) > 0.5, timeout=60)
        time.sleep(1.0)
        second.kill()
        second.wait(timeout=10)
        assert graph.exited() == {}
        log = graph.log("safety_filter")
    t, q, v = _states(states)
    latched = (t > t_estop + 0.5) & (t < t_source_done)
    quiet = (t > t_reset) & (t < t_quiet_end)
    resumed = t > t_quiet_end + 0.5
    print(f"latched: max |v| {np.abs(v[latched]).max():.4f}, after reset: max |v| {np.abs(v[quiet]).max():.4f}, "
          f"travel {np.ptp(q[quiet], axis=0).max():.5f} rad; new command: travel {np.ptp(q[resumed], axis=0).max():.3f}")
    assert np.abs(v[latched]).max() < 0.01 and np.ptp(q[latched], axis=0).max() < 0.005
    assert np.abs(v[quiet]).max() < 0.01 and np.ptp(q[quiet], axis=0).max() < 0.005
    assert np.ptp(q[resumed], axis=0).max() > 0.1  # a new command moves it again
    assert "estopped" in log
