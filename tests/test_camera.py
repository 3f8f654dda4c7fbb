"""RealSenseCamera on a real librealsense software device (tests/software_camera.py): pixels, metres,
intrinsics, stamps, and the errors (config field, frame timeout, a serial that is not connected)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from software_camera import DEPTH_RAW, DEPTH_UNITS, SoftwareCamera

from robot_rl.camera import CameraConfig, RealSenseCamera
from robot_rl.errors import ConfigError, HardwareError


@pytest.fixture
def soft():
    cam = SoftwareCamera()
    yield cam
    cam.close()


def _config(soft: SoftwareCamera, **kw) -> CameraConfig:
    return CameraConfig(**{"width": soft.width, "height": soft.height, "fps": soft.fps, "frame_timeout_s": 2.0,
                           **kw})


@pytest.mark.parametrize("align", [False, True])
def test_frames_equal_what_was_fed(soft, align):
    soft.feeding.set()
    with RealSenseCamera(_config(soft, align_depth_to_color=align), soft.device) as cam:
        frames = [cam.read() for _ in range(3)]
    for f in frames:
        assert f.color.dtype == np.uint8 and f.color.shape == (soft.height, soft.width, 3)
        np.testing.assert_array_equal(f.color, soft.color)  # RGB order kept
        assert f.depth.dtype == np.float32 and f.depth.shape == (soft.height, soft.width)
        metres = np.float32(DEPTH_RAW * DEPTH_UNITS)
        if align:  # reprojected through the (distorted) intrinsics: a few pixels get no depth (0), none other
            assert set(np.unique(f.depth)) <= {np.float32(0.0), metres} and (f.depth == metres).mean() > 0.85
        else:
            np.testing.assert_array_equal(f.depth, metres)
    stamps = [f.stamp for f in frames]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3
    assert [f.frame_number for f in frames] == sorted({f.frame_number for f in frames})
    intr, declared = frames[0].intrinsics, soft.color_profile.get_intrinsics()
    assert (intr.width, intr.height, intr.model) == (soft.width, soft.height, "brown_conrady")
    np.testing.assert_allclose([intr.fx, intr.fy, intr.cx, intr.cy], [declared.fx, declared.fy, declared.ppx,
                                                                      declared.ppy])
    np.testing.assert_allclose(intr.coeffs, declared.coeffs)


def test_color_only(soft):
    soft.feeding.set()
    with RealSenseCamera(_config(soft, depth=False), soft.device) as cam:
        f = cam.read()
    assert f.depth is None
    np.testing.assert_array_equal(f.color, soft.color)


def test_timeout_names_the_timeout_and_close_is_idempotent(soft):
    cam = RealSenseCamera(_config(soft, frame_timeout_s=0.3), soft.device)
    start = time.monotonic()
    with pytest.raises(HardwareError, match=r"frame_timeout_s = 0\.3 s"):
        cam.read()
    assert 0.25 < time.monotonic() - start < 2.0
    cam.close()
    cam.close()


@pytest.mark.parametrize("field, value", [("width", 0), ("fps", 2.5), ("depth_height", -1),
                                          ("frame_timeout_s", float("nan")), ("depth", "yes"), ("serial", 123)])
def test_config_error_names_the_field(field, value):
    with pytest.raises(ConfigError, match=field):
        CameraConfig(**{field: value})


def test_depth_size_defaults_to_color_size():
    c = CameraConfig(width=320, height=240)
    assert (c.depth_width, c.depth_height) == (320, 240)
    assert CameraConfig(depth_width=640, depth_height=480).depth_width == 640


def test_unsupported_profile_lists_the_supported_ones(soft):
    with pytest.raises(ConfigError, match=r"supported color profiles: \['32x24@30 rgb8'\]"):
        RealSenseCamera(CameraConfig(width=640, height=480, fps=soft.fps), soft.device)


def test_missing_serial_is_a_hardware_error_naming_it():
    # No RealSense is connected to this machine: the real rs.context() finds none.
    with pytest.raises(HardwareError, match=r"serial '000000000000'.*none connected"):
        RealSenseCamera(CameraConfig(serial="000000000000"))
