"""The 1 kHz control loop in its own process, and the shell's handle on it (no rclpy).

Why: in one Python process the loop thread shares the GIL with the ROS executor and the /joint_states publish, and
waits for them at its deadlines (docs/realtime.md). In its own process (robot_rl/control/loop_child.py) the loop
thread is the only Python thread that runs; the shell (the control node) talks to it through a socket (commands,
resets, gripper, hardware diagnostics requests, stop: pickled, at most the command rate) and reads its states,
timing and counters from shared memory (robot_rl/control/state_exchange.py) at its own pace.

The loop process builds the hardware and owns it (its port, for ``serial`` and ``feetech``: the shell never opens
it). Hardware that cannot leave the ROS process stays in thread mode: ``ros2_control`` (the bridge is an rclpy
node).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from multiprocessing import Pipe

from robot_rl.command import JointTrajectoryCommand
from robot_rl.control.state_exchange import SharedLoopState
from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware.base import check_reset


LOOP_MODES = ("auto", "process", "thread")
"""``process``: the loop in its own process; ``thread``: a thread of the node's process; ``auto``: process
where the hardware runs there by default (AUTO_PROCESS_HARDWARE), thread otherwise."""
PROCESS_HARDWARE = ("mujoco", "serial", "feetech")
"""Hardware that can run in the loop process (``loop_mode: process``)."""
AUTO_PROCESS_HARDWARE = ("mujoco",)
"""Hardware that ``loop_mode: auto`` runs in the loop process (when paced): the ones measured there
(docs/realtime.md; ``serial`` and ``feetech`` are not yet)."""
DIAGNOSTICS_TIMEOUT_S = 0.5
"""s the shell waits for the loop process to answer a hardware diagnostics request (it does after its next tick)."""
READY_TIMEOUT_S = 300.0
"""s the shell waits for the loop process to build its hardware and core (imports, first kernel compilation)."""
STOP_TIMEOUT_S = 10.0
"""s the shell waits for the loop process's report after asking it to stop."""


def resolve_loop_mode(mode: str, hardware: str, realtime: bool = True) -> str:
    """``process`` or ``thread`` for the node parameter ``loop_mode``, the hardware name and whether the loop is
    paced (``auto`` without pacing: thread, where every tick is published in the tick; a loop process running
    flat out would outrun the shell's relay and its 4096-tick ring).

    Raises:
        ConfigError: an unknown mode, or ``process`` for hardware that cannot run in the loop process.
    """
    if mode not in LOOP_MODES:
        raise ConfigError(f"parameter loop_mode must be one of {LOOP_MODES}, got {mode!r}")
    if mode == "process" and hardware not in PROCESS_HARDWARE:
        raise ConfigError(f"loop_mode 'process' runs hardware {PROCESS_HARDWARE} only, not {hardware!r} "
                          "(use loop_mode thread or auto)")
    if mode == "auto":
        return "process" if hardware in AUTO_PROCESS_HARDWARE and realtime else "thread"
    return mode


def check_cpu(cpu: int) -> None:
    """ConfigError unless ``cpu`` is -1 (no pinning) or a CPU this process may run on."""
    if cpu != -1 and cpu not in os.sched_getaffinity(0):
        raise ConfigError(f"parameter loop_cpu must be -1 (no pinning) or one of the CPUs "
                          f"{sorted(os.sched_getaffinity(0))}, got {cpu}")


def pin_threads(cpus: set[int]) -> None:
    """Restrict every thread of this process (the executor's and DDS's too) to ``cpus``."""
    for tid in os.listdir("/proc/self/task"):
        try:
            os.sched_setaffinity(int(tid), cpus)
        except OSError:  # a thread that ended meanwhile
            pass


@dataclass(frozen=True)
class LoopSpec:
    """What the loop process builds. ``robot``: robot name or YAML path; ``hardware``/``options``: as for
    ``create_hardware``; ``realtime``/``rt_priority``: as for ``FixedRateLoop``; ``core``: ``ControlCoreConfig``'s
    fields (checked by the loop process, which builds it: the shell never loads the core); ``cpu``: the CPU it is pinned to
    (-1: none); ``dof``: the robot's joint count (the shared memory's shape, with the hardware's gripper joints)."""

    robot: str
    hardware: str
    dof: int
    options: dict = field(default_factory=dict)
    realtime: bool = True
    rt_priority: int = 0
    core: dict = field(default_factory=dict)
    cpu: int = -1

    def __post_init__(self) -> None:
        resolve_loop_mode("process", self.hardware)
        check_cpu(self.cpu)
        if self.dof < 1:
            raise ConfigError(f"a robot of {self.dof} joints?")


