"""The simulated human's anticipating trigger for pick-cube (``HumanConfig.anticipate``, simulation only).

A stand-in for a person who watches the true state and steps in *while* the pick is going wrong, briefly,
instead of after the failure (the stall trigger of :mod:`.human`). All heights are of the hand (the
end effector, ``ee``) above the true cube centre (``cube``), m; ``half`` is the cube's half size;
``grasp`` is the expert's nominal grasp height ``GRASP_DEPTH`` (7 mm); the finger opening is the first
finger's position (m, 0.04 open, ~``half`` on the cube). The cube is *held* when it is more than
``LIFTED_M`` (5 mm) above its resting height and the hand within ``grasp + RISEN_M`` above its centre.

**Trigger A, misaligned descent** -> correction ``recentre``: the cube is not held, the hand is low
(below ``grasp + LOW_M``, 3 cm) and its horizontal offset from the cube centre exceeds ``MISALIGNED_M``
(8 mm), whatever the fingers do (closing while misaligned included).

**Trigger B, empty lift** -> correction ``close``: the cube is not held, the hand is over it (horizontal
offset under ``NEAR_XY_M``, 4 cm) and between ``grasp + RISEN_M`` (5 mm) and ``grasp + RISEN_TOP_M``
(8 cm), and the fingers have begun closing (opening under ``OPEN_M - 3 mm``) but are not shut narrower
than the cube (opening above ``half - SHUT_M``, 4 mm): the hand is rising before the fingers hold the cube.

**Correction** (after the reaction delay, as the stall trigger): the pick-cube expert started in the named
phase from the current state (its IK, noise and phase machinery): ``recentre`` moves the hand over the true
cube at its current height with the fingers open and ends once within ``ALIGNED_M`` (3 mm) horizontally;
``close`` drives the hand to the grasp point with the fingers closing and ends once they have settled
(``FINGERS_SETTLED``, 0.5 mm per step, at least ``CLOSE_STEPS``). The human hands back when the expert
leaves that phase, or after ``HumanConfig.anticipate_max_steps``. If, when the delay has passed, the
correction is done or moot (the cube held; ``recentre``: the hand aligned, or no longer low (the policy
has lifted it); ``close``: the fingers shut narrower than the cube, too late to hold the hand down), it
does not take over. The stall trigger stays as the
fallback for anything else (then the whole pick is restarted, as without ``anticipate``).
"""

from __future__ import annotations

import numpy as np

from robot_rl_sim.experts.pick_cube import ALIGNED_M, GRASP_DEPTH

MISALIGNED_M = 0.008  # A: horizontal hand-to-cube offset of a misaligned descent (m)
LOW_M = 0.03  # the hand is "low" within this of the grasp height (m)
RISEN_M = 0.005  # B: the hand has risen this far above the grasp height (m)
RISEN_TOP_M = 0.08  # B: ... and not farther (m)
SHUT_M = 0.004  # B: the fingers are shut on nothing under half the cube's size minus this (m)
NEAR_XY_M = 0.04  # B: the hand is over the cube within this horizontal offset (m)
OPEN_M = 0.04  # the finger opening when open (m); B needs it under OPEN_M - 3 mm
LIFTED_M = 0.005  # the cube counts as lifted this far above its resting height (m)


def anticipated(ee: np.ndarray, cube: np.ndarray, fingers: float, half: float) -> str | None:
    """The correction a person watching would start now: ``"recentre"`` (A), ``"close"`` (B) or None.

    Args: ee (3,) hand position m, cube (3,) true cube centre m, fingers: opening m, half: cube half size m.
    """
    if held(ee, cube, half):
        return None
    height = ee[2] - cube[2] - GRASP_DEPTH
    offset = float(np.linalg.norm(ee[:2] - cube[:2]))
    if height < LOW_M and offset > MISALIGNED_M:
        return "recentre"
    if RISEN_M < height < RISEN_TOP_M and offset < NEAR_XY_M and half - SHUT_M < fingers < OPEN_M - 0.003:
        return "close"
    return None


def held(ee: np.ndarray, cube: np.ndarray, half: float) -> bool:
    """The cube is off the table (> ``LIFTED_M``) with the hand at it (within grasp + ``RISEN_M`` above)."""
    return bool(cube[2] > half + LIFTED_M and ee[2] - cube[2] < GRASP_DEPTH + RISEN_M)


def moot(phase: str, ee: np.ndarray, cube: np.ndarray, fingers: float, half: float) -> bool:
    """At the end of the reaction delay, the correction is done or too late (see the module docstring)."""
    if phase == "recentre":
        done = float(np.linalg.norm(ee[:2] - cube[:2])) < ALIGNED_M or ee[2] - cube[2] - GRASP_DEPTH >= LOW_M
    else:
        done = fingers < half - SHUT_M
    return done or held(ee, cube, half)
