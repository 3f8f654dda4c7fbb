"""The robot side of the HIL loop over real ROS 2 processes (Fast DDS), one graph for every check:

* the learner and the policy node run in separate working directories and share no path: each has its own
  copy of the base (a relative path), the learner sends each exported residual's bytes, the policy node
  checks their sha256, writes them into its own directory and hot-swaps the residual; a payload whose bytes
  do not hash to what the sender says is refused by name, so is a residual made for another base; a policy
  node started after the export gets the newest residual (transient local);
* episode control: the y key ends the episode (terminal step stored, the policy node told to reset), the
  steps the person teleoperates while resetting are not stored, ~/start (std_srvs/Trigger) and the
  operator's "reset" / "start" (the e / g keys' topic) end and start episodes, the time limit ends one;
* /diagnostics carries the learner's update rate and achieved UTD.
The test plays the robot, the mux and the person (:class:`test_hil_graph.MuxStandIn`)."""

from __future__ import annotations

import hashlib
import shutil
import signal
import time

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from ros_probe import RosProbe
from std_msgs.msg import Bool, MultiArrayDimension, String, UInt8MultiArray
from std_srvs.srv import Trigger
from test_hil_graph import LATCHED, RESIDUAL_SCALE, MuxStandIn, _bases, _diagnostics, _wait

from robot_rl import topics
from robot_rl.bringup.graph import node_spec
from robot_rl.bringup.runner import GraphRunner
from robot_rl.hil.replay import load_transitions
from robot_rl.hil.transfer import ResidualPayload

pytestmark = pytest.mark.ros
TIME_LIMIT_S = 2.0  # 40 periods at 20 Hz


def _machines(tmp_path):
    """Two working directories with their own copy of the base; a residual for another base (the probe's)."""
    base, foreign = _bases(tmp_path / "probe")
    dirs = {"policy_node": tmp_path / "policy_machine", "hil_learner": tmp_path / "learner_machine"}
    for d in dirs.values():
        d.mkdir()
        shutil.copy(base, d / "base.onnx")  # the bytes alone: the contract is embedded in the ONNX metadata
    return dirs, foreign


def _specs():
    return [node_spec("policy_node", {"robot": "panda", "policy_path": "base.onnx"},
                      remappings=((topics.COMMAND, topics.POLICY_COMMAND),)),
            node_spec("hil_learner", {"robot": "panda", "base_policy_path": "base.onnx", "out_dir": "hil",
                                      "residual_scale": RESIDUAL_SCALE, "updates_per_step": 1.0,
                                      "min_transitions": 20, "export_every_updates": 20, "batch_size": 32,
                                      "hidden_units": 256, "episode_time_limit_s": TIME_LIMIT_S,
                                      "start_running": False})]  # episode 1 starts when the test is ready


def _bytes_msg(header: str, data: bytes) -> UInt8MultiArray:
    msg = UInt8MultiArray(data=data)
    msg.layout.dim = [MultiArrayDimension(label=header, size=len(data), stride=len(data))]
    return msg


