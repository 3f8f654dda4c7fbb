"""``robot-rl calibrate camera``: hand-eye calibration from recorded samples, written as the extrinsics YAML
that object_pose_node reads (docs/perception.md).

Samples file (JSON list), one entry per robot pose::

    {"joint_positions": [q1, ..., qn],                                   # rad, the robot's arm joints
     "target_in_camera": {"position": [x, y, z], "quaternion_wxyz": [w, x, y, z]}}   # m, the detection

``--suggest`` prints joint positions to move through (the wrist swung about several axes) instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import yaml

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl.hardware.feetech_calibrate import register_calibrate


def register(subparsers) -> None:
    """Add ``calibrate camera`` (and ``calibrate feetech``, robot_rl/hardware/feetech_calibrate.py)."""
    p = subparsers.add_parser("calibrate", help="calibrations")
    sub = p.add_subparsers(dest="calibrate_command", required=True)
    c = sub.add_parser("camera", help="hand-eye calibration (cv2.calibrateHandEye) -> camera extrinsics YAML")
    c.add_argument("--robot", default="panda", help="shipped robot name or robot YAML (FK of the samples)")
    c.add_argument("--mode", choices=("eye-to-hand", "eye-in-hand"), default="eye-to-hand")
    c.add_argument("--samples", type=Path, help="JSON samples (see `robot-rl calibrate camera -h`)")
    c.add_argument("--out", type=Path, help="extrinsics YAML to write")
    c.add_argument("--suggest", action="store_true", help="print joint positions to move through, then exit")
    c.set_defaults(func=run)
    register_calibrate(sub)


def _samples(path: Path, model) -> tuple[list[np.ndarray], list[np.ndarray]]:
    from robot_rl.perception.geometry import quat_wxyz_to_matrix, transform

    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not a readable JSON samples file: {exc}") from exc
    grippers, targets = [], []
    for i, e in enumerate(entries if isinstance(entries, list) else []):
        try:
            q = np.asarray(e["joint_positions"], dtype=float)
            t = e["target_in_camera"]
            targets.append(transform(quat_wxyz_to_matrix(t["quaternion_wxyz"]), t["position"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path}: sample {i}: needs joint_positions and target_in_camera "
                              f"(position, quaternion_wxyz): {exc!r}") from exc
        if q.shape != (model.dof,):
            raise ConfigError(f"{path}: sample {i}: {q.size} joint positions, robot {model.config.name} has {model.dof}")
        grippers.append(model.frame_pose(q))
    if not grippers:
        raise ConfigError(f"{path}: expected a non-empty JSON list of samples")
    return grippers, targets


def run(args: argparse.Namespace) -> int:
    """Suggest poses, or calibrate and write the YAML; print a JSON summary."""
    from robot_rl.perception.calibration import calibrate_hand_eye, suggest_wrist_poses
    from robot_rl.perception.geometry import matrix_to_quat_wxyz
    from robot_rl.robot.model import load_robot_model

    model = load_robot_model(args.robot)
    if args.suggest:
        print(json.dumps([q.round(4).tolist() for q in suggest_wrist_poses(model.config.default_pose)]))
        return 0
    if args.samples is None or args.out is None:
        raise ConfigError("calibrate camera: --samples and --out are needed (or --suggest)")
    result = calibrate_hand_eye(*_samples(args.samples, model), mode=args.mode)
    parent = "base" if args.mode == "eye-to-hand" else model.config.ee_frame
    doc = {"parent": parent, "position": result.transform[:3, 3].tolist(),
           "quaternion_wxyz": matrix_to_quat_wxyz(result.transform[:3, :3]).tolist(),
           "calibration": {"mode": args.mode, "method": result.method, "samples": len(json.loads(args.samples.read_text())),
                           "residual_mm": result.residual_mm, "residual_deg": result.residual_deg,
                           "methods": {k: {"residual_mm": v[0], "residual_deg": v[1]} for k, v in result.methods.items()}}}
    write_atomic(args.out, yaml.safe_dump(doc, sort_keys=False).encode())
    print(json.dumps({"out": str(args.out), **doc["calibration"]}))
    return 0
