"""The short CI version of the SIGKILL harness (tests/support/hil_sigkill.py; the 200-kill run is in
docs/hil.md): the learner and the policy node, SIGKILLed in turn at random moments of a running HIL loop
over real ROS 2 processes, lose no committed transition and every restart resumes."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "support"))
from hil_sigkill import Harness  # noqa: E402

pytestmark = pytest.mark.ros


def test_sigkilled_learner_and_policy_node_lose_no_committed_transition_and_resume(tmp_path, ros_env):
    report = Harness(tmp_path, seed=1, env=ros_env).run(4, targets=["hil_learner", "policy_node"])
    print(report)
    assert report["kills"] == 4 and report["learner_kills"] == 2
    assert report["lost_transitions"] == 0 and report["restarts_resumed"] == 4, report
    assert report["max_committed_before_a_kill"] > 0  # kills landed with transitions on disk
    assert report["final_transitions"] >= report["max_committed_before_a_kill"]
    assert report["exit_codes"] == {"policy_node": 0, "hil_learner": 0}
