"""No exception leaves the safety filter: its public methods run inside :func:`fail_safe`.

An exception inside the filter is a bug, not an input problem (inputs are rejected with a named reason
before they reach the planning code). It ends in a LATCHED safe stop: the filter latches its e-stop with
the error kept in ``SafetyFilter.fault`` (reported as status ``fault`` and on /diagnostics), the plan is
replaced by the e-stop's brake to rest at the limits, or, if that fails too, the running plan is kept (every
plan was verified up to rest). Clearing it is the e-stop's ``reset``, which never resumes motion.

The guard also keeps the filter's time monotonic: ``now`` (s, the monotonic clock) that goes backwards or is
not finite is replaced by the latest time seen and reported as ``clock_step``, so no plan point already in the
past is sent again. The measured state is passed on as a C-contiguous float64 array (one compiled signature);
one of the wrong shape or not finite is not used (``no_state``: it never reaches pinocchio, which does not
check sizes).
"""

from __future__ import annotations

import functools
import inspect
import math
import traceback

import numpy as np

from robot_rl.safety.result import FilterResult, Intervention, Reason


def fail_safe(method):
    """Decorator for a public SafetyFilter method with a ``now`` argument (and optionally ``state``)."""
    names = list(inspect.signature(method).parameters)[1:]  # after self
    at_now = names.index("now")
    at_state = names.index("state") if "state" in names else None

    @functools.wraps(method)
    def guarded(self, *args, **kwargs):
        args = list(args)
        now = _get(args, kwargs, at_now, "now")
        try:
            now, note = _monotonic(self, now)
            _put(args, kwargs, at_now, "now", now)
            state_note = None
            if at_state is not None:
                state, state_note = _state(self, _get(args, kwargs, at_state, "state"))
                _put(args, kwargs, at_state, "state", state)
            result = method(self, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - the point: any bug ends in a latched stop, never a dead node
            return latch_fault(self, self.latest_time, method.__name__, exc)
        if state_note is not None and (result is None or result.allowed is None):
            note = note or state_note  # an unusable state is reported where it left nothing to send
        if note is None:
            return result
        if result is None:
            return FilterResult(None, [note], self.status)
        result.interventions.insert(0, note)
        return result

    return guarded


def _get(args: list, kwargs: dict, index: int, name: str):
    return args[index] if index < len(args) else kwargs.get(name)


def _put(args: list, kwargs: dict, index: int, name: str, value) -> None:
    if index < len(args):
        args[index] = value
    else:
        kwargs[name] = value


def _monotonic(safety, now) -> tuple[float, Intervention | None]:
    """(time to use, s; a ``clock_step`` note if ``now`` went backwards or is not finite)."""
    latest = safety.latest_time
    now = float(now)
    if math.isfinite(now) and now >= latest:
        safety.latest_time = now
        return now, None
    if not math.isfinite(latest):
        raise ValueError(f"time {now} is not finite and no earlier time is known")
    return latest, Intervention(Reason.CLOCK_STEP, None, f"time {now!r} s is before the latest {latest:.6f} s "
                                                         "or not finite: the latest is used")


def _state(safety, state) -> tuple[np.ndarray | None, Intervention | None]:
    """(the measured state (n,) as C float64, or None if absent or unusable; a ``no_state`` note if unusable)."""
    if state is None:
        return None, None
    try:
        q = np.array(state, dtype=np.float64, order="C")
    except (TypeError, ValueError) as exc:
        return None, Intervention(Reason.NO_STATE, None, f"measured state not used: {exc}")
    n = len(safety.joint_names)
    if q.shape != (n,) or not np.isfinite(q).all():
        return None, Intervention(Reason.NO_STATE, None, f"measured state not used: shape {q.shape} (expected "
                                                         f"({n},)) or not finite")
    return q, None


def latch_fault(safety, now: float, where: str, exc: BaseException) -> FilterResult:
    """Latch the e-stop with ``exc`` as the fault, brake to rest (or keep the running plan), never raise."""
    safety.fault = f"{where}: {type(exc).__name__}: {exc}"
    safety.fault_trace = traceback.format_exc()
    safety.estopped = True
    note = Intervention(Reason.INTERNAL_ERROR, None, f"{safety.fault}; latched: braking to rest, call reset")
    try:
        stop = type(safety).estop.__wrapped__(safety, now)  # the e-stop's brake, unguarded
        return FilterResult(stop.allowed, [note], safety.status)
    except Exception:  # noqa: BLE001 - the e-stop brake failed too: the running plan ends at rest
        pass
    try:
        allowed = None if safety.plan is None else safety._allowed(safety.plan.index_at(now), "internal_error")
    except Exception:  # noqa: BLE001 - nothing new goes out; the control node keeps the last plan
        allowed = None
    return FilterResult(allowed, [note], safety.status)
