"""ROS 2 message definitions as MCAP ``ros2msg`` schema text, the way ``ros2 bag record`` stores them.

The text is the type's own ``.msg`` file, then for every nested type (depth first, each once) a line of 80
``=``, a line ``MSG: pkg/Name`` and that type's ``.msg``. The ``.msg`` files come from the installed message
packages (``share/<pkg>/msg/<Name>.msg``, found through the ament index): one source of truth, no copies.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

from robot_rl.errors import ConfigError

SEPARATOR = "=" * 80
_PRIMITIVES = {"bool", "byte", "char", "float32", "float64", "int8", "uint8", "int16", "uint16", "int32",
               "uint32", "int64", "uint64", "string", "wstring"}


def _msg_file(package: str, name: str) -> Path:
    """``share/<package>/msg/<name>.msg`` under the ament prefixes (AMENT_PREFIX_PATH: an apt or source
    ROS 2 install), else under this Python's prefix (the PyPI ROS 2 wheels install there)."""
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p] + [sys.prefix]
    for prefix in prefixes:
        path = Path(prefix) / "share" / package / "msg" / f"{name}.msg"
        if path.is_file():
            return path
    raise ConfigError(f"no message definition {package}/msg/{name}.msg under {prefixes}: "
                      f"is the {package} package installed?")


def _field_types(text: str, package: str) -> list[tuple[str, str]]:
    """(package, name) of every non-primitive field type of a ``.msg`` text (constants skipped)."""
    found = []
    for line in text.splitlines():
        tokens = line.split("#")[0].split()
        if len(tokens) < 2 or "=" in tokens[1]:  # blank, comment or constant
            continue
        base = re.sub(r"\[.*\]$", "", tokens[0])  # drop array bounds
        base = re.sub(r"<=\d+$", "", base)  # bounded strings
        if base in _PRIMITIVES:
            continue
        parts = base.split("/")
        found.append((parts[0], parts[-1]) if len(parts) > 1 else (package, parts[0]))
    return found


@functools.lru_cache(maxsize=None)
def schema_text(type_name: str) -> str:
    """The ``ros2msg`` schema text of ``type_name`` (``pkg/msg/Name``), with all nested definitions."""
    parts = type_name.split("/")
    if len(parts) != 3 or parts[1] != "msg":
        raise ConfigError(f"message type {type_name!r}: expected pkg/msg/Name")
    package, name = parts[0], parts[2]
    main = _msg_file(package, name).read_text()
    sections, seen = [main.rstrip("\n")], set()
    stack = list(reversed(_field_types(main, package)))
    while stack:
        dep = stack.pop()
        if dep in seen:
            continue
        seen.add(dep)
        text = _msg_file(*dep).read_text()
        sections.append(f"{SEPARATOR}\nMSG: {dep[0]}/{dep[1]}\n{text.rstrip(chr(10))}")
        stack.extend(reversed(_field_types(text, dep[0])))
    return "\n".join(sections) + "\n"
