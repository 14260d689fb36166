"""Model versions as folders: publish atomically (temp folder + rename), load back by task.

A version folder holds the Hugging Face model + tokenizer (``save_pretrained``), ``labels.json``,
``train_config.json``, ``metrics.json``, ``history.json``, ``example_weights.json`` (reweighted
training only: example id -> mean learning-to-reweight weight) and a ``README.md`` model card. Readers
(the Label Studio backend, the loop) never see half a folder: we write ``<path>.tmp-<pid>`` and
``os.rename`` it into place; an existing version at ``path`` is moved aside first and removed after.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from llmaaa.models.base import TaskModel
from llmaaa.models.common import read_labels
from llmaaa.training.card import render_card

log = logging.getLogger(__name__)


def _dump(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2, default=str), encoding="utf-8")


def save_model_version(result_or_model, path: str | Path, *, extra_card: dict | None = None) -> Path:
    """Write a ``TrainResult`` (or a bare ``TaskModel``) as a model folder at ``path``; return ``path``."""
    path = Path(path)
    model: TaskModel = getattr(result_or_model, "model", result_or_model)
    config = getattr(result_or_model, "config", None)
    config_d = dataclasses.asdict(config) if config is not None else {}
    history = getattr(result_or_model, "history", [])
    metrics = getattr(result_or_model, "gold_metrics", {})
    data = getattr(result_or_model, "data", {})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        model.save(tmp)
        _dump(tmp / "train_config.json", config_d)
        _dump(tmp / "metrics.json", {"gold": metrics, "data": data})
        _dump(tmp / "history.json", history)
        if getattr(result_or_model, "example_weights", None):
            _dump(tmp / "example_weights.json", result_or_model.example_weights)
        labels = json.loads((tmp / "labels.json").read_text(encoding="utf-8"))
        card = render_card(task=model.task, labels=labels, data=data, gold_metrics=metrics, config=config_d,
                           extra=extra_card)
        (tmp / "README.md").write_text(card, encoding="utf-8")
        old = path.parent / f"{path.name}.old-{os.getpid()}"
        if path.exists():
            os.rename(path, old)
        os.rename(tmp, path)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    log.info("saved %s model version to %s", model.task, path)
    return path


def load_task_model(path: str | Path, device: str = "auto") -> TaskModel:
    """The NER or RE student saved at ``path`` (the task is read from ``labels.json``)."""
    record, _ = read_labels(Path(path))
    if record["task"] == "ner":
        from llmaaa.models.ner import NerModel

        return NerModel.load(path, device=device)
    from llmaaa.models.re import ReModel

    return ReModel.load(path, device=device)
