"""Success statistics: Wilson 95% interval over episodes, rliable IQM with bootstrap CIs across seeds."""

from __future__ import annotations

import math
import warnings

import numpy as np

from robot_rl.errors import ConfigError

Z95 = 1.959963984540054


def wilson_interval(successes: int, episodes: int, z: float = Z95) -> tuple[float, float]:
    """95% Wilson score interval (low, high) for a success rate of ``successes`` out of ``episodes``."""
    if episodes < 1 or not 0 <= successes <= episodes:
        raise ConfigError(f"wilson_interval: need 0 <= successes ({successes}) <= episodes ({episodes}), episodes >= 1")
    p = successes / episodes
    denom = 1 + z * z / episodes
    centre = (p + z * z / (2 * episodes)) / denom
    half = z * math.sqrt(p * (1 - p) / episodes + z * z / (4 * episodes * episodes)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def success_summary(successes: np.ndarray) -> dict:
    """Rate and Wilson 95% CI of a boolean vector of episode outcomes."""
    successes = np.asarray(successes, dtype=bool)
    low, high = wilson_interval(int(successes.sum()), len(successes))
    return {"episodes": int(len(successes)), "successes": int(successes.sum()),
            "success_rate": float(successes.mean()), "ci95": [low, high], "ci_method": "wilson"}


def across_seeds(rates_per_seed: np.ndarray, reps: int = 2000, seed: int = 0) -> dict:
    """rliable aggregates over runs: IQM and mean of per-seed success rates, with stratified bootstrap 95% CIs.

    Args:
        rates_per_seed: (runs,) success rate of each seed (a training seed or an evaluation seed block).
    """
    from rliable import library as rly
    from rliable import metrics

    scores = np.asarray(rates_per_seed, dtype=float).reshape(-1, 1)
    if len(scores) < 2:
        raise ConfigError(f"rliable aggregates need >= 2 seeds, got {len(scores)}")

    def aggregates(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x)])

    with warnings.catch_warnings():  # arch deprecates the RandomState argument rliable passes
        warnings.simplefilter("ignore", FutureWarning)
        points, intervals = rly.get_interval_estimates({"policy": scores}, aggregates, reps=reps,
                                                       random_state=np.random.RandomState(seed))
    (iqm, mean), ci = points["policy"], intervals["policy"]
    return {"runs": int(len(scores)), "per_seed": scores[:, 0].tolist(), "iqm": float(iqm), "mean": float(mean),
            "iqm_ci95": [float(ci[0, 0]), float(ci[1, 0])], "mean_ci95": [float(ci[0, 1]), float(ci[1, 1])],
            "method": "rliable stratified bootstrap", "reps": reps}
