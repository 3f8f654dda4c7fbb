"""Object pose node: camera frames -> the object's pose in the robot base frame (see :mod:`robot_rl.perception`).

Subscribes:  /robot_rl/camera/color/image_raw (rgb8), /robot_rl/camera/depth/image_raw (32FC1 m, aligned),
             /robot_rl/camera/color/camera_info; paired by header stamp.
Publishes:   /robot_rl/object_pose (geometry_msgs/PoseStamped, the image's stamp, frame ``frame_id``) for every
             accepted estimate; /diagnostics (detection rate, reprojection error, age, rejections by reason).
"""

from __future__ import annotations

import time

import numpy as np
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from robot_rl import topics
from robot_rl.errors import DataError
from robot_rl.nodes.conversions import seconds_to_stamp, stamp_to_seconds
from robot_rl.nodes.main import run_node
from robot_rl.nodes.ros_params import declare_from_yaml
from robot_rl.perception.config import load_extrinsics, load_object_markers
from robot_rl.perception.estimator import EstimatorConfig, ObjectPoseEstimator
from robot_rl.perception.geometry import CameraIntrinsics
from robot_rl.perception.tracking import FrameSync, PerceptionStats

_DTYPES = {"rgb8": (np.uint8, 3), "32FC1": (np.float32, 1)}


def image_array(msg: Image) -> np.ndarray:
    """An rgb8 (H, W, 3) uint8 or 32FC1 (H, W) float32 image; DataError naming an unsupported encoding."""
    if msg.encoding not in _DTYPES:
        raise DataError(f"image encoding {msg.encoding!r} is not supported (rgb8, 32FC1)")
    dtype, channels = _DTYPES[msg.encoding]
    row = np.frombuffer(bytes(msg.data), dtype=dtype).reshape(msg.height, msg.step // np.dtype(dtype).itemsize)
    image = row[:, :msg.width * channels]
    return image.reshape(msg.height, msg.width, channels) if channels > 1 else image


class ObjectPoseNode(Node):
    """Thin rclpy shell around :class:`ObjectPoseEstimator`."""

    def __init__(self) -> None:
        super().__init__("object_pose")
        p = declare_from_yaml(self, "object_pose")
        self.p = p
        if not p["extrinsics_path"]:
            raise DataError("object_pose: parameter 'extrinsics_path' (the camera's pose in the base frame) is empty")
        config = EstimatorConfig(max_reprojection_px=p["max_reprojection_px"], depth_refine=p["use_depth"],
                                 max_speed_mps=p["max_speed_mps"], reacquire_after=p["reacquire_after"])
        self.estimator = ObjectPoseEstimator(load_object_markers(p["object"]), load_extrinsics(p["extrinsics_path"]),
                                             config)
        self.sync, self.stats = FrameSync(use_depth=p["use_depth"]), PerceptionStats()
        self._pose = self.create_publisher(PoseStamped, topics.OBJECT_POSE, 10)
        self._diag = self.create_publisher(DiagnosticArray, topics.DIAGNOSTICS, 10)
        self.create_subscription(Image, topics.CAMERA_COLOR, lambda m: self._on("color", m), 5)
        if p["use_depth"]:
            self.create_subscription(Image, topics.CAMERA_DEPTH, lambda m: self._on("depth", m), 5)
        self.create_subscription(CameraInfo, topics.CAMERA_INFO, lambda m: self._on("info", m), 5)
        self.create_timer(p["diagnostics_period"], self._publish_diagnostics)

    def _on(self, kind: str, msg) -> None:
        frame = self.sync.add(kind, stamp_to_seconds(msg.header.stamp), msg)
        if frame is not None:
            self._process(frame)

    def _process(self, frame: dict) -> None:
        info, stamp = frame["info"], stamp_to_seconds(frame["color"].header.stamp)
        intrinsics = CameraIntrinsics(np.asarray(info.k, float).reshape(3, 3), np.asarray(info.d, float),
                                      info.width, info.height)
        depth = image_array(frame["depth"]) if "depth" in frame else None
        estimate = self.estimator.estimate(image_array(frame["color"]), depth, intrinsics, stamp)
        self.stats.record(estimate is not None, stamp, estimate.reprojection_px if estimate else None)
        if estimate is None:
            return
        msg = PoseStamped(header=Header(stamp=seconds_to_stamp(stamp), frame_id=self.p["frame_id"]))
        x, y, z, qw, qx, qy, qz = estimate.pose.tolist()
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = x, y, z
        msg.pose.orientation.w, msg.pose.orientation.x, msg.pose.orientation.y, msg.pose.orientation.z = qw, qx, qy, qz
        self._pose.publish(msg)

    def _publish_diagnostics(self) -> None:
        age = self.stats.age_s(time.time())
        level = DiagnosticStatus.OK if age <= self.p["stale_after_s"] else DiagnosticStatus.WARN
        values = {"detection_rate": f"{self.stats.detection_rate():.3f}", "frames": str(self.stats.frames),
                  "reprojection_px": f"{self.stats.last_reprojection_px:.3f}", "age_s": f"{age:.3f}",
                  "unpaired_frames": str(self.sync.dropped),
                  **{f"rejected_{k}": str(v) for k, v in self.estimator.rejected.items()}}
        status = DiagnosticStatus(level=level, name="object_pose", message=f"age {age:.2f} s",
                                  values=[KeyValue(key=k, value=v) for k, v in values.items()])
        self._diag.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


def main(args: list[str] | None = None) -> None:
    """Entry point: ``python -m robot_rl.nodes.object_pose_node`` / ``ros2 run robot_rl object_pose_node``."""
    raise SystemExit(run_node(ObjectPoseNode, args))


if __name__ == "__main__":
    main()
