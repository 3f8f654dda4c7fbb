"""Produce Isaac Lab style exports for tests: a LEAPP bundle (real ``leapp`` package) and rsl_rl policy.onnx +
params/env.yaml in Isaac Lab's dump_yaml format. The torch policies are real networks driving to a joint target.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml

from policy_helpers import export_onnx
from robot_rl.robot.config import load_robot_config


FRANKA_INIT_JOINT_POS = {"panda_joint1": 0.0, "panda_joint2": -0.569, "panda_joint3": 0.0, "panda_joint4": -2.810,
                         "panda_joint5": 0.0, "panda_joint6": 3.037, "panda_joint7": 0.741,
                         "panda_finger_joint.*": 0.04}
"""isaaclab_assets FRANKA_PANDA_CFG.init_state.joint_pos (the Isaac-Reach-Franka robot)."""


FRANKA_JOINTS = tuple(f"panda_joint{i}" for i in range(1, 8)) + ("panda_finger_joint1", "panda_finger_joint2")
POSE7_ELEMENT_NAMES = ["x", "y", "z", "qx", "qy", "qz", "qw"]
"""isaaclab.utils.leapp.leapp_semantics.POSE7_ELEMENT_NAMES: a UniformPoseCommand's element names."""
REACH_FRANKA_SIM_DT, REACH_FRANKA_DECIMATION = 1.0 / 120.0, 4
"""Isaac-Reach-Franka's ``sim.dt`` (s) and ``decimation`` (ReachEnvCfg.__post_init__): a 30 Hz policy."""
REACH_BODY = "panda_hand"
"""Isaac-Reach-Franka's ``commands.ee_pose.body_name``: the body whose pose the command sets."""


class IsaacLabStep(torch.nn.Module):
    """One Isaac Lab policy step as LEAPP traces it: observation terms (joint_pos_rel and joint_vel_rel over all 9
    Franka joints, the command, last_action), the actor, JointPositionAction's processing (scale 0.5, default
    offset). Returns (processed arm targets (1, 7), raw action (1, 7): the new last action).

    The actor is ``raw = 0.8 * aim + 0.2 * last_action`` plus an MLP branch over the whole observation with a
    zero last layer: a low-pass filter through the last-action feedback whose fixed point is ``aim``.
    ``joint_goal``: ``aim = 2 (goal - default)``, the raw action of the goal joints. ``ee_pose``: ``aim`` is the
    raw action of the joint target :class:`pose_reach.PoseReach` computes for the pose of ``panda_hand``
    (differential IK from the measured arm joints, the Panda URDF's kinematics): a stand-in for a trained
    Isaac-Reach-Franka actor.
    """

    def __init__(self, command: str, default: torch.Tensor):
        super().__init__()
        self.command, self.default = command, default
        torch.manual_seed(2)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ELU(), torch.nn.Linear(64, 7))
        torch.nn.init.zeros_(self.mlp[2].weight)
        torch.nn.init.zeros_(self.mlp[2].bias)
        if command == "ee_pose":
            from pose_reach import PoseReach
            from robot_rl.robot.model import load_robot_model

            self.reach = PoseReach(load_robot_model("panda"), REACH_BODY)

    def forward(self, q, v, command, last):
        goal_rel = command - self.default[:, :7] if self.command == "joint_goal" else command
        raw = self.mlp(torch.cat([q - self.default, v, goal_rel, last], dim=-1))
        aim = 2.0 * (goal_rel if self.command == "joint_goal" else self.reach(q[:, :7], command) - self.default[:, :7])
        raw = raw + 0.8 * aim + 0.2 * last
        return raw * 0.5 + self.default[:, :7], raw


