"""One human-in-the-loop episode in simulation: base policy + residual, a simulated human taking over.

Per executed policy step i the record holds the observation window the chunk was inferred from
(To, O), the base policy's raw action ``base_i`` (a,), the residual actually executed in [-1, 1] (a,)
(for a human step: ``clip((human_raw - base_i) / scale, -1, 1)``, the correction the residual should
have made), whether the human was in control, the task reward and success.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np


@dataclass
class EpisodeRecord:
    """Arrays over the T executed steps, plus episode statistics."""

    obs: np.ndarray  # (T, To, O) measured observation windows
    base_action: np.ndarray  # (T, a) base raw actions
    action: np.ndarray  # (T, a) executed residual, [-1, 1]
    intervened: np.ndarray  # (T,) bool
    reward: np.ndarray  # (T,)
    success: bool
    interventions: int  # takeovers

    def transitions(self) -> dict[str, np.ndarray]:
        """RL transitions (T of them): the next state of step t is step t+1's (obs, base action); the episode
        ends (``done``) on success; a time-limit end is not terminal (bootstraps from the last state)."""
        nxt = np.r_[np.arange(1, len(self.reward)), len(self.reward) - 1]
        done = np.zeros(len(self.reward), dtype=bool)
        done[-1] = self.success
        return {"obs": self.obs, "base_action": self.base_action, "action": self.action,
                "intervened": self.intervened, "reward": self.reward, "done": done,
                "next_obs": self.obs[nxt], "next_base_action": self.base_action[nxt]}


def run_episode(env, base, residual, human, scale: float, seed: int) -> EpisodeRecord:
    """Roll out one episode of ``base`` (a ChunkPolicy without residual) in ``env`` (CalibrationOffsetEnv).

    Args:
        residual: ``residual(obs window (To, O), base chunk (k, a)) -> (k, a)`` in [-1, 1].
        human: a SimulatedHuman (or None: the policy alone).
        scale: raw action units per unit residual.
    """
    spec = env.spec
    obs = env.reset(seed=seed)
    frames: deque = deque([spec.flatten_obs(obs)] * base.history, maxlen=base.history)
    if human is not None:
        human.reset()
    rows, plan, success = [], [], False
    for _ in range(spec.max_steps):
        if not plan:
            window = np.stack(frames).astype(np.float32)
            chunk = base.chunk(frames)
            plan = list(zip(chunk, residual(window, chunk)))
        base_i, residual_i = plan.pop(0)
        human_raw = human.act(env.true_obs()) if human is not None else None
        if human_raw is None:
            executed, label = base_i + scale * residual_i, residual_i
        else:
            executed = env.to_measured(human_raw)
            label = np.clip((executed - base_i) / scale, -1.0, 1.0)
        obs, reward, success, _ = env.step(executed)
        frames.append(spec.flatten_obs(obs))
        rows.append((window, base_i, label, human_raw is not None, reward))
        if success:
            break
    cols = list(zip(*rows))
    return EpisodeRecord(obs=np.stack(cols[0]), base_action=np.stack(cols[1]).astype(np.float32),
                         action=np.stack(cols[2]).astype(np.float32), intervened=np.array(cols[3]),
                         reward=np.array(cols[4], dtype=np.float32), success=bool(success),
                         interventions=human.interventions if human is not None else 0)
