"""Plumbing shared by the NER and RE students: devices, padding, length-sorted batched inference."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from llmaaa.data.schema import LabelSet


class ModelFolderError(ValueError):
    """A folder that is not a model version written by ``save`` (no or unreadable ``labels.json``, missing files)."""


class DeviceError(ValueError):
    """A device name torch does not know, or a CUDA device on a machine that has none."""


def resolve_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; anything else is passed to ``torch.device``.

    An unavailable CUDA device is refused here, by name: torch would only fail later, deep inside
    ``.to()``, with "Torch not compiled with CUDA enabled" (an ``AssertionError`` callers do not catch).
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise DeviceError(f"unknown device {device!r}; use 'auto', 'cpu' or 'cuda' (e.g. 'cuda:0')") from e
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise DeviceError(f"device {device!r} was asked for but this machine has no usable CUDA GPU; "
                              "use device 'auto' (CUDA when present, else CPU) or 'cpu'")
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {device!r} does not exist: this machine has {count} CUDA GPU(s)")
    return dev


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


# What ``save_pretrained`` writes: weights (one file, or sharded with an index) and a tokenizer vocabulary.
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin", "model.safetensors.index.json",
                "pytorch_model.bin.index.json")
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt", "vocab.json", "tokenizer.model", "spiece.model",
                   "sentencepiece.bpe.model")


def require_model_files(path: Path, *extra: str) -> None:
    """The files every saved student needs, plus ``extra`` ones (the RE head), or a :class:`ModelFolderError`.

    Without its vocabulary file ``AutoTokenizer`` does not fail: it builds a 5-token vocabulary that
    reads every word as ``[UNK]``, and the student silently predicts nothing.
    """
    require_files(path, ("config.json",), WEIGHT_FILES, TOKENIZER_FILES, *((name,) for name in extra))


def require_files(path: Path, *groups: Sequence[str]) -> None:
    """Each group of file names needs one present in ``path`` (e.g. safetensors or the older ``.bin``).

    A half-copied or pruned model folder otherwise fails inside ``transformers`` or ``torch.load`` with
    an error that does not say which file is missing (a missing ``config.json`` reads "Unrecognized model").
    """
    missing = [" or ".join(g) for g in groups if not any((Path(path) / name).exists() for name in g)]
    if missing:
        raise ModelFolderError(f"{path} is an incomplete model folder: {', '.join(missing)} missing; "
                               "copy the whole folder again or retrain")


def read_labels(path: Path) -> tuple[dict[str, Any], LabelSet]:
    f = Path(path) / "labels.json"
    try:
        record = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        inside = [sub for sub in ("ner", "re") if (Path(path) / sub / "labels.json").is_file()]
        if inside:  # a project's model/ (the backend's export, a model version): one student per task inside
            raise ModelFolderError(
                f"{path} holds one student per task ({', '.join(inside)}); point to "
                f"{' or '.join(str(Path(path) / sub) for sub in inside)}") from e
        raise ModelFolderError(
            f"{path} is not a llmaaa model folder ({f.name}: {e}); point to a folder written by "
            "`python -m llmaaa train` or save_model_version"
        ) from e
    labels = LabelSet(tuple(record["entity_labels"]), tuple(record.get("relation_labels", ())), record.get("descriptions", {}))
    return record, labels
