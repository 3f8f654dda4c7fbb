"""Authentication of the firmware link: the shared key, its file, session nonces and frame tags.

- **Key**: KEY_SIZE (32) random bytes shared by the host and the firmware, never in the repository.
  :func:`provision_key` writes a fresh one as 64 hex digits and a newline into a file created with mode
  0600 (``robot-rl firmware provision``), and optionally the microcontroller's key block;
  :func:`load_key` refuses a file that group or others can read or write, or that does not hold
  exactly one key.
- **Session**: the host's HELLO carries its random nonce half (tagged under the all-zero session
  nonce); the firmware answers HELLO_ACK with its own half. The session nonce is host half | firmware
  half (16 bytes), and every later frame's tag covers it, so no frame of an earlier session verifies
  in this one.
- **Tag**: HMAC-SHA256(key, session nonce | id | len | payload without the tag)[:TAG_SIZE]. The
  payload includes the message's counter, which must strictly increase within a session.
"""

from __future__ import annotations

import argparse
import hmac
import os
import stat
from hashlib import sha256
from pathlib import Path

from robot_rl.errors import ConfigError
from robot_rl.hardware.firmware_protocol import KEY_SIZE, NONCE_SIZE, TAG_SIZE, Frame, crc16, signed_part

PRE_SESSION = bytes(2 * NONCE_SIZE)  # the session nonce HELLO is tagged under
MCU_KEY_MAGIC = 0x314B5252  # "RRK1": firmware/board/stm32f407/board_config.h BOARD_KEY_MAGIC
MCU_KEY_BLOCK_SIZE = 64


def provision_key(path: str | Path, overwrite: bool = False, mcu_image: str | Path | None = None) -> Path:
    """Write a fresh random key to ``path`` (mode 0600, created exclusively unless ``overwrite``), and with
    ``mcu_image`` the same key as the microcontroller's key block (:func:`mcu_key_block`, also 0600).

    Raises:
        ConfigError: a file exists (and ``overwrite`` is False) or cannot be written.
    """
    path, key = Path(path), os.urandom(KEY_SIZE)
    if mcu_image is not None and Path(mcu_image).exists() and not overwrite:
        raise ConfigError(f"key image {mcu_image} exists; refusing to replace it (use --force)")
    _write_private(path, (key.hex() + "\n").encode(), overwrite)
    if mcu_image is not None:
        _write_private(Path(mcu_image), mcu_key_block(key), overwrite)
    return path


def mcu_key_block(key: bytes) -> bytes:
    """The key block the microcontroller build reads at BOARD_KEY_ADDRESS (flash it there, e.g. with
    ``st-flash write BLOCK 0x080E0000``): magic u32 | key | CRC-16/CCITT-FALSE of the key u16 | 0xFF padding,
    all little-endian."""
    block = MCU_KEY_MAGIC.to_bytes(4, "little") + key + crc16(key).to_bytes(2, "little")
    return block + b"\xff" * (MCU_KEY_BLOCK_SIZE - len(block))


def _write_private(path: Path, data: bytes, overwrite: bool) -> None:
    """Write ``data`` to a new file of mode 0600 (ConfigError if it exists, unless ``overwrite``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError as exc:
        raise ConfigError(f"key file {path} exists; refusing to replace a provisioned key "
                          f"(use --force to replace it, then provision the firmware again)") from exc
    except OSError as exc:
        raise ConfigError(f"key file {path} cannot be created: {exc}") from exc
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(data)


def load_key(path: str | Path) -> bytes:
    """The KEY_SIZE-byte key in ``path`` (hex, as :func:`provision_key` writes it).

    Raises:
        ConfigError: missing file, permissions wider than 0600, or not exactly 64 hex digits.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ConfigError(f"firmware key file {str(path)!r} cannot be read: {exc} "
                          f"(create one with `robot-rl firmware provision --key-file {path}`)") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(f"firmware key file {path} is accessible to group/others (mode {stat.S_IMODE(mode):o}); "
                          f"run `chmod 600 {path}`")
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_SIZE:
        raise ConfigError(f"firmware key file {path} must hold {2 * KEY_SIZE} hex digits ({KEY_SIZE} bytes)")
    return key


def new_nonce() -> bytes:
    """NONCE_SIZE fresh random bytes (os.urandom)."""
    return os.urandom(NONCE_SIZE)


class SessionMac:
    """Tags and checks frames of one session: ``key`` (KEY_SIZE bytes), ``session`` (2 * NONCE_SIZE bytes)."""

    def __init__(self, key: bytes, session: bytes = PRE_SESSION):
        if len(key) != KEY_SIZE or len(session) != 2 * NONCE_SIZE:
            raise ConfigError(f"session MAC needs a {KEY_SIZE}-byte key and a {2 * NONCE_SIZE}-byte session nonce")
        self.session = session
        self._start = hmac.new(key, session, sha256)

    def __call__(self, signed: bytes) -> bytes:
        """The tag (TAG_SIZE bytes) of ``signed`` = id | len | payload without the tag."""
        mac = self._start.copy()
        mac.update(signed)
        return mac.digest()[:TAG_SIZE]

    def verify(self, frame: Frame) -> bool:
        """Whether ``frame``'s tag is this session's (constant-time comparison)."""
        return hmac.compare_digest(self(signed_part(frame)), frame.payload[-TAG_SIZE:])


def register(subparsers) -> None:
    """Add ``robot-rl firmware provision``."""
    firmware = subparsers.add_parser("firmware", help="the joint-controller firmware's link")
    actions = firmware.add_subparsers(dest="firmware_command", required=True)
    p = actions.add_parser("provision", help="write a fresh key file (0600) for the host and the firmware")
    p.add_argument("--key-file", type=Path, required=True, help="where to write the key (mode 0600)")
    p.add_argument("--force", action="store_true", help="replace an existing key file")
    p.add_argument("--mcu-key-image", type=Path, default=None,
                   help="also write the key block to flash into the microcontroller (64 bytes, mode 0600)")
    p.set_defaults(func=_provision)


def _provision(args: argparse.Namespace) -> int:
    path = provision_key(args.key_file, overwrite=args.force, mcu_image=args.mcu_key_image)
    if args.mcu_key_image:
        print(f"wrote the microcontroller key block to {args.mcu_key_image}: flash it at 0x080E0000 "
              f"(st-flash write {args.mcu_key_image} 0x080E0000), then delete it")
    print(f"wrote a {KEY_SIZE}-byte key to {path} (mode 0600). Host build: rr_firmware_host --key-file {path}; "
          f"control node: -p hardware_key_file:={path}; bringup: --hardware-key-file {path}")
    return 0
