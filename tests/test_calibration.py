"""Hand-eye calibration (cv2.calibrateHandEye) from simulated robot poses: eye-to-hand with real pixels (a marker
plate on the Panda's gripper rendered by MuJoCo, detected by robot_rl.perception) recovers the camera pose;
eye-in-hand from exact synthetic detections; degenerate pose sets refused by name; the CLI writes the YAML
object_pose_node reads."""

from __future__ import annotations

import json
import os

os.environ.setdefault("MUJOCO_GL", "egl")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from robot_rl.errors import ConfigError  # noqa: E402
from robot_rl.perception.config import load_extrinsics  # noqa: E402
from robot_rl.perception.estimator import EstimatorConfig, ObjectPoseEstimator  # noqa: E402
from robot_rl.perception.calibration import calibrate_hand_eye, suggest_wrist_poses  # noqa: E402
from robot_rl.perception.config import CameraExtrinsics, MarkerSpec, ObjectMarkers  # noqa: E402
from robot_rl.perception.geometry import matrix_to_quat_wxyz, rotation_angle_deg, rpy_to_matrix, transform  # noqa: E402
from robot_rl.robot.model import load_robot_model  # noqa: E402

CAMERA_POS = (1.0, 0.25, 0.6)  # m, looking at the gripper of the Panda's default pose


@pytest.fixture(scope="module")
def panda():
    return load_robot_model("panda")


def _rendered_samples(panda):
    """(joint positions, camera_from_plate) per suggested pose, and the true base_from_camera."""
    from robot_rl_sim.marker_scene import MarkerScene

    tcp = panda.frame_pose(panda.config.default_pose)[:3, 3]
    scene = MarkerScene(640, 480, CAMERA_POS, tcp + [0.1, 0.0, 0.06], 42.0, hand_marker_id=1)
    plate = ObjectMarkers("plate", "DICT_4X4_50", (MarkerSpec(1, 0.06, np.eye(4)),))
    estimator = ObjectPoseEstimator(plate, CameraExtrinsics(np.eye(4)),  # identity: poses in the camera frame
                                    EstimatorConfig(max_speed_mps=1e6, max_angular_speed_dps=1e9))
    samples = []
    try:
        for i, q in enumerate(suggest_wrist_poses(panda.config.default_pose)):
            color, depth = scene.render_arm(q)
            estimate = estimator.estimate(color, depth, scene.intrinsics(), float(i))
            assert estimate is not None, f"plate not detected at pose {i}"
            samples.append((q, estimate.base_from_object))
    finally:
        scene.close()
    return samples, scene.base_from_camera


def test_eye_to_hand_from_rendered_detections_recovers_the_camera_within_5_mm_and_1_deg(panda, tmp_path):
    from robot_rl.cli import main

    samples, truth = _rendered_samples(panda)
    path = tmp_path / "samples.json"
    path.write_text(json.dumps([{"joint_positions": q.tolist(), "target_in_camera": {
        "position": c[:3, 3].tolist(), "quaternion_wxyz": matrix_to_quat_wxyz(c[:3, :3]).tolist()}}
        for q, c in samples]))
    with pytest.raises(SystemExit) as done:
        main(["calibrate", "camera", "--samples", str(path), "--out", str(tmp_path / "camera.yaml")])
    assert done.value.code == 0
    found = load_extrinsics(tmp_path / "camera.yaml").base_from_camera
    assert np.linalg.norm(found[:3, 3] - truth[:3, 3]) < 0.005
    assert rotation_angle_deg(found[:3, :3], truth[:3, :3]) < 1.0
    import yaml

    calibration = yaml.safe_load((tmp_path / "camera.yaml").read_text())["calibration"]
    assert calibration["samples"] == len(samples) and calibration["residual_mm"] < 5.0
    assert set(calibration["methods"]) == {"tsai", "park", "horaud", "andreff", "daniilidis"}


def test_eye_in_hand_recovers_the_mount_from_exact_detections(panda):
    gripper_from_camera = transform(rpy_to_matrix([0.1, -0.3, 1.6]), [0.05, -0.02, 0.04])
    base_from_target = transform(rpy_to_matrix([0.0, 0.2, 0.4]), [0.6, 0.1, 0.0])
    grippers = [panda.frame_pose(q) for q in suggest_wrist_poses(panda.config.default_pose)]
    targets = [np.linalg.inv(g @ gripper_from_camera) @ base_from_target for g in grippers]
    result = calibrate_hand_eye(grippers, targets, "eye-in-hand")
    assert np.allclose(result.transform, gripper_from_camera, atol=1e-6) and result.residual_mm < 1e-3


def test_degenerate_pose_sets_are_refused_by_name(panda):
    default = panda.config.default_pose
    pose = panda.frame_pose(default)
    with pytest.raises(ConfigError, match="2 poses; at least 3"):
        calibrate_hand_eye([pose, pose], [np.eye(4)] * 2)
    with pytest.raises(ConfigError, match="no two poses differ"):
        calibrate_hand_eye([pose] * 5, [np.eye(4)] * 5)
    about_joint7 = [panda.frame_pose(default + np.r_[np.zeros(6), a]) for a in (0.0, 0.5, 1.0, -0.5)]
    with pytest.raises(ConfigError, match="about one axis"):
        calibrate_hand_eye(about_joint7, [np.eye(4)] * 4)
    with pytest.raises(ConfigError, match="3 robot poses but 2 target detections"):
        calibrate_hand_eye(about_joint7[:3], [np.eye(4)] * 2)
