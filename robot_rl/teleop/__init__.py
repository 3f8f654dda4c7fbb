"""Teleoperation: the human-intervention path of human-in-the-loop RL (pure numpy, no rclpy).

* :mod:`robot_rl.teleop.twist`: a Cartesian end-effector twist -> a short joint-trajectory chunk.
* :mod:`robot_rl.teleop.keyboard`: key presses -> twist, intervention toggle, episode outcome; and the
  terminal device that reads them.
* :mod:`robot_rl.teleop.mux`: which command source (policy or human) reaches the safety filter.
"""
