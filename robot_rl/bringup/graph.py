"""The node graph, described once in Python.

Used by launch/bringup.launch.py (robots with a full ROS 2 install) and by
:mod:`robot_rl.bringup.runner` (``robot-rl bringup`` on pip-only machines), so
both start the same nodes with the same parameters.

    command source (demo | policy | teleop) --/robot_rl/command--> safety_filter
    safety_filter --/robot_rl/safe_command--> control_node --/joint_states--> everyone

With teleop (``teleop="keyboard"``, ``"spacemouse"`` or ``"gamepad"``) the source publishes on
/robot_rl/policy/command instead, and a command mux chooses between it and the human's /robot_rl/teleop/command:

    source --/robot_rl/policy/command--> command_mux <--/robot_rl/teleop/command-- teleop_node
    command_mux --/robot_rl/command--> safety_filter

and the policy's gripper likewise: policy_node --/robot_rl/policy/gripper--> command_mux <--/robot_rl/teleop/gripper--
teleop_node; command_mux --/robot_rl/gripper--> control_node (the human's during a takeover).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from robot_rl import topics
from robot_rl.control.stop import control_command_timeout_s
from robot_rl.errors import ConfigError
from robot_rl.hardware.base import hardware_options
from robot_rl.params import load_param_specs, validate_params
from robot_rl.teleop.devices import KINDS

WATCHDOG_POLICY_PERIODS = 2.0
"""The safety filter's watchdog for a policy source, in policy periods: the policy node sends a heartbeat
every period (robot_rl.policy.scheduler), so one missed heartbeat plus jitter is tolerated, two brake."""

SOURCES = ("demo", "policy", "none")
"""Command sources bringup can start; "none" leaves the command topic to an external source."""

TELEOP_DEVICES = KINDS
"""Teleop devices bringup can add (with the command mux): robot_rl.teleop.devices.KINDS."""


@dataclass(frozen=True)
class NodeSpec:
    """One node of the graph.

    Attributes:
        name: ROS node name.
        executable: console script (``ros2 run robot_rl <executable>``).
        module: Python module whose ``main()`` runs the node (``python -m <module>``).
        parameters: ROS parameters, validated against config/nodes/<param_file>.yaml.
        param_file: name of the parameter YAML config/nodes/<param_file>.yaml (default: ``name``).
        remappings: (from, to) topic pairs.
    """

    name: str
    executable: str
    module: str
    parameters: dict[str, Any] = field(default_factory=dict)
    param_file: str = ""
    remappings: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        param_file = self.param_file or self.name
        object.__setattr__(self, "param_file", param_file)
        object.__setattr__(self, "parameters", validate_params(load_param_specs(param_file), self.parameters))


_NODES = {  # node name -> (executable/module name, parameter YAML name)
    "control_node": ("control_node", "control_node"),
    "safety_filter": ("safety_filter_node", "safety_filter"),
    "demo_trajectory_node": ("demo_trajectory_node", "demo_trajectory_node"),
    "policy_node": ("policy_node", "policy"),
    "command_mux": ("command_mux_node", "command_mux"),
    "teleop_node": ("teleop_node", "teleop"),
    "hil_learner": ("hil_learner_node", "hil_learner"),
    "camera": ("camera_node", "camera"),
    "recorder": ("recorder_node", "recorder"),
    "object_pose": ("object_pose_node", "object_pose"),
}


def policy_watchdog_timeout_s(contract) -> float:
    """Safety-filter ``watchdog_timeout`` (s) for a policy with this contract: WATCHDOG_POLICY_PERIODS policy
    periods (timing.period, s), never below the filter's YAML default."""
    default = float(load_param_specs("safety_filter")["watchdog_timeout"].default)
    return max(default, WATCHDOG_POLICY_PERIODS * contract.timing.period)


def _node(name: str, parameters: dict[str, Any], overrides: dict[str, dict[str, Any]]) -> NodeSpec:
    executable, param_file = _NODES[name]
    return NodeSpec(name=name, executable=executable, module=f"robot_rl.nodes.{executable}",
                    parameters={**parameters, **overrides.get(name, {})}, param_file=param_file)


def node_spec(name: str, parameters: dict[str, Any] | None = None,
              remappings: tuple[tuple[str, str], ...] = ()) -> NodeSpec:
    """The spec of registered node ``name`` (for graphs other than :func:`bringup_graph`'s) with
    ``parameters`` validated against its YAML and (from, to) topic ``remappings``."""
    if name not in _NODES:
        raise ConfigError(f"unknown node {name!r}; registered: {sorted(_NODES)}")
    return replace(_node(name, parameters or {}, {}), remappings=tuple(remappings))


