"""The stop criterion after a command source goes silent, from measured joint speeds.

With T the time of the last command and deadline = T + watchdog timeout + 2 control periods:
- braking has begun by the deadline: no joint's speed rises above its running minimum after the
  deadline by more than SETTLE_SPEED (the impedance loop's settling at the end of the brake);
- the robot is at rest (every |v| < REST_SPEED) by deadline + braking budget + STOP_TOLERANCE,
  where the budget max_j(v0_j / a_j + a_j / j_j) is what the deceleration and jerk limits allow
  from the speeds v0 at the deadline.
"""

from __future__ import annotations

import numpy as np

from robot_rl.robot.model import JointLimits

REST_SPEED = 0.01  # rad/s: "at rest"
SETTLE_SPEED = 0.03  # rad/s: speed rise tolerated after the deadline (PD settling as the brake ends)
STOP_TOLERANCE = 0.02  # s: DDS hop filter -> control node + reference-to-torque tick + PD settling


def stop_metrics(t: np.ndarray, v: np.ndarray, last_command: float, watchdog: float, control_period: float,
                 limits: JointLimits) -> tuple[float, float, float]:
    """(largest speed rise after the deadline rad/s, time from the deadline to rest s, braking budget s).

    Args:
        t: (k,) sample times, s. v: (k, n) measured joint velocities, rad/s.
        last_command: time of the last command, s.
    """
    deadline = last_command + watchdog + 2 * control_period
    after = t >= deadline
    speed = np.abs(v[after])
    rise = float((speed - np.minimum.accumulate(speed, axis=0)).max())
    budget = float(np.max(speed[0] / limits.acceleration + limits.acceleration / limits.jerk))
    moving = np.nonzero(speed.max(axis=1) >= REST_SPEED)[0]
    if not len(moving):
        rest = 0.0
    elif moving[-1] + 1 < len(speed):
        rest = float(t[after][moving[-1] + 1] - deadline)
    else:  # still moving at the last sample
        rest = float("inf")
    return rise, rest, budget


def assert_stopped_in_time(rise: float, rest: float, budget: float) -> None:
    """Fail with the figures unless the criterion holds."""
    assert rise <= SETTLE_SPEED, f"speed rose {rise:.4f} rad/s after the watchdog deadline"
    assert rest <= budget + STOP_TOLERANCE, (
        f"at rest {rest * 1e3:.1f} ms after the deadline; the limits allow {budget * 1e3:.1f} ms "
        f"+ {STOP_TOLERANCE * 1e3:.0f} ms")
