"""``robot-rl hil sim --reward classifier``: the learned success classifier, not the true success, gives the reward.

The sim's episode loop (:func:`robot_rl_sim.hil.episode.run_episode`) passes the learner the true outcome
(reward 1 and done on the true success). With a classifier reward, :class:`ClassifierRewardLearner` stands
between the loop and the learner node's core (:class:`robot_rl.hil.online.OnlineLearner`):

* the true outcome is withheld: the learner gets reward 0, not done, and its ``reward_fn`` hook, the
  classifier (:class:`robot_rl.hil.classifier.SuccessClassifier`, onnxruntime), is asked about each step's
  measurement as in the ``hil_learner_node`` with ``reward_source: classifier``;
* when it fires, the step before is stored as a success (reward 1, done) and the learner's episode is over:
  the rest of the sim episode is not recorded, as the node records nothing after a classifier success;
* episodes still end by the sim's rules (true success or the time limit); one the classifier did not end
  is stored without a terminal state (it bootstraps, like a time limit);
* every verdict is paired with the true success of the same state, and :meth:`ClassifierRewardLearner.audit`
  counts where they disagree (report.json ``reward``).

In the loop every state given to the learner before the last one is a true failure (the loop stops at the
true success); the last one is a true success exactly when the loop passes ``done`` with reward 1.
"""

from __future__ import annotations

REWARD_SOURCES = ("success", "classifier")
"""``hil sim --reward``: the sim's true success (the stand-in for the person's key), or a learned classifier."""


class _Verdicts:
    """The classifier as the learner's ``reward_fn``, remembering its last verdict."""

    def __init__(self, classifier):
        self.classifier, self.last = classifier, None

    def __call__(self, inputs) -> bool:
        self.last = bool(self.classifier(inputs))
        return self.last


class ClassifierRewardLearner:
    """An :class:`~robot_rl.hil.online.OnlineLearner` whose reward comes from ``classifier``; the rest is delegated.

    Args:
        make_learner: ``make_learner(reward_fn)`` -> the OnlineLearner, built with that reward hook.
        classifier: a loaded SuccessClassifier (checked against the learner's robot).
    """

    def __init__(self, make_learner, classifier):
        self._verdicts = _Verdicts(classifier)
        self.inner = make_learner(self._verdicts)
        self._ended = False  # the classifier ended this episode: nothing more is recorded
        self._fired = False
        self._counts = {key: 0 for key in ("states", "classifier_success", "true_success", "false_success",
                                           "missed_success", "episodes", "episodes_ended_by_classifier",
                                           "episodes_true_success", "episodes_disagreeing")}
        self._true_episode = False

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, inputs, executed_targets, intervened, reward: float = 0.0, done: bool = False, **kwargs):
        """The loop's step; the true outcome (``reward``, ``done``) is only compared with the classifier's."""
        truth = bool(done and reward > 0)
        self._true_episode |= truth
        if self._ended:
            return None
        self._verdicts.last = None
        stored = self.inner.step(inputs, executed_targets, intervened, reward=0.0, done=False, **kwargs)
        verdict = self._verdicts.last
        if verdict is not None:  # the classifier was asked about this state (not an episode's first)
            c = self._counts
            c["states"] += 1
            c["classifier_success"] += verdict
            c["true_success"] += truth
            c["false_success"] += verdict and not truth
            c["missed_success"] += truth and not verdict
        if self.inner.terminal:
            self._ended = self._fired = True
        return stored

    def end_episode(self):
        """End the episode in the learner (the sim's rules ended it) and count its outcome."""
        c = self._counts
        c["episodes"] += 1
        c["episodes_ended_by_classifier"] += self._fired
        c["episodes_true_success"] += self._true_episode
        c["episodes_disagreeing"] += self._fired != self._true_episode
        self._ended = self._fired = self._true_episode = False
        return self.inner.end_episode()

    def audit(self) -> dict:
        """Counts of the classifier's verdicts against the true success: per state asked (``false_success``:
        it fired on a true failure; ``missed_success``: it did not fire on a true success) and per episode,
        with ``state_disagreement`` the share of states where they differ."""
        c = dict(self._counts)
        c["state_disagreement"] = (c["false_success"] + c["missed_success"]) / c["states"] if c["states"] else 0.0
        return c


def reward_learner(make_learner, reward: str, classifier_path: str, robot):
    """The learner of a run: ``make_learner(None)`` for the true success, or a :class:`ClassifierRewardLearner`
    around the classifier at ``classifier_path`` (loaded with the policy checks against ``robot``)."""
    if reward == "success":
        return make_learner(None)
    from robot_rl.hil.classifier import load_classifier

    return ClassifierRewardLearner(make_learner, load_classifier(classifier_path, robot=robot))
