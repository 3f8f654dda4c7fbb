"""The HIL learner node with ``method: dsrl`` and the policy node over real ROS 2 processes (Fast DDS).

The base is a small real network with its initial noise as a graph input (role ``noise``, as ``robot-rl export
--noise-input`` writes): its chunk is the goal plus NOISE_GAIN x the noise, so the latent a noise policy chooses
shows in the command. The learner exports noise policies bound to the base's sha256 and sends their bytes over
ROS 2; the policy node hash-checks them, composes each with the base and runs it. The test checks that
- after a trained noise policy is swapped in, every command the policy node sends is a row of
  base(obs, noise=noise_policy(obs)), computed here with onnxruntime, and differs from the latent-0 command;
- every latent the learner stored for a policy-driven chunk is the deterministic latent of one of its exports
  at that chunk's observation: what the policy node ran (explore_residual off);
- a noise policy bound to another base is refused by name, and the running one stays;
- a policy node started with explore_residual on refuses the learner's noise policy (it would run sampled
  latents while the learner records the deterministic ones).
The test plays the robot and the mux (:class:`test_hil_graph.MuxStandIn`: the arm stands at its default pose)."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from diagnostic_msgs.msg import DiagnosticArray
from policy_helpers import JointTargetPolicy, export_onnx, panda_contract, panda_inputs
from ros_probe import RosProbe
from std_msgs.msg import String
from std_srvs.srv import Trigger
from test_hil_graph import GOAL, LATCHED, PANDA, MuxStandIn, _diagnostics, _wait

from robot_rl import topics
from robot_rl.bringup.graph import node_spec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.hil.dsrl import LATENT_SCALE, DsrlConfig, NoiseActor
from robot_rl.hil.dsrl_export import export_noise_policy
from robot_rl.hil.replay import load_transitions
from robot_rl.policy.contract import NoiseInput, TensorSpec, load_policy, write_policy
from robot_rl.policy.runtime import OnnxPolicy, PolicyRuntime, RuntimeConfig

pytestmark = pytest.mark.ros
HORIZON, STEPS = 4, 2  # chunk of 4, 2 executed per inference, 20 Hz
NOISE_GAIN = 1.0  # raw units per unit of noise (0.5 rad of target per raw unit)


class NoiseTargetPolicy(JointTargetPolicy):
    """chunk (B, H, n) = JointTargetPolicy's (the goal) + NOISE_GAIN * noise (B, H, n)."""

    def forward(self, obs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return super().forward(obs) + NOISE_GAIN * noise


def _noise_base(path, seed: int):
    """A base taking its initial noise as an input (contract role noise, standard normal)."""
    torch.manual_seed(seed)
    n = PANDA.dof
    contract = panda_contract(horizon=HORIZON, n_action_steps=STEPS, policy_hz=20.0, noise=NoiseInput(),
                              inputs=(TensorSpec("obs", ("batch", 3 * n)),
                                      TensorSpec("noise", ("batch", HORIZON, n), role="noise")))
    data = export_onnx(NoiseTargetPolicy(n, horizon=HORIZON), (torch.zeros(1, 3 * n), torch.zeros(1, HORIZON, n)),
                       ["obs", "noise"], ["actions"])
    write_policy(data, contract, path)
    return path


def _foreign_noise_policy(tmp_path):
    """A noise policy (a fresh actor) bound to another noise-input base."""
    other = load_policy(_noise_base(tmp_path / "other_base.onnx", seed=1))
    actor = NoiseActor(DsrlConfig(3 * PANDA.dof, HORIZON * PANDA.dof, STEPS * PANDA.dof, hidden=8, critics=2))
    path = tmp_path / "foreign_noise_policy.onnx"
    export_noise_policy(actor, other, path)
    return path


def _specs(base, out, explore: bool = False):
    return [node_spec("policy_node", {"robot": "panda", "policy_path": str(base), "explore_residual": explore,
                                      "residual_dir": str(out.parent / "received")},
                      remappings=((topics.COMMAND, topics.POLICY_COMMAND),)),
            node_spec("hil_learner", {"robot": "panda", "base_policy_path": str(base), "out_dir": str(out),
                                      "method": "dsrl", "updates_per_step": 1.0, "min_transitions": 10,
                                      "export_every_updates": 20, "batch_size": 8, "hidden_units": 32,
                                      "critics": 2})]


def _latent(path, obs) -> np.ndarray:
    """The deterministic latent (H, n) of the noise policy at ``path`` for one observation window."""
    return OnnxPolicy(load_policy(path), RuntimeConfig()).run(obs)


def _composed_targets(base, noise_policy) -> np.ndarray:
    """(H, n) rad: the chunk the policy node's composer makes of ``base`` and ``noise_policy`` at the stand-in
    robot's state."""
    runtime = PolicyRuntime(load_policy(base), load_policy(noise_policy))
    return runtime.act(panda_inputs(PANDA.default_pose, GOAL)).positions


def test_the_dsrl_learner_node_sends_noise_policies_the_policy_node_runs(tmp_path, ros_env):
    base = _noise_base(tmp_path / "base.onnx", seed=0)
    foreign = _foreign_noise_policy(tmp_path)
    out = tmp_path / "hil"
    with GraphRunner(_specs(base, out), tmp_path / "logs", env=ros_env) as runner, \
            RosProbe("hil_dsrl_probe") as probe:
        statuses: list[str] = []
        probe.node.create_subscription(String, "/policy_node/status", lambda m: statuses.append(m.data), LATCHED)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        mux = MuxStandIn(probe)
        learner = lambda: _diagnostics(diags, "hil_learner")  # noqa: E731
        swaps = lambda: [s for s in statuses if s.startswith("loaded residual")]  # noqa: E731
        wait = lambda cond, what, timeout=30: _wait(runner, cond, timeout, what)  # noqa: E731
        wait(lambda: len(swaps()) >= 3 and int(learner().get("exports", 0)) >= 2, "two trained noise policies", 150)
        response = probe.call(Trigger, "/hil_learner/reset", Trigger.Request())  # nothing more recorded or learnt
        wait(lambda: learner().get("phase") == "resetting" and learner().get("updates_owed") == "0", "caught up")
        time.sleep(1.5)
        newest = lambda: sorted(out.glob("residual_*.onnx"))[-1]  # noqa: E731
        wait(lambda: newest().name in swaps()[-1], "the policy node running the newest noise policy")
        newest, swapped_at = newest(), time.time()
        wait(lambda: mux.policy_commands[-1][0] > swapped_at + 1.0, "commands after the swap")
        # chunks inferred before the swap are over 0.1 s later (2 periods); 0.5 s leaves room for a late one
        commands = [np.array([p.positions for p in m.points]) for t, m in mux.policy_commands if t > swapped_at + 0.5]
        running = _diagnostics(diags, "policy_node")["residual_sha256"]

        wait(lambda: mux.load_residual.get_subscription_count() > 0, "load_residual subscriber")
        mux.load_residual.publish(String(data=str(foreign)))
        wait(lambda: any("noise policy was trained for base policy sha256" in s for s in statuses), "refusal")
        refused_at = time.time()
        wait(lambda: any(t > refused_at + 1.1 for t, _ in diags), "diagnostics after the refusal")
        kept = _diagnostics(diags, "policy_node")["residual_sha256"]

        runner.kill("policy_node")  # again with explore_residual on: the learner's noise policy is refused
        runner.specs["policy_node"] = _specs(base, out, explore=True)[0]
        before = len(statuses)
        runner.start_node("policy_node")
        wait(lambda: any("explore_residual is on" in s for s in statuses[before:]), "explore_residual refusal", 120)
        exploring = [s for s in statuses[before:] if s.startswith(("refused", "loaded residual"))]
        stopped = runner.stop()
        logs = {name: runner.log(name) for name in runner.specs}
    assert stopped == {"policy_node": 0, "hil_learner": 0}, logs
    assert response.success and "Traceback" not in logs["hil_learner"] + logs["policy_node"]

    # the policy node runs base(obs, noise_policy(obs)): every command row is a row of that chunk, not latent 0's
    exports = sorted(out.glob("residual_*.onnx"))
    expected, latent_zero = _composed_targets(base, newest), _composed_targets(base, exports[0])
    np.testing.assert_allclose(latent_zero, np.tile(GOAL, (HORIZON, 1)), atol=1e-6)  # the untrained actor: latent 0
    assert len(commands) >= 3
    for rows in commands:
        assert all(np.abs(expected - row).max(axis=1).min() < 1e-5 for row in rows), (rows, expected)
    moved = np.abs(expected - latent_zero).max()
    print(f"{len(swaps())} noise policies swapped in; the newest moves the command {moved:.2e} rad from latent 0")
    assert moved > 1e-4
    assert running == kept and running in swaps()[-1]  # the foreign noise policy did not replace it

    # the stored latents are the deterministic latents of the learner's exports: what the policy node ran
    data = load_transitions(out / "transitions")
    latents = data["action"].reshape(-1, HORIZON, PANDA.dof) * LATENT_SCALE
    candidates = [[_latent(path, obs) for path in exports] for obs in data["obs"]]
    matched = [min(np.abs(c - stored).max() for c in cands) for cands, stored in zip(candidates, latents)]
    assert len(matched) >= 10 and max(matched) < 1e-4, matched
    assert np.abs(latents).max() > 1e-4  # a trained export's latent was recorded, not only latent 0
    assert exploring and "explore_residual is on" in exploring[0] and "set explore_residual false" in exploring[0]
