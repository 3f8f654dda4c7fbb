"""The firmware's microcontroller build (STM32F407, Cortex-M4F) with Debian's arm-none-eabi-gcc: it compiles with
-Werror, freestanding, links against no C library, fits the chip, and its vector table points where it must. Nothing
here runs on a board (none is attached): that the HAL drives real pins is not tested."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from robot_rl.hardware import firmware_protocol as fp
from robot_rl.hardware.firmware_auth import MCU_KEY_BLOCK_SIZE, load_key, mcu_key_block, provision_key

FIRMWARE = Path(__file__).resolve().parent.parent / "firmware"
ELF = FIRMWARE / "build" / "mcu" / "rr_firmware_stm32f407.elf"
BOARD_CONFIG = FIRMWARE / "board" / "stm32f407" / "board_config.h"
FLASH_PROGRAM, RAM, STACK = 896 * 1024, 128 * 1024, 8 * 1024  # bytes, as stm32f407.ld lays them out


@pytest.fixture(scope="module")
def mcu_build() -> str:
    """``make -C firmware mcu``: the arm-none-eabi-size output. A missing compiler fails (never skips)."""
    if shutil.which("arm-none-eabi-gcc") is None:
        pytest.fail("arm-none-eabi-gcc not found: install it with "
                    "`apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` (.ci/system-deps.sh does)",
                    pytrace=False)
    result = subprocess.run(["make", "-C", str(FIRMWARE), "mcu"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_cross_build_links_and_fits_the_chip(mcu_build):
    text, data, bss = map(int, re.search(r"^\s*(\d+)\s+(\d+)\s+(\d+)\s+\d+\s+\w+\s+\S+elf$", mcu_build, re.M).groups())
    assert 0 < text + data <= FLASH_PROGRAM
    assert data + bss + STACK <= RAM
    print(f"STM32F407 build: flash {text + data} B (text {text}, data {data}), RAM {data + bss} B static + 8 KB stack")


def test_image_is_freestanding_and_boots_at_the_reset_vector(mcu_build):
    symbols = subprocess.run(["arm-none-eabi-nm", str(ELF)], capture_output=True, text=True, check=True).stdout
    assert not re.search(r"^\s+U ", symbols, re.M)  # nothing left undefined
    defined = {line.split()[-1] for line in symbols.splitlines()}
    assert {"rr_app_tick", "rr_verify", "board_init", "memcpy", "reset_handler"} <= defined
    assert not defined & {"malloc", "printf", "_sbrk", "__libc_init_array"}  # no C library pulled in
    image = (ELF.parent / "rr_firmware_stm32f407.bin").read_bytes()
    stack, reset = struct.unpack_from("<II", image)
    assert stack == 0x20000000 + RAM  # the initial stack pointer: the top of SRAM
    assert 0x08000000 <= reset < 0x08000000 + len(image) and reset & 1  # into the image, Thumb


def test_mcu_key_block_matches_what_the_firmware_checks(tmp_path):
    """main.c accepts the block at BOARD_KEY_ADDRESS only with the magic and the key's CRC-16."""
    config = BOARD_CONFIG.read_text()
    magic = int(re.search(r"BOARD_KEY_MAGIC (0x[0-9A-F]+)u", config).group(1), 16)
    key_file = provision_key(tmp_path / "k", mcu_image=tmp_path / "k.bin")
    block = (tmp_path / "k.bin").read_bytes()
    key = load_key(key_file)
    assert len(block) == MCU_KEY_BLOCK_SIZE and block == mcu_key_block(key)
    assert struct.unpack_from("<I", block)[0] == magic and block[4:36] == key
    assert struct.unpack_from("<H", block, 36)[0] == fp.crc16(key) and block[38:] == b"\xff" * 26
    assert (tmp_path / "k.bin").stat().st_mode & 0o077 == 0
