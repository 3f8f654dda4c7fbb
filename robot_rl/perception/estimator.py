"""Object pose from one color image (+ aligned depth): detect the object's markers, solvePnP per marker
(IPPE_SQUARE), refine the distance with the depth inside the marker, map through the marker-to-object offset
and the camera extrinsics into the base frame, reject outliers.

Depth refinement: a planar marker's distance is PnP's weakest direction (a few mm at 0.5 m for a 3 cm marker).
The median aligned depth (m) over the marker's inner quad, if enough of it is valid and agrees with PnP within
``depth_agreement_m``, replaces the marker centre's z: the centre moves along its viewing ray to that depth.

Depth plane refinement (first choice): a small marker's tilt is PnP's other weak part (1-2 deg here). Where
the depth points inside the marker (at least ``min_plane_points``) fit a plane with RMS residual <=
``max_plane_rms_m`` whose normal is within ``max_tilt_correction_deg`` of PnP's, the detected corners' viewing
rays are intersected with that plane and the marker pose is the rigid fit (Kabsch) of its model corners to those
3D corners: orientation and position from depth + corners, PnP only as the check. Noisy depth fails the RMS
test; then the distance refinement above is used.

Outlier rejection: a detection with reprojection error above ``max_reprojection_px`` is dropped; a pose that
jumps from the last accepted one faster than ``max_speed_mps`` / ``max_angular_speed_dps`` is rejected, unless
``reacquire_after`` consecutive frames agree it moved (then it is accepted: the object was moved).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.perception.config import CameraExtrinsics, ObjectMarkers
from robot_rl.perception.edges import refine_edges
from robot_rl.perception.geometry import CameraIntrinsics, matrix_to_quat_wxyz, rotation_angle_deg, transform


CORNER_REFINEMENTS = {"edges": cv2.aruco.CORNER_REFINE_SUBPIX, "subpix": cv2.aruco.CORNER_REFINE_SUBPIX,
                      "contour": cv2.aruco.CORNER_REFINE_CONTOUR, "apriltag": cv2.aruco.CORNER_REFINE_APRILTAG,
                      "none": cv2.aruco.CORNER_REFINE_NONE}
"""Corner refinements: cv2.aruco's, and ``edges`` (the default): subpix detection, then each corner from the two
border edges located at sub-pixel precision (:mod:`robot_rl.perception.edges`). cv2.aruco's own corners lie
0.25-0.7 px inside the marker (apriltag: shifted ~0.44 px), which made PnP alone mm too far (docs/perception.md)."""


@dataclass(frozen=True)
class EstimatorConfig:
    """Thresholds (see the module docstring for their use); ``corner_refinement`` one of CORNER_REFINEMENTS."""

    max_reprojection_px: float = 2.0
    depth_refine: bool = True
    depth_valid_fraction: float = 0.5
    depth_agreement_m: float = 0.03
    max_speed_mps: float = 2.0
    max_angular_speed_dps: float = 720.0
    reacquire_after: int = 3
    depth_plane: bool = True
    corner_refinement: str = "edges"
    min_plane_points: int = 30
    max_plane_rms_m: float = 0.001
    max_tilt_correction_deg: float = 10.0

    def __post_init__(self) -> None:
        for name in ("max_reprojection_px", "depth_agreement_m", "max_speed_mps", "max_angular_speed_dps"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"perception {name} must be > 0, got {getattr(self, name)}")
        if not 0 < self.depth_valid_fraction <= 1:
            raise ConfigError(f"perception depth_valid_fraction must be in (0, 1], got {self.depth_valid_fraction}")
        if self.corner_refinement not in CORNER_REFINEMENTS:
            raise ConfigError(f"perception corner_refinement {self.corner_refinement!r}: one of {sorted(CORNER_REFINEMENTS)}")
        if self.reacquire_after < 1:
            raise ConfigError(f"perception reacquire_after must be >= 1, got {self.reacquire_after}")


@dataclass(frozen=True)
class PoseEstimate:
    """An accepted object pose.

    Attributes:
        stamp: the image's time, s.  base_from_object: (4, 4), m.
        pose: (7,) position m + quaternion wxyz, in the base frame (the policy's object_pose layout).
        reprojection_px: RMS reprojection error of the marker used, px.  marker_id: that marker.
        depth_refinement: how the aligned depth refined PnP: "plane" (pose from the depth plane and the corner
            rays), "distance" (distance only) or "" (not at all).
    """

    stamp: float
    base_from_object: np.ndarray
    pose: np.ndarray
    reprojection_px: float
    marker_id: int
    depth_refinement: str


def _marker_points(size: float) -> np.ndarray:
    h = size / 2  # corners in OpenCV's ArUco order: top-left, top-right, bottom-right, bottom-left
    return np.array([[-h, h, 0], [h, h, 0], [h, -h, 0], [-h, -h, 0]], dtype=np.float64)


class ObjectPoseEstimator:
    """Stateful estimator of one object's pose (keeps the last accepted pose for outlier rejection)."""

    def __init__(self, markers: ObjectMarkers, extrinsics: CameraExtrinsics, config: EstimatorConfig = EstimatorConfig()):
        self.markers, self.extrinsics, self.config = markers, extrinsics, config
        dictionary = cv2.aruco.getPredefinedDictionary(getattr(cv2.aruco, markers.dictionary))
        params = cv2.aruco.DetectorParameters()
        params.cornerRefinementMethod = CORNER_REFINEMENTS[config.corner_refinement]
        self._detector = cv2.aruco.ArucoDetector(dictionary, params)
        self.last: PoseEstimate | None = None
        self._pending: list[PoseEstimate] = []
        self.rejected = {"no_marker": 0, "reprojection": 0, "jump": 0}

    def estimate(self, color_rgb: np.ndarray, depth_m: np.ndarray | None, intrinsics: CameraIntrinsics,
                 stamp: float) -> PoseEstimate | None:
        """The object's pose in this frame ((H, W, 3) uint8 RGB, (H, W) float m aligned depth or None), or
        None (counted in :attr:`rejected` by reason)."""
        gray = cv2.cvtColor(color_rgb, cv2.COLOR_RGB2GRAY)
        corners, ids, _ = self._detector.detectMarkers(gray)
        candidates = []
        for quad, marker_id in zip(corners, [] if ids is None else ids.reshape(-1)):
            spec = self.markers.marker(int(marker_id))
            if spec is not None:
                quad = quad.reshape(4, 2)
                if self.config.corner_refinement == "edges":
                    quad = refine_edges(gray, quad)
                candidates.append(self._marker_pose(quad, spec, depth_m, intrinsics, stamp))
        if not candidates:
            self.rejected["no_marker"] += 1
            return None
        best = min(candidates, key=lambda c: c.reprojection_px)
        if best.reprojection_px > self.config.max_reprojection_px:
            self.rejected["reprojection"] += 1
            return None
        return self._gate(best)

    def _marker_pose(self, quad: np.ndarray, spec, depth_m, intrinsics: CameraIntrinsics, stamp: float) -> PoseEstimate:
        dist = intrinsics.distortion if intrinsics.distortion.size else None
        points = _marker_points(spec.size)
        ok, rvec, tvec = cv2.solvePnP(points, quad, intrinsics.matrix, dist, flags=cv2.SOLVEPNP_IPPE_SQUARE)
        if not ok:
            return PoseEstimate(stamp, np.eye(4), np.zeros(7), np.inf, spec.id, "")
        projected, _ = cv2.projectPoints(points, rvec, tvec, intrinsics.matrix, dist)
        error = float(np.sqrt(np.mean(np.sum((projected.reshape(4, 2) - quad) ** 2, axis=1))))
        pnp = transform(cv2.Rodrigues(rvec)[0], tvec.reshape(3))
        camera_from_marker, refinement = self._refine(quad, depth_m, intrinsics, pnp, points)
        base = self.extrinsics.base_from_camera @ camera_from_marker @ np.linalg.inv(spec.object_from_marker)
        pose = np.concatenate([base[:3, 3], matrix_to_quat_wxyz(base[:3, :3])])
        return PoseEstimate(stamp, base, pose, error, spec.id, refinement)

    def _refine(self, quad: np.ndarray, depth_m, intrinsics: CameraIntrinsics, pnp: np.ndarray,
                model: np.ndarray) -> tuple[np.ndarray, str]:
        """PnP's camera_from_marker (4, 4) refined with the aligned depth, and how: "plane", "distance" or ""."""
        if not self.config.depth_refine or depth_m is None:
            return pnp, ""
        if self.config.depth_plane:
            planar = self._depth_plane_pose(quad, depth_m, intrinsics, pnp, model)
            if planar is not None:
                return planar, "plane"
        z = self._depth_distance(quad, depth_m, pnp[2, 3])
        if z is None:
            return pnp, ""
        return transform(pnp[:3, :3], pnp[:3, 3] * (z / pnp[2, 3])), "distance"  # along PnP's ray to the centre

    def _depth_plane_pose(self, quad: np.ndarray, depth_m: np.ndarray, intrinsics: CameraIntrinsics,
                          pnp: np.ndarray, model: np.ndarray) -> np.ndarray | None:
        """camera_from_marker (4, 4) from the depth plane and the corner rays (see the module docstring), or None
        when the plane fit is poor or disagrees with PnP's ``pnp`` (4, 4)."""
        centre = quad.mean(axis=0)
        mask = np.zeros(depth_m.shape, np.uint8)
        cv2.fillConvexPoly(mask, (centre + 0.8 * (quad - centre)).astype(np.int32), 1)
        v, u = np.nonzero(mask)
        z = depth_m[v, u]
        keep = np.isfinite(z) & (z > 0)
        if keep.sum() < self.config.min_plane_points:
            return None
        dist = intrinsics.distortion if intrinsics.distortion.size else None

        def rays(pixels: np.ndarray) -> np.ndarray:
            flat = cv2.undistortPoints(pixels.astype(np.float64).reshape(-1, 1, 2), intrinsics.matrix, dist)
            return np.column_stack([flat.reshape(-1, 2), np.ones(len(pixels))])

        points = rays(np.stack([u[keep], v[keep]], axis=1)) * z[keep, None]
        origin = points.mean(axis=0)
        _, singular, vt = np.linalg.svd(points - origin, full_matrices=False)
        normal = vt[2] if vt[2] @ pnp[:3, 2] > 0 else -vt[2]
        tilt = np.degrees(np.arccos(np.clip(normal @ pnp[:3, 2], -1.0, 1.0)))
        if singular[2] / np.sqrt(len(points)) > self.config.max_plane_rms_m or tilt > self.config.max_tilt_correction_deg:
            return None
        corner_rays = rays(quad)
        corners = corner_rays * ((normal @ origin) / (corner_rays @ normal))[:, None]  # rays meet the plane
        return _rigid_fit(model, corners)

    def _depth_distance(self, quad: np.ndarray, depth_m: np.ndarray, pnp_z: float) -> float | None:
        """Median valid depth (m) over the marker's inner half (shrunk quad), or None if too little is valid or
        it disagrees with PnP's ``pnp_z`` by more than ``depth_agreement_m``."""
        centre = quad.mean(axis=0)
        inner = (centre + 0.5 * (quad - centre)).astype(np.int32)
        mask = np.zeros(depth_m.shape, np.uint8)
        cv2.fillConvexPoly(mask, inner, 1)
        values = depth_m[mask.astype(bool)]
        valid = values[np.isfinite(values) & (values > 0)]
        if values.size == 0 or valid.size < self.config.depth_valid_fraction * values.size:
            return None
        z = float(np.median(valid))
        return z if abs(z - pnp_z) <= self.config.depth_agreement_m else None

    def _gate(self, estimate: PoseEstimate) -> PoseEstimate | None:
        """Accept, or reject a jump (see the module docstring)."""
        if self.last is not None and not self._plausible(self.last, estimate):
            self._pending.append(estimate)
            if len(self._pending) < self.config.reacquire_after or not self._consistent(self._pending):
                self.rejected["jump"] += 1
                self._pending = self._pending[-self.config.reacquire_after:]
                return None
        self._pending = []
        self.last = estimate
        return estimate

    def _consistent(self, pending: list[PoseEstimate]) -> bool:
        """The last ``reacquire_after`` rejected poses agree with each other (the object did move)."""
        recent = pending[-self.config.reacquire_after:]
        return all(self._plausible(a, b) for a, b in zip(recent, recent[1:]))

    def _plausible(self, a: PoseEstimate, b: PoseEstimate) -> bool:
        """``b`` follows ``a`` within the speed limits."""
        dt = max(b.stamp - a.stamp, 1e-3)
        moved = np.linalg.norm(b.base_from_object[:3, 3] - a.base_from_object[:3, 3])
        turned = rotation_angle_deg(b.base_from_object[:3, :3], a.base_from_object[:3, :3])
        return moved / dt <= self.config.max_speed_mps and turned / dt <= self.config.max_angular_speed_dps


def _rigid_fit(model: np.ndarray, measured: np.ndarray) -> np.ndarray:
    """The (4, 4) transform taking ``model`` points (k, 3) onto ``measured`` (k, 3), least squares (Kabsch)."""
    mc, xc = model.mean(axis=0), measured.mean(axis=0)
    u, _, vt = np.linalg.svd((model - mc).T @ (measured - xc))
    d = np.sign(np.linalg.det(vt.T @ u.T))
    rotation = vt.T @ np.diag([1.0, 1.0, d]) @ u.T
    return transform(rotation, xc - rotation @ mc)
