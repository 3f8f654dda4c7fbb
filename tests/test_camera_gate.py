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
    extrinsics = load_extrinsics(by_name["object_pose"].parameters["extrinsics_path"])
    assert np.allclose(extrinsics.base_from_camera, base_from_camera(CAMERA_POS, LOOK_AT), atol=1e-9)
    assert [s.name for s in graph[:len(specs)]] == [s.name for s in specs]  # the gate's nodes, in their order
