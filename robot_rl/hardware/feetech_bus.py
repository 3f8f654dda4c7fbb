"""A Feetech servo bus through the Feetech SDK (PyPI ``feetech-servo-sdk``, module ``scservo_sdk``).

Thin: ping, read, write, sync read and sync write of control-table registers (:mod:`feetech_table`), with the
SDK's result codes and the status packets' error bytes turned into errors that name the port and the servo.
Two things differ from the SDK's defaults, both on its PortHandler:

- the packet timeout: SDK 1.0.0 waits 2 x 16 ms of USB latency timer plus the bytes' time for every answer;
  this waits the bytes' time plus ``timeout_ms`` (LeRobot patches it the same way, with 50 ms);
- the port's read timeout: the SDK opens pyserial with ``timeout=0`` and spins on empty reads while it waits
  for a status packet, a core's worth of CPU beside a 1 kHz control loop; a short blocking read
  (:data:`READ_BLOCK_S`) returns as soon as the bytes asked for arrive, and otherwise sleeps;
- stale input: the SDK never discards what is waiting on the port, so an answer that arrived after its request
  timed out would be taken as the answer to the next request (one cycle behind, for good). Every request here
  first discards the port's input.
"""

from __future__ import annotations

from robot_rl.errors import ConfigError, HardwareError
from robot_rl.hardware import feetech_table as ft

READ_BLOCK_S = 0.002
"""s: longest a single read of the port blocks (the packet timeout is checked between reads)."""


def _sdk():
    try:
        import scservo_sdk
    except ImportError as exc:
        raise ConfigError("hardware 'feetech' needs the Feetech SDK: pip install 'robot_rl[feetech]' "
                          "(PyPI feetech-servo-sdk)") from exc
    return scservo_sdk


class FeetechBus:
    """The servos on ``port`` at ``baud`` bits/s, one request at a time (not thread-safe: one caller).

    Args:
        port: the adapter's serial device (e.g. /dev/ttyACM0, or the simulated bus's pty).
        baud: bits/s, one the SDK accepts (1_000_000 for the SO-101).
        timeout_ms: ms to wait for a status packet beyond its bytes' time on the wire.

    Raises:
        HardwareError: the port cannot be opened.
    """

    def __init__(self, port: str, baud: int = 1_000_000, timeout_ms: float = 100.0):
        scs = _sdk()
        self.port, self._scs = port, scs
        self._port = scs.PortHandler(port)
        self._port.baudrate = baud
        self._packets = scs.PacketHandler(0)  # protocol end 0: STS/SMS series, little endian
        try:
            opened = self._port.openPort()
        except Exception as exc:  # noqa: BLE001 - pyserial raises SerialException, OSError, ValueError
            raise HardwareError(f"cannot open servo bus {port}: {exc}") from exc
        if not opened:
            raise HardwareError(f"cannot open servo bus {port} at {baud} bits/s (a baud rate the SDK accepts?)")
        self._port.ser.timeout = READ_BLOCK_S
        port_handler = self._port

        def packet_timeout(packet_length: int) -> None:
            port_handler.packet_start_time = port_handler.getCurrentTime()
            port_handler.packet_timeout = port_handler.tx_time_per_byte * (packet_length + 3) + timeout_ms

        self._port.setPacketTimeout = packet_timeout

    def _failed(self, result: int, what: str) -> HardwareError:
        return HardwareError(f"servo bus {self.port}: {what}: {self._packets.getTxRxResult(result)}")

    def _check(self, result: int, error: int, what: str) -> None:
        if result != self._scs.COMM_SUCCESS:
            raise self._failed(result, what)
        if error:
            raise HardwareError(f"servo bus {self.port}: {what}: status error {', '.join(ft.error_names(error))}")

    def ping(self, servo_id: int) -> int | None:
        """The model number of servo ``servo_id``, None if it does not answer."""
        try:
            self._port.ser.reset_input_buffer()
            model, result, error = self._packets.ping(self._port, servo_id)
        finally:
            self._port.is_using = False
        return model if result == self._scs.COMM_SUCCESS else None

    def read(self, servo_id: int, register: tuple[int, int]) -> int:
        """Signed value of ``register`` on one servo; HardwareError on no answer or a status error."""
        address, size = register
        try:
            self._port.ser.reset_input_buffer()
            data, result, error = self._packets.readTxRx(self._port, servo_id, address, size)
        finally:
            self._port.is_using = False
        self._check(result, error, f"read of register {address} from servo {servo_id}")
        return ft.decode(register, int.from_bytes(bytes(data[:size]), "little"))

    def write(self, servo_id: int, register: tuple[int, int], value: int) -> None:
        """Write ``value`` (signed) to ``register`` of one servo and wait for its status packet."""
        address, size = register
        data = list(ft.encode(register, int(value)).to_bytes(size, "little"))
        try:
            self._port.ser.reset_input_buffer()
            result, error = self._packets.writeTxRx(self._port, servo_id, address, size, data)
        finally:
            self._port.is_using = False
        self._check(result, error, f"write of register {address} to servo {servo_id}")

    def sync_read(self, ids: list[int], address: int, size: int) -> tuple[dict[int, bytes], dict[int, int]]:
        """SYNC READ ``size`` bytes at ``address`` from ``ids``: (data by id, status error byte by id).

        Raises:
            HardwareError: a servo did not answer or its packet was corrupt (named).
        """
        data, errors = {}, {}
        try:
            self._port.ser.reset_input_buffer()
            result = self._packets.syncReadTx(self._port, address, size, list(ids), len(ids))
            if result != self._scs.COMM_SUCCESS:
                raise self._failed(result, "sync read request")
            for servo_id in ids:
                values, result, error = self._packets.readRx(self._port, servo_id, size)
                if result != self._scs.COMM_SUCCESS:
                    raise self._failed(result, f"sync read answer of servo {servo_id}")
                data[servo_id], errors[servo_id] = bytes(values[:size]), error
        finally:
            self._port.is_using = False
        return data, errors

    def sync_write(self, register: tuple[int, int], values: dict[int, int]) -> None:
        """SYNC WRITE signed ``values`` (by servo id) to ``register``: one broadcast packet, no answer."""
        address, size = register
        params = []
        for servo_id, value in values.items():
            params += [servo_id, *ft.encode(register, int(value)).to_bytes(size, "little")]
        try:
            result = self._packets.syncWriteTxOnly(self._port, address, size, params, len(params))
        finally:
            self._port.is_using = False
        if result != self._scs.COMM_SUCCESS:
            raise self._failed(result, f"sync write of register {address}")

    def close(self) -> None:
        self._port.closePort()
