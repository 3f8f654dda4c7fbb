"""The simulated human's anticipating trigger (pick-cube, a scripted stand-in for the person, simulation only):
on scripted true-state sequences it fires for a misaligned descent and an empty lift, not for an aligned
grasp; its short corrections end when the expert leaves the started phase or after the max; the real
expert's ``recentre`` re-centres the hand at its height with pinocchio IK."""

from __future__ import annotations

import numpy as np
import pytest

from robot_rl.errors import ConfigError
from robot_rl_sim.experts.pick_cube import ALIGNED_M, GRASP_DEPTH, PickCubeExpert
from robot_rl_sim.hil.anticipate import anticipated
from robot_rl_sim.hil.human import HumanConfig, SimulatedHuman
from robot_rl_sim.tasks import get_task

SPEC = get_task("panda-pick-cube")
HALF = SPEC.object.half_size
CUBE = np.array([0.5, 0.0, HALF, 1.0, 0.0, 0.0, 0.0])


class _Expert:
    """Records the phase it was started in; leaves it after ``leave_after`` actions (None: never)."""

    def __init__(self, leave_after=None):
        self.started, self.leave_after, self.phase, self.actions = [], leave_after, "", 0

    def reset(self, phase="approach"):
        self.started.append(phase)
        self.phase, self.actions = phase, 0

    def act(self, obs):
        self.actions += 1
        if self.leave_after is not None and self.actions >= self.leave_after:
            self.phase = "done"
        return np.zeros(8)


def _obs(ee_offset, fingers, cube_lift=0.0):
    cube = CUBE.copy()
    cube[2] += cube_lift
    ee = cube[:3] + np.asarray(ee_offset, dtype=float)
    return {"ee_pos": ee, "object_pose": cube, "gripper_pos": np.full(2, fingers), "joint_pos": np.zeros(7)}


def _human(expert, **overrides):
    config = dict(patience_steps=50, max_takeover_steps=40, reaction_s=0.3, action_noise_rad=0, anticipate=True)
    return SimulatedHuman(SPEC, expert, HumanConfig(**{**config, **overrides}))


def _descent(dx):
    """The hand descends from 10 cm to the grasp height 1.5 cm per step and waits, ``dx`` m off the cube centre."""
    return [_obs([dx, 0.0, max(GRASP_DEPTH, 0.10 - 0.015 * k)], 0.04) for k in range(10)]


def _aligned_pick():
    """Descend aligned, close (fingers 4 mm per step onto the cube), then lift the cube with the hand."""
    closing = [_obs([0.002, 0.0, GRASP_DEPTH], max(HALF, 0.04 - 0.004 * k)) for k in range(8)]
    lifting = [_obs([0.002, 0.0, GRASP_DEPTH], HALF, cube_lift=0.01 * k) for k in range(1, 8)]
    return _descent(0.002) + closing + lifting


def _empty_lift():
    """Descend aligned, start closing, and rise 5 mm per step while the fingers still close (cube stays)."""
    return _descent(0.002) + [_obs([0.002, 0.0, GRASP_DEPTH + 0.005 * k], 0.038 - 0.002 * k) for k in range(8)]


def test_the_trigger_fires_for_a_misaligned_descent_and_an_empty_lift_not_for_an_aligned_grasp():
    pick = _aligned_pick()
    assert [anticipated(o["ee_pos"], o["object_pose"][:3], o["gripper_pos"][0], HALF) for o in pick] \
        == [None] * len(pick)
    assert anticipated(np.array([0.515, 0.0, 0.035]), CUBE[:3], 0.04, HALF) == "recentre"  # low, 1.5 cm off
    assert anticipated(np.array([0.515, 0.0, 0.12]), CUBE[:3], 0.04, HALF) is None  # high: still approaching
    assert anticipated(np.array([0.5, 0.0, 0.045]), CUBE[:3], 0.03, HALF) == "close"  # risen, fingers closing
    assert anticipated(np.array([0.5, 0.0, 0.045]), CUBE[:3], 0.005, HALF) is None  # shut on nothing: stall's
    assert anticipated(np.array([0.5, 0.0, 0.045]), CUBE[:3], 0.03, HALF) == "close"
    lifted = CUBE[:3] + [0.0, 0.0, 0.02]
    assert anticipated(lifted + [0.015, 0.0, 0.0], lifted, 0.03, HALF) is None  # holding the cube: nothing
    dragged = CUBE[:3] + [0.0, 0.0, 0.008]  # lifted 8 mm, but the hand 4 cm above it: not held
    assert anticipated(dragged + [0.0, 0.0, 0.04], dragged, 0.03, HALF) == "close"


