"""End to end: demonstrations -> ``robot-rl train bc`` (+ --resume) -> ``robot-rl export`` -> the policy node loads it."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import numpy as np
import pytest
import rclpy
from rclpy.qos import DurabilityPolicy, QoSProfile
from std_msgs.msg import String

from cli_helpers import run_cli
from robot_rl.learning.checkpoint import load_checkpoint
from robot_rl.learning.rollout import ChunkPolicy
from robot_rl.policy.contract import load_policy
from robot_rl_sim.dataset.collect import CollectConfig, collect
from robot_rl_sim.tasks import get_task, make_env

TASK = "panda-reach"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    collect(CollectConfig(task=TASK, episodes=6, out=root / "demos"))
    common = ["train", "bc", "--task", TASK, "--dataset", str(root / "demos"), "--out", str(root / "run"),
              "--batch-size", "64", "--warmup", "5", "--log-every", "5", "--checkpoint-every", "10", "--lr", "3e-3",
              "--channels", "32", "64"]
    assert run_cli(*common, "--steps", "50") == 0
    first = load_checkpoint(root / "run" / "checkpoint.pt")
    assert run_cli(*common, "--steps", "60", "--resume") == 0
    assert run_cli("export", "--checkpoint", str(root / "run" / "checkpoint.pt"), "--out", str(root / "policy.onnx"),
                "--min-success", "0.5") == 0
    return {"root": root, "first": first, "final": load_checkpoint(root / "run" / "checkpoint.pt")}


def test_loss_drops_and_training_resumes(trained):
    first, final = trained["first"], trained["final"]
    assert first.step == 50 and final.step == 60
    losses = [loss for _, loss in final.losses]
    assert [s for s, _ in final.losses] == list(range(5, 65, 5))
    assert np.mean(losses[-3:]) < 0.6 * losses[0], losses
    assert list((trained["root"] / "run" / "tensorboard").glob("events.out.tfevents.*"))


def test_exported_policy_runs_an_episode_in_the_task_env(trained, panda_model):
    path = trained["root"] / "policy.onnx"
    loaded = load_policy(path, robot=panda_model)
    assert loaded.contract.pass_criteria.min_success_rate == 0.5
    spec = get_task(TASK)
    result = ChunkPolicy(path, spec).run_episode(make_env(spec), seed=123)
    assert 1 <= result.steps <= spec.max_steps and np.isfinite(result.reward)


def test_policy_node_loads_the_exported_policy(trained, ros_env):
    path = trained["root"] / "policy.onnx"
    env = dict(os.environ, **ros_env)
    node = subprocess.Popen([sys.executable, "-m", "robot_rl.nodes.policy_node", "--ros-args", "-p",
                             f"policy_path:={path}", "-p", "robot:=panda"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    statuses: list[str] = []
    try:
        with rclpy.init():
            probe = rclpy.create_node("e2e_probe")
            qos = QoSProfile(depth=1, durability=DurabilityPolicy.TRANSIENT_LOCAL)
            probe.create_subscription(String, "/policy_node/status", lambda m: statuses.append(m.data), qos)
            deadline = time.monotonic() + 90
            while not statuses and time.monotonic() < deadline and node.poll() is None:
                rclpy.spin_once(probe, timeout_sec=0.2)
    finally:
        node.terminate()
        output = node.communicate(timeout=30)[0]
    assert statuses and statuses[0].startswith("loaded"), (statuses, output[-3000:])
    assert load_policy(path).sha256 in statuses[0]
