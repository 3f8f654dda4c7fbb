"""Shared fixtures: an isolated ROS 2 domain per test, robots, hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from robot_rl.bringup.session import MAX_SAFE_DOMAIN_ID, random_domain_id

settings.register_profile("default", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("default")


@pytest.fixture(scope="session", autouse=True)
def compiled_safety_kernels() -> None:
    """Compile the safety filter's numba kernels (or load them from the cache) before any test, so
    node processes started by tests load them from the cache instead of each compiling for ~15 s."""
    from robot_rl.safety.kernels import warm_up

    warm_up()


_DOMAIN_IDS = iter(range(int(random_domain_id()), 10**6))


def _next_domain_id() -> str:
    """Domain ids in turn from a random start (wrapping in [1, MAX_SAFE_DOMAIN_ID]): consecutive graph tests
    never share one, so a graph still shutting down cannot answer the next test's nodes."""
    return str((next(_DOMAIN_IDS) - 1) % MAX_SAFE_DOMAIN_ID + 1)


@pytest.fixture
def ros_env(monkeypatch) -> dict[str, str]:
    """A fresh ROS_DOMAIN_ID (localhost discovery only) for this test, also set in os.environ.

    Returns the variables, to pass to child processes.
    """
    env = {"ROS_DOMAIN_ID": _next_domain_id(),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="session")
def panda_model():
    """Pinocchio model of the Panda (do not share across threads)."""
    from robot_rl.robot import load_robot_model

    return load_robot_model("panda")


@pytest.fixture
def pty_pair():
    """(master, slave) file descriptors of a fresh pseudo-terminal, closed after the test."""
    master, slave = os.openpty()
    yield master, slave
    os.close(master)
    os.close(slave)
