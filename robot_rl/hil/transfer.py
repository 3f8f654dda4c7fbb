"""The exported residual as bytes on the wire: learner and policy node need no shared filesystem (no rclpy).

The learner sends the residual ONNX file's exact bytes (the contract travels inside them, in the ONNX
metadata) with a header naming the file and its sha256. The receiver checks the hash before anything else
and refuses a payload whose bytes do not hash to what the sender says (:class:`ResidualPayload.checked`);
it then writes the bytes to its own directory and loads them with the usual contract checks (hash,
golden vectors, robot, base sha256), as a residual given by path.

The header is one line, ``"<file name> sha256=<64 hex digits>"``; the node carries it in a
std_msgs/UInt8MultiArray's ``layout.dim[0].label`` and the bytes in ``data``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from robot_rl.atomic import write_atomic
from robot_rl.errors import ConfigError
from robot_rl.policy.contract import sha256_bytes

_HEADER = re.compile(r"(?P<name>[A-Za-z0-9_.-]+\.onnx) sha256=(?P<sha256>[0-9a-f]{64})")
MAX_BYTES = 64 * 1024 * 1024
"""Largest residual accepted, bytes (a residual MLP is well under 1 MB)."""


@dataclass(frozen=True)
class ResidualPayload:
    """One residual on the wire: file ``name``, the sender's ``sha256`` of ``data``, and ``data``."""

    name: str
    sha256: str
    data: bytes

    @classmethod
    def from_file(cls, path: str | Path) -> ResidualPayload:
        """The payload of an exported residual ``path`` (its bytes hashed here)."""
        data = Path(path).read_bytes()
        return cls(Path(path).name, sha256_bytes(data), data)

    @property
    def header(self) -> str:
        """``"<name> sha256=<hex>"``."""
        return f"{self.name} sha256={self.sha256}"

    @classmethod
    def parse(cls, header: str, data: bytes) -> ResidualPayload:
        """The payload of a received ``header`` and ``data``; ConfigError if the header is malformed."""
        match = _HEADER.fullmatch(header.strip())
        if match is None:
            raise ConfigError(f"residual payload header {header[:120]!r} is not '<name>.onnx sha256=<64 hex>'")
        return cls(match["name"], match["sha256"], bytes(data))

    def checked(self) -> ResidualPayload:
        """Self, if ``data`` hashes to ``sha256``; ConfigError naming the file and both hashes otherwise."""
        if not self.data:
            raise ConfigError(f"residual {self.name}: received no bytes")
        if len(self.data) > MAX_BYTES:
            raise ConfigError(f"residual {self.name}: {len(self.data)} bytes exceed the {MAX_BYTES} byte limit")
        actual = sha256_bytes(self.data)
        if actual != self.sha256:
            raise ConfigError(f"residual {self.name}: sha256 mismatch: the {len(self.data)} bytes received hash to "
                              f"{actual}, the learner sent {self.sha256} (corrupted or truncated in transit)")
        return self

    def write(self, directory: str | Path) -> Path:
        """Write the checked bytes atomically to ``directory/<sha256[:16]>_<name>``; returns the path."""
        self.checked()
        path = Path(directory).resolve() / f"{self.sha256[:16]}_{self.name}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, self.data)
        return path