def _trace_step(task: str, step: IsaacLabStep, q, v, command, gains: dict) -> None:
    """What isaaclab.utils.leapp.export_annotator does around one env step: annotated state reads (names
    ``robot_joint_pos`` / ``robot_joint_vel``, all articulation joints), the command input, ``last_action`` as
    state, ``update_state`` after the action, then output_tensors with the write target and the static gains."""
    from leapp import InputKindEnum, OutputKindEnum, TensorSemantics, annotate

    joints, arm = list(FRANKA_JOINTS), list(FRANKA_JOINTS[:7])
    q, v = annotate.input_tensors(task, [
        TensorSemantics(name="robot_joint_pos", ref=q, kind=InputKindEnum.JOINT_POSITION, element_names=joints,
                        extra={"isaaclab_connection": "state:robot:joint_pos"}),
        TensorSemantics(name="robot_joint_vel", ref=v, kind=InputKindEnum.JOINT_VELOCITY, element_names=joints,
                        extra={"isaaclab_connection": "state:robot:joint_vel"})])
    kind, names = ((InputKindEnum.COMMAND_POSE, POSE7_ELEMENT_NAMES) if step.command == "ee_pose"
                   else (InputKindEnum.COMMAND_JOINT_POSITION, arm))
    command = annotate.input_tensors(task, TensorSemantics(
        name=step.command, ref=command, kind=kind, element_names=names,
        extra={"isaaclab_connection": f"command:{step.command}"}))
    last = annotate.state_tensors(task, {"last_action": torch.zeros(1, 7)})
    processed, raw = step(q, v, command, last)
    annotate.update_state(task, {"last_action": raw})
    write = {"isaaclab_connection": "write:robot:set_joint_position_target_index"}
    static = [TensorSemantics(name=f"arm_action_{k}_gains", ref=torch.full((1, 7), value), kind=k,
                              element_names=arm, extra={"isaaclab_connection": f"write:robot:{method}"})
              for k, value, method in (("kp", gains["kp"], "write_joint_stiffness_to_sim_index"),
                                       ("kd", gains["kd"], "write_joint_damping_to_sim_index"))]
    annotate.output_tensors(task, [TensorSemantics(name="arm_action", ref=processed, kind=OutputKindEnum.JOINT_POSITION,
                                                   element_names=arm, extra=write)],
                            static_outputs=static, export_with="onnx-dynamo")


def make_isaaclab_leapp_bundle(root: Path, command: str = "ee_pose", default=None) -> Path:
    """A LEAPP bundle as ``isaaclab leapp export`` writes it (see :func:`_trace_step`), compiled by the real leapp
    package with Isaac Lab's graph config (frequency only: Isaac-Reach-Franka's 30 Hz) after 3 traced steps;
    returns the bundle directory.

    Args:
        command: ``ee_pose`` (Isaac-Reach-Franka: 7-value pose command) or ``joint_goal`` (7 arm joint targets).
        default: the 9 default joint positions (rad); Franka's init state if None.
    """
    import leapp
    from leapp import GraphConfigs

    default = torch.tensor([list(FRANKA_INIT_JOINT_POS.values())[:7] + [0.04, 0.04]] if default is None
                           else [list(default)], dtype=torch.float32)
    step = IsaacLabStep(command, default).eval()
    task = "Isaac-Reach-Franka-v0" if command == "ee_pose" else "Isaac-JointGoal-Franka-v0"
    leapp.start(task, save_path=str(root), max_cached_io=3)
    goal = torch.tensor([[0.5, 0.0, 0.4, 1.0, 0.0, 0.0, 0.0]]) if command == "ee_pose" else default[:, :7] + 0.1
    with torch.no_grad():
        for i in range(3):
            _trace_step(task, step, default + 0.01 * i, torch.zeros(1, 9), goal, {"kp": 400.0, "kd": 80.0})
    leapp.stop()
    frequency = 1.0 / (REACH_FRANKA_SIM_DT * REACH_FRANKA_DECIMATION)  # isaaclab_rl export_common.create_graph_configs
    assert leapp.compile_graph(visualize=False, graph_configs=GraphConfigs(frequency=frequency))
    return root / task


