"""The gate with the object pose from the camera (``robot-rl gate --camera``): the policy observes what the
perception pipeline publishes, not the simulator's truth.

Graph changes (:func:`camera_graph`): the control node's simulated cube pose goes to
:data:`robot_rl_sim.sim_camera_node.TRUTH_TOPIC` instead of /robot_rl/object_pose; the simulated RealSense
(:mod:`robot_rl_sim.sim_camera_node`: MuJoCo renders of that scene, the cube with a marker on its top and each
side, config/objects/cube_sides.yaml, through ``rs.software_device`` into the camera node) and
``object_pose_node`` (object YAML ``cube``, the top marker, unless told ``cube_sides``; the camera's known
extrinsics) are added; /robot_rl/object_pose,
which the policy node reads, is then the pipeline's. The gate still judges success on the simulator's pose.
The policy node's ``object_pose_timeout_s`` is raised to :data:`POSE_TIMEOUT_S`: the CPU renderer gives one
or two frames per second on the loaded machine (0.5-1.4 s per frame), so a pose is that old before the next
(a real D435 gives 30).

:class:`PoseErrorProbe` (on the gate observer's node) compares every published estimate with the simulator's
pose received nearest the image's stamp.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import replace
from pathlib import Path

import numpy as np
import yaml
from geometry_msgs.msg import PoseStamped

from robot_rl import topics
from robot_rl.bringup.graph import NodeSpec, node_spec
from robot_rl.nodes.conversions import stamp_to_seconds
from robot_rl.perception.geometry import matrix_to_quat_wxyz, quat_wxyz_to_matrix, rotation_angle_deg
from robot_rl_sim.sim_camera_node import FPS, HEIGHT, TRUTH_TOPIC, WIDTH

POSE_TIMEOUT_S = 2.0
"""The policy node's object_pose_timeout_s in the camera gate, s (default 0.5 s)."""
STATIC_MM, STATIC_S = 1.0, 3.0
"""An estimate counts as of a resting cube when the truth moved less than STATIC_MM mm over the STATIC_S s before
its image's stamp (longer than a render: the image shows the pose of up to ~1.4 s before its stamp)."""


def write_extrinsics(path: Path) -> Path:
    """The simulated camera's pose in the base frame as the extrinsics YAML object_pose_node reads."""
    from robot_rl_sim.marker_scene import CAMERA_POS, LOOK_AT, base_from_camera

    pose = base_from_camera(CAMERA_POS, LOOK_AT)
    path.write_text(yaml.safe_dump({"parent": "base", "position": pose[:3, 3].tolist(),
                                    "quaternion_wxyz": matrix_to_quat_wxyz(pose[:3, :3]).tolist()}))
    return path


def camera_graph(specs: list[NodeSpec], log_dir: Path, obj: str = "cube") -> tuple[list[NodeSpec], str]:
    """(``specs`` with the camera pipeline, the topic of the simulator's object pose); see the module docstring.
    ``obj``: the object YAML object_pose_node uses: ``cube`` the top marker only, ``cube_sides`` all five
    rendered markers."""
    out = []
    for spec in specs:
        if spec.name == "control_node":
            spec = replace(spec, remappings=spec.remappings + ((topics.OBJECT_POSE, TRUTH_TOPIC),))
        elif spec.name == "policy_node":
            spec = replace(spec, parameters={**spec.parameters, "object_pose_timeout_s": POSE_TIMEOUT_S})
        out.append(spec)
    camera = NodeSpec(name="camera", executable="sim_camera_node", module="robot_rl_sim.sim_camera_node",
                      parameters={"width": WIDTH, "height": HEIGHT, "fps": FPS, "frame_timeout_s": 2.0},
                      param_file="camera")
    extrinsics = write_extrinsics(Path(log_dir) / "camera_extrinsics.yaml")
    return out + [camera, node_spec("object_pose", {"extrinsics_path": str(extrinsics), "object": obj})], TRUTH_TOPIC


def _pose(msg: PoseStamped) -> np.ndarray:
    p, q = msg.pose.position, msg.pose.orientation
    return np.array([p.x, p.y, p.z, q.w, q.x, q.y, q.z])


class PoseErrorProbe:
    """Estimates (/robot_rl/object_pose) against the simulator's pose (:data:`TRUTH_TOPIC`), both by wall time."""

    def __init__(self):
        self._lock = threading.Lock()
        self._truth: deque[tuple[float, np.ndarray]] = deque(maxlen=5000)  # (receive time s, pose (7,))
        self.errors: list[tuple[float, float, bool, float]] = []  # (position mm, rotation deg, static, age s)

    def attach(self, node) -> None:
        """Subscribe on ``node`` (spun by its owner)."""
        node.create_subscription(PoseStamped, TRUTH_TOPIC, self._on_truth, 10)
        node.create_subscription(PoseStamped, topics.OBJECT_POSE, self._on_estimate, 10)

    def _on_truth(self, msg: PoseStamped) -> None:
        with self._lock:
            self._truth.append((time.time(), _pose(msg)))

    def _on_estimate(self, msg: PoseStamped) -> None:
        stamp, estimate = stamp_to_seconds(msg.header.stamp), _pose(msg)
        with self._lock:
            truth = list(self._truth)
        if not truth:
            return
        times = np.array([t for t, _ in truth])
        nearest = truth[int(np.argmin(np.abs(times - stamp)))][1]
        before = [p for t, p in truth if stamp - STATIC_S <= t <= stamp]
        static = len(before) > 1 and max(np.linalg.norm(p[:3] - nearest[:3]) for p in before) < STATIC_MM / 1000
        rotation = rotation_angle_deg(quat_wxyz_to_matrix(estimate[3:]), quat_wxyz_to_matrix(nearest[3:]))
        self.errors.append((1000 * float(np.linalg.norm(estimate[:3] - nearest[:3])), float(rotation), static,
                            time.time() - stamp))

    def summary(self, diagnostics: dict[str, dict[str, str]]) -> dict:
        """Pose error percentiles (all estimates, and those of a resting cube), estimate age at the gate, and the
        camera's and object_pose_node's last /diagnostics values."""
        def stats(values) -> dict | None:
            return {k: float(np.percentile(values, q)) for k, q in (("p50", 50), ("p95", 95), ("max", 100))} \
                if len(values) else None

        rows = np.array(self.errors, dtype=float).reshape(-1, 4)
        rest = rows[rows[:, 2] > 0]
        return {"estimates": len(rows), "position_mm": stats(rows[:, 0]), "rotation_deg": stats(rows[:, 1]),
                "resting": {"estimates": len(rest), "position_mm": stats(rest[:, 0]),
                            "rotation_deg": stats(rest[:, 1])},
                "age_at_gate_s": stats(rows[:, 3]), "camera": diagnostics.get("camera", {}),
                "object_pose": diagnostics.get("object_pose", {})}
