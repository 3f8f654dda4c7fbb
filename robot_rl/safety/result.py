"""What the safety filter returns: the command it allowed and every intervention, with its reason."""

from __future__ import annotations

from dataclasses import dataclass, field

from robot_rl.command import JointTrajectoryCommand


class Reason:
    """Intervention reasons (stable strings: they key the diagnostics counters and logs)."""

    # rejections: the command is dropped, the previously allowed plan keeps running
    NON_FINITE = "non_finite"
    BAD_SHAPE = "bad_shape"
    UNKNOWN_JOINT = "unknown_joint"
    DUPLICATE_JOINT = "duplicate_joint"
    MISSING_JOINT = "missing_joint"
    BAD_TIMES = "bad_times"
    STALE = "stale"
    FUTURE = "future"
    NO_STATE = "no_state"
    ESTOPPED = "estopped"
    NO_SAFE_PATH = "no_safe_path"
    INTERNAL_ERROR = "internal_error"  # a bug in the filter: the stop is latched (see safety/guard.py)
    # clamps: the command is changed and the change is what goes out
    POSITION_LIMIT = "position_limit"
    VELOCITY_LIMIT = "velocity_limit"
    ACCELERATION_LIMIT = "acceleration_limit"
    JERK_LIMIT = "jerk_limit"
    TORQUE_LIMIT = "torque_limit"
    EFFORT_DROPPED = "effort_dropped"
    MEASURED_STATE = "measured_state"  # the measured state is outside the allowed set: recovering (anchoring.py)
    WORKSPACE = "workspace"
    SELF_COLLISION = "self_collision"
    # stops
    WATCHDOG = "watchdog"
    ESTOP = "estop"
    RESET = "reset"
    # time
    CLOCK_STEP = "clock_step"  # the ROS clock stepped, or the filter was given a time before the latest

    REJECTIONS = (NON_FINITE, BAD_SHAPE, UNKNOWN_JOINT, DUPLICATE_JOINT, MISSING_JOINT, BAD_TIMES, STALE,
                  FUTURE, NO_STATE, ESTOPPED, NO_SAFE_PATH, INTERNAL_ERROR)
    ALL = REJECTIONS + (POSITION_LIMIT, VELOCITY_LIMIT, ACCELERATION_LIMIT, JERK_LIMIT, TORQUE_LIMIT, EFFORT_DROPPED,
                        MEASURED_STATE, WORKSPACE, SELF_COLLISION, WATCHDOG, ESTOP, RESET, CLOCK_STEP)


class Status:
    """Filter state reported in diagnostics."""

    OK = "ok"
    HOLDING = "holding"
    ESTOPPED = "estopped"
    FAULT = "fault"  # stop latched by an internal error (SafetyFilter.fault says which); reset clears it


@dataclass(frozen=True)
class Intervention:
    """One thing the filter rejected or changed.

    Attributes:
        reason: one of :class:`Reason`.
        joint: the joint concerned, or None when it is not joint-specific.
        detail: human-readable specifics (values with units).
    """

    reason: str
    joint: str | None = None
    detail: str = ""

    def __str__(self) -> str:
        where = f" [{self.joint}]" if self.joint else ""
        return f"{self.reason}{where}: {self.detail}"


@dataclass
class FilterResult:
    """Outcome of one filter call.

    Attributes:
        allowed: the trajectory to send to the control node (absolute ``stamp``, waypoints on the
            filter's output grid), or None when nothing new goes out (the previous plan keeps running).
        interventions: everything that was rejected or changed, in check order.
        status: :class:`Status` after this call.
    """

    allowed: JointTrajectoryCommand | None
    interventions: list[Intervention] = field(default_factory=list)
    status: str = Status.OK

    @property
    def rejected(self) -> bool:
        """True if the command was dropped."""
        return any(i.reason in Reason.REJECTIONS for i in self.interventions)
