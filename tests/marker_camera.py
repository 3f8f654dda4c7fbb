"""Rendered marker-scene frames (sim/robot_rl_sim/marker_scene.py) through a RealSense ``rs.software_device``
and the project's RealSenseCamera (real librealsense sensors, syncer and depth-to-color align): the pixels are
MuJoCo's, everything after them is the real camera path."""

from __future__ import annotations

import numpy as np

from robot_rl.camera import CameraConfig, RealSenseCamera
from robot_rl.errors import HardwareError
from robot_rl.perception.geometry import CameraIntrinsics
from robot_rl_sim.rendered_device import RenderedDevice


class RenderedCamera:
    """A :class:`RenderedDevice` read by RealSenseCamera; :meth:`frames` pushes one rendered pair and returns
    what the camera reads back."""

    def __init__(self, intrinsics: CameraIntrinsics, fps: int = 30):
        self.source = RenderedDevice(intrinsics, fps)
        self.camera = RealSenseCamera(CameraConfig(width=intrinsics.width, height=intrinsics.height, fps=fps,
                                                   frame_timeout_s=0.2), device=self.source.device)

    def frames(self, color: np.ndarray, depth_m: np.ndarray):
        """Push one (H, W, 3) uint8 RGB and (H, W) m depth pair; the Frames the camera reads for it."""
        first = self.source.n + 1
        for _ in range(50):  # the syncer releases a set once later frames arrive: push this pair again
            self.source.push(color, depth_m)
            try:
                while True:
                    frames = self.camera.read()
                    if frames.frame_number >= first:
                        return frames
            except HardwareError:
                continue
        raise HardwareError("software device: the rendered pair never came out of the syncer")

    def close(self) -> None:
        self.camera.close()


from robot_rl_sim.marker_scene import CAMERA_POS, FOVY_DEG, LOOK_AT  # noqa: E402,F401 - the tests' camera


def measure_pose_accuracy(frames: int, seed: int = 0, width: int = 640, height: int = 480, config=None) -> dict:
    """Render ``frames`` cube poses (x 0.4-0.6 m, y +-0.15 m, yaw +-45 deg: the pick-cube reset range, 0.35-0.6 m
    from the camera), read each through the software device, estimate the pose; errors against the truth.

    Returns per-frame position errors (mm), rotation errors (deg), reprojection errors (px) of detected frames,
    the detection rate and the mean render / estimate time per frame (ms). ``config``: an EstimatorConfig
    (default: the defaults).
    """
    import time

    from robot_rl.perception.config import load_object_markers
    from robot_rl.perception.estimator import EstimatorConfig, ObjectPoseEstimator
    from robot_rl.perception.config import CameraExtrinsics
    from robot_rl.perception.geometry import rotation_angle_deg
    from robot_rl_sim.marker_scene import MarkerScene

    scene = MarkerScene(width, height, CAMERA_POS, LOOK_AT, FOVY_DEG)
    camera = RenderedCamera(scene.intrinsics())
    rng = np.random.default_rng(seed)
    position_mm, rotation_deg, reprojection, render_s, estimate_s = [], [], [], 0.0, 0.0
    try:
        for i in range(frames):
            estimator = ObjectPoseEstimator(load_object_markers("cube"), CameraExtrinsics(scene.base_from_camera),
                                            config or EstimatorConfig())
            xy = rng.uniform([0.4, -0.15], [0.6, 0.15])
            t0 = time.perf_counter()
            color, depth, truth = scene.render([xy[0], xy[1], 0.02], rng.uniform(-np.pi / 4, np.pi / 4))
            t1 = time.perf_counter()
            read = camera.frames(color, depth)
            k = read.intrinsics
            intrinsics = type(scene.intrinsics())(np.array([[k.fx, 0, k.cx], [0, k.fy, k.cy], [0, 0, 1]]),
                                                  np.array(k.coeffs), k.width, k.height)
            estimate = estimator.estimate(read.color, read.depth, intrinsics, float(i))
            estimate_s += time.perf_counter() - t1
            render_s += t1 - t0
            if estimate is not None:
                position_mm.append(1000 * np.linalg.norm(estimate.base_from_object[:3, 3] - truth[:3, 3]))
                rotation_deg.append(rotation_angle_deg(estimate.base_from_object[:3, :3], truth[:3, :3]))
                reprojection.append(estimate.reprojection_px)
    finally:
        camera.close()
        scene.close()
    return {"frames": frames, "detected": len(position_mm), "detection_rate": len(position_mm) / frames,
            "position_mm": position_mm, "rotation_deg": rotation_deg, "reprojection_px": reprojection,
            "render_ms_per_frame": 1000 * render_s / frames, "estimate_ms_per_frame": 1000 * estimate_s / frames,
            "image": [width, height]}
