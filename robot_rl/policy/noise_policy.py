"""Noise policies (DSRL): a policy whose output is the initial noise of one base diffusion policy (no rclpy).

A noise policy is a contract-carrying ONNX file with the ``residual`` section of kind ``"noise"``: it names
its base by sha256 like a residual, and maps the base's observation window (input role ``obs``) and its own
exploration noise (input role ``noise``, zeros when acting) to a latent (output role ``action``, shape
(1, H, A): the base's noise input shape). Composition, per chunk, on the chunk-start observation::

    w   = noise_policy(obs)            (H, A), within +-residual.scale
    raw = base(obs, noise=w)           (H, A): the base's chunk, its actions untouched

so the base runs as a black box through its noise input (``robot-rl export --noise-input``). The per-step
residual path of :mod:`robot_rl.policy.runtime` leaves a noise policy's steps as the base produced them.
"""

from __future__ import annotations

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.schema import PolicyContract


def is_noise_policy(contract: PolicyContract | None) -> bool:
    """Whether ``contract`` is a noise policy's (residual section of kind "noise")."""
    return contract is not None and contract.residual is not None and contract.residual.kind == "noise"


def check_noise_policy(base: PolicyContract, base_id: str, noise: PolicyContract) -> None:
    """ConfigError naming the problem unless ``noise`` steers this base (sha256 ``base_id``): same sha256, a base
    with a noise input, a latent of that input's shape, the same joints and observations."""
    bound = noise.residual.base_policy_id
    if bound != base_id:
        raise ConfigError(f"noise policy was trained for base policy sha256 {bound[:12]}..., the loaded base is "
                          f"{base_id[:12]}...: a noise policy steers only the exact base it was trained on")
    spec = base.input("noise")
    if spec is None:
        raise ConfigError("the base policy has no input with role 'noise': export it with "
                          "`robot-rl export --noise-input` to compose a noise policy")
    latent = tuple(noise.action_output.shape[1:])
    if latent != tuple(spec.shape[1:]):
        raise ConfigError(f"noise policy latent shape {latent} differs from the base's noise input "
                          f"{spec.name!r} shape {tuple(spec.shape[1:])}")
    for field in ("action_joint_names", "obs_joint_names", "observations"):
        if getattr(noise, field) != getattr(base, field):
            raise ConfigError(f"noise policy contract {field} differs from the base policy's")


def steering_noise(policy, obs: np.ndarray) -> np.ndarray | None:
    """The latent (H, A) a noise policy (an :class:`~robot_rl.policy.runtime.OnnxPolicy`) chooses for ``obs``;
    None when ``policy`` is None or an action residual (the base then draws its own noise)."""
    if policy is None or not is_noise_policy(policy.contract):
        return None
    return policy.run(obs)