def test_residual_bytes_episode_control_and_diagnostics_between_two_machines(tmp_path, ros_env):
    dirs, foreign = _machines(tmp_path)
    with GraphRunner(_specs(), tmp_path / "logs", env=ros_env, cwd=dirs) as runner, \
            RosProbe("hil_robot_probe") as probe:
        statuses: list[str] = []
        probe.node.create_subscription(String, "/policy_node/status", lambda m: statuses.append(m.data), LATCHED)
        diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS)
        control = probe.node.create_publisher(String, topics.EPISODE_CONTROL, 10)
        mux = MuxStandIn(probe)
        learner = lambda: _diagnostics(diags, "hil_learner")  # noqa: E731
        policy = lambda: _diagnostics(diags, "policy_node")  # noqa: E731
        wait = lambda cond, what, timeout=20: _wait(runner, cond, timeout, what)  # noqa: E731
        wait(lambda: learner() and any(s.startswith("loaded ") for s in statuses) and len(mux.policy_commands) > 5,
             "running policy node and learner", 45)

        # episode 1 (started now, so that a slow start-up cannot use up its time limit): the human corrects,
        # then presses y: terminal step, resetting, the policy node resets
        wait(lambda: control.get_subscription_count() > 0, "episode control subscriber")
        control.publish(String(data="start"))
        wait(lambda: learner().get("phase") == "running", "episode 1 running")
        mux.intervene(True)
        wait(lambda: int(learner().get("intervened_steps", 0)) >= 15, "15 intervened steps")
        mux.intervene(False)
        wait(lambda: mux.outcome.get_subscription_count() > 0, "outcome subscriber")
        mux.outcome.publish(Bool(data=True))
        wait(lambda: learner().get("phase") == "resetting", "resetting after the y key")
        ended = learner()
        wait(lambda: int(policy().get("episode_resets", 0)) >= 1, "the policy node's episode reset")

        # the person drives the arm back: nothing is stored
        mux.intervene(True)
        time.sleep(1.5)
        mux.intervene(False)
        reset_done = time.time()
        wait(lambda: any(t > reset_done + 0.1 for t, _ in diags), "diagnostics after the reset drive")
        after_reset = learner()

        # ~/start starts episode 2; the operator's "reset" ends it; "start" starts episode 3; the time limit ends it
        response = probe.call(Trigger, "/hil_learner/start", Trigger.Request())
        wait(lambda: learner().get("phase") == "running", "running after ~/start")
        refused_start = probe.call(Trigger, "/hil_learner/start", Trigger.Request())
        control.publish(String(data="reset"))
        wait(lambda: learner().get("episodes_reset") == "1" and learner().get("phase") == "resetting", "reset")
        control.publish(String(data="start"))
        wait(lambda: learner().get("episode") == "3", "episode 3")
        started = time.monotonic()
        wait(lambda: learner().get("episodes_time_limit") == "1", "the time limit", 3 * TIME_LIMIT_S + 10)
        limit_after_s = time.monotonic() - started
        wait(lambda: int(policy().get("episode_resets", 0)) >= 6, "6 policy resets (3 ends, 3 starts)")

        # the residual went over the wire and was swapped in
        wait(lambda: any(s.startswith("loaded residual") for s in statuses), "residual hot swap", 30)
        mux.robot_on = False  # no more steps: the learner finishes its owed updates and exports no more
        wait(lambda: learner().get("updates_owed") == "0", "learner caught up")
        time.sleep(1.5)
        learned = learner()
        exported = sorted((dirs["hil_learner"] / "hil").glob("residual_*.onnx"))
        newest_sha = hashlib.sha256(exported[-1].read_bytes()).hexdigest()
        wait(lambda: newest_sha in [s for s in statuses if s.startswith("loaded residual")][-1], "newest residual")
        loaded = [s for s in statuses if s.startswith("loaded residual")]

        # a corrupted payload and a residual for another base are refused; the swapped one stays
        sender = probe.node.create_publisher(UInt8MultiArray, "/policy_node/residual_bytes", LATCHED)
        good = ResidualPayload.from_file(exported[-1])
        corrupted = bytearray(good.data)
        corrupted[len(corrupted) // 2] ^= 0xFF
        wait(lambda: sender.get_subscription_count() > 0, "residual_bytes subscriber")
        sender.publish(_bytes_msg(good.header, bytes(corrupted)))
        wait(lambda: any("sha256 mismatch" in s for s in statuses), "refusal of the corrupted bytes")
        sender.publish(_bytes_msg(ResidualPayload.from_file(foreign).header, foreign.read_bytes()))
        wait(lambda: any("residual is for base policy" in s for s in statuses), "refusal of the foreign residual")
        refused_at = time.time()
        wait(lambda: any(t > refused_at + 1.1 for t, _ in diags), "diagnostics after the refusals")
        kept = policy()["residual_sha256"]

        # a policy node that starts later gets the newest residual from the learner (transient local)
        probe.node.destroy_publisher(sender)
        runner.kill("policy_node")
        before = len(statuses)
        runner.start_node("policy_node")
        wait(lambda: any(s.startswith("loaded residual") for s in statuses[before:]), "late joiner's residual", 45)
        late = [s for s in statuses[before:] if s.startswith("loaded residual")][0]
        stopped = runner.stop()
        logs = {n: runner.log(n) for n in runner.specs}
    print(f"learner at the end: {learned}; time limit after {limit_after_s:.1f} s")
    assert stopped == {"policy_node": 0, "hil_learner": 0}, logs
    assert ended["episodes_success"] == "1" and ended["episode_steps"] != "0"
    assert (after_reset["transitions"], after_reset["intervened_steps"]) == \
        (ended["transitions"], ended["intervened_steps"]), (ended, after_reset)  # reset-time teleop not stored
    assert response.success and not refused_start.success, (response.message, refused_start.message)
    assert "Traceback" not in logs["hil_learner"] + logs["policy_node"]
    assert TIME_LIMIT_S - 0.2 <= limit_after_s <= 3 * TIME_LIMIT_S + 10
    # no shared path: the policy node loaded its own copy, under its own directory
    assert all(str(dirs["policy_node"] / "received_residuals") in s.split()[2] for s in loaded + [late]), loaded
    assert kept in loaded[-1] and newest_sha == kept and f"sha256={newest_sha}" in late
    assert float(learned["updates_per_s"]) >= 0 and int(learned["updates_run"]) >= 20
    assert 0.5 <= float(learned["utd_achieved"]) <= float(learned["utd_target"]) + 1e-9, learned
    data = load_transitions(dirs["hil_learner"] / "hil" / "transitions")
    assert len(data["reward"]) == int(learned["transitions"])
    done = data["done"].nonzero()[0]
    assert len(done) == 1 and data["reward"].sum() == 1.0 and data["reward"][done[0]] == 1.0
    assert sorted(set(data["episode"].tolist())) == [0, 1, 2]  # the y key, the reset, the time limit
