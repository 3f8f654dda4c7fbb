"""Object pose from a camera: fiducial markers (OpenCV ArUco / AprilTag), solvePnP refined with aligned depth,
camera extrinsics into the robot base frame, outlier rejection, hand-eye calibration. Free of rclpy (node:
object_pose_node). Import the submodules (config, estimator, geometry, tracking, calibration): this package
imports nothing itself, so ``robot-rl`` starts without loading OpenCV."""
