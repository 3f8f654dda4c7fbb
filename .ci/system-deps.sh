#!/usr/bin/env bash
# System packages robot_rl needs beyond Python: libusb for pyrealsense2, a C compiler for the firmware host build,
# the Arm cross compiler (+ newlib's headers) for the firmware's microcontroller build (tests/test_firmware_mcu.py).
# linux-libc-dev: linux/input.h, to build python-evdev (the gamepad teleop, requirements/teleop.txt).
set -euo pipefail
need=()
for pkg in libusb-1.0-0 gcc make gcc-arm-none-eabi libnewlib-arm-none-eabi linux-libc-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing system packages: ${need[*]} (run: sudo apt-get install -y ${need[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
