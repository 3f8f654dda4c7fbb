"""Report ``starting`` on /diagnostics while a node's constructor does slow work (model loading, kernel
compilation), from a helper thread, so an operator sees why nothing is forwarded yet."""

from __future__ import annotations

import threading
from contextlib import contextmanager

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from std_msgs.msg import Header

STARTING_PERIOD_S = 0.5


@contextmanager
def reporting_starting(node, publisher, name: str, period: float = STARTING_PERIOD_S):
    """Within the block, publish a WARN status ``name``: ``starting`` on ``publisher`` every ``period`` s."""
    done = threading.Event()

    def report() -> None:
        while not done.is_set():
            status = DiagnosticStatus(level=DiagnosticStatus.WARN, name=name, message="starting")
            publisher.publish(DiagnosticArray(header=Header(stamp=node.get_clock().now().to_msg()), status=[status]))
            done.wait(period)

    thread = threading.Thread(target=report, name=f"{name}_starting", daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
