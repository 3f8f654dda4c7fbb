"""Rendered marker-scene frames (sim/robot_rl_sim/marker_scene.py) through a RealSense ``rs.software_device``
and the project's RealSenseCamera (real librealsense sensors, syncer and depth-to-color align): the pixels are
MuJoCo's, everything after them is the real camera path."""

from __future__ import annotations

import numpy as np
import pyrealsense2 as rs

from robot_rl.camera import CameraConfig, RealSenseCamera
from robot_rl.errors import HardwareError
from robot_rl.perception.geometry import CameraIntrinsics
from software_camera import DEPTH_UNITS, software_frame



def _stream(kind, uid: int, fmt, bpp: int, intrinsics: CameraIntrinsics, fps: int) -> rs.video_stream:
    s = rs.video_stream()
    s.type, s.index, s.uid, s.fps, s.bpp, s.fmt = kind, 0, uid, fps, bpp, fmt
    s.width, s.height = intrinsics.width, intrinsics.height
    intr = rs.intrinsics()
    k = intrinsics.matrix
    intr.width, intr.height, intr.fx, intr.fy, intr.ppx, intr.ppy = (intrinsics.width, intrinsics.height,
                                                                    k[0, 0], k[1, 1], k[0, 2], k[1, 2])
    intr.model, intr.coeffs = rs.distortion.none, [0.0] * 5
    s.intrinsics = intr
    return s


class RenderedCamera:
    """A software device with color (rgb8) and depth (z16) streams of the scene's intrinsics; :meth:`frames`
    pushes one rendered pair and returns what RealSenseCamera reads back."""

    def __init__(self, intrinsics: CameraIntrinsics, fps: int = 30):
        self.fps, self.width, self.n = fps, intrinsics.width, 0
        self.device = rs.software_device()
        self._color = self.device.add_sensor("RGB Camera")
        self._depth = self.device.add_sensor("Stereo Module")
        self.color_profile = self._color.add_video_stream(
            _stream(rs.stream.color, 0, rs.format.rgb8, 3, intrinsics, fps)).as_video_stream_profile()
        self.depth_profile = self._depth.add_video_stream(
            _stream(rs.stream.depth, 1, rs.format.z16, 2, intrinsics, fps)).as_video_stream_profile()
        self._depth.add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
        identity = rs.extrinsics()
        identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
        self.depth_profile.register_extrinsics_to(self.color_profile, identity)
        self.camera = RealSenseCamera(CameraConfig(width=intrinsics.width, height=intrinsics.height, fps=fps,
                                                   frame_timeout_s=0.2), device=self.device)

    def _frame(self, pixels: np.ndarray, profile, bpp: int) -> rs.software_video_frame:
        return software_frame(pixels, profile, bpp, self.n, self.fps)

    def frames(self, color: np.ndarray, depth_m: np.ndarray):
        """Push one (H, W, 3) uint8 RGB and (H, W) m depth pair; the Frames the camera reads for it."""
        raw = np.clip(np.round(depth_m / DEPTH_UNITS), 0, 65535).astype(np.uint16)
        color, first = np.ascontiguousarray(color), self.n + 1
        for _ in range(50):  # the syncer releases a set once later frames arrive: push this pair again
            self.n += 1
            self._color.on_video_frame(self._frame(color, self.color_profile, 3))
            self._depth.on_video_frame(self._frame(raw, self.depth_profile, 2))
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


CAMERA_POS, LOOK_AT, FOVY_DEG = (0.85, 0.1, 0.35), (0.5, 0.0, 0.0), 42.0  # D435-like vertical field of view


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
