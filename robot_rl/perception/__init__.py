"""Object pose from a camera: fiducial markers (OpenCV ArUco / AprilTag), solvePnP refined with aligned depth,
camera extrinsics into the robot base frame, outlier rejection. Free of rclpy (node: object_pose_node)."""

from robot_rl.perception.config import CameraExtrinsics, MarkerSpec, ObjectMarkers, load_extrinsics, load_object_markers
from robot_rl.perception.estimator import EstimatorConfig, ObjectPoseEstimator, PoseEstimate
from robot_rl.perception.geometry import CameraIntrinsics

__all__ = ["CameraExtrinsics", "MarkerSpec", "ObjectMarkers", "load_extrinsics", "load_object_markers",
           "EstimatorConfig", "ObjectPoseEstimator", "PoseEstimate", "CameraIntrinsics"]
