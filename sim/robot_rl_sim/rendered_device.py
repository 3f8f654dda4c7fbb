"""A RealSense ``rs.software_device`` with a color (rgb8) and a depth (z16) stream of given intrinsics, fed
rendered (or any known) frames: real librealsense from the sensors on (profiles, syncer, depth-to-color align,
the project's RealSenseCamera), only the pixels are the simulator's. A stand-in for the physical camera."""

from __future__ import annotations

import numpy as np
import pyrealsense2 as rs

from robot_rl.perception.geometry import CameraIntrinsics

DEPTH_UNITS = 1e-4  # m per z16 unit


def software_frame(pixels: np.ndarray, profile, bpp: int, n: int, fps: float) -> rs.software_video_frame:
    """Frame number ``n`` of ``pixels`` (H, W[, C]) for a software sensor ``profile``, stamped n / fps s."""
    f = rs.software_video_frame()
    f.pixels, f.stride, f.bpp, f.profile = pixels, pixels.shape[1] * bpp, bpp, profile
    f.timestamp, f.frame_number = n * 1000.0 / fps, n
    f.domain, f.depth_units = rs.timestamp_domain.hardware_clock, DEPTH_UNITS
    return f


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


class RenderedDevice:
    """The software device (:attr:`device`, for ``RealSenseCamera(config, device=...)``) and its two sensors;
    :meth:`push` hands one color / depth pair to them (same frame number, identity depth-to-color extrinsics)."""

    def __init__(self, intrinsics: CameraIntrinsics, fps: int = 30):
        self.fps, self.n = fps, 0
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

    def push(self, color: np.ndarray, depth_m: np.ndarray) -> int:
        """Hand one (H, W, 3) uint8 RGB and (H, W) m depth pair to the sensors; returns its frame number."""
        raw = np.clip(np.round(depth_m / DEPTH_UNITS), 0, 65535).astype(np.uint16)
        self.n += 1
        self._color.on_video_frame(software_frame(np.ascontiguousarray(color), self.color_profile, 3, self.n, self.fps))
        self._depth.on_video_frame(software_frame(raw, self.depth_profile, 2, self.n, self.fps))
        return self.n
