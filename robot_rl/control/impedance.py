"""Joint impedance control: PD around a reference plus pinocchio inverse dynamics (gravity, Coriolis, M a)."""

from __future__ import annotations

import numpy as np

from robot_rl.control import kernels
from robot_rl.robot.friction import FRICTION_SMOOTHING_RAD_S
from robot_rl.robot.model import RobotModel


def impedance_torque(model: RobotModel, q: np.ndarray, v: np.ndarray, q_ref: np.ndarray,
                     v_ref: np.ndarray | None = None, a_ref: np.ndarray | None = None,
                     kp: np.ndarray | None = None, kd: np.ndarray | None = None) -> np.ndarray:
    """Joint torques (n,) Nm: ``kp (q_ref - q) + kd (v_ref - v) + rnea(q, v, a_ref)`` + the URDF friction
    feedforward at ``v_ref`` (:meth:`RobotModel.friction_torque`); the sum is one compiled kernel.

    With ``v_ref`` and ``a_ref`` omitted this is PD plus gravity compensation
    (rnea(q, v, 0) = C(q, v) v + g(q)).

    Args:
        model: pinocchio model of the robot.
        q, v: measured joint positions (n,) rad and velocities (n,) rad/s.
        q_ref, v_ref, a_ref: reference position rad, velocity rad/s, acceleration rad/s^2, each (n,).
        kp, kd: stiffness Nm/rad and damping Nm s/rad (n,); default: the robot YAML's gains.
    """
    kp = model.config.kp if kp is None else kp
    kd = model.config.kd if kd is None else kd
    v_ref = np.zeros_like(q) if v_ref is None else v_ref
    a_ref = np.zeros_like(q) if a_ref is None else a_ref
    out = np.empty(len(q))
    damping, friction = model.friction_parameters()
    kernels.impedance(np.asarray(kp, float), np.asarray(kd, float), np.asarray(q, float), np.asarray(v, float),
                      np.asarray(q_ref, float), np.asarray(v_ref, float), model.inverse_dynamics(q, v, a_ref),
                      damping, friction, FRICTION_SMOOTHING_RAD_S, out)
    return out
