"""The camera node over Fast DDS: in-process on a librealsense software device (tests/software_camera.py),
spun in its own rclpy context and thread, seen by a probe in another context; and as a process with a
serial that is not connected (exit 2, naming it)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.parameter import Parameter
from ros_probe import RosProbe, wait_for
from sensor_msgs.msg import CameraInfo, Image
from software_camera import DEPTH_RAW, DEPTH_UNITS, SoftwareCamera

from robot_rl import topics
from robot_rl.nodes.camera_node import CameraNode

pytestmark = pytest.mark.ros
TIMEOUT = 15.0  # s: discovery and first frames on a loaded 2-core machine


class InProcessNode:
    """A CameraNode on ``device`` in its own rclpy context, spun in a thread until closed."""

    def __init__(self, device, **params):
        self.context = Context()
        rclpy.init(context=self.context)
        overrides = [Parameter(k, value=v) for k, v in params.items()]
        self.node = CameraNode(device, context=self.context, parameter_overrides=overrides)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._running = True
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        while self._running:
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self.node.shutdown()
        self.node.shutdown()  # idempotent
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


def test_images_and_camera_info_over_dds(ros_env):
    soft = SoftwareCamera()
    node = InProcessNode(soft.device, width=soft.width, height=soft.height, fps=soft.fps,
                         align_depth_to_color=False, frame_id="cam_optical", diagnostics_period=0.5)
    try:
        with RosProbe("camera_probe") as probe:
            color, depth = probe.collect(Image, topics.CAMERA_COLOR), probe.collect(Image, topics.CAMERA_DEPTH)
            info, diag = probe.collect(CameraInfo, topics.CAMERA_INFO), probe.collect(DiagnosticArray,
                                                                                        topics.DIAGNOSTICS)
            soft.feeding.set()
            wait_for(lambda: len(color) >= 5 and len(depth) >= 5 and len(info) >= 5, TIMEOUT)
            wait_for(lambda: any(_diag_value(m, "frames_published") > 0 for _, m in diag), TIMEOUT)
            _check_color(color[-1][1], soft)
            _check_depth(depth[-1][1], soft)
            _check_info(info[-1][1], soft)
            stamps = [_seconds(m.header.stamp) for _, m in list(color)]
            assert stamps == sorted(stamps)
    finally:
        node.close()
        soft.close()


def _seconds(stamp) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _diag_value(msg: DiagnosticArray, key: str) -> float:
    values = {kv.key: kv.value for s in msg.status if s.name == "camera" for kv in s.values}
    return float(values.get(key, -1))


def _check_color(msg: Image, soft: SoftwareCamera) -> None:
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("rgb8", soft.width, soft.height, soft.width * 3)
    assert msg.header.frame_id == "cam_optical"
    img = np.frombuffer(bytes(msg.data), np.uint8).reshape(soft.height, soft.width, 3)
    np.testing.assert_array_equal(img, soft.color)


def _check_depth(msg: Image, soft: SoftwareCamera) -> None:
    assert (msg.encoding, msg.width, msg.height, msg.step) == ("32FC1", soft.width, soft.height, soft.width * 4)
    dtype = np.dtype(np.float32).newbyteorder(">" if msg.is_bigendian else "<")
    depth = np.frombuffer(bytes(msg.data), dtype).reshape(soft.height, soft.width)
    np.testing.assert_array_equal(depth, np.float32(DEPTH_RAW * DEPTH_UNITS))


def _check_info(msg: CameraInfo, soft: SoftwareCamera) -> None:
    intr = soft.color_profile.get_intrinsics()
    assert (msg.width, msg.height, msg.distortion_model) == (soft.width, soft.height, "plumb_bob")
    np.testing.assert_allclose(msg.k, [intr.fx, 0, intr.ppx, 0, intr.fy, intr.ppy, 0, 0, 1])
    np.testing.assert_allclose(msg.d, intr.coeffs)


def test_missing_serial_exits_2_naming_it(ros_env):
    cmd = [sys.executable, "-m", "robot_rl.nodes.camera_node", "--ros-args", "-p", "serial:='000000000042'"]
    result = subprocess.run(cmd, env={**os.environ, **ros_env}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "000000000042" in result.stderr and "none connected" in result.stderr, result.stderr
