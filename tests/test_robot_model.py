"""The robot model: one URDF + one YAML, loaded identically by pinocchio and MuJoCo."""

from __future__ import annotations

import mujoco
import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl.robot import load_robot_config, load_robot_model
from robot_rl_sim.scene import build_model

ROBOTS = ["panda", "ur5"]


@pytest.mark.parametrize("robot", ROBOTS)
def test_pinocchio_and_mujoco_agree_on_joint_order_and_fk(robot):
    model = load_robot_model(robot)
    mj = build_model(model.config)
    data = mujoco.MjData(mj)
    qpos_index = [mj.joint(name).qposadr[0] for name in model.joint_names]
    assert model.joint_names == tuple(mj.joint(name).name for name in model.joint_names)
    mj_order = [mj.joint(i).name for i in range(mj.njnt) if mj.joint(i).name in model.joint_names]
    assert tuple(mj_order) == model.joint_names
    rng = np.random.default_rng(0)
    lim = model.limits
    ee_body = mj.body(model.config.ee_frame).id
    for _ in range(50):
        q = rng.uniform(np.maximum(lim.lower, -np.pi), np.minimum(lim.upper, np.pi))
        data.qpos[qpos_index] = q
        mujoco.mj_kinematics(mj, data)
        np.testing.assert_allclose(model.fk(q), data.xpos[ee_body], atol=1e-6)


def test_panda_limits_come_from_urdf_and_yaml(panda_model):
    lim = panda_model.limits
    assert panda_model.dof == 7
    np.testing.assert_allclose(lim.upper[0], 2.8973)
    np.testing.assert_allclose(lim.soft_upper[0], 2.8973 - 0.05)
    np.testing.assert_allclose(lim.effort[:4], 87.0)
    np.testing.assert_allclose(lim.acceleration[0], 15.0)


def test_gravity_and_jacobian_shapes(panda_model):
    q = panda_model.config.default_pose
    assert panda_model.gravity(q).shape == (7,)
    assert np.abs(panda_model.gravity(q)).max() > 1.0  # the arm is heavy
    jac = panda_model.jacobian(q)
    assert jac.shape == (6, 7)
    dq = np.full(7, 1e-6)
    np.testing.assert_allclose(panda_model.fk(q + dq) - panda_model.fk(q), jac[:3] @ dq, atol=1e-9)


def test_self_collision_distance_is_positive_at_default_and_zero_when_folded(panda_model):
    dist, _ = panda_model.min_collision_distance(panda_model.config.default_pose)
    assert dist > panda_model.config.collision.margin
    folded = panda_model.config.default_pose.copy()
    folded[3] = panda_model.limits.soft_lower[3]  # elbow fully bent
    folded[1] = panda_model.limits.soft_upper[1]
    dist_folded, _ = panda_model.min_collision_distance(folded)
    assert dist_folded < dist


def test_floor_pairs_cover_every_link_but_the_base_and_measure_height_above_the_table(panda_model):
    """The YAML's floor (the table top, z = 0) is checked against every link except panda_link0, which stands on
    it; lowering the hand towards the table shrinks the reported distance to its height."""
    floor_links = {a if b == "floor" else b for a, b in panda_model.collision_pairs() if "floor" in (a, b)}
    assert not any(name.startswith("panda_link0") for name in floor_links)
    assert {"panda_link1_0", "panda_hand_0", "panda_leftfinger_0"} <= floor_links
    q = panda_model.config.default_pose.copy()
    q[1], q[3] = 1.2, -1.0  # leaning far forward: the hand dips below the table top
    dist, pair = panda_model.min_collision_distance(q)
    assert "floor" in pair and dist < 0.0


def test_unknown_robot_names_the_choices():
    with pytest.raises(ConfigError, match="unknown robot 'kuka'.*panda"):
        load_robot_config("kuka")


def test_missing_yaml_path_is_named(tmp_path):
    with pytest.raises(ConfigError, match="robot YAML not found.*nope.yaml"):
        load_robot_config(tmp_path / "nope.yaml")


def _write_variant(tmp_path, **changes) -> str:
    import yaml

    from robot_rl.robot.config import robot_yaml_path

    raw = yaml.safe_load(robot_yaml_path("panda").read_text())
    raw.update(changes)
    path = tmp_path / "robot.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"urdf": "missing/robot.urdf"}, "URDF not found: 'missing/robot.urdf'"),
    ({"joints": [f"panda_joint{i}" for i in range(1, 7)] + ["no_such_joint"]},
     r"joints \['no_such_joint'\] are not in URDF"),
    ({"acceleration_limits": [1.0, 2.0]}, "acceleration_limits: expected 7 values"),
    ({"jerk_limits": [float("nan")] * 7}, "jerk_limits: values must be finite"),
    ({"control_rate_hz": 0.0}, "control_rate_hz must be in"),
    ({"gains": {"kp": 1.0}}, "gains: expected a mapping with exactly 'kp' and 'kd'"),
    ({"workspace": {"lower": [0, 0, 1], "upper": [1, 1, 0.5], "links": ["panda_hand_tcp"]}}, "workspace: lower"),
    ({"surprise": 1}, r"unknown keys \['surprise'\]"),
    ({"collision": {"floor": float("inf")}}, "collision.floor must be a finite height"),
    ({"collision": {"floor": 0.0, "floor_ignore": ["panda_base"]}},
     r"collision.floor_ignore: \['panda_base'\] are not links with collision geometry"),
])
def test_bad_robot_yaml_is_refused_with_the_problem_named(tmp_path, changes, message):
    path = _write_variant(tmp_path, **changes)
    with pytest.raises(ConfigError, match=message):
        load_robot_model(path)


def test_bad_urdf_content_is_refused(tmp_path):
    urdf = tmp_path / "broken.urdf"
    urdf.write_text("<robot name='x'><link name='a'/><joint name='j' type='revolute'></robot>")
    path = _write_variant(tmp_path, urdf=str(urdf))
    with pytest.raises(ConfigError, match="broken.urdf"):
        load_robot_model(path)
