"""Isaac Lab ``ManagerBasedRLEnvCfg`` for each robot_rl task, generated from the shared declaration.

Needs Isaac Lab (``isaaclab``, ``isaaclab_assets``); not importable on a machine
without it. Terms, joint order (``preserve_order=True``) and rates come from
:func:`robot_rl_sim.isaaclab.declarations.declaration`.
"""

from __future__ import annotations

import math

import isaaclab.envs.mdp as mdp
import isaaclab.sim as sim_utils
from isaaclab.assets import AssetBaseCfg, RigidObjectCfg
from isaaclab.envs import ManagerBasedRLEnvCfg
from isaaclab.managers import EventTermCfg, ObservationGroupCfg, ObservationTermCfg, RewardTermCfg
from isaaclab.managers import SceneEntityCfg, TerminationTermCfg
from isaaclab.scene import InteractiveSceneCfg
from isaaclab.utils import configclass
from isaaclab_assets import FRANKA_PANDA_HIGH_PD_CFG

from robot_rl_sim.isaaclab import mdp as rl_mdp
from robot_rl_sim.isaaclab.declarations import declaration
from robot_rl_sim.tasks import get_task


def _func(path: str):
    module, name = path.split(":")
    return getattr(mdp if module == "isaaclab.envs.mdp" else rl_mdp, name)


@configclass
class _Group(ObservationGroupCfg):
    def __post_init__(self):
        self.enable_corruption = False
        self.concatenate_terms = True


@configclass
class _Empty:
    """A manager group with no terms."""


def _scene(decl: dict, num_envs: int) -> InteractiveSceneCfg:
    scene = InteractiveSceneCfg(num_envs=num_envs, env_spacing=2.5)
    scene.robot = FRANKA_PANDA_HIGH_PD_CFG.replace(prim_path="{ENV_REGEX_NS}/Robot")
    scene.table = AssetBaseCfg(prim_path="{ENV_REGEX_NS}/Table", init_state=AssetBaseCfg.InitialStateCfg(
        pos=(0.45, 0.0, -0.02)), spawn=sim_utils.CuboidCfg(size=(1.2, 1.4, 0.04),
                                                           collision_props=sim_utils.CollisionPropertiesCfg()))
    scene.ground = AssetBaseCfg(prim_path="/World/ground", init_state=AssetBaseCfg.InitialStateCfg(pos=(0, 0, -0.75)),
                                spawn=sim_utils.GroundPlaneCfg())
    scene.light = AssetBaseCfg(prim_path="/World/light", spawn=sim_utils.DomeLightCfg(intensity=2500.0))
    obj = decl["object"]
    if obj is not None:
        f = obj["friction"]
        scene.object = RigidObjectCfg(
            prim_path="{ENV_REGEX_NS}/Object",
            init_state=RigidObjectCfg.InitialStateCfg(pos=(0.0, 0.0, obj["half_size"])),
            spawn=sim_utils.CuboidCfg(size=(2 * obj["half_size"],) * 3,
                                      rigid_props=sim_utils.RigidBodyPropertiesCfg(),
                                      mass_props=sim_utils.MassPropertiesCfg(mass=obj["mass"]),
                                      collision_props=sim_utils.CollisionPropertiesCfg(),
                                      physics_material=sim_utils.RigidBodyMaterialCfg(static_friction=f,
                                                                                      dynamic_friction=f)))
    return scene


def _observations(decl: dict) -> _Empty:
    policy = _Group()
    for term in decl["obs_terms"]:
        params = {"command_name": "ee_goal"} if term["source"] == "goal" else {}
        if term["source"] in ("joint_pos", "joint_vel"):
            params = {"asset_cfg": SceneEntityCfg("robot", joint_names=decl["joint_names"], preserve_order=True)}
        scale = term["scale"][0] if len(term["scale"]) == 1 else tuple(term["scale"])
        setattr(policy, term["name"], ObservationTermCfg(func=_func(term["func"]), params=params, scale=scale,
                                                         clip=term["clip"],
                                                         history_length=term["history"] if term["history"] > 1 else 0))
    groups = _Empty()
    groups.policy = policy
    return groups


