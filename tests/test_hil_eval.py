"""``robot-rl hil sim --eval-every K`` (rounds between evaluations skip theirs) and ``robot-rl hil eval`` (a saved
residual of a run evaluated after the fact, on the run's task, gap and seed, with as many episodes as asked)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from cli_helpers import run_cli
from robot_rl.errors import ConfigError
from robot_rl_sim.hil.session import HilSimConfig

BASE = Path(__file__).parent / "data" / "panda_reach_small" / "policy.onnx"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Three rounds, evaluated after round 1 (every 2nd) and round 2 (the last) only."""
    out = tmp_path_factory.mktemp("hil_eval")
    assert run_cli("hil", "sim", "--base", str(BASE), "--out", str(out), "--rounds", "3", "--episodes-per-round", "1",
                   "--updates-per-round", "5", "--eval-episodes", "3", "--eval-every", "2", "--seed", "1") == 0
    return out


def test_only_every_kth_round_and_the_last_are_evaluated(run, monkeypatch):
    from robot_rl_sim.hil import report

    rounds = json.loads((run / "report.json").read_text())["rounds"]
    assert [r["eval_success"] is None for r in rounds] == [True, False, False]
    assert rounds[0]["eval_final_distance_m"] is None and rounds[0]["human_step_fraction"] >= 0
    assert json.loads((run / "progress.json").read_text()) == rounds  # written after each round
    monkeypatch.setattr(report, "BOOTSTRAP_REPS", 50)
    (run.parent / "cmp" / "residual-rl").mkdir(parents=True)
    (run.parent / "cmp" / "residual-rl" / "seed_0").symlink_to(run)
    summary = report.summarise(report.load_runs(run.parent / "cmp", "residual-rl"))
    assert math.isnan(summary["success"][1][0]) and summary["success"][3][0] == rounds[2]["eval_success"]
    assert "| not evaluated |" in report.write_report(run.parent / "cmp", ["residual-rl"]).read_text()


def test_a_saved_residual_evaluated_after_the_fact_repeats_the_runs_own_evaluation(run, capsys):
    rounds = json.loads((run / "report.json").read_text())["rounds"]
    assert run_cli("hil", "eval", "--run", str(run), "--round", "1", "--episodes", "3") == 0
    assert "success" in capsys.readouterr().out
    result = json.loads((run / f"eval_{Path(rounds[1]['residual']).stem}_3.json").read_text())
    assert result["success"] == rounds[1]["eval_success"] and len(result["successes"]) == 3
    assert result["final_distance_m"] == pytest.approx(rounds[1]["eval_final_distance_m"], abs=1e-12)
    assert result["gap"] == "weak-actuators" and result["seed"] == 1


def test_eval_every_and_eval_refuse_bad_input(run, tmp_path):
    from robot_rl_sim.hil.evaluate import evaluate_saved

    with pytest.raises(ConfigError, match="eval_every"):
        HilSimConfig(base=str(BASE), out=str(tmp_path), eval_every=0)
    with pytest.raises(ConfigError, match="round 3 not in the run's 3 rounds"):
        evaluate_saved(run, 3, 2)
    with pytest.raises(ConfigError, match="not a hil sim run directory"):
        evaluate_saved(tmp_path, -1, 2)
    with pytest.raises(ConfigError, match="episodes must be >= 1"):
        evaluate_saved(run, -1, 0)


def test_the_report_reads_the_final_residuals_after_the_fact_evaluation(run, monkeypatch):
    from robot_rl_sim.hil import report

    monkeypatch.setattr(report, "BOOTSTRAP_REPS", 50)
    assert run_cli("hil", "eval", "--run", str(run), "--episodes", "4") == 0
    out = run.parent / "final"
    (out / "residual-rl").mkdir(parents=True)
    (out / "residual-rl" / "seed_0").symlink_to(run)
    final = report.summarise(report.load_runs(out, "residual-rl"))["final_eval"]
    assert final["episodes"] == 4 and len(final["per_seed"]) == 1
    assert "over 4 evaluation episodes per seed" in report.write_report(out, ["residual-rl"]).read_text()
