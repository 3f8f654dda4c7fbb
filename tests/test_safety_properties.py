"""Property tests of the safety filter against hostile command streams.

The checker here is independent of the filter's code: it rebuilds the trajectory the control node
is asked to follow from the filter's OUTPUT messages alone (each message replaces the previous one
from its first point on), then finite-differences it on the grid and checks every limit.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from robot_rl.command import JointTrajectoryCommand
from robot_rl.robot import load_robot_model
from robot_rl.safety import Reason, SafetyConfig, SafetyFilter

DT = 0.01
MODEL = load_robot_model("panda")
LIM = MODEL.limits
NAMES = MODEL.joint_names
BOX = MODEL.config.workspace
MANY = settings(max_examples=10_000, deadline=None)


class ExecutedTrajectory:
    """The grid trajectory the control node follows, rebuilt from output messages only."""

    def __init__(self, q0: np.ndarray):
        self.q0 = np.array(q0, float)
        self.first_stamp: float | None = None
        self.points: dict[int, np.ndarray] = {}

    def index(self, t: float) -> int:
        return int(np.floor((t - self.first_stamp) / DT + 1e-6))

    def receive(self, msg: JointTrajectoryCommand) -> None:
        assert msg.joint_names == NAMES
        assert np.allclose(np.diff(msg.times), DT) and msg.times[0] == 0.0
        if self.first_stamp is None:
            self.first_stamp = msg.stamp
            for k in (-2, -1):
                self.points[k] = self.q0
        k0 = int(round((msg.stamp - self.first_stamp) / DT))
        last = max(self.points)
        for k in range(last + 1, k0):  # the robot held the last point in between
            self.points[k] = self.points[last]
        assert np.array_equal(msg.positions[0], self.position(k0)), "output jumps at the splice point"
        self.points = {k: q for k, q in self.points.items() if k < k0}
        for i, q in enumerate(msg.positions):
            self.points[k0 + i] = q.copy()

    def position(self, k: int) -> np.ndarray:
        if self.first_stamp is None:
            return self.q0
        keys = sorted(self.points)
        return self.points[min(max(k, keys[0]), keys[-1])]

    def measured(self, now: float) -> np.ndarray:
        return self.q0 if self.first_stamp is None else self.position(self.index(now))

    def sequence(self) -> np.ndarray:
        keys = sorted(self.points)
        assert keys == list(range(keys[0], keys[-1] + 1))
        seq = [self.points[k] for k in keys]
        return np.array(seq + [seq[-1]] * 3)  # the last point is held


def check_limits(seq: np.ndarray, check_workspace: bool = True) -> None:
    """Independent limit check of a grid trajectory (m, n)."""
    assert np.all(np.isfinite(seq))
    assert np.all(seq >= LIM.soft_lower - 1e-9) and np.all(seq <= LIM.soft_upper + 1e-9), "position limit"
    v = np.diff(seq, axis=0) / DT
    a = np.diff(v, axis=0) / DT
    j = np.diff(a, axis=0) / DT
    assert np.all(np.abs(v) <= LIM.velocity * (1 + 1e-7) + 1e-9), f"velocity {np.abs(v).max(axis=0)}"
    assert np.all(np.abs(a) <= LIM.acceleration * (1 + 1e-7) + 1e-6), f"acceleration {np.abs(a).max(axis=0)}"
    assert np.all(np.abs(j) <= LIM.jerk * (1 + 1e-7) + 1e-3), f"jerk {np.abs(j).max(axis=0)}"
    if check_workspace:
        points = np.array([MODEL.frame_positions(q, BOX.links) for q in seq])
        assert BOX.contains(points.reshape(-1, 3), tol=1e-9), "workspace box left"


# ----- hostile command generation -------------------------------------------------------------
def _start_pool(count: int = 24, seed: int = 7) -> list[np.ndarray]:
    """Start poses: the default pose, plus valid poses close to the workspace box or to self-collision."""
    rng, pool = np.random.default_rng(seed), [MODEL.config.default_pose.copy()]
    margin = MODEL.config.collision.margin
    while len(pool) < count:
        q = rng.uniform(LIM.soft_lower, LIM.soft_upper)
        pts = MODEL.frame_positions(q, BOX.links)
        room = np.min(np.minimum(pts - BOX.lower, BOX.upper - pts))
        dist = MODEL.min_collision_distance(q)[0]
        if room > 0 and dist > margin and (room < 0.08 or dist < margin + 0.03):
            pool.append(q)
    return pool


START_POOL = _start_pool()
KINDS = ("push", "push", "push", "valid", "valid", "valid", "jump", "huge", "nan", "inf", "permute", "omit", "duplicate", "unknown",
         "stale", "future", "bad_times", "outside", "effort_nan", "effort")


@st.composite
def hostile_events(draw):
    """A list of (event, advance_s, payload) with commands, ticks, e-stops and resets."""
    n_events = draw(st.integers(1, 12))
    events = []
    for _ in range(n_events):
        event = draw(st.sampled_from(("command",) * 6 + ("tick", "tick", "estop", "reset")))
        advance = draw(st.sampled_from((0.0, 0.003, 0.01, 0.05, 0.12, 0.4)))
        payload = (draw(st.sampled_from(KINDS)), draw(st.integers(1, 6)),
                   draw(st.sampled_from((0.02, 0.3, 1.0, 3.0))), draw(st.integers(0, 2 ** 31)))
        events.append((event, advance, payload))
    return draw(st.integers(0, len(START_POOL) - 1)), draw(st.integers(0, 2 ** 31)), events


def make_command(kind: str, k: int, scale: float, seed: int, q: np.ndarray, now: float, push: np.ndarray):
    """A command of the given hostile kind around the current position q. Returns (command, efforts).

    ``push`` (n,) is a direction kept for the whole stream, so that "push" commands drive the robot
    into the workspace boundary, its limits or itself.
    """
    rng = np.random.default_rng(seed)
    names = list(NAMES)
    positions = q + scale * rng.uniform(-1, 1, (k, len(names)))
    times = np.cumsum(rng.uniform(0.005, 0.1, k))
    stamp, efforts = now - rng.uniform(0, 0.05), None
    if kind == "push":
        positions = q + np.outer(np.arange(1, k + 1) / k, push * scale)
    elif kind == "jump":
        positions = rng.uniform(LIM.lower - 0.5, LIM.upper + 0.5, (k, len(names)))
    elif kind == "huge":
        positions = q + rng.choice([-1e300, 1e12, 1e6, -1e6], (k, len(names)))
    elif kind in ("nan", "inf"):
        bad = rng.random((k, len(names))) < 0.3
        bad[rng.integers(k), rng.integers(len(names))] = True
        positions[bad] = np.nan if kind == "nan" else -np.inf
    elif kind == "permute":
        order = rng.permutation(len(names))
        names, positions = [names[i] for i in order], positions[:, order]
    elif kind == "omit":
        drop = rng.integers(len(names))
        names, positions = names[:drop] + names[drop + 1:], np.delete(positions, drop, axis=1)
    elif kind == "duplicate":
        names[rng.integers(1, len(names))] = names[0]
    elif kind == "unknown":
        names[rng.integers(len(names))] = "not_a_joint"
    elif kind == "stale":
        stamp = now - rng.uniform(0.6, 1e6)
    elif kind == "future":
        stamp = now + rng.uniform(0.06, 1e6)
    elif kind == "bad_times":
        times = rng.permutation(np.concatenate([times, times[:1]])) - rng.uniform(0, 0.2)
        positions = np.vstack([positions, positions[:1]])
    elif kind == "outside":
        positions = q + rng.uniform(-2.5, 2.5, (k, len(names)))  # far targets: workspace/collision/limits
    elif kind == "effort_nan":
        efforts = np.full((k, len(names)), np.nan)
    elif kind == "effort":
        efforts = rng.uniform(-1e4, 1e4, (k, len(names)))
    return JointTrajectoryCommand(tuple(names), stamp, times, positions, source="hostile"), efforts


EXPECTED_REJECT = {"huge": None, "nan": Reason.NON_FINITE, "inf": Reason.NON_FINITE, "omit": Reason.MISSING_JOINT,
                   "duplicate": Reason.DUPLICATE_JOINT, "unknown": Reason.UNKNOWN_JOINT, "stale": Reason.STALE,
                   "future": Reason.FUTURE, "bad_times": Reason.BAD_TIMES, "effort_nan": Reason.NON_FINITE}


def run_events(safety: SafetyFilter, stream, check_workspace: bool = True) -> ExecutedTrajectory:
    """Drive the filter with a stream (start index, push seed, events); check its outputs independently."""
    start, push_seed, events = stream
    q0 = START_POOL[start].copy()
    push = np.random.default_rng(push_seed).uniform(-1, 1, len(NAMES))
    out, now, latched = ExecutedTrajectory(q0), 1000.0, False
    for event, advance, (kind, k, scale, seed) in events:
        now += advance
        measured = out.measured(now)
        if event == "command":
            cmd, efforts = make_command(kind, k, scale, seed, measured, now, push)
            result = safety.filter(cmd, measured, now, efforts)
            expected = Reason.ESTOPPED if latched else EXPECTED_REJECT.get(kind)
            if expected is not None:
                assert result.allowed is None and result.interventions[0].reason == expected, result.interventions
        elif event == "tick":
            result = safety.tick(now)
        elif event == "estop":
            result, latched = safety.estop(now), True
        else:
            before = out.measured(now)
            result, latched = safety.reset(now, measured), False
            if result is not None and result.allowed is not None:
                assert np.array_equal(result.allowed.positions[0], before)
        if result is not None and result.allowed is not None:
            assert not (latched and event in ("command", "tick")), "only the e-stop brake goes out while latched"
            if event == "reset":  # a reset never adds motion: it re-sends the running plan or holds
                sent = result.allowed
                same = out.first_stamp is not None and all(
                    np.array_equal(q, out.position(out.index(sent.stamp) + i)) for i, q in enumerate(sent.positions))
                assert same or np.ptp(sent.positions, axis=0).max() == 0
            if event == "estop":  # decelerates to rest at the limits: Panda brakes in < 0.3 s
                assert len(result.allowed.positions) * DT < 0.5
            out.receive(result.allowed)
    if out.first_stamp is not None:
        check_limits(out.sequence(), check_workspace)
    return out


@MANY
@given(hostile_events())
def test_hostile_streams_never_exceed_limits_or_workspace(events):
    """Collision checks off (10k cases): position, velocity, acceleration, jerk, workspace, finiteness."""
    run_events(SafetyFilter(MODEL, SafetyConfig(check_collision=False)), events)


@MANY
@given(hostile_events())
def test_hostile_streams_with_collision_keep_the_margin(events):
    """Collision checks on (10k cases): also the self-collision margin, checked at every output point."""
    safety = SafetyFilter(MODEL, SafetyConfig(check_collision=True))
    out = run_events(safety, events, check_workspace=False)
    if out.first_stamp is not None:
        for q in out.sequence():
            assert MODEL.min_collision_distance(q)[0] >= MODEL.config.collision.margin - 1e-9
