"""SIGKILL harness of the HIL loop: kills the learner and the policy node at random, restarts them, and counts.

Real processes over ROS 2 (Fast DDS): the policy node (behind a stand-in mux) and the HIL learner node, with
this process playing the robot (/joint_states at 50 Hz, a slowly moving arm), the mux (forwards the policy's
commands, or the human's while intervening) and the person (takes over now and then, presses y, then
starts the next episode). Every cycle it waits a random time, then SIGKILLs the learner or the policy node
(chosen at random) and restarts it.

What it counts, per kill:
* committed: the transitions in the learner's store on disk (finished segments: file + sha256) just before
  the kill; lost: those of them missing or changed once the restarted learner is up (must be 0);
* resumed: the restarted node came back and went on: the learner reloaded at least the committed
  transitions (its ``resumed_transitions`` on /diagnostics) and recorded new ones; the policy node loaded
  its base (and the newest residual, sent again by the learner: transient local) and commanded again.
At the end the graph is stopped with SIGINT and the whole store is read back (every segment's hash checked).

Usage (the 200-kill run of docs/hil.md):
    nice -n 10 python tests/support/hil_sigkill.py --kills 200 --out /tmp/hil_sigkill [--seed 0]
prints the JSON report and writes it to OUT/report.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: ros_probe, policy_helpers, test_hil_graph

from diagnostic_msgs.msg import DiagnosticArray  # noqa: E402
from policy_helpers import write_joint_target_policy  # noqa: E402
from ros_probe import RosProbe  # noqa: E402
from sensor_msgs.msg import JointState  # noqa: E402
from std_msgs.msg import Bool, String  # noqa: E402
from test_hil_graph import LATCHED, PANDA, MuxStandIn  # noqa: E402

from robot_rl import topics  # noqa: E402
from robot_rl.bringup.graph import node_spec  # noqa: E402
from robot_rl.bringup.runner import GraphRunner  # noqa: E402
from robot_rl.bringup.session import random_domain_id  # noqa: E402
from robot_rl.hil.replay import load_transitions, read_entries  # noqa: E402
from robot_rl.nodes.conversions import seconds_to_stamp  # noqa: E402

UP_TIMEOUT_S = 180.0  # a restarted node must be up and going on within this (a learner took 49 s at load 26)


class World(MuxStandIn):
    """The robot (its arm sways slowly), the mux and the person (see the module docstring)."""

    def __init__(self, probe: RosProbe, seed: int):
        super().__init__(probe)
        self.rng = random.Random(seed)
        self.control = probe.node.create_publisher(String, topics.EPISODE_CONTROL, 10)
        probe.node.create_timer(0.5, self._person)

    def _publish_state(self) -> None:
        q = PANDA.default_pose + 0.05 * np.sin(0.5 * time.time())
        msg = JointState(name=list(PANDA.joints), position=q.tolist(), velocity=[0.0] * PANDA.dof)
        msg.header.stamp = seconds_to_stamp(time.time())
        self.states.publish(msg)

    def _person(self) -> None:
        """Every 0.5 s: maybe take over or give back; now and then mark the episode and start the next."""
        roll = self.rng.random()
        if roll < 0.15:
            self.intervene(not self.intervening)
        elif roll < 0.2:
            self.outcome.publish(Bool(data=self.rng.random() < 0.5))
        elif roll < 0.4:
            self.control.publish(String(data="start"))  # ignored while an episode runs


def committed(root: Path) -> dict[str, tuple[str, int]]:
    """Finished segments on disk: file -> (sha256, steps); {} before the store exists."""
    if not (root / "meta.json").is_file():
        return {}
    return {e["file"]: (e["sha256"], int(e["steps"])) for e in read_entries(root)}


def learner_status(diags: list, since: float) -> dict[str, str]:
    """Newest hil_learner diagnostics received after ``since`` (wall s), {} if none."""
    for received, msg in reversed(list(diags)):
        if received < since:
            break
        for status in msg.status:
            if status.name == "hil_learner":
                return {kv.key: kv.value for kv in status.values}
    return {}


class Harness:
    """The graph, the world and the counts; :meth:`run` kills ``kills`` times."""

    def __init__(self, out: Path, seed: int, env: dict[str, str]):
        self.out, self.rng = out, random.Random(seed)
        base = out / "base.onnx"
        write_joint_target_policy(base, horizon=4, n_action_steps=2, policy_hz=20.0)
        self.store = out / "hil" / "transitions"
        specs = [node_spec("policy_node", {"robot": "panda", "policy_path": str(base),
                                           "residual_dir": str(out / "received")},
                           remappings=((topics.COMMAND, topics.POLICY_COMMAND),)),
                 node_spec("hil_learner", {"robot": "panda", "base_policy_path": str(base),
                                           "out_dir": str(out / "hil"), "residual_scale": 0.2,
                                           "updates_per_step": 1.0, "min_transitions": 20,
                                           "export_every_updates": 20, "batch_size": 32, "hidden_units": 64,
                                           "flush_every": 5})]
        self.runner = GraphRunner(specs, out / "logs", env=env)
        self.kills: list[dict] = []

    def _until(self, condition, what: str) -> float:
        """Wait for ``condition`` (UP_TIMEOUT_S); returns the seconds it took. RuntimeError naming ``what``."""
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > UP_TIMEOUT_S:
                logs = {n: self.runner.log(n)[-2000:] for n in self.runner.specs}
                raise RuntimeError(f"no {what} within {UP_TIMEOUT_S} s; exited {self.runner.exited()}\n{logs}")
            time.sleep(0.05)
        return time.monotonic() - start

    def _learner_up(self, since: float, pid: str | None = None) -> dict[str, str]:
        """Wait for a learner (another process than ``pid``) that has recorded a transition; its status."""
        def going() -> bool:
            s = learner_status(self.diags, since)
            return bool(s) and s.get("pid") != pid and int(s.get("transitions", 0)) > 0
        self._until(going, "learner recording")
        return learner_status(self.diags, since)

    def _policy_up(self, before_statuses: int, before_commands: int, residual: bool = False) -> str:
        """Wait until the policy node loaded its base (and, if ``residual``, a residual) and commands again."""
        want = "loaded residual" if residual else "loaded"
        self._until(lambda: any(s.startswith(want) for s in self.statuses[before_statuses:])
                    and len(self.world.policy_commands) > before_commands + 5, f"policy node commanding ({want})")
        return next(s for s in self.statuses[before_statuses:] if s.startswith(want))

    def _kill(self, target: str) -> dict:
        """SIGKILL ``target`` at a random moment, restart it, and check what survived."""
        time.sleep(self.rng.uniform(0.2, 3.0))
        status = learner_status(self.diags, 0.0)
        before = committed(self.store)
        self.runner.kill(target)
        killed_at, statuses, commands = time.time(), len(self.statuses), len(self.world.policy_commands)
        self.runner.start_node(target)
        record = {"target": target, "committed": sum(n for _, n in before.values())}
        if target == "hil_learner":
            up = self._learner_up(killed_at, status.get("pid"))
            record["resumed_transitions"] = int(up["resumed_transitions"])
        else:
            record["residual_back"] = any((self.out / "hil").glob("residual_*.onnx"))  # the learner resends it
            record["status"] = self._policy_up(statuses, commands, residual=record["residual_back"])
        after = committed(self.store)
        record["lost"] = sum(n for f, (sha, n) in before.items() if after.get(f, (None,))[0] != sha)
        record["resumed"] = record["lost"] == 0 and (
            record.get("resumed_transitions", record["committed"]) >= record["committed"])
        record["restart_s"] = round(time.time() - killed_at, 2)
        return record

    def run(self, kills: int, targets: list[str] | None = None) -> dict:
        """Kill ``kills`` times (the node killed each time: ``targets`` in turn, else chosen at random)."""
        started = time.monotonic()
        with self.runner, RosProbe("hil_sigkill") as probe:
            self.statuses: list[str] = []
            probe.node.create_subscription(String, "/policy_node/status", lambda m: self.statuses.append(m.data),
                                           LATCHED)
            self.diags = probe.collect(DiagnosticArray, topics.DIAGNOSTICS, keep=200)
            self.world = World(probe, self.rng.randrange(2 ** 31))
            self._learner_up(0.0)
            self._policy_up(0, 0)
            for i in range(kills):
                target = targets[i % len(targets)] if targets else self.rng.choice(["hil_learner", "policy_node"])
                self.kills.append(self._kill(target))
                print(json.dumps({"kill": i, **self.kills[-1]}), flush=True)
            stopped = self.runner.stop()
        return self._report(stopped, time.monotonic() - started)

    def _report(self, stopped: dict[str, int], wall_s: float) -> dict:
        final = load_transitions(self.store)  # every segment read back, hashes checked
        learner = [k for k in self.kills if k["target"] == "hil_learner"]
        return {"kills": len(self.kills), "learner_kills": len(learner), "policy_kills": len(self.kills) - len(learner),
                "lost_transitions": sum(k["lost"] for k in self.kills),
                "restarts_resumed": sum(k["resumed"] for k in self.kills),
                "policy_restarts_given_the_residual": sum(k.get("residual_back", False) for k in self.kills),
                "max_committed_before_a_kill": max((k["committed"] for k in self.kills), default=0),
                "final_transitions": int(len(final["reward"])),
                "final_episodes": int(len(np.unique(final["episode"]))),
                "restart_s_median": float(np.median([k["restart_s"] for k in self.kills])) if self.kills else 0.0,
                "exit_codes": stopped, "wall_s": round(wall_s, 1)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kills", type=int, default=200)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    env = {"ROS_DOMAIN_ID": os.environ.get("ROS_DOMAIN_ID") or random_domain_id(),
           "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    os.environ.update(env)
    report = Harness(args.out, args.seed, env).run(args.kills)
    (args.out / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report))
    return 0 if report["lost_transitions"] == 0 and report["restarts_resumed"] == report["kills"] else 1


if __name__ == "__main__":
    sys.exit(main())
