"""The learned success classifier: a reward source for the HIL learner (inference with onnxruntime, no torch).

HIL-SERL gives the sparse reward from a binary classifier trained on labelled states instead of the
person's key. Here it is a contract-carrying ONNX graph like any policy (:mod:`robot_rl.policy.contract`):

* input ``obs`` (1, d): one observation frame assembled by the contract's own observation terms (the
  task's terms without ``last_action``: success is a property of the state, not of the command), from the
  same measurement the learner gets (:class:`~robot_rl.policy.observation.ObservationInputs`);
* output ``success_logit`` (1, 1) (tensor role ``success_logit``); success when sigmoid(logit) >=
  the contract's ``reward_classifier.threshold``;
* the input standardisation is inside the graph; golden vectors, the sha256 sidecar and the robot
  check work as for a policy, and a policy node refuses to run it (it has no action output).

Image features later: the contract's ``reward_classifier.features`` lists the inputs the graph takes, in
order (today ``("obs",)``). An image embedding (say a frozen encoder's (1, k) vector computed by the
camera
pipeline) becomes a second input named in ``features``; the network fuses it by concatenation after its
own encoder (:mod:`robot_rl.hil.classifier_train`), and :meth:`SuccessClassifier.probability` feeds it.
Only the state input exists now.

Training: :mod:`robot_rl.hil.classifier_train` (torch) and ``robot-rl hil train-classifier`` (sim rollouts).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from robot_rl.errors import ConfigError
from robot_rl.policy.contract import (Chunking, LoadedPolicy, Normalization, PolicyContract, Provenance,
                                      RewardClassifier, TensorSpec, _session, load_policy)
from robot_rl.policy.observation import ObservationAssembler, ObservationInputs
from robot_rl.policy.schema import ObsTerm

OBS, LOGIT = "obs", "success_logit"
TRAINING_LIB = "robot_rl.hil.classifier"
STATELESS_SOURCES = ("last_action",)
"""Observation sources a classifier does not take (they describe the command, not the state)."""
DERIVED_SOURCES = {"ee_goal_dist": "goal", "ee_object_dist": "object_pose"}
"""Derived sources a classifier may add to the task's terms (m, from FK and the measured goal / object pose),
with the measurement they need: the success rules are thresholds on such distances, which a network would
otherwise have to learn as a norm of raw coordinates."""


def classifier_contract(template: PolicyContract, threshold: float = 0.5,
                        sources: tuple[str, ...] | None = None) -> PolicyContract:
    """A classifier's contract from a policy contract of the task (``template``: its joints, terms, timing).

    The terms whose source is in :data:`STATELESS_SOURCES` are dropped, and with ``sources`` every term whose
    source is not listed (the task-relevant state only: fewer inputs to overfit); histories must be 1. A
    listed source of :data:`DERIVED_SOURCES` is appended as a term of its own (size 1, m), in the listed order.
    """
    terms = tuple(t for t in template.observations if t.source not in STATELESS_SOURCES
                  and (sources is None or t.source in sources)) + _derived_terms(template, sources or ())
    if not terms:
        raise ConfigError(f"no observation term of the task has a source in {sources}")
    if any(t.history != 1 for t in terms):
        raise ConfigError("a success classifier observes one frame: every observation term needs history 1")
    dim = sum(t.width for t in terms)
    return dataclasses.replace(
        template, observations=terms, inputs=(TensorSpec(OBS, (1, dim)),),
        outputs=(TensorSpec(LOGIT, (1, 1), role="success_logit"),), chunking=Chunking(),
        normalization=Normalization(), residual=None, golden=(),
        reward_classifier=RewardClassifier(threshold=float(threshold)),
        provenance=dataclasses.replace(template.provenance, training_lib=TRAINING_LIB, opset=0, created=""))


def _derived_terms(template: PolicyContract, sources: tuple[str, ...]) -> tuple[ObsTerm, ...]:
    """Terms (1, m) of the derived ``sources``; ConfigError if the task measures no goal / object pose for one."""
    measured = {t.source: t.size for t in template.observations}
    terms = []
    for source in (s for s in sources if s in DERIVED_SOURCES):
        needed = DERIVED_SOURCES[source]
        if measured.get(needed) not in ((3,) if needed == "goal" else (7,)):  # a Cartesian goal; a pose (fixed)
            raise ConfigError(f"classifier term {source!r} needs the task's {needed!r} observation as a position "
                              f"(goal: 3 values, m), the task has {measured}")
        terms.append(ObsTerm(source, source, 1, "m"))
    return tuple(terms)


def frame_assembler(contract: PolicyContract, robot_model=None) -> ObservationAssembler:
    """The assembler of a classifier's frames (``robot_model``: FK for ``ee_pos``, its gripper joints)."""
    gripper = robot_model.config.gripper if robot_model is not None else None
    return ObservationAssembler(contract, robot_model, gripper.joints if gripper else ())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(x, dtype=float)))


class SuccessClassifier:
    """A loaded, checked classifier: ``probability(inputs)``, and ``__call__(inputs)`` -> success (bool).

    Args:
        policy: the loaded classifier (:func:`load_classifier`).
        robot_model: RobotModel for ``ee_pos`` terms and the gripper joints (the learner's).
    """

    def __init__(self, policy: LoadedPolicy, robot_model=None):
        if policy.contract.reward_classifier is None:
            raise ConfigError(f"{policy.path}: not a reward classifier (no reward_classifier in its contract)")
        self.policy, self.contract = policy, policy.contract
        self.threshold = policy.contract.reward_classifier.threshold
        self.assemble = frame_assembler(self.contract, robot_model)
        self._session = _session(policy.model_bytes)

    def logits(self, frames: np.ndarray) -> np.ndarray:
        """Logits (N,) of observation frames (N, d) (batched one at a time: the graph has batch 1)."""
        frames = np.asarray(frames, dtype=np.float32).reshape(-1, 1, self.contract.inputs[0].shape[1])
        return np.array([self._session.run([LOGIT], {OBS: f})[0].item() for f in frames])

    def frame(self, inputs: ObservationInputs) -> np.ndarray:
        """The classifier's observation frame (d,) of one measurement."""
        self.assemble.reset()  # history 1 everywhere: nothing carries over
        return self.assemble.frame(inputs)

    def probability(self, inputs: ObservationInputs) -> float:
        """P(success) of the state measured in ``inputs``."""
        return float(sigmoid(self.logits(self.frame(inputs)[None]))[0])

    def __call__(self, inputs: ObservationInputs) -> bool:
        """Success: probability >= threshold."""
        return self.probability(inputs) >= self.threshold


def load_classifier(path: str | Path, robot=None) -> SuccessClassifier:
    """Load ``path`` with the policy checks (hash, tensors, golden vectors, ``robot``); ConfigError if it is not
    a reward classifier or fails a check."""
    if not str(path):
        raise ConfigError("no classifier path given (classifier_path) for reward_source 'classifier'")
    return SuccessClassifier(load_policy(path, robot=robot), robot_model=robot)


def precision_recall(predicted: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Precision, recall and counts of boolean predictions (N,) against labels (N,)."""
    predicted, labels = np.asarray(predicted, bool), np.asarray(labels, bool)
    tp, fp, fn = int(np.sum(predicted & labels)), int(np.sum(predicted & ~labels)), int(np.sum(~predicted & labels))
    return {"precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": tp / (tp + fn) if tp + fn else float("nan"),
            "positives": int(labels.sum()), "negatives": int((~labels).sum()), "false_positives": fp,
            "false_negatives": fn}
