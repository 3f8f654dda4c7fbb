"""One human-in-the-loop episode in simulation, run through the learner node's own core.

The policy acts as the policy node does: a :class:`~robot_rl.policy.runtime.PolicyRuntime` (the base plus
the latest exported residual ONNX) pushes one observation frame per period and infers a base chunk every
``n_action_steps`` periods; the residual acts on every period's own observation
(:meth:`~robot_rl.policy.runtime.PolicyRuntime.residual_step`), sampled while the runtime explores. The
simulated human may take over; in a demonstration episode the human's scripted expert drives every step.
Each period, what reached the robot (the policy's or the human's target), the measurement, who drove and
the base action used go to the :class:`~robot_rl.hil.online.OnlineLearner`, the core the
``hil_learner_node`` runs; success ends the episode as the human's success key does (reward 1, done).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from robot_rl.policy.noise_policy import is_noise_policy
from robot_rl.policy.observation import ObservationInputs


@dataclass(frozen=True)
class EpisodeStats:
    """What one episode did: policy periods run, periods the human drove, takeovers, success."""

    steps: int
    human_steps: int
    interventions: int
    success: bool


def measurement(spec, robot_config, obs: dict[str, np.ndarray], stamp: float) -> ObservationInputs:
    """The measured observation dict ``obs`` of a ``spec`` task as the policy node's inputs (stamp in s): the arm's
    joints, and the fingers of ``robot_config``'s gripper (if any) each at the measured ``gripper_pos`` (m)."""
    terms = {t.source: t.name for t in spec.obs_terms}
    fingers = robot_config.gripper.joints if robot_config.gripper else ()
    opening = obs[terms["gripper_pos"]] if "gripper_pos" in terms else np.zeros(1)
    extra = {key: obs[terms[key]] for key in ("goal", "object_pose") if key in terms}
    n = len(fingers)
    return ObservationInputs(stamp=stamp, joint_names=tuple(spec.joint_names) + tuple(fingers),
                             position=np.r_[obs[terms["joint_pos"]], np.repeat(opening, n)],
                             velocity=np.r_[obs[terms["joint_vel"]], np.zeros(n)], **extra)


def executed_targets(runtime, raw: np.ndarray, inputs: ObservationInputs) -> np.ndarray:
    """Joint targets (n,) rad that raw action ``raw`` (a,) commands, as the policy node sends them."""
    q = runtime.observe.joint_values(inputs, runtime.contract.action_joint_names, "position")
    processed, _ = runtime.process(np.asarray(raw, dtype=float)[None])
    return runtime.targets(processed, q)[0][0]


def run_episode(env, runtime, learner, human, seed: int, demo_expert=None) -> EpisodeStats:
    """Roll out one episode in ``env`` (a :class:`~robot_rl_sim.hil.gaps.GapEnv`) and feed every period to ``learner``.

    Args:
        runtime: PolicyRuntime of the base (+ residual) that acts.
        learner: the OnlineLearner (given the base action the runtime used, so labels are exact).
        human: a SimulatedHuman, or None (the policy alone).
        demo_expert: a scripted expert (true joint coordinates) that drives every step as a human
            demonstration (stored as intervened), or None.
    """
    spec, period, robot_config = env.spec, env.spec.policy_dt, env.env.config
    obs = env.reset(seed=seed)
    runtime.reset()
    for person in (human, demo_expert):
        if person is not None:
            person.reset()
    n = len(runtime.contract.action_joint_names)
    plan: list[np.ndarray] = []
    success, human_steps, step = False, 0, 0
    for step in range(spec.max_steps):
        inputs = measurement(spec, robot_config, obs, step * period)
        window = runtime.observe(inputs)  # one frame per period, as the policy node pushes them
        if not plan:
            plan = list(runtime.act_on(window, inputs).base_raw[: runtime.contract.chunking.n_action_steps])
        base_raw = plan.pop(0)  # while the human drives, the mux drops the policy's step; the schedule goes on
        if demo_expert is not None:
            human_raw = demo_expert.act(env.true_obs())
        else:
            human_raw = human.act(env.true_obs()) if human is not None else None
        raw = runtime.residual_step(window, base_raw) if human_raw is None else env.to_measured(human_raw)
        gripper = bool(raw[n] > 0.0) if runtime.contract.action.gripper else None
        steered = {"latent": runtime.base.last_noise} if is_noise_policy(getattr(runtime.residual, "contract", None)) \
            else {}  # dsrl: the chunk's latent
        learner.step(inputs, executed_targets(runtime, raw, inputs), human_raw is not None, base_action=base_raw,
                     gripper_closed=gripper, **steered)
        obs, _, success, _ = env.step(raw)
        human_steps += human_raw is not None
        if success:
            break
    inputs = measurement(spec, robot_config, obs, (step + 1) * period)
    window = runtime.observe(inputs)
    next_base = plan[0] if plan else runtime.act_on(window, inputs).base_raw[0]
    learner.step(inputs, None, False, reward=float(success), done=success, base_action=next_base)
    learner.end_episode()
    takeovers = 1 if demo_expert is not None else (human.interventions if human is not None else 0)
    return EpisodeStats(step + 1, human_steps, takeovers, success)
