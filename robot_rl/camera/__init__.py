"""Camera observations: Intel RealSense color + depth frames as numpy arrays (rclpy-free)."""

from robot_rl.camera.realsense import CameraConfig, Frames, Intrinsics, RealSenseCamera, find_device

__all__ = ["CameraConfig", "Frames", "Intrinsics", "RealSenseCamera", "find_device"]
