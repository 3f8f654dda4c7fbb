"""Human-in-the-loop online RL (numpy core, no rclpy, no torch at import time).

:mod:`robot_rl.hil.replay`: the learner's durable transition store and its in-memory replay sampler.
:mod:`robot_rl.hil.labels`: executed joint targets back to raw actions and residual labels.
:mod:`robot_rl.hil.online`: the HIL learner node's core (live stream -> transitions -> updates -> exports).
"""

from robot_rl.hil.replay import (FIELDS, EmptyReplayError, ReplayConfig, ReplaySampler, TransitionStore,
                                 load_transitions, read_entries, read_meta, validate_arrays, validate_step)

__all__ = ["FIELDS", "EmptyReplayError", "ReplayConfig", "ReplaySampler", "TransitionStore", "load_transitions",
           "read_entries", "read_meta", "validate_arrays", "validate_step"]
