"""Gate statistics: Wilson interval, pass-criteria evaluation. Pure functions."""

from __future__ import annotations

import math

from robot_rl.policy.schema import PassCriteria


def wilson_interval(successes: int, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval (low, high) for a success rate; (0, 1) with no trials."""
    if trials == 0:
        return 0.0, 1.0
    p = successes / trials
    denom = 1.0 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def failed_criteria(criteria: PassCriteria, report: dict) -> list[str]:
    """Reasons (one line each) the report misses the contract's pass criteria; empty when it passes."""
    reasons = []
    rate, low = report["success_rate"], report["success_ci95"][0]
    if rate < criteria.min_success_rate:
        reasons.append(f"success rate {rate:.2f} < min_success_rate {criteria.min_success_rate}")
    if criteria.min_success_ci_low is not None and low < criteria.min_success_ci_low:
        reasons.append(f"95% CI lower bound {low:.2f} < min_success_ci_low {criteria.min_success_ci_low}")
    checks = (("tracking_error_rad", criteria.max_tracking_error_rad, "max_tracking_error_rad"),
              ("saturation_fraction", criteria.max_saturation_fraction, "max_saturation_fraction"),
              ("interventions_per_episode", criteria.max_interventions_per_episode, "max_interventions_per_episode"))
    for key, limit, name in checks:
        value = report.get(key)
        if limit is not None and value is not None and value > limit:
            reasons.append(f"{key} {value:.4g} > {name} {limit}")
    return reasons
