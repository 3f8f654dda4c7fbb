"""The one ``main`` every node uses: init, spin, clean shutdown, honest exit code."""

from __future__ import annotations

import gc
import signal
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.signals import SignalHandlerOptions

from robot_rl.errors import RobotRLError


def _raise_shutdown() -> None:
    raise ExternalShutdownException


class _Starting:
    """Whether a stop signal arrived while the node was being built (see :func:`run_node`)."""

    interrupted = False


def _interrupt(*_) -> None:
    _Starting.interrupted = True
    raise KeyboardInterrupt


def _quiet_interrupts(unraisable) -> None:
    """sys.unraisablehook while starting: a KeyboardInterrupt raised inside a C callback (numba's compiler calls
    back into Python) cannot propagate; it is the stop, not an error to print."""
    if not issubclass(unraisable.exc_type, KeyboardInterrupt):
        sys.__unraisablehook__(unraisable)


def _stop_on_signals(node) -> None:
    """SIGINT/SIGTERM end spin() through a guard condition whose callback raises ExternalShutdownException,
    so the node is destroyed before the context shuts down. rclpy's own handler shuts the context down from
    the signal while the executor spins or the node is being destroyed: RCLError, and an occasional SIGSEGV
    inside destroy_node (3 of 20 stops of the teleop graph's safety filter). KeyboardInterrupt is no better: it
    can be raised inside take_message (pybind RuntimeError)."""
    stop = node.create_guard_condition(_raise_shutdown)
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.trigger())


def _stopped_while_starting() -> int:
    rclpy.logging.get_logger("robot_rl").info("interrupted while starting: stopped before running")
    return 0


def run_node(node_factory: Callable[[], object], args: list[str] | None = None, executor: str = "single") -> int:
    """Create the node, spin until shutdown (SIGINT/SIGTERM or external), destroy it; return an exit code.

    A configuration error is logged and exits 2; anything unexpected propagates (non-zero exit).
    """
    # rclpy installs no signal handler: its handler shuts the context down from the signal, so a SIGINT while the
    # node is being built made the constructor fail on a dead context (exit 1) instead of stopping (exit 0).
    # While starting, SIGINT/SIGTERM raise KeyboardInterrupt in the main thread; once spinning, see _stop_on_signals.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _interrupt)
    sys.unraisablehook = _quiet_interrupts
    with rclpy.init(args=args if args is not None else sys.argv, signal_handler_options=SignalHandlerOptions.NO):
        try:
            node = node_factory()
        except RobotRLError as exc:
            rclpy.logging.get_logger("robot_rl").fatal(f"cannot start: {exc}")
            return 2
        except KeyboardInterrupt:  # SIGINT while loading models or compiling kernels: a stop, not a failure
            return _stopped_while_starting()
        except Exception:  # the interrupt raised in a C callback is swallowed there; what it broke fails instead
            if not _Starting.interrupted:
                raise
            return _stopped_while_starting()
        sys.unraisablehook = sys.__unraisablehook__
        if _Starting.interrupted:  # swallowed in a C callback without breaking the start: still a stop
            node.destroy_node()
            return _stopped_while_starting()
        _stop_on_signals(node)
        gc.freeze()  # start-up objects (modules, models) are permanent: later collections need not scan them
        spinner = MultiThreadedExecutor(num_threads=2) if executor == "multi" else SingleThreadedExecutor()
        spinner.add_node(node)
        try:
            spinner.spin()
        except ExternalShutdownException:  # SIGINT/SIGTERM: see _stop_on_signals
            pass
        finally:
            shutdown = getattr(node, "shutdown", None)
            if shutdown is not None:
                shutdown()
            node.destroy_node()
    return 0
