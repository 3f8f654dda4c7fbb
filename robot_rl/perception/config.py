"""Configuration of object perception: one YAML per object (config/objects/) and the camera extrinsics.

Object YAML::

    name: cube
    dictionary: DICT_4X4_50          # any cv2.aruco predefined dictionary, e.g. DICT_APRILTAG_36h11
    markers:
      - id: 0
        size: 0.03                   # m, edge of the black square
        position: [0.0, 0.0, 0.02]   # marker centre in the object frame, m
        rpy: [0.0, 0.0, 0.0]         # marker frame in the object frame, rad (x right, y up, z out of the face)

Extrinsics YAML (written by hand or by a calibration)::

    parent: base                     # the robot base frame
    position: [x, y, z]              # camera optical frame origin in the base frame, m
    quaternion_wxyz: [w, x, y, z]    # optical frame (x right, y down, z forward) in the base frame
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import yaml

from robot_rl.errors import ConfigError
from robot_rl.paths import config_dir
from robot_rl.perception.geometry import quat_wxyz_to_matrix, rpy_to_matrix, transform


@dataclass(frozen=True)
class MarkerSpec:
    """One marker on an object: id, edge length (m), and its pose in the object frame (4x4)."""

    id: int
    size: float
    object_from_marker: np.ndarray


@dataclass(frozen=True)
class ObjectMarkers:
    """An object's name, its marker dictionary (a cv2.aruco predefined dictionary name) and markers."""

    name: str
    dictionary: str
    markers: tuple[MarkerSpec, ...]

    def marker(self, marker_id: int) -> MarkerSpec | None:
        """The marker with this id, or None."""
        return next((m for m in self.markers if m.id == marker_id), None)


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def _vector(path: Path, where: str, value, size: int) -> np.ndarray:
    array = np.asarray(value, dtype=float) if isinstance(value, list) else np.zeros(0)
    if array.shape != (size,) or not np.all(np.isfinite(array)):
        raise ConfigError(f"{path}: {where} must be a list of {size} finite numbers, got {value!r}")
    return array


def load_object_markers(name_or_path: str | Path) -> ObjectMarkers:
    """A shipped object (config/objects/NAME.yaml) or an object YAML path.

    Raises:
        ConfigError: naming the file and field (unknown dictionary, duplicate id, bad size or pose).
    """
    path = Path(name_or_path)
    if not path.suffix:
        path = config_dir() / "objects" / f"{name_or_path}.yaml"
    data = _read_yaml(path)
    dictionary = str(data.get("dictionary", ""))
    if not hasattr(cv2.aruco, dictionary) or not dictionary.startswith("DICT_"):
        raise ConfigError(f"{path}: dictionary {dictionary!r} is not a cv2.aruco predefined dictionary "
                          "(e.g. DICT_4X4_50, DICT_APRILTAG_36h11)")
    markers = []
    for i, m in enumerate(data.get("markers") or []):
        where = f"markers[{i}]"
        if not isinstance(m, dict) or not isinstance(m.get("id"), int) or m["id"] < 0:
            raise ConfigError(f"{path}: {where}.id must be an integer >= 0")
        size = m.get("size")
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not 0 < size < 10:
            raise ConfigError(f"{path}: {where}.size must be a marker edge in (0, 10) m, got {size!r}")
        pose = transform(rpy_to_matrix(_vector(path, f"{where}.rpy", m.get("rpy", [0.0, 0.0, 0.0]), 3)),
                         _vector(path, f"{where}.position", m.get("position"), 3))
        markers.append(MarkerSpec(m["id"], float(size), pose))
    if not markers:
        raise ConfigError(f"{path}: no markers")
    ids = [m.id for m in markers]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{path}: duplicate marker ids {ids}")
    return ObjectMarkers(str(data.get("name", path.stem)), dictionary, tuple(markers))


@dataclass(frozen=True)
class CameraExtrinsics:
    """The camera optical frame in the robot base frame: ``base_from_camera`` (4x4, m)."""

    base_from_camera: np.ndarray
    parent: str = "base"


def load_extrinsics(path: str | Path) -> CameraExtrinsics:
    """Extrinsics YAML (see the module docstring); ConfigError naming the file and field."""
    path = Path(path)
    data = _read_yaml(path)
    q = _vector(path, "quaternion_wxyz", data.get("quaternion_wxyz"), 4)
    if abs(np.linalg.norm(q) - 1) > 1e-3:
        raise ConfigError(f"{path}: quaternion_wxyz {q.tolist()} is not a unit quaternion")
    return CameraExtrinsics(transform(quat_wxyz_to_matrix(q), _vector(path, "position", data.get("position"), 3)),
                            str(data.get("parent", "base")))
