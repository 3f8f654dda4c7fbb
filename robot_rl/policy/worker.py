"""One background thread that runs inference jobs one at a time, off the ROS executor thread (no rclpy).

The policy node's timer keeps its period (observation frames, heartbeats) while a slow inference runs here.
An unexpected exception in a job stops the worker and is re-raised in the caller's thread by
:meth:`InferenceWorker.raise_if_failed`, so the node fails loudly instead of silently never inferring again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable


class InferenceWorker:
    """Runs submitted zero-argument jobs in order on one daemon thread; at most one job waits."""

    def __init__(self, name: str = "policy-inference"):
        self._jobs: queue.Queue = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def submit(self, job: Callable[[], None]) -> bool:
        """Queue ``job``; False (job dropped) when one is already waiting or the worker has stopped."""
        if not self._thread.is_alive():
            return False
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            return False
        return True

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                job()
            except BaseException as exc:  # noqa: BLE001 - handed to the owner by raise_if_failed
                self.error = exc
                return

    def raise_if_failed(self) -> None:
        """Re-raise (as RuntimeError) an exception that stopped the worker."""
        if self.error is not None:
            raise RuntimeError(f"policy inference thread died: {self.error!r}") from self.error

    def stop(self, timeout: float = 5.0) -> None:
        """Let the running job finish, then end the thread (waits at most ``timeout`` s)."""
        deadline = time.monotonic() + timeout
        while self._thread.is_alive() and time.monotonic() < deadline:
            try:
                self._jobs.put(None, timeout=0.05)
                break
            except queue.Full:
                continue
        self._thread.join(max(0.0, deadline - time.monotonic()))
