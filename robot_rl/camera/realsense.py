"""Intel RealSense color (+ depth) frames through pyrealsense2's sensor API, as numpy arrays.

The frame source is an ``rs.device``: a real camera found by serial (:func:`find_device`), or any other device
librealsense can stream from (an ``rs.software_device`` fed frames by the caller, a playback device). Both go
through the same path: the color and depth sensors are opened on the requested profiles and started into an
``rs.syncer``; depth is optionally aligned to the color image with ``rs.align``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pyrealsense2 as rs

from robot_rl.errors import ConfigError, HardwareError


@dataclass(frozen=True)
class CameraConfig:
    """What to stream.

    Attributes:
        serial: serial number of the camera; "" opens the first one found.
        width, height: color image size, px.  fps: color (and depth) frame rate, Hz.
        depth: stream depth too.
        depth_width, depth_height: depth image size, px; 0 = the color size.
        align_depth_to_color: reproject depth into the color camera (depth then has the color size and
            intrinsics).
        frame_timeout_s: longest wait for one frame set before :meth:`RealSenseCamera.read` fails, s.
    """

    serial: str = ""
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = True
    depth_width: int = 0
    depth_height: int = 0
    align_depth_to_color: bool = True
    frame_timeout_s: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.serial, str):
            raise ConfigError(f"camera serial: expected a string, got {self.serial!r}")
        for name in ("width", "height", "fps"):
            _check_int(name, getattr(self, name), minimum=1)
        for name in ("depth_width", "depth_height"):
            _check_int(name, getattr(self, name), minimum=0)
        for name in ("depth", "align_depth_to_color"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"camera {name}: expected a bool, got {getattr(self, name)!r}")
        timeout = self.frame_timeout_s
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not (
                math.isfinite(timeout) and timeout > 0):
            raise ConfigError(f"camera frame_timeout_s: expected a finite number > 0 s, got {timeout!r}")
        object.__setattr__(self, "depth_width", self.depth_width or self.width)
        object.__setattr__(self, "depth_height", self.depth_height or self.height)


def _check_int(name: str, value, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"camera {name}: expected an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an image (librealsense's, unchanged).

    Attributes:
        fx, fy: focal lengths, px.  cx, cy: principal point, px.  width, height: image size, px.
        model: librealsense distortion model name ("brown_conrady", "inverse_brown_conrady",
            "kannala_brandt4", "none", ...).  coeffs: its coefficients (5 floats).
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    model: str
    coeffs: tuple[float, ...]

    @classmethod
    def from_rs(cls, intr: rs.intrinsics) -> Intrinsics:
        """From an ``rs.intrinsics``."""
        return cls(intr.fx, intr.fy, intr.ppx, intr.ppy, intr.width, intr.height, intr.model.name,
                   tuple(float(c) for c in intr.coeffs))


@dataclass(frozen=True)
class Frames:
    """One synchronized frame set.

    Attributes:
        stamp: host wall clock (time.time(), s) when the frame set reached this process; the device
            timestamps are in ``device_time_ms``.
        color: (H, W, 3) uint8, RGB.
        depth: (Hd, Wd) float32, m (0 where there is no depth), or None when depth is off; (H, W) when aligned.
        intrinsics: of the color image (and of the depth image when aligned).
        device_time_ms: the color frame's device timestamp, ms, in ``time_domain``.
        time_domain: librealsense timestamp domain name ("hardware_clock", "system_time", "global_time").
        frame_number: the color frame's number.
    """

    stamp: float
    color: np.ndarray
    depth: np.ndarray | None
    intrinsics: Intrinsics
    device_time_ms: float
    time_domain: str
    frame_number: int


def _serial(device: rs.device) -> str:
    if device.supports(rs.camera_info.serial_number):
        return device.get_info(rs.camera_info.serial_number)
    return "?"


def find_device(serial: str = "", context: rs.context | None = None) -> rs.device:
    """The connected RealSense with this serial ("" = the first one).

    Raises:
        HardwareError: no device, or none with this serial (names the serials found).
    """
    devices = list((context or rs.context()).query_devices())
    found = [_serial(d) for d in devices]
    wanted = f"serial {serial!r}" if serial else "any serial"
    if not devices:
        raise HardwareError(f"no RealSense camera found ({wanted} requested): none connected")
    for device, dev_serial in zip(devices, found):
        if not serial or dev_serial == serial:
            return device
    raise HardwareError(f"no RealSense camera with serial {serial!r}; found: {found}")


def _profile_text(p: rs.video_stream_profile) -> str:
    return f"{p.width()}x{p.height()}@{p.fps()} {p.format().name}"


def _find_profile(device: rs.device, stream: rs.stream, fmt: rs.format, size: tuple[int, int], fps: int):
    """(sensor, video profile) of ``device`` streaming ``stream`` in ``fmt`` at ``size`` (W, H, px) and ``fps``.

    Raises:
        ConfigError: no such profile (names the supported ones of that stream).
    """
    supported = []
    for sensor in device.query_sensors():
        for profile in sensor.get_stream_profiles():
            if profile.stream_type() != stream or not profile.is_video_stream_profile():
                continue
            video = profile.as_video_stream_profile()
            if (video.width(), video.height(), video.fps(), video.format()) == (*size, fps, fmt):
                return sensor, video
            supported.append(_profile_text(video))
    raise ConfigError(f"camera: {stream.name} {size[0]}x{size[1]}@{fps} {fmt.name} not supported by the device; "
                      f"supported {stream.name} profiles: {sorted(set(supported)) or 'none'}")


class RealSenseCamera:
    """Color (+ depth) frames from one RealSense device, read synchronously with :meth:`read`.

    Args:
        config: what to stream.
        device: the frame source; None opens the real camera ``config.serial`` (:func:`find_device`).

    Raises:
        HardwareError: no such device, or it cannot be started.
        ConfigError: the device has no profile for the requested size / rate.
    """

    def __init__(self, config: CameraConfig, device: rs.device | None = None):
        self.config = config
        self.device = device if device is not None else find_device(config.serial)
        self._syncer = rs.syncer()
        self._align = rs.align(rs.stream.color) if config.depth and config.align_depth_to_color else None
        self._sensors: list[rs.sensor] = []
        self._started: list[rs.sensor] = []
        self._open()

    def _open(self) -> None:
        c = self.config
        chosen = [_find_profile(self.device, rs.stream.color, rs.format.rgb8, (c.width, c.height), c.fps)]
        if c.depth:
            chosen.append(_find_profile(self.device, rs.stream.depth, rs.format.z16,
                                        (c.depth_width, c.depth_height), c.fps))
        self.intrinsics = Intrinsics.from_rs(chosen[0][1].get_intrinsics())
        try:
            self._start(chosen)
        except RuntimeError as exc:
            self.close()
            raise HardwareError(f"camera {_serial(self.device)}: cannot start streaming: {exc}") from exc

    def _start(self, chosen: list) -> None:
        by_sensor: dict[int, tuple[rs.sensor, list]] = {}
        for sensor, profile in chosen:
            by_sensor.setdefault(id(sensor), (sensor, []))[1].append(profile)
        for sensor, profiles in by_sensor.values():
            sensor.open(profiles)
            self._sensors.append(sensor)
        for sensor, _ in by_sensor.values():
            sensor.start(self._syncer)
            self._started.append(sensor)

    def read(self) -> Frames:
        """The next frame set with a color image (and a depth image if configured).

        Raises:
            HardwareError: none within ``config.frame_timeout_s`` (names the timeout and the device).
        """
        deadline = time.monotonic() + self.config.frame_timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            ok, frameset = self._syncer.try_wait_for_frames(max(1, int(remaining * 1000)))
            if ok and frameset.get_color_frame() and (not self.config.depth or frameset.get_depth_frame()):
                return self._convert(frameset, time.time())
        raise HardwareError(f"camera {_serial(self.device)}: no frame set within frame_timeout_s = "
                            f"{self.config.frame_timeout_s} s")

    def _convert(self, frameset: rs.composite_frame, stamp: float) -> Frames:
        if self._align is not None:
            frameset = self._align.process(frameset)
        color = frameset.get_color_frame()
        depth = None
        if self.config.depth:
            raw = frameset.get_depth_frame()
            depth = np.asanyarray(raw.get_data()).astype(np.float32) * np.float32(raw.get_units())
        return Frames(stamp=stamp, color=np.array(color.get_data(), dtype=np.uint8), depth=depth,
                      intrinsics=self.intrinsics, device_time_ms=color.get_timestamp(),
                      time_domain=color.get_frame_timestamp_domain().name, frame_number=color.get_frame_number())

    def close(self) -> None:
        """Stop and close the sensors; idempotent."""
        while self._started:
            self._started.pop().stop()
        while self._sensors:
            self._sensors.pop().close()

    def __enter__(self) -> RealSenseCamera:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
