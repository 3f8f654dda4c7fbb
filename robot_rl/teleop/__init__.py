"""Teleoperation: the human-intervention path of human-in-the-loop RL (pure numpy, no rclpy).

* :mod:`robot_rl.teleop.device`: the device-agnostic interface (samples, session, buttons, motion scaling);
  :mod:`robot_rl.teleop.devices` opens a device by kind (docs/teleop.md).
* :mod:`robot_rl.teleop.spacemouse`, :mod:`robot_rl.teleop.gamepad`: 3Dconnexion HID reports (hidapi) and evdev
  gamepads; :mod:`robot_rl.teleop.replay`: the replay stand-ins that feed them recorded streams in tests.
* :mod:`robot_rl.teleop.twist`: a Cartesian end-effector twist (or a joint target) -> a short joint-trajectory chunk.
* :mod:`robot_rl.teleop.keyboard`: key presses -> twist, intervention toggle, episode outcome; and the
  terminal device that reads them.
* :mod:`robot_rl.teleop.mux`: which command source (policy or human) reaches the safety filter.
"""