def scene_entity(joint_names=None) -> dict:
    """``SceneEntityCfg("robot", joint_names=...)`` as Isaac Lab's to_dict writes it (slices stay slices)."""
    return {"name": "robot", "joint_names": joint_names, "joint_ids": slice(None), "fixed_tendon_names": None,
            "fixed_tendon_ids": slice(None), "body_names": None, "body_ids": slice(None),
            "object_collection_names": None, "object_collection_ids": slice(None), "preserve_order": False}


def obs_term(func: str, params: dict | None = None) -> dict:
    """An ``ObservationTermCfg`` of isaaclab.envs.mdp as to_dict writes it (with the usual uniform noise)."""
    return {"func": f"isaaclab.envs.mdp.observations:{func}", "params": params or {}, "modifiers": None,
            "noise": {"func": "isaaclab.utils.noise.noise_model:uniform_noise", "operation": "add",
                      "n_min": -0.01, "n_max": 0.01},
            "clip": None, "scale": None, "delay_min_lag": 0, "delay_max_lag": 0, "delay_hold_prob": 1.0,
            "history_length": 0, "flatten_history_dim": True}


def ee_pose_command(body: str = REACH_BODY) -> dict:
    """Isaac-Reach-Franka's ``UniformPoseCommandCfg`` (to_dict form, visualiser configs left out)."""
    return {"class_type": "isaaclab.envs.mdp.commands.pose_command:UniformPoseCommand",
            "resampling_time_range": (4.0, 4.0), "debug_vis": True,
            # UniformPoseCommand.__init__ sets these; Isaac Lab 3's train script dumps env.yaml after creating the env
            "cmd_kind": "command/body/pose", "element_names": POSE7_ELEMENT_NAMES,
            "asset_name": "robot", "body_name": body, "make_quat_unique": False,
            "ranges": {"pos_x": (0.35, 0.65), "pos_y": (-0.2, 0.2), "pos_z": (0.15, 0.5), "roll": (0.0, 0.0),
                       "pitch": (3.141592653589793, 3.141592653589793), "yaw": (-3.14, 3.14)},
            "position_success_threshold": None, "orientation_success_threshold": None}


def env_cfg(layout: str, init_joint_pos: dict) -> dict:
    """``to_dict(env_cfg)`` of a Franka task: ``joint_target`` (7 arm joints observed, no command, dt 0.01 s,
    decimation 2) or ``reach_franka`` (Isaac-Reach-Franka: all 9 joints observed, ee_pose command, last action,
    its dt 1/120 s and decimation 4)."""
    dt, decimation = (REACH_FRANKA_SIM_DT, REACH_FRANKA_DECIMATION) if layout == "reach_franka" else (0.01, 2)
    arm = scene_entity(["panda_joint.*"]) if layout == "joint_target" else None
    policy = {"concatenate_terms": True, "concatenate_dim": -1, "enable_corruption": True, "history_length": None,
              "flatten_history_dim": True, "history_order": "term",
              "joint_pos": obs_term("joint_pos_rel", arm and {"asset_cfg": arm}),
              "joint_vel": obs_term("joint_vel_rel", arm and {"asset_cfg": arm})}
    if layout == "reach_franka":
        policy["pose_command"] = obs_term("generated_commands", {"command_name": "ee_pose"})
    policy["actions"] = obs_term("last_action")
    return {
        "viewer": {"eye": (7.5, 7.5, 7.5), "lookat": (0.0, 0.0, 0.0), "origin_type": "world"},
        "sim": {"physics_prim_path": "/physicsScene", "device": "cuda:0", "dt": dt, "render_interval": decimation,
                "gravity": (0.0, 0.0, -9.81)},
        "ui_window_class_type": "isaaclab.envs.ui.manager_based_rl_env_window:ManagerBasedRLEnvWindow",
        "seed": 42, "decimation": decimation,
        "scene": {"num_envs": 4096, "env_spacing": 2.5, "robot": {
            "class_type": "isaaclab.assets.articulation.articulation:Articulation",
            "prim_path": "/World/envs/env_.*/Robot",
            "init_state": {"pos": (0.0, 0.0, 0.0), "rot": (1.0, 0.0, 0.0, 0.0), "lin_vel": (0.0, 0.0, 0.0),
                           "joint_pos": init_joint_pos, "joint_vel": {".*": 0.0}},
            "soft_joint_pos_limit_factor": 1.0}},
        "actions": {"arm_action": {
            "class_type": "isaaclab.envs.mdp.actions.joint_actions:JointPositionAction", "asset_name": "robot",
            "debug_vis": False, "clip": None, "joint_names": ["panda_joint.*"], "scale": 0.5, "offset": 0.0,
            "preserve_order": False, "use_default_offset": True}, "gripper_action": None},
        "observations": {"policy": policy},
        "commands": {"ee_pose": ee_pose_command()} if layout == "reach_franka" else None,
        "episode_length_s": 12.0,
    }


