"""Episode control on the robot: when an episode runs, how it ends, and what is recorded (pure, no rclpy).

Two phases (:class:`Phase`):

* ``running``: every policy period is recorded as a step of the episode.
* ``resetting``: after an outcome (the human's y / n key, or the success classifier), a time limit, or a
  reset request, the episode is over. The person brings the arm and the scene back (teleoperating the arm
  if need be) and starts the next episode (a start key or service). **Nothing is recorded while
  resetting**: the steps the person drives back to the start are not corrections of the policy.

Events arrive at any time (from callbacks); :meth:`EpisodeControl.tick`, called once per policy period,
applies them in order and says what that period does (:class:`Tick`):

* an outcome while running ends the episode terminally (success reward 1, failure 0);
* ``time_limit_steps`` recorded periods end it without a terminal state (a truncation: the critic
  bootstraps through it);
* a reset request ends it without a terminal state;
* a start request while resetting starts the next episode; while running it is ignored (reported).
Outcomes while resetting are ignored (reported): the episode they would mark is already over.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum

from robot_rl.errors import ConfigError

SUCCESS, FAILURE, TIME_LIMIT, RESET, START = "success", "failure", "time_limit", "reset", "start"
"""Event and end names (the ``end`` of a :class:`Tick`, the counters of :attr:`EpisodeControl.counts`)."""


class Phase(str, Enum):
    """What the robot's periods are now."""

    RUNNING = "running"
    RESETTING = "resetting"


@dataclass(frozen=True)
class EpisodeConfig:
    """Attributes:
        time_limit_steps: recorded periods after which an episode ends (truncated); 0 = no limit.
        start_running: the first episode starts at once (else the node waits for a start request).
    """

    time_limit_steps: int = 0
    start_running: bool = True

    def __post_init__(self) -> None:
        t = self.time_limit_steps
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise ConfigError(f"EpisodeConfig.time_limit_steps must be an integer >= 0 (0: no limit), got {t!r}")


@dataclass(frozen=True)
class Tick:
    """What one policy period does.

    Attributes:
        record: this period is a step of a running episode (after ``start`` if that is set too).
        start: a new episode starts with this period (fresh chunk and observation histories).
        end: the episode ends with this period: ``success`` / ``failure`` (terminal, reward 1 / 0),
            ``time_limit`` / ``reset`` (not terminal), or None.
    """

    record: bool
    start: bool = False
    end: str | None = None

    @property
    def terminal(self) -> bool:
        """The episode ended in an outcome (the transition is done)."""
        return self.end in (SUCCESS, FAILURE)

    @property
    def reward(self) -> float:
        """Reward of the episode's last transition: 1 on success, else 0."""
        return 1.0 if self.end == SUCCESS else 0.0


class EpisodeControl:
    """The phase machine; see the module docstring.

    Attributes:
        phase: the current :class:`Phase`.
        steps: periods recorded in the current (or last) episode.
        episode: number of episodes started (the first is 1).
        counts: how each episode ended (success, failure, time_limit, reset), starts, and events ignored
            (``ignored_<event>``: an outcome while resetting, a start while running).
    """

    def __init__(self, config: EpisodeConfig | None = None):
        self.config = config or EpisodeConfig()
        self.phase = Phase.RUNNING if self.config.start_running else Phase.RESETTING
        self.steps = 0
        self.episode = int(self.config.start_running)
        self.counts = {name: 0 for name in (SUCCESS, FAILURE, TIME_LIMIT, RESET, START)}
        self._events: deque[str] = deque()

    # ----- events (any thread's callbacks; applied by tick) -------------------------------------------------
    def outcome(self, success: bool) -> None:
        """The human marked the episode a success (True) or a failure (False)."""
        self._events.append(SUCCESS if success else FAILURE)

    def request_reset(self) -> None:
        """End the running episode without an outcome (the person is resetting the scene)."""
        self._events.append(RESET)

    def request_start(self) -> None:
        """Start the next episode (the scene is reset)."""
        self._events.append(START)

    # ----- per policy period ---------------------------------------------------------------------------------
    def ended_by_reward(self) -> None:
        """The reward source itself (the success classifier) found the step just recorded a success and stored
        it as terminal: the episode is over (the caller resets the chunk and the histories)."""
        if self.phase is Phase.RUNNING:
            self._end(SUCCESS)

    def tick(self) -> Tick:
        """What this period does (see the module docstring)."""
        start, end = False, None
        while self._events and end is None:
            event = self._events.popleft()
            if event == START:
                if self.phase is Phase.RUNNING:
                    self.counts["ignored_start"] = self.counts.get("ignored_start", 0) + 1
                    continue
                self.phase, self.steps, start = Phase.RUNNING, 0, True
                self.episode += 1
                self.counts[START] += 1
            elif self.phase is Phase.RESETTING:
                self.counts[f"ignored_{event}"] = self.counts.get(f"ignored_{event}", 0) + 1
            else:
                end = event
        if end is None and self.phase is Phase.RUNNING and self.config.time_limit_steps \
                and self.steps >= self.config.time_limit_steps:
            end = TIME_LIMIT
        if end is not None:
            self._end(end)
            return Tick(record=False, start=start, end=end)
        record = self.phase is Phase.RUNNING
        self.steps += int(record)
        return Tick(record=record, start=start)

    def _end(self, how: str) -> None:
        self.phase = Phase.RESETTING
        self.counts[how] += 1
