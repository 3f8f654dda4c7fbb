"""The stop after the command source goes silent: the layers that brake the robot and the criterion checked on it.

Two layers brake, each on its own clock and scheduling:
1. the safety filter's plan: every plan brakes to rest from (filter's receipt of the last valid command T_f) +
   watchdog_timeout. The control node follows it directly if the plan reached it within output_latency of T_f
   (a continuation of what it follows); a later plan, or one spliced onto a plan the node did not take, that does
   not continue the reference is refused while the plan being followed has not ended, and one older than
   command_timeout on arrival always (TrajectoryFollower, ControlCore), so the robot stays on a plan made at or
   before T_f, whose brake has begun by the deadline.
2. the control node's own command watchdog (ControlCore ``command_timeout``): no new command for command_timeout
   after the tick that applied the last one (T_c) -> it brakes at the robot's full limits, in its 1 kHz loop
   thread, whether or not the filter (or DDS) is scheduled on time; a plan it chases (does not follow directly)
   is braked so already when the plan's own dead-man brake begins (its stamp + watchdog_timeout).
The criterion below is checked from the deadline of the layer that applies (:func:`stop_deadline`).
"""

from __future__ import annotations

import numpy as np

from robot_rl.robot.model import JointLimits

REST_SPEED = 0.01  # rad/s: "at rest"
SETTLE_SPEED = 0.03  # rad/s: speed rise tolerated after the deadline (PD settling as the brake ends)
STOP_TOLERANCE = 0.02  # s: DDS hop filter -> control node + reference-to-torque tick + PD settling


def control_command_timeout_s(watchdog_timeout: float, output_dt: float) -> float:
    """The control node's command_timeout (s) behind a safety filter with these parameters (s).

    The filter's plan brakes from the first grid point at or after T_f + watchdog_timeout, i.e. by T_f +
    watchdog_timeout + output_dt; the node applies that plan at T_c >= T_f, so its own brake at T_c + this timeout
    never cuts a plan before the plan's brake has begun, and takes over (at the robot's full limits) right after
    it if the plan brakes slower than the limits allow or never arrives."""
    return watchdog_timeout + output_dt


def stop_deadline(filter_receipt: float, node_receipt: float, watchdog: float, output_latency: float,
                  output_dt: float, command_timeout: float, control_period: float) -> tuple[float, str]:
    """(time s by which the robot must be braking, the layer that holds it).

    Args:
        filter_receipt: T_f, the filter's receipt of the last valid command (s).
        node_receipt: T_c, the control node's tick that applied its last command (s, on the clock its
            /joint_states are stamped with).
        watchdog, output_latency, output_dt: the filter's watchdog_timeout, output_latency and output grid step
            (s): its plan brakes from the first grid point at or after T_f + watchdog.
        command_timeout: the control node's (s).
        control_period: s; 2 periods: the reference-to-torque tick and the measurement tick.
    """
    if node_receipt - filter_receipt <= output_latency:
        return filter_receipt + watchdog + output_dt + 2 * control_period, "filter plan"
    return node_receipt + command_timeout + 2 * control_period, "control node watchdog"


def stop_metrics(t: np.ndarray, v: np.ndarray, deadline: float, limits: JointLimits) -> tuple[float, float, float]:
    """(largest speed rise after ``deadline`` rad/s, time from the deadline to rest s (inf: still moving at the
    last sample), braking budget s).

    - braking has begun by the deadline: no joint's speed rises above its running minimum after it by more than
      SETTLE_SPEED;
    - at rest (every |v| < REST_SPEED) by deadline + budget + STOP_TOLERANCE, where the budget
      max_j(v0_j / a_j + a_j / j_j) is what the deceleration and jerk limits allow from the speeds v0 at the deadline.

    Args:
        t: (k,) sample times, s. v: (k, n) measured joint velocities, rad/s.
    """
    after = t >= deadline
    speed = np.abs(v[after])
    rise = float((speed - np.minimum.accumulate(speed, axis=0)).max())
    budget = float(np.max(speed[0] / limits.acceleration + limits.acceleration / limits.jerk))
    moving = np.nonzero(speed.max(axis=1) >= REST_SPEED)[0]
    if not len(moving):
        rest = 0.0
    elif moving[-1] + 1 < len(speed):
        rest = float(t[after][moving[-1] + 1] - deadline)
    else:
        rest = float("inf")
    return rise, rest, budget


def missing_samples(t: np.ndarray, deadline: float, rest: float, period: float) -> tuple[int, float]:
    """(samples missing, largest gap s) among the stamps ``t`` (k,) s of a state stream sampled every ``period`` s,
    from 50 ms before ``deadline`` to 50 ms after the robot came to rest (``rest`` s after it; inf: to the end).

    The criterion reads a gap after the last moving sample as motion until the next sample, and takes the budget
    from the first sample after the deadline: samples lost on the way (a subscriber descheduled for longer than
    the publisher's history) make a stop look late. Judge the stop only on a complete window."""
    end = deadline + rest + 0.05 if np.isfinite(rest) else np.inf
    window = t[(t >= deadline - 0.05) & (t <= end)]
    if window.size < 2:
        return 0, 0.0
    gaps = np.diff(window)
    return int(np.sum(np.maximum(np.round(gaps / period) - 1, 0))), float(gaps.max())


def stop_failures(rise: float, rest: float, budget: float) -> list[str]:
    """What the criterion finds wrong (empty: it holds)."""
    failures = []
    if rise > SETTLE_SPEED:
        failures.append(f"speed rose {rise:.4f} rad/s after the deadline")
    if rest > budget + STOP_TOLERANCE:
        failures.append(f"at rest {rest * 1e3:.1f} ms after the deadline; the limits allow {budget * 1e3:.1f} ms "
                        f"+ {STOP_TOLERANCE * 1e3:.0f} ms")
    return failures
