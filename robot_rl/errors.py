"""Exception types shared across robot_rl.

Every error names the offending input (file, field, joint) so an operator can
fix it without reading code.
"""


class RobotRLError(Exception):
    """Base class for all robot_rl errors."""


class ConfigError(RobotRLError, ValueError):
    """A configuration file or value is invalid (names the file and field)."""


class CommandError(RobotRLError, ValueError):
    """A command message is malformed (names the joint or field)."""


class HardwareError(RobotRLError, RuntimeError):
    """A device cannot be opened or stopped answering (names the device or port)."""


class DataError(RobotRLError, ValueError):
    """Recorded or incoming data is invalid: a non-finite value, a wrong shape, a corrupt file (names it)."""
