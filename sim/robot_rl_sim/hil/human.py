"""A simulated human: a scripted stand-in for the person at the teleop device (simulation only), for every task.

**What it watches** (the true state, as a person watching the robot sees it): the task's remaining
distance, ``remaining(true_obs)`` m. Reach: end effector to goal. Pick-cube: end effector to cube plus
the lift still missing (success height minus the cube's lift).

**Trigger.** When that distance has shrunk by less than ``min_progress_m`` over the last
``patience_steps`` policy steps (reach: only while farther than ``engage_factor`` x the success radius),
the human decides to take over. With ``wait_for_grasp`` (pick-cube), it waits while the hand is at the cube
(within ``GRASP_XY_M`` of its centre and ``GRASP_Z_M`` above it) and the fingers still move (more than
``FINGER_MOVING_M`` in a step), as a person watching a gripper close does: that dwell is no stall, and the
policy gets a fresh patience window once the fingers stop (docs/hil.md, "Why later rounds degraded").

**Anticipation** (``anticipate``, pick-cube, off by default): the human also watches for a misaligned
descent or an empty lift and, after the same reaction delay, drives a short correction (at most
``anticipate_max_steps``) and hands back; the trigger is stated exactly in :mod:`.anticipate`. The stall
trigger stays as the fallback. ``anticipate_until="grasp"`` lengthens each correction to the whole grasp
(re-centre, descend, dwell, close until the fingers settle), handing back at the lift.

**Reaction delay.** It takes over ``reaction_s`` later (default 0.3 s = 3 policy steps at 10 Hz); the
policy keeps acting meanwhile. Then it drives with the task's scripted expert restarted from the current
state: reach aims at the goal plus an integral of the error it sees (closing the loop by eye, so a gain
or an offset it cannot see does not stop it); pick-cube waits for the fingers to stop before lifting and
carries on lifting a cube already held.

**Imperfect corrections.** The expert's own noise (``expert_noise``: speed, path) plus Gaussian noise of
``action_noise_rad`` on every joint target.

**Release.** Reach: within ``release_factor`` x the success radius; any task: after
``max_takeover_steps`` steps or when the budget runs out.

**Budget.** At most ``budget_steps`` driven steps over the object's life (one ``robot-rl hil sim`` run);
``steps`` and ``interventions`` count what it did.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl_sim.hil.anticipate import anticipated, moot

FEEDBACK_GAIN = 0.3  # reach: per step, the share of the seen error added to where the human aims
FEEDBACK_RADIUS_M = 0.05  # reach: the human corrects its aim by eye within this distance of the goal
GRASP_XY_M, GRASP_Z_M = 0.04, 0.05  # pick-cube, wait_for_grasp: the hand is "at the cube" within these (m)
FINGER_MOVING_M = 0.0005  # pick-cube, wait_for_grasp: the fingers "still move" beyond this per step (m)


@dataclass(frozen=True)
class HumanConfig:
    """When and how the simulated human intervenes (steps are policy steps, distances m, angles rad)."""

    patience_steps: int = 5
    min_progress_m: float = 0.005
    engage_factor: float = 1.5
    release_factor: float = 0.5
    max_takeover_steps: int = 15
    reaction_s: float = 0.3
    action_noise_rad: float = 0.005
    expert_noise: float = 0.3
    budget_steps: int = 3000
    wait_for_grasp: bool = False  # pick-cube: no stall while the hand is at the cube and the fingers move
    anticipate: bool = False  # pick-cube: short corrections before the failure (.anticipate)
    anticipate_max_steps: int = 8  # the most steps one such correction drives
    anticipate_until: str = "phase"  # hand back when the expert leaves the started phase, or at its "grasp" (lift)

    def __post_init__(self) -> None:
        if min(self.patience_steps, self.max_takeover_steps, self.anticipate_max_steps) < 1 \
                or self.budget_steps < 0:
            raise ConfigError(f"HumanConfig: patience_steps {self.patience_steps}, max_takeover_steps "
                              f"{self.max_takeover_steps} and anticipate_max_steps {self.anticipate_max_steps} "
                              f"must be >= 1, budget_steps {self.budget_steps} >= 0")
        if self.min_progress_m < 0 or not (0 < self.release_factor < self.engage_factor):
            raise ConfigError(f"HumanConfig: need min_progress_m >= 0 and 0 < release_factor "
                              f"({self.release_factor}) < engage_factor ({self.engage_factor})")
        if self.anticipate_until not in ("phase", "grasp"):
            raise ConfigError(f"HumanConfig: anticipate_until must be 'phase' or 'grasp', got {self.anticipate_until!r}")
        if min(self.reaction_s, self.action_noise_rad) < 0 or not 0 <= self.expert_noise <= 2:
            raise ConfigError(f"HumanConfig: reaction_s {self.reaction_s} and action_noise_rad "
                              f"{self.action_noise_rad} must be >= 0, expert_noise in [0, 2]")

    @staticmethod
    def for_task(spec, **overrides) -> "HumanConfig":
        """The defaults for ``spec``: pick-cube waits 10 steps (the grasp dwells and closes ~8) and drives up to
        40 (a whole pick takes ~35); reach uses the class defaults."""
        task = {"patience_steps": 10, "max_takeover_steps": 40} if spec.success.kind == "object_lifted" else {}
        return HumanConfig(**{**task, **overrides})


class SimulatedHuman:
    """``act(true_obs) -> true raw action or None`` (None: the policy keeps control) once per policy step.

    Args:
        spec: the task. expert: its scripted expert (``reset()``, ``act(obs)``), e.g. :func:`make_human_expert`.
        seed: seeds the correction noise.
    """

    def __init__(self, spec, expert, config: HumanConfig | None = None, seed: int | None = None):
        if spec.success.kind not in ("ee_within_goal", "object_lifted"):
            raise ConfigError(f"no simulated human for task {spec.name!r} (success kind {spec.success.kind!r})")
        self.spec, self.expert = spec, expert
        self.config = config or HumanConfig.for_task(spec)
        self.reach = spec.success.kind == "ee_within_goal"
        if self.config.anticipate and self.reach:
            raise ConfigError(f"HumanConfig.anticipate is for pick-cube only, not task {spec.name!r}")
        self.delay_steps = math.ceil(self.config.reaction_s / spec.policy_dt - 1e-9)
        self.terms = {t.source: t.name for t in spec.obs_terms}
        self.rng = np.random.default_rng(seed)
        self.steps = 0  # driven over the run (the budget counts these)
        self.reset()

    def reset(self) -> None:
        """New episode (the budget and ``steps`` carry over)."""
        self._distances: list[float] = []
        self._takeover_left = 0
        self._pending = -1  # steps until the takeover once triggered; -1: not triggered
        self._correction = ""  # anticipate: the expert phase triggered or driven ("": a stall restart)
        self._aim = np.zeros(3)
        self._fingers: float | None = None  # the last step's finger opening (m), wait_for_grasp
        self.interventions = 0

    @property
    def in_control(self) -> bool:
        """True while the human drives."""
        return self._takeover_left > 0

    @property
    def budget_left(self) -> int:
        """Steps the human may still drive in this run."""
        return self.config.budget_steps - self.steps

    def remaining(self, true_obs: dict[str, np.ndarray]) -> float:
        """What the human watches: the task's remaining distance, m (see the module docstring)."""
        ee = true_obs[self.terms["ee_pos"]]
        if self.reach:
            return float(np.linalg.norm(ee - true_obs[self.terms["goal"]]))
        cube = true_obs[self.terms["object_pose"]][:3]
        lift = cube[2] - self.spec.object.half_size
        return float(np.linalg.norm(ee - cube) + max(0.0, self.spec.success.threshold - lift))

    def act(self, true_obs: dict[str, np.ndarray]) -> np.ndarray | None:
        """The human's raw action (true joint coordinates) this step, or None."""
        distance = self.remaining(true_obs)
        self._distances.append(distance)
        if self.in_control and (self._close_enough(distance) or self.budget_left <= 0 or self._corrected()):
            self._release()
        if not self.in_control:
            if self._grasping(true_obs):
                self._distances = [distance]  # a closing grasp is no stall: patience starts again
            self._watch(distance, true_obs)
        if not self.in_control:
            return None
        action = self._drive(true_obs)
        self.steps += 1
        self._takeover_left -= 1
        if self._takeover_left == 0:
            self._release()
        return action

    def _watch(self, distance: float, true_obs: dict[str, np.ndarray]) -> None:
        """Trigger (anticipation first, then a stall), count the reaction delay down; take over when it has passed."""
        if self._pending < 0 and self.budget_left > 0:
            self._correction = self._anticipated(true_obs) or ""
            if self._correction or self._stalled(distance):
                self._pending = self.delay_steps
        if self._pending == 0:
            self._pending = -1
            if self._correction and self._moot(true_obs):
                return
            limit = self.config.anticipate_max_steps if self._correction else self.config.max_takeover_steps
            self._takeover_left = min(limit, self.budget_left)
            self.interventions += 1
            self._aim = np.zeros(3)
            self.expert.reset(*([self._correction] if self._correction else []))
        elif self._pending > 0:
            self._pending -= 1

    def _pick_state(self, true_obs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, float]:
        """(hand (3,) m, true cube centre (3,) m, finger opening m)."""
        return (true_obs[self.terms["ee_pos"]], true_obs[self.terms["object_pose"]][:3],
                float(true_obs[self.terms["gripper_pos"]][0]))

    def _anticipated(self, true_obs: dict[str, np.ndarray]) -> str | None:
        """anticipate: the correction phase a watching person would start now (.anticipate), else None."""
        return anticipated(*self._pick_state(true_obs), self.spec.object.half_size) if self.config.anticipate \
            else None

    def _moot(self, true_obs: dict[str, np.ndarray]) -> bool:
        return moot(self._correction, *self._pick_state(true_obs), self.spec.object.half_size)

    def _corrected(self) -> bool:
        """A short correction is done: the expert has left the phase it was started in (``anticipate_until``
        "grasp": has reached the lift, the fingers settled)."""
        if self.config.anticipate_until == "grasp":
            return bool(self._correction) and self.expert.phase in ("lift", "hold")
        return bool(self._correction) and self.expert.phase != self._correction

    def _drive(self, true_obs: dict[str, np.ndarray]) -> np.ndarray:
        """The expert's action from the true state (reach: aimed by eye), plus the correction noise."""
        obs = true_obs
        if self.reach:
            goal, ee = true_obs[self.terms["goal"]], true_obs[self.terms["ee_pos"]]
            if np.linalg.norm(goal - ee) < FEEDBACK_RADIUS_M:
                self._aim += FEEDBACK_GAIN * (goal - ee)
            obs = dict(true_obs, **{self.terms["goal"]: goal + self._aim})
        action = np.array(self.expert.act(obs), dtype=float)
        n = len(self.spec.joint_names)
        action[:n] += self.rng.normal(0.0, self.config.action_noise_rad, n)
        return action

    def _grasping(self, true_obs: dict[str, np.ndarray]) -> bool:
        """wait_for_grasp (pick-cube only): the hand is at the cube and the fingers moved since the last step."""
        if self.reach or not self.config.wait_for_grasp:
            return False
        fingers = float(np.mean(true_obs[self.terms["gripper_pos"]]))
        moving = self._fingers is not None and abs(fingers - self._fingers) > FINGER_MOVING_M
        self._fingers = fingers
        ee, cube, _ = self._pick_state(true_obs)
        return moving and np.linalg.norm(ee[:2] - cube[:2]) < GRASP_XY_M and 0.0 <= ee[2] - cube[2] < GRASP_Z_M

    def _close_enough(self, distance: float) -> bool:
        return self.reach and distance < self.config.release_factor * self.spec.success.threshold

    def _release(self) -> None:
        """Hand control back; the policy gets a fresh patience window."""
        self._takeover_left = 0
        self._correction = ""
        self._distances.clear()

    def _stalled(self, distance: float) -> bool:
        p = self.config.patience_steps
        if len(self._distances) <= p:
            return False
        if self.reach and distance <= self.config.engage_factor * self.spec.success.threshold:
            return False
        return self._distances[-1 - p] - distance < self.config.min_progress_m


def make_human(spec, robot_model, config: HumanConfig | None = None, seed: int = 0) -> SimulatedHuman:
    """The simulated human for ``spec``: its scripted expert (closed-loop variant for pick-cube) with
    ``config.expert_noise``, noise seeded by ``seed``."""
    from robot_rl_sim.experts import PickCubeExpert, make_expert

    config = config or HumanConfig.for_task(spec)
    if spec.success.kind == "object_lifted":
        expert = PickCubeExpert(spec, robot_model, seed=seed, noise=config.expert_noise, wait_for_fingers=True)
    else:
        expert = make_expert(spec, seed=seed, noise=config.expert_noise, model=robot_model)
    return SimulatedHuman(spec, expert, config, seed=seed + 1)
