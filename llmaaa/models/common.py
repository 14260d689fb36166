"""Plumbing shared by the NER and RE students: devices, padding, length-sorted batched inference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from llmaaa.data.schema import LabelSet


class ModelFolderError(ValueError):
    """A folder that is not a model version written by ``save`` (no or unreadable ``labels.json``)."""


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def autocast(device: torch.device):
    """bf16 autocast on CUDA (faster, same F1 for BERT-size encoders); a no-op context on CPU."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def pad(seqs: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max((len(s) for s in seqs), default=0)
    out = torch.full((len(seqs), width), value, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.as_tensor(list(s), dtype=torch.long)
    return out


def sorted_batches(lengths: Sequence[int], batch_size: int) -> Iterator[list[int]]:
    """Indices in batches of similar length (longest first), so padding costs little."""
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    for k in range(0, len(order), batch_size):
        yield order[k : k + batch_size]


def run_batched(features: Sequence[dict], batch_size: int, fn: Callable[[list[dict]], list[Any]]) -> list[Any]:
    """``fn`` over length-sorted batches of ``features``; results returned in the input order."""
    out: list[Any] = [None] * len(features)
    for idx in sorted_batches([len(f["input_ids"]) for f in features], batch_size):
        for i, r in zip(idx, fn([features[i] for i in idx])):
            out[i] = r
    return out


def l2_normalize(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def write_labels(path: Path, task: str, labels: LabelSet, **extra: Any) -> None:
    record = {
        "task": task,
        "entity_labels": list(labels.entity_labels),
        "relation_labels": list(labels.relation_labels),
        "descriptions": dict(labels.descriptions),
        **extra,
    }
    (path / "labels.json").write_text(json.dumps(record, ensure_ascii=False, indent=2), encoding="utf-8")


def read_labels(path: Path) -> tuple[dict[str, Any], LabelSet]:
    f = Path(path) / "labels.json"
    try:
        record = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise ModelFolderError(
            f"{path} is not a llmaaa model folder ({f.name}: {e}); point to a folder written by "
            "`python -m llmaaa train` or save_model_version"
        ) from e
    labels = LabelSet(tuple(record["entity_labels"]), tuple(record.get("relation_labels", ())), record.get("descriptions", {}))
    return record, labels
