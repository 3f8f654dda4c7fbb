"""Robot conformance checks (``robot-rl check-robot``): does a robot YAML + URDF behave under robot_rl's stack?

Every check runs in process on MuJoCo's clock (the control core steps the simulated robot in lockstep), so the
figures are deterministic and do not depend on machine load, except loop timing, which is measured wall time.

* FK agreement: pinocchio's and MuJoCo's positions of the end-effector frame's body at random joint positions.
* Hold: the arm commanded to hold its default pose for ``HOLD_S``; max drift.
* Standard move: every joint 0.3 rad (towards the middle of its range) in 1 s, through the trajectory follower
  and the impedance law; max tracking error (reference - measured) and the time until every joint is within
  ``SETTLE_RAD`` of the target.
* Hostile streams (see :mod:`robot_rl.robot.hostile`): jumps, targets outside the workspace and in collision,
  bursts, through the safety filter into the control core; worst velocity ratio to the plan's limit, worst
  floor clearance, link contacts, out-of-box excursion.
* Loop timing: wall time of one control tick (filter excluded), p50/p99.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from robot_rl.command import JointTrajectoryCommand

HOLD_S = 1.0
MOVE_RAD, MOVE_S, SETTLE_RAD = 0.3, 1.0, 0.005
TRACKING_BOUND_RAD = 0.01
"""Max tracking error a conforming robot keeps during the standard move (rad)."""
HOLD_BOUND_RAD = 1e-3
FK_BOUND_M = 1e-6


@dataclass
class _Sim:
    """A robot model, its MuJoCo hardware and a control core stepping on MuJoCo's clock."""

    model: object
    hardware: object
    core: object

    def tick(self, steps: int = 1) -> None:
        for _ in range(steps):
            self.core.tick()


def simulate(model) -> _Sim:
    """A fresh simulated robot at its default pose, controlled by robot_rl's control core."""
    from robot_rl.control import ControlCore
    from robot_rl_sim.hardware import MujocoHardware

    hardware = MujocoHardware(model.config)
    return _Sim(model, hardware, ControlCore(model, hardware, clock=lambda: float(hardware.data.time)))


def fk_agreement(model, samples: int = 20, seed: int = 0) -> float:
    """Max distance (m) between pinocchio's and MuJoCo's end-effector body position over random joint positions."""
    import mujoco

    from robot_rl_sim.hardware import MujocoHardware

    hardware = MujocoHardware(model.config)
    m, d = hardware.model, hardware.data
    body = model.config.ee_frame  # a URDF link: a MuJoCo body (fusestatic off) and a pinocchio body frame
    rng, worst = np.random.default_rng(seed), 0.0
    for _ in range(samples):
        q = rng.uniform(model.limits.soft_lower, model.limits.soft_upper)
        hardware.reset(q)
        mujoco.mj_kinematics(m, d)
        worst = max(worst, float(np.linalg.norm(d.body(body).xpos - model.fk(q, body))))
    return worst


def hold(model, seconds: float = HOLD_S) -> float:
    """Max |q - default pose| (rad) while holding the default pose for ``seconds``."""
    sim = simulate(model)
    worst = 0.0
    for _ in range(int(seconds / model.config.control_period)):
        sim.tick()
        worst = max(worst, float(np.abs(sim.core.last_state.position - model.config.default_pose).max()))
    return worst


def standard_move(model, friction_feedforward: bool = True, seconds: float = 3.0) -> dict:
    """The standard move from the default pose: max tracking error (rad) and settle time (s, None if never).

    ``friction_feedforward=False`` drops the URDF damping and friction term from the controller (to show its
    effect)."""
    if not friction_feedforward:
        zero = np.zeros(model.dof)  # instance attribute, deleted below: the class method returns
        model.friction_parameters = lambda: (zero, zero)
    try:
        return _move(simulate(model), seconds)
    finally:
        model.__dict__.pop("friction_parameters", None)


