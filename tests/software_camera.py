"""A RealSense ``rs.software_device`` with a color (rgb8) and a depth (z16) stream, fed known frames by a thread.

Real librealsense end to end (sensors, profiles, syncer, align); only the pixels come from the test.
"""

from __future__ import annotations

import threading

import numpy as np
import pyrealsense2 as rs

from robot_rl_sim.rendered_device import DEPTH_UNITS, software_frame  # noqa: F401 - DEPTH_UNITS re-exported

DEPTH_RAW = 7500  # z16 value of every depth pixel: 0.75 m


def _intrinsics(width: int, height: int) -> rs.intrinsics:
    intr = rs.intrinsics()
    intr.width, intr.height, intr.fx, intr.fy = width, height, 50.0, 51.0
    intr.ppx, intr.ppy = width / 2, height / 2 - 1  # whole pixels: aligning depth to color is exact
    intr.model, intr.coeffs = rs.distortion.brown_conrady, [0.1, -0.05, 0.001, 0.002, 0.0]
    return intr


def _stream(kind: rs.stream, uid: int, fmt: rs.format, bpp: int, width: int, height: int, fps: int):
    s = rs.video_stream()
    s.type, s.index, s.uid, s.width, s.height, s.fps, s.bpp, s.fmt = kind, 0, uid, width, height, fps, bpp, fmt
    s.intrinsics = _intrinsics(width, height)
    return s


def gradient(width: int, height: int) -> np.ndarray:
    """(H, W, 3) uint8 RGB test image: R along x, G along y, B constant 200."""
    img = np.zeros((height, width, 3), np.uint8)
    img[..., 0] = np.arange(width, dtype=np.uint8)[None, :] * 3
    img[..., 1] = np.arange(height, dtype=np.uint8)[:, None] * 5
    img[..., 2] = 200
    return img


class SoftwareCamera:
    """The device and a feeder thread pushing one (color, depth) pair every 1/fps s while ``feeding``."""

    def __init__(self, width: int = 32, height: int = 24, fps: int = 30):
        self.width, self.height, self.fps = width, height, fps
        self.device = rs.software_device()
        self._color_sensor = self.device.add_sensor("RGB Camera")
        self._depth_sensor = self.device.add_sensor("Stereo Module")
        self.color_profile = self._color_sensor.add_video_stream(
            _stream(rs.stream.color, 0, rs.format.rgb8, 3, width, height, fps)).as_video_stream_profile()
        self.depth_profile = self._depth_sensor.add_video_stream(
            _stream(rs.stream.depth, 1, rs.format.z16, 2, width, height, fps)).as_video_stream_profile()
        self._depth_sensor.add_read_only_option(rs.option.depth_units, DEPTH_UNITS)
        identity = rs.extrinsics()
        identity.rotation, identity.translation = [1, 0, 0, 0, 1, 0, 0, 0, 1], [0, 0, 0]
        self.depth_profile.register_extrinsics_to(self.color_profile, identity)
        self.color = gradient(width, height)
        self.depth_raw = np.full((height, width), DEPTH_RAW, np.uint16)
        self.feeding = threading.Event()
        self._stop = threading.Event()
        self._n = 0
        self._thread = threading.Thread(target=self._feed, daemon=True)
        self._thread.start()

    def _frame(self, pixels: np.ndarray, profile, bpp: int) -> rs.software_video_frame:
        return software_frame(pixels, profile, bpp, self._n, self.fps)

    def _feed(self) -> None:
        while not self._stop.wait(1.0 / self.fps):
            if self.feeding.is_set():
                self._n += 1
                self._color_sensor.on_video_frame(self._frame(self.color, self.color_profile, 3))
                self._depth_sensor.on_video_frame(self._frame(self.depth_raw, self.depth_profile, 2))

    def close(self) -> None:
        """Stop feeding (the device stays usable for closing cameras on it)."""
        self._stop.set()
        self._thread.join(timeout=5)
