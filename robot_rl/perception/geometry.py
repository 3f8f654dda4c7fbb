"""Rigid transforms (4x4, m) and camera intrinsics in OpenCV's conventions, numpy + cv2 only."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robot_rl.errors import ConfigError


def transform(rotation: np.ndarray, translation: np.ndarray) -> np.ndarray:
    """4x4 homogeneous transform from a (3, 3) rotation and a (3,) translation, m."""
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, np.asarray(translation, dtype=float).reshape(3)
    return out


def quat_wxyz_to_matrix(q) -> np.ndarray:
    """(3, 3) rotation of a unit quaternion (w, x, y, z) (normalised here)."""
    w, x, y, z = np.asarray(q, dtype=float) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def matrix_to_quat_wxyz(r: np.ndarray) -> np.ndarray:
    """Unit quaternion (w, x, y, z), w >= 0, of a (3, 3) rotation."""
    m = np.asarray(r, dtype=float)
    w = np.sqrt(max(0.0, 1.0 + np.trace(m))) / 2
    x = np.copysign(np.sqrt(max(0.0, 1 + m[0, 0] - m[1, 1] - m[2, 2])) / 2, m[2, 1] - m[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1 - m[0, 0] + m[1, 1] - m[2, 2])) / 2, m[0, 2] - m[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1 - m[0, 0] - m[1, 1] + m[2, 2])) / 2, m[1, 0] - m[0, 1])
    q = np.array([w, x, y, z])
    return q / np.linalg.norm(q)


def rpy_to_matrix(rpy) -> np.ndarray:
    """(3, 3) rotation of roll, pitch, yaw (rad; R = Rz(yaw) Ry(pitch) Rx(roll), the URDF convention)."""
    r, p, y = rpy
    rx = np.array([[1, 0, 0], [0, np.cos(r), -np.sin(r)], [0, np.sin(r), np.cos(r)]])
    ry = np.array([[np.cos(p), 0, np.sin(p)], [0, 1, 0], [-np.sin(p), 0, np.cos(p)]])
    rz = np.array([[np.cos(y), -np.sin(y), 0], [np.sin(y), np.cos(y), 0], [0, 0, 1]])
    return rz @ ry @ rx


def rotation_angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of the rotation between two (3, 3) rotations, degrees."""
    cos = (np.trace(np.asarray(a).T @ np.asarray(b)) - 1) / 2
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


@dataclass(frozen=True)
class CameraIntrinsics:
    """Pinhole intrinsics with OpenCV's distortion (what a sensor_msgs/CameraInfo holds).

    Attributes:
        matrix: (3, 3) K, px.  distortion: OpenCV coefficients (k1, k2, p1, p2[, k3...]); empty = none.
        width, height: image size, px.
    """

    matrix: np.ndarray
    distortion: np.ndarray
    width: int
    height: int

    def __post_init__(self) -> None:
        k = np.asarray(self.matrix, dtype=float)
        if k.shape != (3, 3) or not (k[0, 0] > 0 and k[1, 1] > 0):
            raise ConfigError(f"camera intrinsics: K must be 3x3 with positive focal lengths, got {k.tolist()}")
        object.__setattr__(self, "matrix", k)
        object.__setattr__(self, "distortion", np.asarray(self.distortion, dtype=float).reshape(-1))
