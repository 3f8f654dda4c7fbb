"""Whether an observed value is fresh enough to act on (the policy node's object pose)."""

from __future__ import annotations


def fresh_pose(pose, stamp: float | None, now: float, timeout_s: float):
    """(``pose`` or None, why): None with the reason when there is none or it is older than ``timeout_s``
    (its ``stamp`` and ``now`` in s); a policy must treat that as a missing observation, never act on it."""
    if pose is None or stamp is None:
        return None, "no object pose received yet"
    age = now - stamp
    if age > timeout_s:
        return None, f"object pose is stale ({age:.2f} s old > {timeout_s} s)"
    return pose, ""
