"""Human-in-the-loop online RL (numpy core, no rclpy, no torch at import time).

:mod:`robot_rl.hil.transitions`: the transition fields and their validation.
:mod:`robot_rl.hil.replay`: the learner's durable transition store.
:mod:`robot_rl.hil.sampler`: the in-memory replay sampler (RLPD-style mixed batches).
:mod:`robot_rl.hil.labels`: executed joint targets back to raw actions and residual labels.
:mod:`robot_rl.hil.online`: the HIL learner node's core (live stream -> transitions -> updates -> exports).
:mod:`robot_rl.hil.methods`: bc | residual-rl | rlpd-scratch and their settings.
Torch modules (imported on use): :mod:`.residual_net`, :mod:`.learner`, :mod:`.export`, :mod:`.hold_base`.
"""
