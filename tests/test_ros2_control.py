"""Hardware ros2_control, without ROS: its config, the robot-description check, and the bridge driven by the real
ControlCore against a recording transport (what would go to the vendor's controller, message by message).

The bridge over real ROS 2 processes, against the stand-in vendor driver: tests/test_ros2_control_graph.py.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control import ControlCore, ControlCoreConfig
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware import hardware_options
from robot_rl.hardware.ros2_control import MIN_REMAINING_S, Ros2ControlHardware, VendorJointState, stop_trajectory
from robot_rl.hardware.ros2_control_config import (Ros2ControlConfig, description_differences,
                                                   load_ros2_control_config)
from robot_rl.paths import config_dir
from robot_rl.robot import RobotModel, load_robot_config

ROBOT = load_robot_config("panda")
JOINTS = ROBOT.joints
SHIPPED = sorted((config_dir() / "hardware").glob("*.yaml"))


class FakeClock:
    """Time that the test advances, s."""

    def __init__(self, now: float = 100.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


class RecordingTransport:
    """The vendor side as a test sees it: states the test queues, commands the bridge sent."""

    def __init__(self, names: tuple[str, ...] = JOINTS):
        self.names, self.queued, self.trajectories, self.arrays, self.closed = names, [], [], [], False

    def give(self, position: np.ndarray, stamp: float = 0.0, names: tuple[str, ...] | None = None) -> None:
        names = names or self.names
        m = len(names)
        values = np.zeros(m)
        values[:len(position)] = position
        self.queued.append(VendorJointState(stamp, names, values, np.zeros(m), np.zeros(m)))

    def take_states(self):
        taken, self.queued = self.queued, []
        return taken

    def publish_trajectory(self, command: JointTrajectoryCommand) -> None:
        self.trajectories.append(command)

    def publish_array(self, values: np.ndarray) -> None:
        self.arrays.append(np.array(values))

    def close(self) -> None:
        self.closed = True


def bridge(controller_type: str = "joint_trajectory", **settings):
    """(hardware, transport, clock, core) on the Panda, the transport holding one state at the default pose."""
    clock, transport = FakeClock(), RecordingTransport(settings.pop("names", JOINTS))
    transport.give(ROBOT.default_pose)
    config = Ros2ControlConfig(controller_type, "/arm_controller", **settings)
    model = RobotModel(ROBOT)
    hardware = Ros2ControlHardware(JOINTS, model.limits, config, transport, clock=clock, sleep=lambda s: None)
    core = ControlCore(model, hardware, clock, ControlCoreConfig(command_timeout=0.0))  # single long plans
    return hardware, transport, clock, core


def run(core, transport, clock, seconds: float, fresh: bool = True) -> None:
    """Tick the core for ``seconds`` at its period; the vendor echoes the reference as its measured state."""
    for _ in range(round(seconds / core.model.config.control_period)):
        clock.now += core.model.config.control_period
        if fresh:
            transport.give(core.follower.reference[0], stamp=clock.now)
        core.tick()


def plan(start: np.ndarray, stamp: float, offset: float = 0.1, duration: float = 1.0) -> JointTrajectoryCommand:
    """A dense (10 ms) rest-to-rest plan with velocities: joint 1 moves by ``offset`` rad (smoothstep)."""
    times = np.arange(0.0, duration + 1e-9, 0.01)
    s = times / duration
    positions = np.tile(start, (len(times), 1))
    positions[:, 0] += offset * (3 * s ** 2 - 2 * s ** 3)
    velocities = np.zeros_like(positions)
    velocities[:, 0] = offset * (6 * s - 6 * s ** 2) / duration
    return JointTrajectoryCommand(JOINTS, stamp, times, positions, velocities, "policy")


# ----- config --------------------------------------------------------------------------------------------
def test_shipped_configs_load_and_name_their_command_topics():
    topics = {path.stem: load_ros2_control_config(path).command_topic for path in SHIPPED}
    assert topics["ur_ros2_driver"] == "/scaled_joint_trajectory_controller/joint_trajectory"
    assert topics["franka_ros2"] == "/panda_arm_controller/joint_trajectory"
    assert topics["xarm_ros2"] == "/xarm7_traj_controller/joint_trajectory"
    assert topics["standin_panda_forward_position"] == "/forward_position_controller/commands"


@pytest.mark.parametrize("settings, message", [
    ({"controller_type": "effort"}, "controller_type 'effort' is not one of"),
    ({"controller": "arm_controller"}, "controller must be an absolute ROS name"),
    ({"stream_rate_hz": 0.0}, "stream_rate_hz and state_timeout must be > 0"),
    ({"state_timeout": float("nan")}, "state_timeout must be a finite number"),
    ({"joint_map": {"panda_joint1": "j1", "panda_joint2": "j1"}}, "maps two joints to one vendor name"),
])
def test_config_refuses_bad_settings_by_name(settings, message):
    base = {"controller_type": "joint_trajectory", "controller": "/arm_controller"}
    with pytest.raises(ConfigError, match=re.escape(message)):
        Ros2ControlConfig(**{**base, **settings})


def test_config_file_refuses_unknown_keys(tmp_path):
    path = tmp_path / "bridge.yaml"
    path.write_text("controller_type: joint_trajectory\ncontroller: /jtc\nstream_hz: 50\n")
    with pytest.raises(ConfigError, match=r"unknown keys \['stream_hz'\]"):
        load_ros2_control_config(path)


def test_hardware_options_require_the_bridge_config_and_refuse_it_elsewhere():
    assert hardware_options("ros2_control", config="/c.yaml") == {"config_path": "/c.yaml"}
    with pytest.raises(ConfigError, match="hardware 'ros2_control' needs parameter hardware_config"):
        hardware_options("ros2_control")
    with pytest.raises(ConfigError, match=r"hardware_config \('/c.yaml'\) is for hardware 'ros2_control' only"):
        hardware_options("mujoco", config="/c.yaml")


# ----- robot description ---------------------------------------------------------------------------------
def test_description_check_names_each_difference():
    ours = ROBOT.urdf_path.read_text()
    assert description_differences(ours, ours, JOINTS, {}, 1e-3) == []
    theirs = ours.replace('name="panda_joint4"', 'name="fr3_joint4"')
    theirs = re.sub(r'(<joint name="panda_joint6".*?velocity=")([0-9.]+)"', r'\g<1>1.0"', theirs, flags=re.S)
    assert description_differences(ours, theirs, JOINTS, {}, 1e-3) == [
        "joint panda_joint4 is missing from the vendor's /robot_description",
        "joint panda_joint6: velocity limit 2.61 rad/s here, 1 on the vendor"]
    assert description_differences(ours, theirs, JOINTS, {"panda_joint4": "fr3_joint4"}, 1e-3) == [
        "joint panda_joint6: velocity limit 2.61 rad/s here, 1 on the vendor"]
    with pytest.raises(ConfigError, match="the vendor's /robot_description is not valid URDF XML"):
        description_differences(ours, "<robot", JOINTS, {}, 1e-3)


# ----- the bridge ------------------------------------------------------------------------------------------
def test_states_are_matched_by_name_extra_joints_ignored_missing_ones_refused():
    hardware, transport, clock, _ = bridge(names=tuple(reversed(JOINTS)) + ("panda_finger_joint1",))
    np.testing.assert_array_equal(hardware.read().position[::-1][:7], ROBOT.default_pose[:7])  # reversed on the wire
    partial, clock = RecordingTransport(JOINTS[:6]), FakeClock()
    partial.give(ROBOT.default_pose[:6])
    with pytest.raises(HardwareError, match=r"states received were refused: /joint_states lacks joints "
                                            r"\['panda_joint7'\]"):
        Ros2ControlHardware(JOINTS, RobotModel(ROBOT).limits,
                            Ros2ControlConfig("joint_trajectory", "/jtc", startup_timeout=0.05), partial,
                            clock=clock, sleep=lambda s: setattr(clock, "now", clock.now + s))


def test_jtc_gets_the_filters_plan_once_clipped_by_the_last_line_limits_and_ending_at_rest():
    hardware, transport, clock, core = bridge()
    run(core, transport, clock, 0.05)
    assert len(transport.trajectories) == 1  # the hold at the start pose, once
    command = plan(ROBOT.default_pose, clock.now, offset=0.2)
    core.submit(command)
    run(core, transport, clock, 0.5)
    plans = [t for t in transport.trajectories if len(t.times) > 50]
    assert len(plans) == 1 and hardware.counts["plans_sent"] == 1
    sent = plans[0]
    assert sent.joint_names == JOINTS and sent.stamp == command.stamp
    np.testing.assert_allclose(sent.positions[-1], command.positions[-1])
    np.testing.assert_array_equal(sent.velocities[-1], 0.0)
    # a plan that ends soon is held at its end for MIN_REMAINING_S, so it does not arrive ended
    run(core, transport, clock, 1.0)
    short = plan(core.follower.reference[0], clock.now, offset=0.01, duration=0.1)
    core.submit(short)
    run(core, transport, clock, 0.01)
    sent = transport.trajectories[-1]
    assert sent.stamp + sent.times[-1] == pytest.approx(clock.now - 0.009 + MIN_REMAINING_S)
    np.testing.assert_allclose(sent.positions[-1], short.positions[-1])
    # a plan beyond the soft limit is clipped by the core's last-line limits before it is sent
    far = plan(ROBOT.default_pose, clock.now, offset=10.0, duration=40.0)
    core.submit(JointTrajectoryCommand(JOINTS, far.stamp, far.times[:30], far.positions[:30], far.velocities[:30]))
    run(core, transport, clock, 0.05)
    assert transport.trajectories[-1].positions[:, 0].max() <= core.model.limits.soft_upper[0] + 1e-12


def test_forward_controllers_stream_the_reference_at_the_stream_rate_in_their_joint_order():
    order = tuple(reversed(JOINTS))
    hardware, transport, clock, core = bridge("forward_position", stream_rate_hz=100.0, controller_joints=order)
    core.submit(plan(ROBOT.default_pose, clock.now, offset=0.2))
    run(core, transport, clock, 1.0)
    assert 99 <= len(transport.arrays) <= 101  # 100 Hz from a 1 kHz loop
    np.testing.assert_allclose(transport.arrays[-1][::-1], core.follower.reference[0], atol=1e-4)  # <= 10 ticks old
    _, transport, clock, core = bridge("forward_velocity", stream_rate_hz=200.0)
    core.submit(plan(ROBOT.default_pose, clock.now, offset=0.2))
    run(core, transport, clock, 0.5)
    assert 99 <= len(transport.arrays) <= 101  # 200 Hz for 0.5 s
    assert max(a[0] for a in transport.arrays) > 0.2  # the plan's joint-1 velocity, up to 0.3 rad/s


@pytest.mark.parametrize("controller_type", ["joint_trajectory", "forward_position", "forward_velocity"])
def test_stale_vendor_states_latch_a_fault_and_stop_from_the_reference(controller_type):
    hardware, transport, clock, core = bridge(controller_type, state_timeout=0.05)
    core.submit(plan(ROBOT.default_pose, clock.now, offset=0.4, duration=2.0))
    run(core, transport, clock, 0.8)
    moving = core.follower.reference[1][0]
    assert moving > 0.2
    sent_before = len(transport.trajectories) + len(transport.arrays)
    run(core, transport, clock, 0.3, fresh=False)  # the vendor's /joint_states stall
    fault = hardware.diagnostics()["fault"]
    assert fault.startswith("vendor joint states stale: none on /joint_states for 5") and hardware.counts[
        "stale_stops"] == 1
    if controller_type == "joint_trajectory":
        stop = transport.trajectories[-1]
        assert len(transport.trajectories) == sent_before + 1  # the stop, then nothing: plans are ignored
        np.testing.assert_array_equal(stop.velocities[-1], 0.0)
        assert stop.velocities[0, 0] < moving and stop.times[-1] < 0.3
    else:
        # the stop streamed at the stream rate: speeds fall to rest within the limits' stop time
        values = np.array(transport.arrays[sent_before:])
        speeds = np.abs(values[:, 0]) if controller_type == "forward_velocity" else np.abs(np.diff(values[:, 0])) * 100
        fastest, rest = int(np.argmax(speeds)), int(np.flatnonzero(speeds < 1e-9)[0])
        assert np.all(np.diff(speeds[fastest:]) <= 1e-9) and np.all(speeds[rest:] < 1e-9)
        assert rest - fastest <= 4  # 0.3 rad/s at 15 rad/s^2: 20 ms, 2 stream periods
    core.request_reset(clear_fault=True)  # ~/clear_fault: back once states are fresh
    run(core, transport, clock, 0.05)
    assert hardware.diagnostics()["fault"] == ""


def test_stop_trajectory_stays_within_the_limits_and_ends_at_rest():
    limits = RobotModel(ROBOT).limits
    v0 = 0.9 * limits.velocity * np.array([1, -1, 1, -1, 1, -1, 1])
    times, positions, velocities = stop_trajectory(ROBOT.default_pose, v0, np.zeros(7), limits)
    assert times[0] > 0 and np.all(np.diff(times) > 0) and np.all(velocities[-1] == 0.0)
    assert times[-1] <= float(np.max(np.abs(v0) / limits.acceleration + limits.acceleration / limits.jerk)) + 0.01
    assert np.all(np.abs(velocities) <= np.abs(v0) + 1e-9)
    for scale in np.linspace(0.01, 1.0, 60):  # durations near a multiple of the spacing: strictly increasing times
        times = stop_trajectory(ROBOT.default_pose, scale * v0, np.zeros(7), limits)[0]
        assert np.all(np.diff(times) >= 0.005 - 1e-12), times


# ----- the stand-in vendor controllers (sim/robot_rl_sim/vendor_controllers.py) ------------------------------
def test_stand_in_jtc_validates_like_the_jtc_and_follows_from_its_desired_state():
    from robot_rl_sim.vendor_controllers import StandInTrajectoryController

    hold = ROBOT.default_pose
    jtc = StandInTrajectoryController(JOINTS, hold)
    names, now = list(reversed(JOINTS)), 50.0
    moving_end = np.ones((2, 7))
    assert not jtc.receive(names[:6], 0.0, np.array([0.1]), np.zeros((1, 6)), None, now)
    assert not jtc.receive(names, 0.0, np.array([0.1, 0.1]), np.zeros((2, 7)), None, now)
    assert not jtc.receive(names, 0.0, np.array([0.1, 0.2]), np.zeros((2, 7)), moving_end, now)
    assert not jtc.receive(names, now - 1.0, np.array([0.1, 0.2]), np.zeros((2, 7)), None, now)
    assert [r.split(" ")[0] for r in jtc.rejections] == ["joints", "time_from_start", "velocity", "trajectory"]
    target = hold[::-1] + 0.1  # in the message's (reversed) joint order
    assert jtc.receive(names, 0.0, np.array([1.0]), target[None, :], None, now)  # stamp 0: from receipt
    np.testing.assert_allclose(jtc.desired(now + 0.5, 0.002)[0], hold + 0.05)  # linear from the desired state
    np.testing.assert_allclose(jtc.desired(now + 2.0, 0.002)[0], hold + 0.1)


def test_stand_in_forward_controllers_hold_or_integrate_and_refuse_a_wrong_size():
    from robot_rl_sim.vendor_controllers import StandInForwardController

    velocity = StandInForwardController(JOINTS, "velocity", ROBOT.default_pose)
    assert not velocity.receive([1.0] * 6) and velocity.rejections
    assert velocity.receive([1.0] * 7)
    for _ in range(10):
        q, v, _ = velocity.desired(0.0, 0.01)
    np.testing.assert_allclose(q, ROBOT.default_pose + 0.1)
    position = StandInForwardController(JOINTS, "position", ROBOT.default_pose)
    assert position.receive(list(ROBOT.default_pose + 0.2))
    np.testing.assert_allclose(position.desired(0.0, 0.01)[0], ROBOT.default_pose + 0.2)


def test_joint_map_renames_joints_on_the_wire_both_ways():
    joint_map = {name: name.replace("panda_", "fr3_") for name in JOINTS}
    vendor = tuple(joint_map[name] for name in JOINTS)
    hardware, transport, clock, core = bridge(joint_map=joint_map, names=vendor + ("fr3_finger_joint1",))
    np.testing.assert_array_equal(hardware.read().position, ROBOT.default_pose)  # read by the vendor's names
    transport.names = vendor
    core.submit(plan(ROBOT.default_pose, clock.now, offset=0.2))
    run(core, transport, clock, 0.05)
    assert transport.trajectories[-1].joint_names == vendor  # sent with the vendor's names
    with pytest.raises(ConfigError, match=r"joint_map names joints \['panda_joint8'\] the robot does not have"):
        bridge(joint_map={"panda_joint8": "j8"})
