"""The control loop in its own process (robot_rl/control/loop_process.py): shared memory, the shell's death (the
loop brakes), the loop's death (the shell knows), configuration errors named. Real MuJoCo, real processes.

The stop after the shell's death is judged by the SIGKILL test's criterion (robot_rl/control/stop.py) on the loop's
own tick times (lockstep, on the wall clock), so the verdict does not depend on when this process is scheduled.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np
import pytest
from shell_death import ShellAndLoop
from stop_criterion import STOP_TOLERANCE, stop_metrics

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.loop import TickHistory
from robot_rl.control.loop_process import LoopProcess, LoopSpec, resolve_loop_mode
from robot_rl.control.state_exchange import STATE_RING, SharedLoopState
from robot_rl.control.stop import REST_SPEED, SETTLE_SPEED
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.robot import load_robot_model

MODEL = load_robot_model("panda")
ROBOT = MODEL.config


def _spec(**options) -> LoopSpec:
    return LoopSpec("panda", "mujoco", MODEL.dof, options, rt_priority=80)


def test_a_state_row_is_never_read_torn_or_twice_and_an_overwritten_one_is_left_out():
    shared = SharedLoopState(2, 1)
    try:
        for k in range(STATE_RING + 10):
            shared.write_state(float(k), [k, k], [0, 0], [0, 0], [k], [0])
        written, rows = shared.states_since(0)  # fell behind: only the newest STATE_RING ticks are there
        assert written == STATE_RING + 10 and rows.shape == (STATE_RING, 1 + 3 * 2 + 2)
        assert np.array_equal(rows[:, 0], np.arange(10, STATE_RING + 10))
        assert np.array_equal(rows[:, 1], rows[:, 0]) and np.array_equal(rows[:, -2], rows[:, 0])
        assert shared.states_since(written)[1].shape[0] == 0
    finally:
        shared.close()
    with pytest.raises(ValueError, match="buffer of shape"):
        TickHistory(4, buffer=np.zeros(8))


def test_loop_mode_and_cpu_are_checked_with_named_errors():
    assert resolve_loop_mode("auto", "mujoco") == "process" and resolve_loop_mode("auto", "serial") == "thread"
    assert resolve_loop_mode("auto", "mujoco", realtime=False) == "thread"
    with pytest.raises(ConfigError, match="loop_mode must be one of"):
        resolve_loop_mode("fork", "mujoco")
    assert resolve_loop_mode("process", "serial") == resolve_loop_mode("process", "feetech") == "process"
    with pytest.raises(ConfigError, match="runs hardware .* only, not 'ros2_control'"):
        resolve_loop_mode("process", "ros2_control")
    with pytest.raises(ConfigError, match="loop_cpu must be -1"):
        LoopSpec("panda", "mujoco", MODEL.dof, cpu=4096)


def test_a_loop_process_without_a_spec_exits_quietly_and_a_bad_spec_is_refused_with_its_message():
    unused = LoopProcess()  # spawned for process mode, then the shell chose thread mode
    assert unused.stop() is None and unused.exit_code() == 0
    loop = LoopProcess()
    with pytest.raises(ConfigError, match="unknown task 'no_such_task'"):
        loop.start(_spec(task="no_such_task"))
    loop.stop()
    assert loop.exit_code() == 2


def test_the_loop_process_follows_a_command_and_the_shell_knows_when_it_dies():
    loop = LoopProcess()
    loop.start(_spec())
    try:
        target = ROBOT.default_pose + 0.1
        loop.submit(JointTrajectoryCommand(ROBOT.joints, time.time(), np.array([0.3]), target[None, :]))
        seen, deadline = 0, time.monotonic() + 30.0
        while time.monotonic() < deadline:
            seen, rows = loop.shared.states_since(seen)
            if rows.size and np.abs(loop.shared.split(rows[-1])[1] - target).max() < 2e-3:
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"the robot did not reach the target: {loop.shared.split(rows[-1])[1] - target}")
        ticks = np.diff(loop.shared.states_since(seen - 100)[1][:, 0])  # consecutive ticks, each once
        assert np.allclose(ticks, ROBOT.control_period, rtol=0, atol=1e-6)  # stamps ~1.8e9 s
        assert loop.shared.counter_values()["commands_accepted"] == 1
        os.kill(loop.proc.pid, signal.SIGKILL)
        loop.proc.wait(10)
        assert loop.exit_code() == -signal.SIGKILL
        with pytest.raises(HardwareError, match="control loop process is gone"):
            loop.set_gripper(0.02)
        assert loop.stop() is None  # it died: no report
    finally:
        loop.stop()


def test_when_the_shell_is_killed_the_loop_brakes_within_the_stop_budget_and_exits(tmp_path):
    run = ShellAndLoop(tmp_path / "shell.log", MODEL.dof)
    try:
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline:  # cruising (the budget assumes no acceleration to ramp out first)
            rows = run.newest(11)
            speed = np.abs(rows[:, 1 + MODEL.dof:1 + 2 * MODEL.dof]).max(axis=1) if len(rows) == 11 else [0.0]
            if speed[-1] > 0.3 and abs(speed[-1] - speed[0]) < 0.002:
                break
            time.sleep(0.005)
        killed, rows, lost = run.kill_shell()
    finally:
        run.close()
    t, v = rows[:, 0], rows[:, 1 + MODEL.dof:1 + 2 * MODEL.dof]
    assert np.abs(v[t < killed]).max() > 0.3  # it was moving when the shell died
    rise, _, budget = stop_metrics(t, v, lost, 0.0, ROBOT.control_period, MODEL.limits)
    after = t >= lost + 2 * ROBOT.control_period
    speed = np.abs(v[after]).max(axis=1)
    settled = t[after][np.nonzero(speed >= SETTLE_SPEED)[0][-1] + 1] - lost  # below SETTLE_SPEED from then on
    print(f"found dead {(lost - killed) * 1e3:.1f} ms after the kill; speed rise {rise:.4f} rad/s, below "
          f"{SETTLE_SPEED} rad/s {settled * 1e3:.1f} ms after (budget {budget * 1e3:.1f} ms), last {speed[-1]:.4f}")
    assert lost - killed < 5.0, "the loop process did not notice its shell's death"
    assert rise <= SETTLE_SPEED, f"speed rose {rise:.4f} rad/s after the loop found its shell dead"
    assert settled <= budget + STOP_TOLERANCE, "not braked at the robot's limits"
    assert speed[-1] < REST_SPEED  # at rest when it released the hardware
    assert "the ROS shell's socket closed; braking at the robot's limits" in run.log.read_text()
