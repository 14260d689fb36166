"""The task-model (student) protocol shared by NER and RE, so the trainer and samplers treat both alike."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import numpy as np

from llmaaa.data.schema import Example, LabelSet


@dataclass(frozen=True)
class ModelOutputs:
    """What samplers need from one pass of the student over a pool.

    ``probs[i]``: for NER an array (n_tokens, n_tags) over example i's real (non-special) tokens;
    for RE an array (n_pairs, n_relation_classes) over its candidate pairs (may be (0, C)).
    ``embeddings``: (n_examples, d), L2-normalized pooled encoder states.
    """

    probs: list[np.ndarray]
    embeddings: np.ndarray


@runtime_checkable
class TaskModel(Protocol):
    task: str  # "ner" or "re"
    labels: LabelSet

    def predict(self, examples: Sequence[Example]) -> list[Example]:
        """Examples labeled by the model; every span/relation carries a ``score`` in [0, 1]."""

    def outputs(self, examples: Sequence[Example]) -> ModelOutputs:
        """Probabilities and embeddings for active sampling."""

    # Optional: ``losses_and_predict(examples, labeled_feats, batch_size) -> (per-feature losses, predict(examples))``
    # in one forward pass; the trainer's per-epoch gold evaluation uses it when present (RE has it).

    def save(self, path: str | Path) -> None:
        """Write a self-contained model folder (loadable by ``load_task_model``)."""
