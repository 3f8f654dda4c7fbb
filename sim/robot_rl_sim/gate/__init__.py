"""Sim2sim gate: the real node graph (policy, safety filter, control node, MuJoCo) judged against the contract."""
