"""Training and export of the success classifier (torch); the classifier itself: :mod:`robot_rl.hil.classifier`.

The network: standardise the frame (mean / std of the training frames, inside the graph), an MLP with
LayerNorm (``hidden`` units, two layers), one logit. Loss: binary cross-entropy with the positives
weighted by negatives / positives (success states are the rarer ones). The threshold is chosen on
validation episodes (held out of the fit): the best-F1 one among those whose precision reaches
``target_precision`` (a false success ends an episode with a reward it did not earn, a false failure only
waits for the next frame), in [0.05, 0.95], in the middle of the range of such thresholds.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from robot_rl.errors import ConfigError
from robot_rl.hil.classifier import LOGIT, OBS, classifier_contract, precision_recall, sigmoid
from robot_rl.learning.export import OPSET
from robot_rl.policy.contract import PolicyContract, write_policy


@dataclass(frozen=True)
class ClassifierConfig:
    """Attributes: hidden units, Adam steps, batch size, learning rate, seed, the precision the threshold
    aims for, and the share of training episodes held out to choose the threshold."""

    hidden: int = 128
    steps: int = 3000
    batch_size: int = 256
    lr: float = 1e-3
    seed: int = 0
    target_precision: float = 0.98
    validation_share: float = 0.2

    def __post_init__(self) -> None:
        for name in ("hidden", "steps", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ConfigError(f"ClassifierConfig.{name} must be an integer >= 1, got {getattr(self, name)!r}")
        if not (0 < self.lr < 1 and 0 < self.target_precision <= 1 and 0 < self.validation_share < 1):
            raise ConfigError("ClassifierConfig: lr, target_precision and validation_share must be in (0, 1)")


class SuccessNet(nn.Module):
    """frame (B, d) -> logit (B, 1); standardisation buffers set from the training frames."""

    def __init__(self, dim: int, hidden: int, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(np.maximum(std, 1e-6), dtype=torch.float32))
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                                 nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.net((frames - self.mean) / self.std)


def _fit(frames: np.ndarray, labels: np.ndarray, config: ClassifierConfig) -> SuccessNet:
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    model = SuccessNet(frames.shape[1], config.hidden, frames.mean(0), frames.std(0))
    x, y = torch.as_tensor(frames, dtype=torch.float32), torch.as_tensor(labels, dtype=torch.float32)
    pos_weight = torch.tensor((len(y) - y.sum().item()) / max(y.sum().item(), 1.0))
    loss_fn = nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    for _ in range(config.steps):
        index = torch.as_tensor(rng.integers(0, len(y), config.batch_size))
        loss = loss_fn(model(x[index]).squeeze(1), y[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def probabilities(model: SuccessNet, frames: np.ndarray) -> np.ndarray:
    """P(success) (N,) of frames (N, d) under the torch model."""
    with torch.no_grad():
        return sigmoid(model(torch.as_tensor(frames, dtype=torch.float32)).squeeze(1).numpy())


def _f1(scores: dict[str, float]) -> float:
    p, r = scores["precision"], scores["recall"]
    return 0.0 if np.isnan(p) or np.isnan(r) or p + r == 0 else 2 * p * r / (p + r)


def choose_threshold(prob: np.ndarray, labels: np.ndarray, target_precision: float, points: int = 201) -> float:
    """The threshold in [0.05, 0.95] with the best F1 on (prob, labels) among those whose precision reaches the
    target (all of them if none does), taken in the middle of the longest run of such thresholds on a grid of
    ``points`` even in logit: the widest margin to the states on either side, not the run's lowest edge."""
    logits = np.linspace(np.log(0.05 / 0.95), np.log(0.95 / 0.05), points)
    candidates = sigmoid(logits)
    scores = [precision_recall(prob >= t, labels) for t in candidates]
    f1 = np.array([_f1(s) for s in scores])
    meets = np.array([s["precision"] >= target_precision and s["recall"] > 0 for s in scores])
    pool = meets if meets.any() else np.ones(points, bool)
    best = pool & (f1 >= f1[pool].max() - 1e-12)
    runs, start = [], None  # (length, first, last) of runs of consecutive best grid points
    for i, flag in enumerate(np.r_[best, False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            runs.append((i - start, start, i - 1))
            start = None
    _, first, last = max(runs)
    return float(sigmoid((logits[first] + logits[last]) / 2))


def train_classifier(frames: np.ndarray, labels: np.ndarray, episodes: np.ndarray,
                     config: ClassifierConfig = ClassifierConfig()) -> tuple[SuccessNet, float, dict]:
    """Fit on the training episodes, choose the threshold on the held-out validation episodes, refit on all.

    Args:
        frames: (N, d) classifier frames; labels: (N,) bool success; episodes: (N,) episode id of each frame.
    Returns:
        (model, threshold, validation precision / recall at that threshold).
    """
    frames, labels = np.asarray(frames, np.float32), np.asarray(labels, bool)
    if labels.all() or not labels.any():
        raise ConfigError(f"classifier training needs both success and failure states, got {int(labels.sum())} "
                          f"successes of {len(labels)}")
    ids = np.unique(episodes)
    held = np.random.default_rng(config.seed).choice(ids, max(1, int(len(ids) * config.validation_share)), False)
    val = np.isin(episodes, held)
    model = _fit(frames[~val], labels[~val], config)
    threshold = choose_threshold(probabilities(model, frames[val]), labels[val], config.target_precision)
    validation = precision_recall(probabilities(model, frames[val]) >= threshold, labels[val])
    return _fit(frames, labels, config), threshold, validation


def export_classifier(model: SuccessNet, template: PolicyContract, threshold: float, path: str | Path,
                      golden_frames: np.ndarray, sources: tuple[str, ...] | None = None) -> PolicyContract:
    """Write the classifier ONNX + contract (role success_logit, the threshold, the terms of ``sources``) to
    ``path``; golden vectors from recorded frames (k, d)."""
    contract = classifier_contract(template, threshold, sources)
    golden = [{OBS: np.asarray(f, np.float32)[None]} for f in golden_frames]
    buffer = io.BytesIO()
    with torch.no_grad():
        torch.onnx.export(model, (torch.as_tensor(golden[0][OBS]),), buffer, input_names=[OBS],
                          output_names=[LOGIT], opset_version=OPSET, dynamo=False)
    return write_policy(buffer.getvalue(), contract, path, golden_inputs=golden, atol=1e-4, rtol=1e-4)
