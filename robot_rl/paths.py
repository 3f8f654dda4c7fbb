"""Where installed data (config/, launch/) lives, for a checkout, a pip install or a colcon install."""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

from robot_rl.errors import ConfigError

PACKAGE = "robot_rl"


@lru_cache(maxsize=None)
def share_dir() -> Path:
    """The package's data root: the source checkout, ``<prefix>/share/robot_rl`` (pip) or the ament share.

    Raises:
        ConfigError: if no directory with a ``config/`` folder is found.
    """
    candidates = [Path(__file__).resolve().parent.parent, Path(sys.prefix) / "share" / PACKAGE]
    try:
        from ament_index_python.packages import get_package_share_directory

        candidates.append(Path(get_package_share_directory(PACKAGE)))
    except Exception:  # noqa: BLE001 - ament index absent or package not registered: try the others
        pass
    for root in candidates:
        if (root / "config" / "robots").is_dir():
            return root
    raise ConfigError(f"robot_rl data (config/) not found in any of {[str(c) for c in candidates]}")


def config_dir() -> Path:
    """Directory of shipped YAMLs (``robots/``, ``nodes/``)."""
    return share_dir() / "config"
