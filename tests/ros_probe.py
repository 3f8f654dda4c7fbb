"""A real rclpy participant for tests: subscribes/publishes in a background thread with its own context."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor

from robot_rl.control.loop import request_fifo


class RosProbe:
    """Context manager owning one node in its own rclpy context, spun in a thread.

    Usage::

        with RosProbe("probe") as probe:
            msgs = probe.collect(JointState, "/joint_states")
            probe.wait_for(lambda: len(msgs) > 10, timeout=10)
    """

    def __init__(self, name: str = "test_probe", rt_priority: int = 0):
        """``rt_priority`` > 0: spin at SCHED_FIFO (a probe that must keep up with a 1 kHz stream on a busy machine)."""
        self.rt_priority = rt_priority
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._lock = threading.Lock()
        self._running = True

    def _spin(self) -> None:
        request_fifo(self.rt_priority)
        while self._running:
            self.executor.spin_once(timeout_sec=0.05)

    def __enter__(self) -> RosProbe:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)

    def collect(self, msg_type, topic: str, keep: int = 100_000, depth: int = 100) -> list:
        """Subscribe to ``topic`` (a history of ``depth`` messages while this process is not scheduled); returns a
        list that fills with (receive_time, msg) as messages arrive."""
        received: list = []

        def on_msg(msg) -> None:
            with self._lock:
                received.append((time.time(), msg))
                del received[:-keep]

        self.node.create_subscription(msg_type, topic, on_msg, depth)
        return received

    def publisher(self, msg_type, topic: str):
        """A publisher on ``topic``."""
        return self.node.create_publisher(msg_type, topic, 10)

    def call(self, srv_type, name: str, request, timeout: float = 10.0):
        """Call a service and wait for the response."""
        client = self.node.create_client(srv_type, name)
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f"service {name} not available after {timeout} s")
        future = client.call_async(request)
        wait_for(future.done, timeout)
        return future.result()


def wait_for(condition: Callable[[], bool], timeout: float, interval: float = 0.05) -> None:
    """Poll ``condition`` until true; TimeoutError after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout} s")
        time.sleep(interval)