def _move(sim: _Sim, seconds: float) -> dict:
    model = sim.model
    lim, q0 = model.limits, model.config.default_pose
    target = q0 + MOVE_RAD * np.where(q0 <= (lim.soft_lower + lim.soft_upper) / 2, 1.0, -1.0)
    dt = model.config.control_period
    sim.tick(int(0.2 / dt))
    start = float(sim.hardware.data.time)
    sim.core.submit(JointTrajectoryCommand(model.joint_names, start, [MOVE_S], target[None], source="check"))
    worst, settled = 0.0, None
    for _ in range(int(seconds / dt)):
        sim.tick()
        worst = max(worst, float(sim.core.tracking_error().max()))
        inside = np.abs(sim.core.last_state.position - target).max() <= SETTLE_RAD
        settled = (settled if settled is not None else sim.core.last_tick_time - start) if inside else None
    return {"tracking_error_rad": worst, "settle_s": settled}


def loop_timing(model, ticks: int = 2000) -> dict:
    """Wall time of one control tick (ms, p50 and p99) on this machine, following the standard move."""
    sim = simulate(model)
    target = model.config.default_pose + 0.1
    sim.core.submit(JointTrajectoryCommand(model.joint_names, 0.0, [1.0], target[None], source="check"))
    durations = np.empty(ticks)
    for i in range(ticks):
        start = time.perf_counter()
        sim.tick()
        durations[i] = time.perf_counter() - start
    return {"tick_ms_p50": float(np.percentile(durations, 50) * 1e3),
            "tick_ms_p99": float(np.percentile(durations, 99) * 1e3), "period_ms": model.config.control_period * 1e3}


HOSTILE_STREAMS = ((4, True), (6, False))
"""(seed, bursts) of the hostile streams every robot is checked with."""


def check_robot(robot: str, hostile_seconds: float = 6.0, timing: bool = True) -> dict:
    """Every conformance figure of ``robot`` (a shipped name or YAML path) and the failures, one sentence each.

    Bounds: FK agreement < FK_BOUND_M, hold drift < HOLD_BOUND_RAD, standard-move tracking error <
    TRACKING_BOUND_RAD and settled, hostile streams within :data:`robot_rl.robot.hostile.LIMITS`, median control
    tick (wall time, filter excluded) below half the control period (with ``timing``).
    """
    from robot_rl.robot import load_robot_model
    from robot_rl.robot.hostile import hostile_figures, run_hostile, violations

    model = load_robot_model(robot)
    result = {"robot": model.config.name, "fk_error_m": fk_agreement(model), "hold_drift_rad": hold(model),
              **standard_move(model)}
    worst: dict[str, float] = {}
    failures = []
    for seed, bursts in HOSTILE_STREAMS:
        q, v, _ = run_hostile(model, seed, hostile_seconds, bursts)
        figures = hostile_figures(model, q, v)
        failures += [f"hostile stream (seed {seed}, bursts {bursts}): {text}" for text in violations(figures)]
        for name, value in figures.items():
            keep = min if name == "min_link_or_floor_distance_m" else max
            worst[name] = keep(worst.get(name, value), value)
    result["hostile"] = worst
    if result["fk_error_m"] >= FK_BOUND_M:
        failures.append(f"pinocchio and MuJoCo FK differ by {result['fk_error_m']:.3g} m")
    if result["hold_drift_rad"] >= HOLD_BOUND_RAD:
        failures.append(f"drifts {result['hold_drift_rad']:.3g} rad while holding its pose")
    if result["tracking_error_rad"] >= TRACKING_BOUND_RAD or result["settle_s"] is None:
        failures.append(f"standard move: tracking error {result['tracking_error_rad']:.3g} rad, settled "
                        f"after {result['settle_s']} s")
    if timing:
        result["timing"] = loop_timing(model)
        if result["timing"]["tick_ms_p50"] >= 0.5 * result["timing"]["period_ms"]:
            failures.append(f"median control tick {result['timing']['tick_ms_p50']:.3g} ms is over half the period")
    result["failures"] = failures
    return result