class LoopProcess:
    """The loop process, spawned at once so that it loads the core (3-5 s of imports on a loaded machine) while
    the shell starts; :meth:`start` then hands it its spec and waits until it runs. Dropped without a spec (the
    shell chose thread mode), it exits quietly.
    """

    def __init__(self):
        self.spec: LoopSpec | None = None
        self.shared: SharedLoopState | None = None
        self.info: dict = {}
        self._memory_fd = os.memfd_create("robot_rl_control_loop")
        self._conn, child_conn = Pipe()
        self._send_lock = threading.Lock()  # the shell's relay thread and its executor both send
        self._receive_lock = threading.Lock()  # diagnostics replies (executor) and the report (stop)
        self._diagnostics_asked = 0  # number of the last diagnostics request
        fds = {"conn_fd": child_conn.fileno(), "memory_fd": self._memory_fd}
        self.proc = subprocess.Popen([sys.executable, "-m", "robot_rl.control.loop_child", json.dumps(fds)],
                                     pass_fds=tuple(fds.values()), stdin=subprocess.DEVNULL)
        child_conn.close()

    def start(self, spec: LoopSpec) -> dict:
        """Run the loop for ``spec``; returns what the loop process says about its hardware (``info``).

        Raises:
            ConfigError: the loop process refused the configuration (its message).
            HardwareError: it failed otherwise while starting, or did not start within READY_TIMEOUT_S.
        """
        self.spec = spec
        self._send("spec", asdict(spec))
        self.info = self._wait_ready()  # the loop process sized the memory for its hardware's gripper joints
        self.shared = SharedLoopState(spec.dof, len(self.info["gripper_joints"]), fd=self._memory_fd)
        return self.info

    def _wait_ready(self) -> dict:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._conn.poll(0.02):
                kind, *args = self._conn.recv()
                if kind == "ready":
                    return args[0]
                self.proc.wait()
                if args[0] in ("config", "hardware"):
                    raise (ConfigError if args[0] == "config" else HardwareError)(args[1])
                raise HardwareError(f"the control loop process failed while starting:\n{args[1]}")
            if self.proc.poll() is not None:
                raise HardwareError(f"the control loop process exited with code {self.proc.returncode} while "
                                    "starting (its log is above)")
        self.proc.kill()
        raise HardwareError(f"the control loop process did not start within {READY_TIMEOUT_S} s")

    def exit_code(self) -> int | None:
        """None while the loop process runs, else its exit code."""
        return self.proc.poll()

    def submit(self, command: JointTrajectoryCommand) -> None:
        """Queue ``command`` (in the robot's joint order) for the loop's next tick."""
        self._send("command", command)

    def request_reset(self, sample_task: bool = False) -> None:
        """Hold the default pose (the task's reset distribution if ``sample_task``), the hardware moved there.

        Raises:
            ConfigError: the hardware cannot be reset (as ``ControlCore.request_reset``)."""
        check_reset(self.info["hardware_type"], True, False, (self.info["can_reset"], self.info["can_clear_fault"]))
        self._send("reset", sample_task)

    def clear_fault(self) -> None:
        """Clear the hardware's latched fault (ConfigError if it has none, as ``ControlCore.request_reset``)."""
        check_reset(self.info["hardware_type"], False, True, (self.info["can_reset"], self.info["can_clear_fault"]))
        self._send("clear_fault")

    def set_gripper(self, position: float) -> None:
        """Command the gripper to ``position`` (m)."""
        self._send("gripper", float(position))

    def hardware_diagnostics(self) -> dict:
        """The hardware's ``diagnostics()``, taken by the loop process after its next tick.

        Raises:
            HardwareError: the hardware's own (e.g. the firmware fell silent), or no answer within
                DIAGNOSTICS_TIMEOUT_S (the loop process is gone or stalled).
        """
        with self._receive_lock:
            self._diagnostics_asked += 1
            self._send("diagnostics", self._diagnostics_asked)
            deadline = time.monotonic() + DIAGNOSTICS_TIMEOUT_S
            try:
                while (left := deadline - time.monotonic()) > 0 and self._conn.poll(left):
                    kind, *args = self._conn.recv()
                    if kind == "diagnostics" and args[0] == self._diagnostics_asked:  # not a late earlier answer
                        if args[2]:
                            raise HardwareError(args[2])
                        return args[1]
            except (EOFError, OSError) as exc:
                raise HardwareError(f"the control loop process is gone (exit code {self.proc.poll()})") from exc
        raise HardwareError(f"the control loop process did not report its hardware's diagnostics within "
                            f"{DIAGNOSTICS_TIMEOUT_S} s")

    def _send(self, *message) -> None:
        with self._send_lock:
            try:
                self._conn.send(message)
            except OSError as exc:
                raise HardwareError(f"the control loop process is gone (exit code {self.proc.poll()})") from exc

    def stop(self) -> dict | None:
        """Stop the loop; its report (``control_report``), or None if it had not started, had died, sent none in
        time, or was stopped before."""
        if self._conn.closed:
            return None
        report = None
        if self.proc.poll() is None and self.shared is not None:
            try:
                with self._receive_lock:
                    self._send("stop")
                    deadline = time.monotonic() + STOP_TIMEOUT_S
                    while report is None and (left := deadline - time.monotonic()) > 0 and self._conn.poll(left):
                        kind, *args = self._conn.recv()  # late diagnostics answers before it are dropped
                        report = args[0] if kind == "report" else None
            except (HardwareError, EOFError, OSError):
                pass
        self._conn.close()  # a loop process still waiting for its spec exits on this
        try:
            self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.shared is not None:
            self.shared.close()
        else:
            os.close(self._memory_fd)
        return report