def bringup_graph(robot: str = "panda", hardware: str = "mujoco", policy: str | None = None,
                  source: str | None = None, overrides: dict[str, dict[str, Any]] | None = None,
                  hardware_port: str = "", teleop: str | None = None, teleop_device: str = "",
                  hil_out: str = "", hardware_key_file: str = "", record: str = "", hardware_config: str = "",
                  hardware_calibration: str = "", leader_calibration: str = "",
                  hil_gripper_labels: str = "") -> list[NodeSpec]:
    """Nodes (with parameters) of the robot_rl graph.

    With a policy source the safety filter's ``watchdog_timeout`` follows the policy's rate
    (:func:`policy_watchdog_timeout_s`) unless ``overrides`` sets it.

    Args:
        robot: shipped robot name or robot YAML path.
        hardware: hardware interface of the control node (``mujoco``, ``serial``, ...).
        policy: ONNX policy path; implies ``source="policy"``.
        source: command source, one of :data:`SOURCES` (default: ``policy`` if a policy is given,
            else ``demo``).
        overrides: extra parameters per node name, e.g. ``{"control_node": {"realtime": False}}``.
        hardware_port: serial device of hardware ``serial`` (e.g. ``/dev/ttyACM0``); ``""`` for the others.
        hardware_key_file: the firmware link's key file, hardware ``serial`` only.
        hardware_config: the bridge's YAML, hardware ``ros2_control`` only (docs/ros2_control.md).
        hardware_calibration: the servo calibration YAML, hardware ``feetech`` only (``robot-rl calibrate feetech``).
        leader_calibration: the leader arm's calibration YAML, teleop ``leader`` only.
        teleop: a teleop device of :data:`TELEOP_DEVICES`, or None. Adds the command mux and the teleop node;
            the source (demo or policy) then publishes on /robot_rl/policy/command.
        teleop_device: where the teleop device is (the teleop node's ``device`` parameter): the keyboard's
            terminal ("" = /dev/tty), a SpaceMouse's hidraw path or a gamepad's event device ("" = the first found).
        hil_out: a directory: adds the human-in-the-loop learner (transitions and residuals go there), which
            learns a residual on ``policy`` from the interventions and hot-swaps it into the policy node.
            Needs a policy source and ``teleop``.
        record: an MCAP file: adds the recorder (first to start, last to stop), docs/recording.md.
        hil_gripper_labels: the learner's ``gripper_labels`` (:data:`robot_rl.hil.labels.GRIPPER_LABELS`; "" its
            default); needs ``hil_out``.

    Raises:
        ConfigError: before any node starts, e.g. hardware ``serial`` without a port (see
            :func:`robot_rl.hardware.hardware_options`).
    """
    overrides = overrides or {}
    unknown = set(overrides) - set(_NODES)
    if unknown:
        raise ConfigError(f"overrides for unknown nodes {sorted(unknown)}")
    source = source or ("policy" if policy else "demo")
    if source not in SOURCES:
        raise ConfigError(f"unknown command source {source!r}; choose one of {SOURCES}")
    if source == "policy" and not policy:
        raise ConfigError("source 'policy' needs a policy path")
    if teleop is not None and teleop not in TELEOP_DEVICES:
        raise ConfigError(f"unknown teleop device {teleop!r}; choose one of {TELEOP_DEVICES}")
    if hil_out and (source != "policy" or not teleop):
        raise ConfigError("the HIL learner needs a policy (the base it learns a residual on) and a teleop device "
                          "(it learns from the human's interventions)")
    if hil_gripper_labels:
        from robot_rl.hil.labels import gripper_evidence

        gripper_evidence(None, hil_gripper_labels)  # ConfigError naming the modes, before any node starts
        if not hil_out:
            raise ConfigError("hil_gripper_labels is a setting of the HIL learner: it needs hil_out")
    safety = {"robot": robot, "simulator_resets": hardware == "mujoco"}  # its ~/reset follows a teleport
    if source == "policy":
        from robot_rl.policy.contract import read_contract  # contract only: no onnxruntime session

        safety["watchdog_timeout"] = policy_watchdog_timeout_s(read_contract(policy)[0])
    safety_filter = _node("safety_filter", safety, overrides)
    f = safety_filter.parameters  # the control node's watchdog backs up the filter's (robot_rl/control/stop.py)
    command_timeout = control_command_timeout_s(f["watchdog_timeout"], f["output_dt"])
    control = _node("control_node", {"robot": robot, "hardware": hardware, "hardware_port": hardware_port,
                                     "hardware_key_file": hardware_key_file, "hardware_config": hardware_config,
                                     "hardware_calibration": hardware_calibration, "command_timeout": command_timeout},
                    overrides)
    p = control.parameters
    hardware_options(p["hardware"], p["hardware_port"], p["task"], p["seed"],  # the control node's own check
                     key_file=p["hardware_key_file"], calibration=p["hardware_calibration"],
                     config=p["hardware_config"])
    nodes = [control, safety_filter]
    routed = {"command_topic": topics.POLICY_COMMAND} if teleop else {}
    if source == "demo":
        nodes.append(_node("demo_trajectory_node", {"robot": robot, **routed}, overrides))
    elif source == "policy":
        gripper = {"gripper_topic": topics.POLICY_GRIPPER} if teleop else {}
        nodes.append(_node("policy_node", {"robot": robot, "policy_path": str(policy), **routed, **gripper},
                           overrides))
    if teleop:  # the runner stops nodes in reverse: teleop first, the mux after the source
        nodes.insert(2, _node("command_mux", {"robot": robot}, overrides))
        nodes.append(_node("teleop_node", {"robot": robot, "kind": teleop, "device": teleop_device,
                                           "leader_calibration": leader_calibration}, overrides))
    if hil_out:
        labels = {"gripper_labels": hil_gripper_labels} if hil_gripper_labels else {}
        nodes.append(_node("hil_learner", {"robot": robot, "base_policy_path": str(policy), "out_dir": hil_out,
                                           **labels}, overrides))
    if record:
        nodes.insert(0, _node("recorder", {"path": str(record)}, overrides))
    return nodes