def _actions(decl: dict) -> _Empty:
    a = decl["action"]
    actions = _Empty()
    actions.arm = mdp.JointPositionActionCfg(asset_name="robot", joint_names=a["joint_names"], scale=tuple(a["scale"]),
                                             offset=tuple(a["offset"]), use_default_offset=False, preserve_order=True,
                                             clip={j: (lo, hi) for j, lo, hi in
                                                   zip(a["joint_names"], a["clip_low"], a["clip_high"])})
    if a["gripper"]:
        actions.gripper = rl_mdp.PositiveClosesGripperActionCfg(
            asset_name="robot", joint_names=a["gripper_joints"],
            open_command_expr={j: a["gripper_open"] for j in a["gripper_joints"]},
            close_command_expr={j: a["gripper_closed"] for j in a["gripper_joints"]})
    return actions


def _commands(decl: dict) -> _Empty:
    commands = _Empty()
    r = decl["reset"]
    if r["goal_low"] is not None:
        ranges = mdp.UniformPoseCommandCfg.Ranges(
            pos_x=(r["goal_low"][0], r["goal_high"][0]), pos_y=(r["goal_low"][1], r["goal_high"][1]),
            pos_z=(r["goal_low"][2], r["goal_high"][2]), roll=(0.0, 0.0), pitch=(math.pi, math.pi), yaw=(0.0, 0.0))
        t = decl["episode_length_s"]
        commands.ee_goal = mdp.UniformPoseCommandCfg(asset_name="robot", body_name=decl["ee_frame"],
                                                     resampling_time_range=(t, t), ranges=ranges)
    return commands


def _events(decl: dict) -> _Empty:
    events = _Empty()
    r = decl["reset"]
    events.reset_robot = EventTermCfg(func=mdp.reset_joints_by_offset, mode="reset", params={
        "position_range": (-r["joint_noise"], r["joint_noise"]), "velocity_range": (0.0, 0.0),
        "asset_cfg": SceneEntityCfg("robot", joint_names=decl["joint_names"], preserve_order=True)})
    if r["object_xy_low"] is not None:
        events.reset_object = EventTermCfg(func=mdp.reset_root_state_uniform, mode="reset", params={
            "pose_range": {"x": (r["object_xy_low"][0], r["object_xy_high"][0]),
                           "y": (r["object_xy_low"][1], r["object_xy_high"][1]),
                           "yaw": (-r["object_yaw"], r["object_yaw"])},
            "velocity_range": {}, "asset_cfg": SceneEntityCfg("object")})
    return events


def _rewards_and_terminations(task: str, decl: dict) -> tuple[_Empty, _Empty]:
    spec = get_task(task)
    rewards, done = _Empty(), _Empty()
    height = decl["object"]["half_size"] if decl["object"] else 0.0
    for term in spec.reward:
        setattr(rewards, term.name, RewardTermCfg(func=rl_mdp.declared_reward, weight=term.weight, params={
            "term": term.name, "std": term.std, "threshold": spec.success.threshold, "initial_height": height}))
    done.time_out = TerminationTermCfg(func=mdp.time_out, time_out=True)
    if spec.success.kind == "ee_within_goal":
        done.success = TerminationTermCfg(func=rl_mdp.ee_within_goal, params={"threshold": spec.success.threshold})
    else:
        done.success = TerminationTermCfg(func=rl_mdp.object_lifted, params={
            "height": spec.success.threshold, "initial_height": height})
    return rewards, done


def make_env_cfg(task: str, num_envs: int = 4096) -> ManagerBasedRLEnvCfg:
    """The Isaac Lab env config of ``task`` (a registered robot_rl task name)."""
    decl = declaration(task)
    rewards, terminations = _rewards_and_terminations(task, decl)
    cfg = ManagerBasedRLEnvCfg(scene=_scene(decl, num_envs), observations=_observations(decl),
                               actions=_actions(decl), commands=_commands(decl), events=_events(decl),
                               rewards=rewards, terminations=terminations)
    cfg.decimation = decl["decimation"]
    cfg.episode_length_s = decl["episode_length_s"]
    cfg.sim.dt = decl["physics_dt"]
    cfg.sim.render_interval = decl["decimation"]
    return cfg


@configclass
class PandaReachEnvCfg(ManagerBasedRLEnvCfg):
    """``panda-reach`` for Isaac Lab (gym id RobotRL-Panda-Reach-v0)."""

    def __post_init__(self):
        self.__dict__.update(make_env_cfg("panda-reach").__dict__)


@configclass
class PandaPickCubeEnvCfg(ManagerBasedRLEnvCfg):
    """``panda-pick-cube`` for Isaac Lab (gym id RobotRL-Panda-PickCube-v0)."""

    def __post_init__(self):
        self.__dict__.update(make_env_cfg("panda-pick-cube").__dict__)
