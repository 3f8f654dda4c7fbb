"""What the robot executed, in the residual's units: the inverse of the policy runtime's action mapping.

The policy node turns raw actions into joint position targets (:class:`robot_rl.policy.runtime.PolicyRuntime`)::

    processed = clip(raw * scale + offset, lo, hi)            per arm joint
    target    = processed           (joint_pos_abs)
    target    = q_obs + processed   (joint_pos_delta; q_obs: joint positions the chunk was inferred from)

:func:`raw_from_targets` inverts this for one executed step, so a command that reached the robot (the
policy's, or a human's through the command mux) becomes the raw action the policy would have had to
output; :func:`residual_label` expresses it as the residual the learner stores, in [-1, 1].

Where the clip is active the inverse is ambiguous (every raw action beyond the bound gives the bound):
of the raw actions consistent with the target, the one nearest the base's raw action is taken, i.e.
the smallest correction that explains what was executed. A target beyond the clip (a human's command
the policy could not have produced) is treated as the bound. ``joint_vel`` contracts are refused: a
position target per step does not determine the commanded velocity without the previous step's target.
The gripper scalar (if the contract has one): when the executed gripper state (closed or open) is known and
differs from the base's (raw > 0 closes), the executed raw is +1 (closed) or -1 (open); otherwise the base's.
"""

from __future__ import annotations

import numpy as np

from robot_rl.command import JointTrajectoryCommand
from robot_rl.errors import CommandError, ConfigError
from robot_rl.policy.schema import PolicyContract

INVERTIBLE_TYPES = ("joint_pos_abs", "joint_pos_delta")
GRIPPER_LABELS = ("both", "close", "none")
"""Which executed gripper states label the gripper entry (:func:`gripper_evidence`): ``both`` (a human who opens or
closes against the base), ``close`` (only closing where the base would not: grasp timing; an executed open where the
base closes keeps the base's entry), ``none`` (always the base's)."""
BOUND_TOLERANCE = 1e-9  # rad: a target this close to a clip bound counts as clipped


def check_invertible(contract: PolicyContract) -> None:
    """ConfigError naming the problem if executed targets cannot be mapped back to raw actions."""
    action = contract.action
    if action.type not in INVERTIBLE_TYPES:
        raise ConfigError(f"action type {action.type!r} cannot be inverted from joint position targets "
                          f"(supported: {INVERTIBLE_TYPES}); a joint_vel target depends on the previous step's")
    if any(s == 0.0 for s in action.scale):
        raise ConfigError(f"action.scale {action.scale} has a zero entry: raw actions cannot be recovered")


def raw_from_targets(contract: PolicyContract, targets: np.ndarray, q_obs: np.ndarray,
                     base_raw: np.ndarray, gripper_closed: bool | None = None) -> np.ndarray:
    """Raw action (a,) that makes the policy runtime command ``targets`` (n,) rad.

    Args:
        contract: the base policy's contract (action type, scale, offset, clip; n arm joints).
        targets: executed joint position targets (n,) rad, in ``contract.action_joint_names`` order.
        q_obs: (n,) rad, joint positions of the observation the chunk was inferred from (joint_pos_delta).
        base_raw: the base policy's raw action (a,) for this step: picks the raw action where the clip makes
            the inverse ambiguous, and gives the gripper entry.
        gripper_closed: the executed gripper state (None: unknown, the base's entry is kept).
    """
    check_invertible(contract)
    action, n = contract.action, len(contract.action_joint_names)
    base_raw = np.asarray(base_raw, dtype=float)
    processed = np.asarray(targets, dtype=float)
    if action.type == "joint_pos_delta":
        processed = processed - np.asarray(q_obs, dtype=float)
    scale, offset = np.asarray(action.scale), np.asarray(action.offset)
    raw = (processed - offset) / scale
    if action.clip is not None:
        raw = _nearest_consistent(raw, processed, base_raw[:n], scale, offset, action.clip)
    out = base_raw.copy()
    out[:n] = raw
    if action.gripper and gripper_closed is not None and bool(gripper_closed) != bool(base_raw[n] > 0.0):
        out[n] = 1.0 if gripper_closed else -1.0
    return out


def gripper_evidence(gripper_closed: bool | None, mode: str) -> bool | None:
    """The executed gripper state :func:`raw_from_targets` may label from under ``mode`` (:data:`GRIPPER_LABELS`);
    None keeps the base's entry. ConfigError naming the modes for an unknown one."""
    if mode not in GRIPPER_LABELS:
        raise ConfigError(f"gripper_labels {mode!r} unknown; known: {GRIPPER_LABELS}")
    if mode == "none" or gripper_closed is None:
        return None
    return bool(gripper_closed) if mode == "both" or gripper_closed else None


def _nearest_consistent(raw: np.ndarray, processed: np.ndarray, base: np.ndarray, scale: np.ndarray,
                        offset: np.ndarray, clip) -> np.ndarray:
    """Where ``processed`` (n,) is at (or past) a clip bound: the raw action nearest ``base`` (n,) that
    the clip maps onto that bound; elsewhere ``raw`` (n,) unchanged."""
    lo, hi = np.asarray(clip[0]), np.asarray(clip[1])
    base_processed = base * scale + offset
    for bound, at_bound, beyond in ((hi, processed >= hi - BOUND_TOLERANCE, base_processed >= hi),
                                    (lo, processed <= lo + BOUND_TOLERANCE, base_processed <= lo)):
        raw = np.where(at_bound, np.where(beyond, base, (bound - offset) / scale), raw)
    return raw


def residual_label(executed_raw: np.ndarray, base_raw: np.ndarray, scale) -> np.ndarray:
    """The executed residual (a,) in [-1, 1]: clip((executed_raw - base_raw) / scale); ``scale`` in raw units,
    a scalar or per entry (a,) (:func:`robot_rl.policy.runtime.residual_scales`)."""
    return np.clip((np.asarray(executed_raw, float) - np.asarray(base_raw, float)) / scale, -1.0, 1.0)


def target_at(times: np.ndarray, positions: np.ndarray, t: float) -> np.ndarray:
    """Position (n,) a trajectory commands at absolute time ``t`` (s): linear between its points (absolute
    times (k,) s, increasing; positions (k, n) rad), its first point before them, its last after them (the
    control node holds a trajectory's end)."""
    times, positions = np.asarray(times, dtype=float), np.asarray(positions, dtype=float)
    if times.ndim != 1 or positions.shape[:1] != times.shape or not len(times):
        raise ConfigError(f"target_at needs k >= 1 times and (k, n) positions, got {times.shape}, {positions.shape}")
    return np.array([np.interp(t, times, positions[:, j]) for j in range(positions.shape[1])])


def command_target(command: JointTrajectoryCommand, joint_names: tuple[str, ...], t: float) -> np.ndarray:
    """Position (n,) rad that ``command`` sets for ``joint_names`` (matched by name) at absolute time ``t`` s
    (waypoint i is due at ``command.stamp + command.times[i]``; see :func:`target_at`).

    Raises:
        CommandError: a malformed command, or one lacking some of ``joint_names`` (named).
    """
    command.validate()
    index = {name: i for i, name in enumerate(command.joint_names)}
    missing = [name for name in joint_names if name not in index]
    if missing:
        raise CommandError(f"command lacks joints {missing}")
    columns = command.positions[:, [index[name] for name in joint_names]]
    return target_at(command.stamp + command.times, columns, t)
