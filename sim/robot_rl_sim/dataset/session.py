"""A recorded session (robot_rl.recording MCAP) resampled at a task's policy rate: one :class:`SessionStep` per
policy period, with what a policy would have observed then and the command the robot executed next.

Times are the recorder's log times (its wall clock at reception), s. At step time t:

- observation: the newest /joint_states, goal, object pose received at or before t, assembled per the task's
  contract (``robot_rl.learning.contract_map``) by the policy node's own :class:`ObservationAssembler`;
- action: the target of the newest mux output (/robot_rl/command, the safety filter's input) at t + one policy
  period (``robot_rl.hil.labels.command_target``), mapped back to the raw action the task declares
  (``raw_from_targets``); the gripper scalar is +1 if the newest /robot_rl/gripper command is nearer the closed
  position, else -1 (-1 when none was recorded);
- intervening: the newest /robot_rl/hil/intervention value (False before the first).

Steps before the first joint state and command are not produced.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl import topics
from robot_rl.errors import DataError, RobotRLError
from robot_rl.hil.labels import command_target, raw_from_targets
from robot_rl.learning.contract_map import PolicyShape, contract_for
from robot_rl.policy.observation import ObservationAssembler, ObservationInputs
from robot_rl.recording import Recording
from robot_rl.recording.streams import TopicStream, observation_inputs, trajectory_command
from robot_rl.robot.model import load_robot_model
from robot_rl_sim.tasks.spec import TaskSpec


@dataclass(frozen=True)
class SessionStep:
    """One policy period of a recorded session.

    Attributes:
        time: log time of the step, s since the epoch.
        obs: observation term name -> value (size,), processed as the task declares.
        action: raw action (action_dim,) as the task declares it.
        intervening: the human was driving (the mux forwarded teleop commands).
    """

    time: float
    obs: dict[str, np.ndarray]
    action: np.ndarray
    intervening: bool


def session_steps(recording: Recording, spec: TaskSpec) -> list[SessionStep]:
    """The session at ``spec``'s policy rate (see the module docstring).

    Raises:
        DataError: naming the missing topic, or the joints the recording lacks for this task.
    """
    streams = {topic: TopicStream(recording, topic) for topic in (topics.JOINT_STATES, topics.COMMAND, topics.GOAL,
                                                              topics.OBJECT_POSE, topics.GRIPPER, topics.INTERVENTION)}
    for topic in (topics.JOINT_STATES, topics.COMMAND):
        if not streams[topic].times:
            raise DataError(f"recording {recording.path} has no {topic} messages: nothing to build steps from")
    contract = contract_for(spec, PolicyShape(spec.obs_dim, spec.action_dim), "obs", "action", 0.0)
    model = load_robot_model(spec.robot)
    gripper = model.config.gripper
    assembler = ObservationAssembler(contract, model, gripper.joints if gripper else ())
    start = max(streams[topics.JOINT_STATES].times[0], streams[topics.COMMAND].times[0])
    end = streams[topics.JOINT_STATES].times[-1]
    steps = []
    for t in np.arange(start, end - spec.policy_dt, spec.policy_dt):
        inputs = observation_inputs(streams, float(t))
        try:
            flat = assembler.frame(inputs)
            action = _raw_action(streams, assembler, spec, inputs, float(t))
        except RobotRLError as exc:
            raise DataError(f"recording {recording.path} at t={t - start:.3f} s: {exc}") from exc
        intervention = streams[topics.INTERVENTION].at(float(t))
        steps.append(SessionStep(float(t), _split(flat, spec), action, bool(intervention and intervention.data)))
        assembler.set_last_action(action)
    return steps


def _raw_action(streams: dict[str, TopicStream], assembler: ObservationAssembler, spec: TaskSpec,
                inputs: ObservationInputs, t: float) -> np.ndarray:
    stream = streams[topics.COMMAND]
    i = stream.index(t)
    command = trajectory_command(stream.messages[i], stream.times[i])
    names = tuple(spec.action.joint_names)
    targets = command_target(command, names, t + spec.policy_dt)
    q_obs = assembler.joint_values(inputs, names, "position")
    raw = raw_from_targets(assembler.contract, targets, q_obs, np.zeros(spec.action_dim))
    if spec.action.gripper:
        grip = streams[topics.GRIPPER].at(t + spec.policy_dt)
        closed = grip is not None and abs(grip.data - spec.action.gripper_closed) < abs(
            grip.data - spec.action.gripper_open)
        raw[len(names)] = 1.0 if closed else -1.0
    return raw


def _split(flat: np.ndarray, spec: TaskSpec) -> dict[str, np.ndarray]:
    """The flat observation (obs_dim,) as term name -> (size,)."""
    out, i = {}, 0
    for term in spec.obs_terms:
        out[term.name] = flat[i:i + term.size]
        i += term.size
    return out
