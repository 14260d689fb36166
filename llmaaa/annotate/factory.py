"""One call that builds the LLM teacher from config + env, for the loop, the CLI and the backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from llmaaa.annotate.client import LLMConfig
from llmaaa.annotate.retrieval import DemoIndex, SentenceEncoder
from llmaaa.annotate.teacher import LLMTeacher
from llmaaa.config import from_env
from llmaaa.data.schema import Example, LabelSet


def build_llm_teacher(labels: LabelSet, demos: Sequence[Example], *, task: str = "ner",
                      base_url: str | None = None, model: str | None = None,
                      cache_path: str | Path | None = None, k: int = 5, demo_mode: str = "knn",
                      encoder: str | None = None, template_dir: str | Path | None = None,
                      progress: bool = False, **config: Any) -> LLMTeacher:
    """An ``LLMTeacher`` over ``demos``; ``LLMConfig`` comes from ``LLM_*`` env vars, then these arguments.

    ``config`` holds further ``LLMConfig`` fields (``concurrency=``, ``json_mode=``, ...); ``None``
    values are ignored so CLI namespaces pass straight through.
    """
    cfg = from_env(LLMConfig, "LLM_", {"base_url": base_url, "model": model, **config})
    index = DemoIndex(SentenceEncoder(encoder), demos, mode=demo_mode)
    return LLMTeacher(cfg, labels, index, task=task, k=k, demo_mode=demo_mode, cache=cache_path,
                      template_dir=template_dir, progress=progress)