def dump_yaml(path: Path, data: dict) -> Path:
    """Exactly ``isaaclab.utils.io.dump_yaml``'s write: PyYAML's full Dumper, block style, keys unsorted."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.dump(data, default_flow_style=False, sort_keys=False))
    return path


class FixedTargetPolicy(torch.nn.Module):
    """rsl_rl-style actor: obs [joint_pos_rel, joint_vel_rel, last_action] -> raw = (target - default) / scale.

    A real MLP whose last layer's bias carries the target and whose weights are zero.
    """

    def __init__(self, n: int, raw_target: np.ndarray):
        super().__init__()
        self.actor = torch.nn.Sequential(torch.nn.Linear(3 * n, 32), torch.nn.ELU(), torch.nn.Linear(32, n))
        torch.nn.init.zeros_(self.actor[2].weight)
        with torch.no_grad():
            self.actor[2].bias.copy_(torch.as_tensor(raw_target, dtype=torch.float32))

    def forward(self, obs):
        return self.actor(obs)


def make_rsl_rl_run(root: Path, target: np.ndarray) -> tuple[Path, Path]:
    """Write ``root/exported/policy.onnx`` and ``root/params/env.yaml`` (joint-target layout); the policy drives
    to ``target`` (rad)."""
    cfg = load_robot_config("panda")
    default = cfg.default_pose
    env_path = dump_yaml(root / "params" / "env.yaml", env_cfg("joint_target", {
        **{name: float(v) for name, v in zip(cfg.joints, default)}, "panda_finger_joint.*": 0.04}))
    torch.manual_seed(0)
    model = FixedTargetPolicy(cfg.dof, (np.asarray(target) - default) / 0.5)
    data = export_onnx(model, (torch.zeros(1, 3 * cfg.dof),), ["obs"], ["actions"])
    (root / "exported").mkdir(parents=True, exist_ok=True)
    (root / "exported" / "policy.onnx").write_bytes(data)
    return root / "exported" / "policy.onnx", env_path


REACH_OBS_DIM = 9 + 9 + 7 + 7
"""Isaac-Reach-Franka's policy observation: joint_pos_rel (9), joint_vel_rel (9), pose_command (7), actions (7)."""


def make_reach_franka_run(root: Path) -> tuple[Path, Path, torch.nn.Module]:
    """An rsl_rl run dir with Isaac-Reach-Franka's env.yaml layout and a random actor MLP (32 -> 7) exported as
    rsl_rl's exporter does (input ``obs``, output ``actions``); returns (policy.onnx, env.yaml, the actor)."""
    env_path = dump_yaml(root / "params" / "env.yaml", env_cfg("reach_franka", FRANKA_INIT_JOINT_POS))
    torch.manual_seed(1)
    actor = torch.nn.Sequential(torch.nn.Linear(REACH_OBS_DIM, 64), torch.nn.ELU(), torch.nn.Linear(64, 7)).eval()
    data = export_onnx(actor, (torch.zeros(1, REACH_OBS_DIM),), ["obs"], ["actions"])
    (root / "exported").mkdir(parents=True, exist_ok=True)
    (root / "exported" / "policy.onnx").write_bytes(data)
    return root / "exported" / "policy.onnx", env_path, actor
