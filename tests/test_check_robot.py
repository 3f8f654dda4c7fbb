"""``robot-rl check-robot`` over every shipped robot YAML: FK agreement, hold, standard move, hostile streams
(bursts included) in process on MuJoCo's clock. Loop timing is reported by the command, not asserted here."""

from __future__ import annotations

import pytest

from robot_rl.robot.check_cli import shipped_robots, table
from robot_rl.robot.conformance import check_robot

KNOWN_FAILURES = {
    "ur5": "hostile stream seed 6: MuJoCo's convex hulls of forearm_link and wrist_3_link touch (-2 mm) where "
           "pinocchio's are 29 mm apart; the contact drives wrist_1 to 1.9x the plan's velocity. Not resolved.",
}


def test_every_shipped_robot_is_checked():
    assert {"panda", "ur5", "z1", "so101"} <= set(shipped_robots())


@pytest.mark.parametrize("robot", [pytest.param(r, marks=pytest.mark.xfail(reason=KNOWN_FAILURES[r], strict=True))
                                   if r in KNOWN_FAILURES else r for r in shipped_robots()])
def test_robot_conforms(robot):
    result = check_robot(robot, timing=False)  # the command's default: 6 s per hostile stream
    print("\n" + table([result]))
    assert result["failures"] == [], result["failures"]
