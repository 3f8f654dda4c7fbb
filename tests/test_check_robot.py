"""``robot-rl check-robot`` over every shipped robot YAML: FK agreement, hold, standard move, hostile streams
(bursts included) in process on MuJoCo's clock. Loop timing is reported by the command, not asserted here."""

from __future__ import annotations

import pytest

from robot_rl.robot.check_cli import shipped_robots, table
from robot_rl.robot.conformance import check_robot

def test_every_shipped_robot_is_checked():
    assert {"panda", "ur5", "z1", "so101"} <= set(shipped_robots())


@pytest.mark.parametrize("robot", shipped_robots())
def test_robot_conforms(robot):
    result = check_robot(robot, timing=False)  # the command's default: 6 s per hostile stream
    print("\n" + table([result]))
    assert result["failures"] == [], result["failures"]
