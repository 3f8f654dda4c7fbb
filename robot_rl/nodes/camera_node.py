"""Camera node: an Intel RealSense's images over ROS 2 (see :mod:`robot_rl.camera.realsense`).

Publishes:   /robot_rl/camera/color/image_raw (sensor_msgs/Image, rgb8),
             /robot_rl/camera/depth/image_raw (sensor_msgs/Image, 32FC1, m; 0 = no depth; if ``depth``),
             /robot_rl/camera/color/camera_info (sensor_msgs/CameraInfo of the color image, with every image),
             /diagnostics (frames published, timeouts, measured rate)
Stamps are the host wall clock when the frame set reached the node. Frames are read on their own thread;
the executor only runs the diagnostics timer. Images are not (yet) part of the policy contract.
"""

from __future__ import annotations

import sys
import threading
import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from robot_rl import topics
from robot_rl.camera.realsense import CameraConfig, Frames, Intrinsics, RealSenseCamera
from robot_rl.errors import HardwareError
from robot_rl.nodes.conversions import seconds_to_stamp
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml

_ROS_DISTORTION = {"kannala_brandt4": "equidistant"}  # every other librealsense model: plumb_bob (5 coeffs)
_CONFIG_FIELDS = ("serial", "width", "height", "fps", "depth", "depth_width", "depth_height",
                  "align_depth_to_color", "frame_timeout_s")


def image_msg(array: np.ndarray, encoding: str, header: Header) -> Image:
    """sensor_msgs/Image of an (H, W, C) or (H, W) C-contiguous array, row step = W * C * itemsize bytes."""
    array = np.ascontiguousarray(array)
    return Image(header=header, height=array.shape[0], width=array.shape[1], encoding=encoding,
                 is_bigendian=sys.byteorder == "big", step=array.strides[0], data=array.tobytes())


def camera_info_msg(intr: Intrinsics, header: Header) -> CameraInfo:
    """sensor_msgs/CameraInfo: K and P from the pinhole intrinsics (px), D = the distortion coefficients."""
    k = [intr.fx, 0.0, intr.cx, 0.0, intr.fy, intr.cy, 0.0, 0.0, 1.0]
    p = [intr.fx, 0.0, intr.cx, 0.0, 0.0, intr.fy, intr.cy, 0.0, 0.0, 0.0, 1.0, 0.0]
    return CameraInfo(header=header, width=intr.width, height=intr.height, k=k, p=p, d=list(intr.coeffs),
                      r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                      distortion_model=_ROS_DISTORTION.get(intr.model, "plumb_bob"))


class CameraNode(Node):
    """Thin rclpy shell around :class:`RealSenseCamera`.

    Args:
        device: the frame source (an ``rs.device``); None opens the real camera named by ``serial``.
        **node_kwargs: passed to rclpy's Node (``context``, ``parameter_overrides``).
    """

    def __init__(self, device=None, **node_kwargs) -> None:
        super().__init__("camera", **node_kwargs)
        p = declare_from_yaml(self, "camera")
        self.frame_id = p["frame_id"]
        self.camera = RealSenseCamera(CameraConfig(**{k: p[k] for k in _CONFIG_FIELDS}), device)
        self._color = self.create_publisher(Image, topics.CAMERA_COLOR, 10)
        self._depth = self.create_publisher(Image, topics.CAMERA_DEPTH, 10)
        self._info = self.create_publisher(CameraInfo, topics.CAMERA_INFO, 10)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.published = self.timeouts = 0
        self._window = (time.monotonic(), 0)  # (start s, frames published at start) of the rate window
        self._stop = threading.Event()
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)
        self._reader = threading.Thread(target=self._read_loop, name="camera_reader", daemon=True)
        self._reader.start()
        c = self.camera.config
        self.get_logger().info(f"camera {c.serial or '(first found)'}: {c.width}x{c.height}@{c.fps} rgb8"
                               + (f" + depth {c.depth_width}x{c.depth_height}" if c.depth else ""))

    def _read_loop(self) -> None:
        while not self._stop.is_set():
            try:
                frames = self.camera.read()
            except HardwareError as exc:
                self.timeouts += 1
                self.get_logger().warning(str(exc), throttle_duration_sec=5.0)
                continue
            if not self._stop.is_set():
                self._publish(frames)

    def _publish(self, frames: Frames) -> None:
        header = Header(stamp=seconds_to_stamp(frames.stamp), frame_id=self.frame_id)
        self._color.publish(image_msg(frames.color, "rgb8", header))
        if frames.depth is not None:
            self._depth.publish(image_msg(frames.depth, "32FC1", header))
        self._info.publish(camera_info_msg(frames.intrinsics, header))
        self.published += 1

    def _publish_diagnostics(self) -> None:
        now, published = time.monotonic(), self.published
        rate = (published - self._window[1]) / max(now - self._window[0], 1e-9)
        self._window = (now, published)
        level = DiagnosticStatus.OK if rate > 0 else DiagnosticStatus.WARN
        values = [KeyValue(key="frames_published", value=str(published)),
                  KeyValue(key="timeouts", value=str(self.timeouts)), KeyValue(key="rate_hz", value=f"{rate:.2f}")]
        diag = DiagnosticStatus(level=level, name="camera", message=f"{rate:.1f} Hz", values=values)
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[diag]))

    def shutdown(self) -> None:
        """Stop the reader thread (after at most one frame timeout) and close the camera; idempotent."""
        self._stop.set()
        if self._reader.is_alive():
            self._reader.join(timeout=self.camera.config.frame_timeout_s + 2.0)
        self.camera.close()


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.camera_node`` / ``ros2 run robot_rl camera_node``."""
    raise SystemExit(run_node(CameraNode, args))


if __name__ == "__main__":
    main()
