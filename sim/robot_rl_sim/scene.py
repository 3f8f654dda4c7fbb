"""MuJoCo scene built from the robot's URDF (the same file pinocchio loads) plus floor, table and actuators.

The URDF is read as is; only what MuJoCo cannot take is changed in memory:
``package://`` mesh paths become absolute and visual meshes (COLLADA) are
dropped. Arm joints get torque motors limited to the URDF effort limits;
gripper joints (if the robot YAML has a gripper) get position actuators.
"""

from __future__ import annotations

import re

import mujoco

from robot_rl.errors import ConfigError
from robot_rl.robot.config import RobotConfig, example_robot_data_share

TABLE_HALF_SIZE = (0.6, 0.7, 0.02)  # m; the table top is the plane z = 0 the robot stands on
TABLE_CENTER_X = 0.45  # m, in front of the robot

_COMPILER = ('<mujoco><compiler fusestatic="false" discardvisual="true" balanceinertia="true" '
             'strippath="false"/></mujoco>')


def urdf_for_mujoco(config: RobotConfig) -> str:
    """The robot's URDF text with absolute mesh paths and without visual meshes."""
    text = config.urdf_path.read_text()
    if "package://" in text:
        text = text.replace("package://", str(example_robot_data_share()) + "/")
    text = re.sub(r"<visual>.*?</visual>", "", text, flags=re.S)
    if "</robot>" not in text:
        raise ConfigError(f"URDF {config.urdf_path} has no closing </robot> tag")
    return text.replace("</robot>", _COMPILER + "</robot>", 1)


def build_spec(config: RobotConfig, timestep: float | None = None) -> mujoco.MjSpec:
    """An editable MuJoCo spec: robot, table, floor, light, actuators; tasks may add objects before compiling.

    Args:
        config: the robot.
        timestep: physics step, s (default: the robot's control period).
    """
    try:
        spec = mujoco.MjSpec.from_string(urdf_for_mujoco(config))
    except ValueError as exc:
        raise ConfigError(f"MuJoCo could not load URDF {config.urdf_path}: {exc}") from exc
    spec.option.timestep = timestep if timestep is not None else config.control_period
    spec.option.integrator = mujoco.mjtIntegrator.mjINT_IMPLICITFAST
    _add_environment(spec)
    _add_actuators(spec, config)
    _exclude_base_contacts(spec)
    return spec


def build_model(config: RobotConfig, timestep: float | None = None) -> mujoco.MjModel:
    """Compiled MuJoCo model of the robot scene."""
    return compile_spec(build_spec(config, timestep), config)


def compile_spec(spec: mujoco.MjSpec, config: RobotConfig) -> mujoco.MjModel:
    """``spec.compile()``; a mesh MuJoCo cannot decode (e.g. COLLADA collision meshes) or any other compile
    error becomes a ConfigError naming the robot's URDF and MuJoCo's message (which names the mesh file)."""
    try:
        return spec.compile()
    except ValueError as exc:
        raise ConfigError(f"MuJoCo could not build robot {config.name!r} from URDF {config.urdf_path}: "
                          f"{str(exc).splitlines()[0]}") from exc


def _add_environment(spec: mujoco.MjSpec) -> None:
    world = spec.worldbody
    floor = world.add_geom(name="floor", type=mujoco.mjtGeom.mjGEOM_PLANE, size=[3, 3, 0.1],
                           pos=[0, 0, -0.75], rgba=[0.8, 0.8, 0.8, 1])
    floor.contype, floor.conaffinity = 1, 1
    hx, hy, hz = TABLE_HALF_SIZE
    world.add_geom(name="table", type=mujoco.mjtGeom.mjGEOM_BOX, size=[hx, hy, hz],
                   pos=[TABLE_CENTER_X, 0, -hz], rgba=[0.6, 0.45, 0.3, 1])
    world.add_light(name="sun", pos=[0, 0, 3], dir=[0, 0, -1])


def _add_actuators(spec: mujoco.MjSpec, config: RobotConfig) -> None:
    joints = {j.name: j for j in spec.joints}
    missing = [n for n in config.joints if n not in joints]
    if missing:
        raise ConfigError(f"joints {missing} are not in the MuJoCo model built from {config.urdf_path}")
    for name, armature in zip(config.joints, config.armature):
        joint = joints[name]
        joint.armature = armature  # the same rotor inertia pinocchio's model carries
        effort = joint.actfrcrange[1] if joint.actfrclimited else 0.0
        motor = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        if effort > 0:
            motor.ctrllimited = 1
            motor.ctrlrange = [-effort, effort]
    if config.gripper is not None:
        for name in config.gripper.joints:
            if name not in joints:
                raise ConfigError(f"gripper joint {name!r} is not in {config.urdf_path}")
            act = spec.add_actuator(name=name, target=name, trntype=mujoco.mjtTrn.mjTRN_JOINT)
            act.set_to_position(kp=config.gripper.kp)
            act.ctrllimited = 1
            act.ctrlrange = sorted([config.gripper.closed_position, config.gripper.open_position])


def _exclude_base_contacts(spec: mujoco.MjSpec) -> None:
    """Exclude contacts between a jointed link and its static parent (the URDF base link).

    MuJoCo skips parent-child contacts, except where the parent is welded to the world: a base link's meshes
    would then push on the first moving link they overlap at the joint (the SO-101's shoulder). Pinocchio's
    self-collision check skips adjacent links too.
    """
    for body in spec.bodies:
        parent = body.parent
        if body.joints and parent is not None and parent.name != spec.worldbody.name and not parent.joints:
            spec.add_exclude(bodyname1=parent.name, bodyname2=body.name)
