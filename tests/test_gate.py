"""Sim2sim gate: the real node graph (processes) passes a good policy and fails the same policy with its
action scale tampered, naming the failed criterion; exit codes follow."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import onnx

from policy_helpers import write_joint_target_policy
from robot_rl.policy.contract import read_contract, write_policy
from robot_rl_sim.gate.stats import wilson_interval


def _gate(policy, tmp_path, env, name):
    report = tmp_path / f"{name}.json"
    proc = subprocess.run([sys.executable, "-m", "robot_rl.cli", "gate", "--policy", str(policy), "--episodes", "3",
                           "--episode-s", "4.0", "--latency-ms", "3", "--jitter-ms", "2", "--position-noise", "0.001",
                           "--report", str(report), "--log-dir", str(tmp_path / name)],
                          env={**__import__("os").environ, **env}, capture_output=True, text=True, timeout=240)
    return proc, json.loads(report.read_text()) if report.is_file() else None


def test_gate_passes_good_policy_and_fails_tampered_scale(tmp_path, ros_env):
    good = tmp_path / "good.onnx"
    write_joint_target_policy(good)
    proc, report = _gate(good, tmp_path, ros_env, "good")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert report["passed"] and report["success_rate"] == 1.0
    assert report["tracking_error_rad"] is not None and report["saturation_fraction"] == 0.0
    assert report["injection"]["latency_ms"] == 3.0

    contract, _ = read_contract(good)
    tampered = dataclasses.replace(contract, action=dataclasses.replace(contract.action, scale=(1.0,) * 7),
                                   golden=())
    bad = tmp_path / "tampered.onnx"
    write_policy(onnx.load(str(good)), tampered, bad)
    proc, report = _gate(bad, tmp_path, ros_env, "tampered")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert not report["passed"] and report["success_rate"] < 0.5
    assert "success rate" in proc.stderr and "min_success_rate" in proc.stderr


def test_wilson_interval():
    low, high = wilson_interval(8, 10)
    assert round(low, 3) == 0.490 and round(high, 3) == 0.943
    assert wilson_interval(0, 0) == (0.0, 1.0)
