"""Hand-eye calibration with ``cv2.calibrateHandEye``: the camera's pose from robot poses (FK of the joint
states) and detections of a marker or board (its pose in the camera, e.g. from the object pose estimator's PnP).

Two set-ups:

- ``eye-to-hand``: the camera is fixed in the workspace, the target rides on the gripper. Result: the camera
  optical frame in the robot base frame (what config/cameras extrinsics and object_pose_node take).
- ``eye-in-hand``: the camera rides on the gripper, the target is fixed. Result: the camera in the gripper frame.

Every method OpenCV offers is run; the one with the smallest residual wins. The residual is the spread of the
quantity that must be constant: the target in the gripper frame (eye-to-hand) or in the base frame
(eye-in-hand), position RMS (mm) and rotation RMS (deg) about the mean. A pose set that cannot determine the
answer is refused by name: fewer than 3 poses, or gripper rotations that are too small or all about one axis.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.perception.geometry import rotation_angle_deg, transform

MODES = ("eye-to-hand", "eye-in-hand")
METHODS = {"tsai": cv2.CALIB_HAND_EYE_TSAI, "park": cv2.CALIB_HAND_EYE_PARK, "horaud": cv2.CALIB_HAND_EYE_HORAUD,
           "andreff": cv2.CALIB_HAND_EYE_ANDREFF, "daniilidis": cv2.CALIB_HAND_EYE_DANIILIDIS}
MIN_MOTION_DEG = 10.0  # a relative gripper rotation smaller than this carries little information
MIN_AXIS_SPREAD_DEG = 15.0  # rotation axes closer than this count as parallel


@dataclass(frozen=True)
class HandEyeResult:
    """The calibration: ``transform`` (4, 4) is base_from_camera (eye-to-hand) or gripper_from_camera
    (eye-in-hand); residuals in mm and deg; the winning method and every method's residuals."""

    mode: str
    transform: np.ndarray
    method: str
    residual_mm: float
    residual_deg: float
    methods: dict[str, tuple[float, float]]


def _rotation_log(r: np.ndarray) -> np.ndarray:
    return cv2.Rodrigues(np.asarray(r, dtype=float))[0].reshape(3)


def check_pose_set(base_from_gripper: list[np.ndarray]) -> None:
    """ConfigError naming why these gripper poses cannot determine a hand-eye calibration."""
    if len(base_from_gripper) < 3:
        raise ConfigError(f"hand-eye calibration: {len(base_from_gripper)} poses; at least 3 are needed "
                          "(better 10-20), with rotations about different axes")
    axes = []
    for a in base_from_gripper:
        for b in base_from_gripper:
            log = _rotation_log(a[:3, :3].T @ b[:3, :3])
            if np.degrees(np.linalg.norm(log)) >= MIN_MOTION_DEG:
                axes.append(log / np.linalg.norm(log))
    if len(axes) < 2:
        raise ConfigError(f"hand-eye calibration: degenerate pose set: no two poses differ by >= {MIN_MOTION_DEG} "
                          "deg of gripper rotation; rotate the wrist between poses (see suggest_wrist_poses)")
    spread = max(np.degrees(np.arccos(min(1.0, abs(float(a @ b))))) for a in axes for b in axes)
    if spread < MIN_AXIS_SPREAD_DEG:
        raise ConfigError(f"hand-eye calibration: degenerate pose set: every gripper rotation is about one axis "
                          f"(spread {spread:.1f} deg < {MIN_AXIS_SPREAD_DEG}); rotate about at least two axes")


def _residual(constant: list[np.ndarray]) -> tuple[float, float]:
    """Spread of transforms that should all be equal: position RMS (mm), rotation RMS (deg) about the first-
    order mean."""
    positions = np.array([c[:3, 3] for c in constant])
    mean_rot = cv2.Rodrigues(np.mean([_rotation_log(c[:3, :3]) for c in constant], axis=0))[0]
    position_mm = 1000 * float(np.sqrt(np.mean(np.sum((positions - positions.mean(axis=0)) ** 2, axis=1))))
    rotation_deg = float(np.sqrt(np.mean([rotation_angle_deg(c[:3, :3], mean_rot) ** 2 for c in constant])))
    return position_mm, rotation_deg


def calibrate_hand_eye(base_from_gripper: list[np.ndarray], camera_from_target: list[np.ndarray],
                       mode: str = "eye-to-hand") -> HandEyeResult:
    """Solve with every OpenCV method, keep the smallest residual (position mm + rotation deg, summed).

    Args:
        base_from_gripper: (4, 4) per pose, the gripper (end-effector frame) in the base, m (FK).
        camera_from_target: (4, 4) per pose, the target in the camera optical frame, m (detection).
        mode: one of :data:`MODES`.

    Raises:
        ConfigError: unknown mode, mismatched lists, or a degenerate pose set (named).
    """
    if mode not in MODES:
        raise ConfigError(f"hand-eye mode {mode!r}: choose one of {MODES}")
    if len(base_from_gripper) != len(camera_from_target):
        raise ConfigError(f"hand-eye calibration: {len(base_from_gripper)} robot poses but "
                          f"{len(camera_from_target)} target detections")
    check_pose_set(base_from_gripper)
    # OpenCV solves eye-in-hand (gripper->base motions); eye-to-hand is the same problem with base->gripper
    moving = [np.linalg.inv(g) if mode == "eye-to-hand" else g for g in base_from_gripper]
    results = {}
    for name, flag in METHODS.items():
        r, t = cv2.calibrateHandEye([m[:3, :3] for m in moving], [m[:3, 3] for m in moving],
                                    [c[:3, :3] for c in camera_from_target], [c[:3, 3] for c in camera_from_target],
                                    method=flag)
        solution = transform(r, t)
        if not np.all(np.isfinite(solution)):
            continue
        if mode == "eye-to-hand":  # the target in the gripper must be constant
            constant = [np.linalg.inv(g) @ solution @ c for g, c in zip(base_from_gripper, camera_from_target)]
        else:  # the target in the base must be constant
            constant = [g @ solution @ c for g, c in zip(base_from_gripper, camera_from_target)]
        results[name] = (solution, *_residual(constant))
    best = min(results, key=lambda k: results[k][1] + results[k][2])
    solution, mm, deg = results[best]
    return HandEyeResult(mode, solution, best, mm, deg, {k: (v[1], v[2]) for k, v in results.items()})


def suggest_wrist_poses(q_center: np.ndarray, swing_rad: float = 0.6) -> list[np.ndarray]:
    """Joint positions (n,) rad to move through: ``q_center`` and the last three joints (the wrist) swung by
    +-``swing_rad`` one at a time, and pairwise, so the gripper rotates about several axes."""
    q_center = np.asarray(q_center, dtype=float)
    poses, wrist = [q_center.copy()], range(max(0, len(q_center) - 3), len(q_center))
    for j in wrist:
        for sign in (1.0, -1.0):
            q = q_center.copy()
            q[j] += sign * swing_rad
            poses.append(q)
    for j, k in ((wrist[0], wrist[1]), (wrist[1], wrist[2])):
        q = q_center.copy()
        q[j] += swing_rad
        q[k] -= swing_rad
        poses.append(q)
    return poses