@pytest.mark.parametrize("sequence, phase", [(_descent(0.015), "recentre"), (_empty_lift(), "close")])
def test_the_human_takes_over_after_the_reaction_delay_in_the_correction_phase(sequence, phase):
    expert = _Expert()
    human = _human(expert)
    actions = [human.act(o) for o in sequence]
    first = next(i for i, o in enumerate(sequence)
                 if anticipated(o["ee_pos"], o["object_pose"][:3], o["gripper_pos"][0], HALF))
    assert all(a is None for a in actions[:first + 3]) and actions[first + 3] is not None  # 0.3 s = 3 steps
    assert expert.started == [phase] and human.interventions == 1


def test_an_aligned_grasp_is_left_to_the_policy():
    expert = _Expert()
    human = _human(expert)
    assert all(human.act(o) is None for o in _aligned_pick()) and expert.started == []


@pytest.mark.parametrize("leave_after, driven", [(None, 8), (2, 2)])
def test_a_correction_hands_back_when_its_phase_is_left_or_after_the_max(leave_after, driven):
    expert = _Expert(leave_after)
    human = _human(expert)
    misaligned = _obs([0.015, 0.0, GRASP_DEPTH + 0.01], 0.04)
    driving = [human.act(misaligned) is not None for _ in range(2 * (3 + driven))]
    once = [False] * 3 + [True] * driven  # the reaction delay, the correction, then handed back
    assert driving == once + once  # still misaligned: it triggers again
    assert expert.started == ["recentre"] * 2 and human.interventions == 2


@pytest.mark.parametrize("after", [[0.001, 0.0, 0.02], [0.015, 0.0, 0.06]], ids=["aligned", "lifted-away"])
def test_no_recentre_when_the_policy_has_aligned_or_lifted_the_hand_during_the_delay(after):
    expert = _Expert()
    human = _human(expert)
    assert human.act(_obs([0.015, 0.0, 0.02], 0.04)) is None
    assert all(human.act(_obs(after, 0.04)) is None for _ in range(5))
    assert expert.started == [] and human.interventions == 0


def test_a_grasp_correction_hands_back_at_the_lift():
    """anticipate_until "grasp": the human keeps driving through descend/dwell/close, hands back at the lift."""
    expert = _Expert()
    human = _human(expert, anticipate_until="grasp", anticipate_max_steps=20)
    misaligned = _obs([0.015, 0.0, GRASP_DEPTH + 0.01], 0.04)
    assert [human.act(misaligned) for _ in range(3)] == [None] * 3  # the reaction delay
    driving = []
    for phase in ["recentre", "descend", "dwell", "close", "lift"]:  # the expert's phase after each step
        driving.append(human.act(misaligned) is not None)
        expert.phase = phase
    assert driving == [True] * 5 and human.act(misaligned) is None and expert.started == ["recentre"]


def test_no_hold_down_once_the_fingers_have_shut_narrower_than_the_cube():
    """Too late: the fingers shut on nothing during the reaction delay; the stall trigger is left to act."""
    expert = _Expert()
    human = _human(expert)
    rising = [_obs([0.0, 0.0, GRASP_DEPTH + 0.01 * (k + 1)], fingers) for k, fingers in enumerate([0.03, 0.02, 0.01])]
    assert all(human.act(o) is None for o in rising + [_obs([0.0, 0.0, 0.05], 0.005)] * 2)
    assert expert.started == [] and human.interventions == 0


def test_the_config_validates():
    with pytest.raises(ConfigError, match="anticipate_max_steps"):
        HumanConfig(anticipate_max_steps=0)
    with pytest.raises(ConfigError, match="anticipate_until"):
        HumanConfig(anticipate_until="forever")
    with pytest.raises(ConfigError, match="pick-cube only"):
        SimulatedHuman(get_task("panda-reach"), _Expert(), HumanConfig(anticipate=True))


def test_the_expert_recentres_the_hand_at_its_height(panda_model):
    """Perfect tracking (the hand goes where the IK puts it): over the cube within the max, height kept."""
    expert = PickCubeExpert(SPEC, panda_model, seed=0, noise=0.0, wait_for_fingers=True)
    expert.reset("recentre")
    q = np.array([0.0, 0.2, 0.0, -2.2, 0.0, 2.4, 0.785])
    cube = np.r_[panda_model.fk(q)[:2] + [0.015, -0.01], HALF, CUBE[3:]]
    start_z = panda_model.fk(q)[2]
    for _ in range(8):
        ee = panda_model.fk(q)
        action = expert.act({"joint_pos": q, "ee_pos": ee, "object_pose": cube, "gripper_pos": np.full(2, 0.04)})
        assert action[-1] == -1.0  # fingers open
        if expert.phase != "recentre":
            break
        q = action[:7]
    assert expert.phase == "descend" and abs(ee[2] - start_z) < 0.01  # ee: the hand it saw aligned
    assert np.linalg.norm(ee[:2] - cube[:2]) < ALIGNED_M
