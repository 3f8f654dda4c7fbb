"""The camera gate's graph (``robot-rl gate --camera``, docs/perception.md): the control node's simulated cube
pose is moved off /robot_rl/object_pose, the simulated RealSense and object_pose_node are added, the extrinsics
they share are the rendering camera's. The episodes themselves are measured by hand (rendering costs ~1 s per
frame here), see docs/perception.md."""

from __future__ import annotations

import os

import numpy as np

from robot_rl import topics
from robot_rl.perception.config import load_extrinsics
from robot_rl_sim.gate.camera import POSE_TIMEOUT_S, camera_graph
from robot_rl_sim.gate.run import GateConfig, gate_graph
from robot_rl_sim.marker_scene import CAMERA_POS, LOOK_AT, base_from_camera
from robot_rl_sim.sim_camera_node import TRUTH_TOPIC

POLICY = os.path.join(os.path.dirname(__file__), "data", "panda_reach_small", "policy.onnx")


def test_the_camera_graph_feeds_the_policy_the_perception_pose(tmp_path):
    specs, _ = gate_graph(GateConfig(policy=POLICY), tmp_path, "panda-pick-cube")
    graph, truth_topic = camera_graph(specs, tmp_path)
    by_name = {s.name: s for s in graph}
    assert truth_topic == TRUTH_TOPIC
    assert by_name["control_node"].remappings == ((topics.OBJECT_POSE, TRUTH_TOPIC),)
    assert by_name["policy_node"].parameters["object_pose_timeout_s"] == POSE_TIMEOUT_S
    assert by_name["camera"].module == "robot_rl_sim.sim_camera_node" and not by_name["object_pose"].remappings
    assert by_name["object_pose"].parameters["object"] == "cube"
    assert camera_graph(specs, tmp_path, "cube_sides")[0][-1].parameters["object"] == "cube_sides"
    extrinsics = load_extrinsics(by_name["object_pose"].parameters["extrinsics_path"])
    assert np.allclose(extrinsics.base_from_camera, base_from_camera(CAMERA_POS, LOOK_AT), atol=1e-9)
    assert [s.name for s in graph[:len(specs)]] == [s.name for s in specs]  # the gate's nodes, in their order


def test_the_side_markers_are_rendered_where_the_object_yaml_puts_them():
    """The camera gate's cube (config/objects/cube_sides.yaml): seen from the gate's camera, a side marker
    alone gives the cube's pose within 1 mm and 1 deg."""
    from robot_rl.perception.config import CameraExtrinsics, ObjectMarkers, load_object_markers
    from robot_rl.perception.estimator import ObjectPoseEstimator
    from robot_rl.perception.geometry import rotation_angle_deg
    from robot_rl_sim.marker_scene import FOVY_DEG, MarkerScene

    os.environ.setdefault("MUJOCO_GL", "egl")
    scene = MarkerScene(640, 480, CAMERA_POS, LOOK_AT, FOVY_DEG, object_markers="cube_sides")
    try:
        color, depth, truth = scene.render([0.45, 0.05, 0.02], 0.3)
    finally:
        scene.close()
    markers = load_object_markers("cube_sides")
    assert [m.id for m in markers.markers] == [7, 8, 9, 10, 11]
    sides = ObjectMarkers(markers.name, markers.dictionary, tuple(m for m in markers.markers if m.id != 7))
    estimate = ObjectPoseEstimator(sides, CameraExtrinsics(scene.base_from_camera)).estimate(
        color, depth, scene.intrinsics(), 0.0)
    assert 1000 * np.linalg.norm(estimate.base_from_object[:3, 3] - truth[:3, 3]) < 1.0
    assert rotation_angle_deg(estimate.base_from_object[:3, :3], truth[:3, :3]) < 1.0
