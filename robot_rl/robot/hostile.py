"""Hostile command streams for a robot, in process: the safety filter and the control core on MuJoCo's clock.

Targets (moved here from the safety tests so ``robot-rl check-robot`` runs them on any robot): jumps across the
range, targets outside the workspace box and in self-collision, near-default moves with NaN/Inf; with ``bursts``
an outside/colliding target is held for 10-40 commands so the arm really drives into the boundary. The figures
say what the stream did to the simulated robot; :data:`LIMITS` are what it must stay within.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from robot_rl.errors import ConfigError

TARGET_KINDS = ("jump", "jump", "outside", "outside", "collide", "collide", "valid")
"""Kinds of finite targets, with their weights (repeats); the ROS source adds message-level kinds."""

BURST_KINDS = ("outside", "collide")
"""Kinds whose target is held for a burst of BURST_COMMANDS commands, so the arm really drives into the box's
boundary or towards itself (a new random target every 20 ms rarely gets there)."""
BURST_COMMANDS = (10, 40)


def _sample(model, rng, want, what: str, tries: int = 20000) -> np.ndarray:
    lim = model.limits
    for _ in range(tries):
        q = rng.uniform(lim.lower, lim.upper)
        if want(q):
            return q
    raise ConfigError(f"robot {model.config.name!r}: no joint position among {tries} random ones is a {what} target")


class HostileTargets:
    """Joint targets (k, n) rad of a given hostile kind for ``model``, drawn from ``rng``; with ``bursts``, an
    outside/colliding target is held for BURST_COMMANDS commands (else each command draws anew)."""

    def __init__(self, model, rng, bursts: bool = False):
        self.model, self.rng, self.bursts = model, rng, bursts
        box = model.config.workspace
        outside = lambda q: not box.contains(model.frame_positions(q, box.links))  # noqa: E731
        self.outside = [_sample(model, rng, outside, "outside-the-box") for _ in range(4)]
        self.colliding = [_sample(model, rng, lambda q: model.min_collision_distance(q)[0] < 0, "colliding")
                          for _ in range(4)]
        self._burst: tuple[str, np.ndarray] | None = None  # (kind, target (n,) rad) being held
        self._burst_left = 0

    def next_kind(self, kinds: tuple[str, ...]) -> str:
        """The next command's kind: the running burst's, else one drawn from ``kinds`` (a burst kind starts one)."""
        if self._burst_left > 0:
            self._burst_left -= 1
            return self._burst[0]
        kind = str(self.rng.choice(kinds))
        if kind in BURST_KINDS:
            pool = self.outside if kind == "outside" else self.colliding
            self._burst = (kind, pool[self.rng.integers(len(pool))])
            self._burst_left = int(self.rng.integers(*BURST_COMMANDS)) - 1 if self.bursts else 0
        return kind

    def positions(self, kind: str, k: int) -> np.ndarray:
        model, rng, lim = self.model, self.rng, self.model.limits
        if kind == "jump":
            return np.repeat(rng.uniform(lim.lower - 0.3, lim.upper + 0.3)[None, :], k, axis=0)
        if kind in BURST_KINDS:
            return np.repeat(self._burst[1][None, :], k, axis=0)
        q = model.config.default_pose + rng.uniform(-0.4, 0.4, model.dof)
        if kind == "nan":
            q = q.copy()
            q[rng.integers(model.dof)] = rng.choice([np.nan, np.inf, -np.inf])
        return np.repeat(q[None, :], k, axis=0)


def hostile_figures(model, q: np.ndarray, v: np.ndarray) -> dict[str, float]:
    """Figures of measured positions q (k, n) rad and velocities v (k, n) rad/s (box and collision every 10th)."""
    lim, box = model.limits, model.config.workspace
    frames = np.array([model.frame_positions(x, box.links) for x in q[::10]])
    return {
        "speed_of_urdf_limit": float((np.abs(v) / model.model.velocityLimit).max()),
        "speed_of_plan_limit": float((np.abs(v) / lim.velocity).max()),  # the YAML's velocity_scale of the URDF's
        "soft_limit_excess_rad": float(np.maximum(q - lim.soft_upper, lim.soft_lower - q).max()),
        "workspace_excess_m": float(np.maximum(frames - box.upper, box.lower - frames).max()),
        "min_link_or_floor_distance_m": min(model.min_collision_distance(x)[0] for x in q[::10]),
    }



LIMITS = {"soft_limit_excess_rad": (0.01, "MuJoCo state left the soft limits (by more than 10 mrad)"),
          "speed_of_urdf_limit": (1.0, "MuJoCo exceeded the URDF velocity limit"),
          "speed_of_plan_limit": (1.1, "tracking overshoot of the plans' velocity above 10 %"),
          "workspace_excess_m": (0.01, "a workspace link left the box (by more than 10 mm)")}
"""Figure -> (bound it must stay below, what leaving it means); and min_link_or_floor_distance_m must stay > 0."""


def violations(figures: dict[str, float]) -> list[str]:
    """What the measured state left, one sentence per limit (empty: within every limit)."""
    out = [f"{text}: {figures[name]:.3g}" for name, (bound, text) in LIMITS.items() if figures[name] >= bound]
    if figures["min_link_or_floor_distance_m"] <= 0.0:
        out.append(f"links touched each other or the table: {figures['min_link_or_floor_distance_m']:.3g} m")
    return out


def run_hostile(model, seed: int, seconds: float, bursts: bool, command_period: float = 0.02
                ) -> tuple[np.ndarray, np.ndarray, Counter]:
    """Measured MuJoCo (positions, velocities), each (k, n), over ``seconds`` of hostile commands every
    ``command_period`` s through the safety filter (the node's default parameters) into the control core, the
    filter's watchdog ticked as the node ticks it; and the filter's interventions counted by reason."""
    from robot_rl.command import JointTrajectoryCommand
    from robot_rl.control import ControlCore
    from robot_rl.params import load_param_specs
    from robot_rl.safety import SafetyConfig, SafetyFilter
    from robot_rl_sim.hardware import MujocoHardware

    params = {name: spec.default for name, spec in load_param_specs("safety_filter").items()}
    safety = SafetyFilter(model, SafetyConfig.from_params(params))
    hardware = MujocoHardware(model.config)
    core = ControlCore(model, hardware, clock=lambda: float(hardware.data.time))
    targets, rng = HostileTargets(model, np.random.default_rng(seed), bursts), np.random.default_rng(seed + 1000)
    period = model.config.control_period
    every_command, every_watchdog = round(command_period / period), round(params["watchdog_period"] / period)
    positions, velocities, reasons = [], [], Counter()
    for i in range(int(seconds / period)):
        now = float(hardware.data.time)
        result = None
        if i % every_command == 0:
            k = int(rng.integers(1, 6))
            command = JointTrajectoryCommand(model.joint_names, now, 0.05 * np.arange(1, k + 1),
                                             targets.positions(targets.next_kind(TARGET_KINDS), k))
            result = safety.filter(command, core.last_state.position, now)
        elif i % every_watchdog == 0:
            result = safety.tick(now)
        if result is not None:
            reasons.update(item.reason for item in result.interventions)
            if result.allowed is not None:
                core.submit(result.allowed)
        state = core.tick()
        positions.append(state.position)
        velocities.append(state.velocity)
    return np.array(positions), np.array(velocities), reasons
