"""The learning methods of ``robot-rl hil sim --method`` and the learner node's ``method`` (numpy only).

Each sets the actor loss's weights (:mod:`robot_rl.hil.learner`) and whether the residual explores while
collecting (samples its Gaussian, as HIL-SERL; evaluation and the robot by default run it deterministic).
"""

from __future__ import annotations

from robot_rl.errors import ConfigError

METHODS = {  # actor-loss weights (q_weight, bc_weight, anchor_weight) and whether collection samples
    "bc": {"q_weight": 0.0, "bc_weight": 2.0, "anchor_weight": 0.0, "explore": False},
    "residual-rl": {"q_weight": 1.0, "bc_weight": 1.0, "anchor_weight": 0.1, "explore": False},
    "rlpd-scratch": {"q_weight": 1.0, "bc_weight": 1.0, "anchor_weight": 0.1, "explore": True},
    "dsrl": {"q_weight": 1.0, "bc_weight": 0.0, "anchor_weight": 0.0, "explore": True},
}
"""``--method``: bc (HG-DAgger: clone the corrections), residual-rl (the default: RL over the frozen base; it collects
with its mean residual: sampled, its exploration made the pick-cube collection fail, docs/hil.md "Why later rounds
degraded"),
rlpd-scratch (the same learner acting alone over a hold-position base, :mod:`robot_rl.hil.hold_base`), dsrl
(a noise policy steering the base's initial noise, :mod:`robot_rl.hil.dsrl_online`; of the weights it uses only
anchor_weight, the pull of its latent towards 0)."""


ANCHOR_TARGETS = ("executed", "zero")
"""The actor's anchor target on policy-driven samples (:mod:`robot_rl.hil.learner`): the executed residual, or
zero (the base's action)."""


def learner_class(method: str):
    """The online learner class of ``method``: :class:`~robot_rl.hil.dsrl_online.DsrlOnlineLearner` for dsrl,
    else :class:`~robot_rl.hil.online.OnlineLearner`; ConfigError for an unknown method."""
    method_defaults(method)
    if method == "dsrl":
        from robot_rl.hil.dsrl_online import DsrlOnlineLearner

        return DsrlOnlineLearner
    from robot_rl.hil.online import OnlineLearner

    return OnlineLearner


def method_defaults(method: str) -> dict:
    """The settings of ``method`` (a key of :data:`METHODS`); ConfigError naming the known ones."""
    if method not in METHODS:
        raise ConfigError(f"unknown HIL method {method!r}; known: {sorted(METHODS)}")
    return dict(METHODS[method])
