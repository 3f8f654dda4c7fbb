"""Joint damping and Coulomb friction from the URDF (``<dynamics damping friction>``) as a feedforward torque.

MuJoCo simulates both (the URDF's ``damping`` and ``friction`` become joint damping and ``frictionloss``), and
a real gearbox has both; an impedance law that ignores them lags every move by ``(d v + f sign v) / kp``. The
Coulomb term is smoothed near zero velocity with ``tanh(v / v_s)`` so the torque is continuous (a sign function
would chatter around a held pose, where the reference velocity is zero and the term vanishes).
"""

from __future__ import annotations

import numpy as np

FRICTION_SMOOTHING_RAD_S = 0.02
"""v_s, rad/s: the velocity at which the smoothed Coulomb term reaches tanh(1) = 76 % of the URDF friction."""


def friction_torque(damping: np.ndarray, friction: np.ndarray, velocity: np.ndarray,
                    smoothing: float = FRICTION_SMOOTHING_RAD_S) -> np.ndarray:
    """Torque (n,) Nm that overcomes joint damping and Coulomb friction at ``velocity`` (n,) rad/s.

    ``damping * v + friction * tanh(v / smoothing)``, with ``damping`` (n,) Nm s/rad and ``friction`` (n,) Nm as
    pinocchio reads them from the URDF (``model.damping``, ``model.friction``).
    """
    v = np.asarray(velocity, dtype=float)
    return np.asarray(damping) * v + np.asarray(friction) * np.tanh(v / smoothing)
