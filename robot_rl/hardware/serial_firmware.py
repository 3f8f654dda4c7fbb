"""Hardware interface to the joint-controller firmware (firmware/) over a serial port.

Real time, not lockstep: the firmware runs its own 1 kHz loop and streams STATE every tick;
``read`` returns the newest one, ``write`` sends a TORQUE_COMMAND and returns at once.

Opening runs the authenticated handshake with the shared key (``key_file``, see
:mod:`robot_rl.hardware.firmware_auth`): only firmware holding the key can answer it, and every frame
after it is tagged under the session nonce with a strictly increasing counter, both ways. Each command
carries the firmware time of the newest STATE (``command_time_us``), so the firmware judges its age on
its own clock. Opening then checks the firmware against the robot (raises ConfigError naming the port and numbers):

- protocol version equal to :data:`PROTOCOL_VERSION`;
- joint count equal to the robot YAML's;
- torque limits: every firmware limit must lie in (0, URDF effort limit] for its joint. The
  firmware's clamp is the last line, so it may be stricter than the URDF (a bench setup with
  reduced torque; commands beyond it are applied clamped and STATE reports COMMAND_CLAMPED) but
  never looser: the firmware must not apply more torque than the robot's model allows.

Faults latch in the firmware (watchdog, non-finite torque) and brake the joints until
:meth:`SerialFirmwareHardware.clear_fault`; a new torque command alone does not clear them.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from robot_rl.errors import CommandError, ConfigError, HardwareError
from robot_rl.hardware.base import JointStateSample
from robot_rl.hardware.firmware_auth import load_key
from robot_rl.hardware.firmware_link import FirmwareLink, ReceivedState
from robot_rl.hardware.firmware_protocol import PROTOCOL_VERSION, STATUS, Message
from robot_rl.robot.config import RobotConfig
from robot_rl.robot.model import RobotModel

_LIMIT_RTOL = 1e-6  # float32 rounding of the firmware's limits
_HELLO_RETRY_S = 0.2
_LATCHES = ("WATCHDOG_TRIPPED", "FAULT_LATCHED")  # status flags that brake until CLEAR_FAULT


@dataclass(frozen=True)
class SerialFirmwareOptions:
    """Options of the "serial" hardware (control node / ``create_hardware`` options).

    Attributes:
        port: serial device, e.g. ``/dev/ttyACM0`` or the host build's pty path.
        key_file: the shared key's file (``robot-rl firmware provision``; mode 0600).
        baud: bits/s; STATE is 16 + 12 n bytes every ms, so 7 joints need more than 1 Mbaud (8N1).
        handshake_timeout_s: s to wait for HELLO_ACK and the first STATE when opening.
        state_timeout_s: s; ``read`` raises HardwareError when the newest STATE is older than this.
        clear_faults_on_open: send CLEAR_FAULT after the checks (default False: a latched fault
            from an earlier session stays until someone clears it deliberately).
        rt_priority: SCHED_FIFO priority (1..99) of the thread that reads the port, 0 for normal
            scheduling. The control node passes its loop's: a real-time loop on a busy CPU would
            otherwise starve the thread that feeds it and stop on a stale STATE.
    """

    port: str
    key_file: str = ""
    baud: int = 2_000_000
    handshake_timeout_s: float = 2.0
    state_timeout_s: float = 0.5
    clear_faults_on_open: bool = False
    rt_priority: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.port, str) or not self.port:
            raise ConfigError(f"serial hardware: option 'port' must name the serial device (e.g. /dev/ttyACM0), "
                              f"got {self.port!r}")
        if not isinstance(self.key_file, str) or not self.key_file:
            raise ConfigError(f"serial hardware ({self.port}): option key_file must name the firmware key file "
                              f"(create one with `robot-rl firmware provision --key-file PATH`)")
        if isinstance(self.baud, bool) or not isinstance(self.baud, int) or self.baud <= 0:
            raise ConfigError(f"serial hardware ({self.port}): baud must be a positive integer, got {self.baud!r}")
        for name in ("handshake_timeout_s", "state_timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value < math.inf):
                raise ConfigError(f"serial hardware ({self.port}): {name} must be a finite time > 0 s, got {value!r}")
        priority = self.rt_priority
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 99:
            raise ConfigError(f"serial hardware ({self.port}): rt_priority must be an integer in 0..99, "
                              f"got {self.rt_priority!r}")


def check_firmware_info(info: Message, config: RobotConfig, effort_limits: np.ndarray, port: str) -> None:
    """Refuse firmware that does not match the robot (see the module docstring for the rules).

    Raises:
        ConfigError: naming the port and the mismatching numbers.
    """
    if info["protocol_version"] != PROTOCOL_VERSION:
        raise ConfigError(f"firmware on {port} speaks protocol version {info['protocol_version']}, "
                          f"this driver speaks {PROTOCOL_VERSION}: update one of them")
    if info.n_joints != config.dof:
        raise ConfigError(f"firmware on {port} drives {info.n_joints} joints, robot {config.name!r} has "
                          f"{config.dof} ({', '.join(config.joints)})")
    firmware = info["torque_limit"]
    bad = [f"{name}: firmware {fw:g} Nm, URDF {urdf:g} Nm"
           for name, fw, urdf in zip(config.joints, firmware, effort_limits)
           if not (0.0 < fw <= urdf * (1.0 + _LIMIT_RTOL))]
    if bad:
        raise ConfigError(f"firmware on {port}: torque limits must be in (0, URDF effort limit]; "
                          f"{'; '.join(bad)}")


class SerialFirmwareHardware:
    """The robot behind the firmware on ``port``; arrays are (n,) in ``config.joints`` order.

    Args:
        config: the robot (joint names and count; its URDF effort limits, as :class:`RobotModel` reads
            them, for the limit check).
        port, key_file, baud, handshake_timeout_s, state_timeout_s, clear_faults_on_open, rt_priority:
            see :class:`SerialFirmwareOptions`.

    Raises:
        HardwareError: the port cannot be opened, or no authentic HELLO_ACK / STATE arrives in time.
        ConfigError: the key file is missing or unsafe, or the firmware does not match the robot.
    """

    lockstep = False  # the firmware keeps its own time

    def __init__(self, config: RobotConfig, port: str = "", **options):
        self.options = SerialFirmwareOptions(port=port, **options)
        self.config = config
        self.joint_names = config.joints
        self._sequence = 0  # counter of the last TORQUE_COMMAND sent
        key = load_key(self.options.key_file)
        self._link = FirmwareLink(port, self.options.baud, key, rt_priority=self.options.rt_priority)
        try:
            self.info = self._handshake()
            check_firmware_info(self.info, config, RobotModel(config).limits.effort, port)
            if self.options.clear_faults_on_open:
                self.clear_fault()
            self._newest(self.options.handshake_timeout_s)
        except BaseException:
            self._link.close()
            raise

    def _handshake(self) -> Message:
        deadline = time.monotonic() + self.options.handshake_timeout_s
        while (left := deadline - time.monotonic()) > 0:
            self._link.hello()
            ack = self._link.wait_session(min(left, _HELLO_RETRY_S))
            if ack is not None:
                return ack
        raise HardwareError(f"no authentic HELLO_ACK from firmware on {self.options.port} within "
                            f"{self.options.handshake_timeout_s} s: is the firmware running on that port, "
                            f"provisioned with the key in {self.options.key_file}?")

    def _newest(self, timeout_s: float) -> ReceivedState:
        state = self._link.wait_state(timeout_s)
        if state is None:
            raise HardwareError(f"no STATE from firmware on {self.options.port} within {timeout_s} s")
        age = time.monotonic() - state.received
        if age > self.options.state_timeout_s:
            raise HardwareError(f"firmware on {self.options.port} silent for {age:.3f} s "
                                f"(state_timeout_s={self.options.state_timeout_s})")
        return state

    def read(self) -> JointStateSample:
        """Newest STATE: stamp in s on the firmware's clock, applied effort in Nm."""
        state = self._newest(self.options.state_timeout_s)
        m = state.message
        return JointStateSample(stamp=state.stamp, position=m["position"].copy(), velocity=m["velocity"].copy(),
                                effort=m["effort"].copy())

    def write(self, effort: np.ndarray) -> None:
        """Send torques (n,) Nm; the firmware applies them clamped to its limits until the next command.

        Raises:
            CommandError: wrong shape or a non-finite torque (named by joint); nothing is sent.
        """
        torque = np.asarray(effort, dtype=float)
        if torque.shape != (self.config.dof,):
            raise CommandError(f"effort: expected shape ({self.config.dof},), one torque per joint "
                               f"{self.joint_names}, got shape {torque.shape}")
        bad = [name for name, value in zip(self.joint_names, torque) if not math.isfinite(value)]
        if bad:
            raise CommandError(f"effort: non-finite torque for joints {bad}")
        sent_at = self._newest(self.options.state_timeout_s).message["time_us"]  # firmware time now, as seen
        self._sequence = self._link.send("TORQUE_COMMAND", command_time_us=sent_at, torque=torque)

    def clear_fault(self) -> None:
        """Send CLEAR_FAULT: clears a latched watchdog or fault; the firmware applies zero torque until
        the next command."""
        self._link.send("CLEAR_FAULT")

    def diagnostics(self) -> dict:
        """Firmware status and link health of the newest STATE (``stamp``, s): flags, sequences, both sides'
        rejection counts; ``fault`` names the latched flags ("" when none is latched); ``command_age_ms``:
        the applied command's age on the firmware's clock."""
        state = self._newest(self.options.state_timeout_s)
        m, (counts, auth) = state.message, self._link.counts()
        status = {name: bool(m["status"] & bit) for name, bit in STATUS.items()}
        return {
            "port": self.options.port,
            "stamp": state.stamp,
            "fault": ", ".join(name for name in _LATCHES if status[name]),
            "protocol_version": self.info["protocol_version"],
            "watchdog_timeout_ms": self.info["watchdog_timeout_ms"],
            "torque_limit": self.info["torque_limit"].tolist(),
            "status": status,
            "sequence_sent": self._sequence,
            "sequence_applied": m["sequence"],
            "states_received": self._link.states_received,
            "reader_rt_scheduling": self._link.rt_scheduling,
            "command_age_ms": ((m["time_us"] - m["command_time_us"]) % (1 << 32)) * 1e-3,
            "firmware_rx_rejected": m["rx_rejected"],
            "firmware_auth_rejected": m["auth_rejected"],
            "firmware_replay_rejected": m["replay_rejected"],
            "firmware_stale_rejected": m["stale_rejected"],
            "host_parser": {**asdict(counts), "rejected": counts.rejected},
            "host_auth": asdict(auth),
        }

    def close(self) -> None:
        """Send zero torques and close the port. The firmware's watchdog then trips and brakes."""
        try:
            self.write(np.zeros(self.config.dof))
        except HardwareError:
            pass  # the line is already gone: nothing more to send
        finally:
            self._link.close()

    def __enter__(self) -> SerialFirmwareHardware:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
