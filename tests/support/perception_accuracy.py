"""Pose accuracy of robot_rl.perception on rendered pick-cube frames through the RealSense software device:
the measurement behind docs/perception.md (the CI test runs fewer frames).

    MUJOCO_GL=egl PYTHONPATH=$PWD:$PWD/sim:$PWD/tests python tests/support/perception_accuracy.py --frames 60

Prints JSON: detection rate, position (mm) and rotation (deg) error p50/p95/max against the simulator's truth,
reprojection error, render and estimate (software device read + detection + PnP + depth) time per frame.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
from marker_camera import measure_pose_accuracy  # noqa: E402


def _stats(values: list[float]) -> dict:
    return {"p50": float(np.percentile(values, 50)), "p95": float(np.percentile(values, 95)),
            "max": float(np.max(values))} if values else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--corner-refinement", default="edges", help="edges, subpix, contour, apriltag or none")
    parser.add_argument("--no-depth", action="store_true", help="PnP only")
    parser.add_argument("--no-depth-plane", action="store_true", help="depth sets the distance only")
    args = parser.parse_args()
    from robot_rl.perception.estimator import EstimatorConfig

    config = EstimatorConfig(corner_refinement=args.corner_refinement, depth_refine=not args.no_depth,
                             depth_plane=not args.no_depth_plane)
    r = measure_pose_accuracy(args.frames, args.seed, args.width, args.height, config)
    print(json.dumps({"frames": r["frames"], "image": r["image"], "detection_rate": r["detection_rate"],
                      "position_mm": _stats(r["position_mm"]), "rotation_deg": _stats(r["rotation_deg"]),
                      "reprojection_px": _stats(r["reprojection_px"]),
                      "render_ms_per_frame": r["render_ms_per_frame"],
                      "estimate_ms_per_frame": r["estimate_ms_per_frame"]}, indent=1))


if __name__ == "__main__":
    main()
