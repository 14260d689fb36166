"""The llmaaa pieces one project's rounds use: the teacher, the students, the sampler's scores.

This is the only backend module that calls the method package, so the adapter stays thin:
``jobs.py`` orchestrates a round in Label Studio terms and asks this module for labels, models and
priorities in ``Example`` terms.

NER + relations is a pipeline: the NER teacher (or student) finds the spans, then the RE teacher
(or student) labels relations between them. Priorities come from the NER student (the span task is
what an annotator spends most time on); the RE student adds its relations to the predictions.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from llmaaa.config import from_env
from llmaaa.data.schema import Example

from ml_backend.config import BackendConfig
from ml_backend.labeling import LabelingSchema

log = logging.getLogger(__name__)


@dataclass
class Students:
    """The trained student(s) of one model version: ``ner`` always, ``re`` for configs with relations."""

    ner: Any
    re: Any | None = None

    def save(self, path: Path) -> None:
        from llmaaa.training.export import save_model_version

        for name, res in (("ner", self.ner), ("re", self.re)):
            if res is not None:
                save_model_version(res, path / name)

    # RE scores every ordered pair: n(n-1) passes, and an early student over-predicts spans; spans a task
    # brings are the user's, all of them asked about
    max_re_entities: int = 8

    def predict(self, examples: Sequence[Example], *, relations: bool = True) -> list[Example]:
        examples = list(examples)
        todo = [i for i, ex in enumerate(examples) if not ex.extra.get("given_entities")]
        out = list(examples)  # tasks that bring their spans keep them; the NER student finds the others
        for i, ex in zip(todo, _model(self.ner).predict([examples[i] for i in todo]) if todo else []):
            out[i] = ex
        if self.re is not None and out:
            idx = [i for i, ex in enumerate(out) if len(ex.entities) >= 2 and (
                ex.extra.get("given_entities") or (relations and len(ex.entities) <= self.max_re_entities))]
            if idx:
                with_rel = _model(self.re).predict([out[i] for i in idx])
                for i, r in zip(idx, with_rel):
                    out[i] = out[i].with_labels(relations=r.relations)
        return out

    def ner_outputs(self, examples: Sequence[Example]) -> Any:
        return _model(self.ner).outputs(list(examples))

    def scores(self, examples: Sequence[Example], sampler: Any) -> np.ndarray | None:
        """Uncertainty per example (higher = label first), or None when the sampler has no scores."""
        if not hasattr(sampler, "scores") or not examples:
            return None
        return np.asarray(sampler.scores(_model(self.ner).outputs(list(examples))), dtype=float)


def _model(x: Any) -> Any:
    """A TrainResult or a loaded TaskModel -> the model."""
    return getattr(x, "model", x)


def load_students(path: Path) -> Students:
    from llmaaa.training.export import load_task_model

    re_path = path / "re"
    return Students(load_task_model(path / "ner"), load_task_model(re_path) if re_path.exists() else None)


def strip(ex: Example) -> Example:
    return Example(ex.id, ex.text, extra={k: v for k, v in ex.extra.items() if k != "annotation"})


def _with_relations(ex: Example, rel: Example | None, *, given: bool) -> Example:
    """The entity example ``ex`` joined with the RE teacher's ``rel`` of the same task.

    Given spans: the RE teacher's record is the provenance. Found spans: one record of both steps
    (usage, repairs, the pairs left unknown). A failed relation step fails the whole task, its spans
    kept and its error said: stored as a success with no relations, it would be served without
    relations, teach the student that every pair is ``no_relation`` and never be asked again. A retry
    costs only the relation questions (the entity answer is cached).
    """
    if rel is None:
        return ex
    if given:
        return rel
    record = _joined_record(ex.annotation or {}, rel.annotation or {})
    if rel.failed:
        record["error"] = f"relations: {(rel.annotation or {}).get('error')}"
        return ex.with_labels(relations=(), annotation=record)
    return ex.with_labels(relations=rel.relations, annotation=record)


def _joined_record(ner: dict, rel: dict) -> dict:
    """The NER teacher's provenance record with the RE step's cost, repairs and unknown pairs added."""
    out = dict(ner)
    usage = dict(ner.get("usage") or {})
    for k, v in (rel.get("usage") or {}).items():
        if isinstance(v, (int, float)):
            usage[k] = (usage.get(k) or 0) + v
    out["usage"] = usage
    out["reasks"] = int(ner.get("reasks") or 0) + int(rel.get("reasks") or 0)
    dropped = dict(ner.get("dropped") or {})
    for k, v in (rel.get("dropped") or {}).items():
        if isinstance(v, dict):
            merged = dict(dropped.get(k) or {})
            for label, n in v.items():
                merged[label] = merged.get(label, 0) + n
            dropped[k] = merged
        else:
            dropped[k] = (dropped.get(k) or 0) + (v or 0)
    out["dropped"] = dropped
    out["cached"] = bool(ner.get("cached")) and bool(rel.get("cached"))
    out["relation_demo_ids"] = list(rel.get("demo_ids") or [])
    for key in ("pairs_not_asked", "unlabeled_pairs"):
        if rel.get(key):
            out[key] = rel[key]
    return out


class Engine:
    """Teacher, training and sampler for one project (its own LLM cache and demo index)."""

    def __init__(self, config: BackendConfig, schema: LabelingSchema, project_dir: Path) -> None:
        self.config = config
        self.schema = schema
        self.dir = project_dir
        self._lock = threading.Lock()
        self._teachers: dict[str, Any] = {}
        self._demo_index: Any = None
        self._cache: Any = None  # the project's LLM answers, shared by its NER and RE teachers
        self._budget: Any = None

    # -- the teacher -------------------------------------------------------------------------
    def llm_config(self) -> Any:
        """``LLM_*`` options (timeouts, retries, budget caps) with the backend's URL, model and key on top."""
        from llmaaa.annotate.client import LLMConfig

        return from_env(LLMConfig, "LLM_", {"base_url": self.config.llm_base_url, "model": self.config.llm_model,
                                            "api_key": self.config.llm_api_key})

    def _demo(self, gold: Sequence[Example] | None) -> Any:
        """The demo index, made to hold exactly ``gold`` (``None``: keep it as it is).

        Each round passes every current human annotation, so an edited annotation replaces its
        demo and a deleted one leaves the pool.
        """
        from llmaaa.annotate.retrieval import DemoIndex

        if self._demo_index is None:
            self._demo_index = DemoIndex()
        if gold is not None:
            keep = {ex.id for ex in gold}
            removed = self._demo_index.remove([ex.id for ex in self._demo_index.examples if ex.id not in keep])
            changed = self._demo_index.upsert(gold)
            if removed or changed:
                log.info("demo pool: %d added or edited, %d removed, %d in all", changed, removed,
                         len(self._demo_index))
        return self._demo_index

    def _teacher(self, task: str, gold: Sequence[Example] | None) -> Any:
        from llmaaa.annotate.cache import ResponseCache
        from llmaaa.annotate.teacher import LLMTeacher

        demo = self._demo(gold)
        if task not in self._teachers:
            llm = self.llm_config()
            if self._cache is None:
                self._cache = ResponseCache(self.dir / "llm_cache.db")
                self._budget = project_budget(llm, self._cache)
            self._teachers[task] = LLMTeacher(llm, self.schema.labels, demo, task=task, k=self.config.teacher_k,
                                              cache=self._cache, budget=self._budget)
        return self._teachers[task]

    def annotate(self, examples: Sequence[Example], gold: Sequence[Example] | None) -> list[Example]:
        """LLM labels (spans, then relations between them) with provenance; failures keep ``error``.

        ``gold`` is every current human annotation (the demo pool is synced to it); ``None`` keeps
        the pool the last round left.
        """
        with self._lock:  # one project's LLM calls in order: the cache and demo index stay consistent
            given = {ex.id for ex in examples if ex.extra.get("given_entities")}
            need_ner = [strip(ex) for ex in examples if ex.id not in given]
            found = {ex.id: ex for ex in self._teacher("ner", gold).annotate(need_ner)} if need_ner else {}
            out = [found.get(ex.id, ex) for ex in examples]
            if self.schema.relation_labels:
                ok = [ex for ex in out if not ex.failed and len(ex.entities) >= 2]
                if ok:
                    rel = {ex.id: ex for ex in self._teacher("re", gold).annotate(ok)}
                    out = [_with_relations(ex, rel.get(ex.id), given=ex.id in given) for ex in out]
            return out

    def estimate(self, examples: Sequence[Example], gold: Sequence[Example] | None) -> dict[str, Any]:
        """What ``annotate(examples, gold)`` would send and cost, with nothing sent (``LLMTeacher.estimate``).

        The entity prompts are priced in full (cached ones are free); relation prompts only for tasks
        whose entities are given, because the others' pairs depend on the entities the LLM has yet to find.
        """
        with self._lock:
            given = [ex for ex in examples if ex.extra.get("given_entities")]
            need_ner = [strip(ex) for ex in examples if not ex.extra.get("given_entities")]
            plans = []
            if need_ner:
                plans.append(self._teacher("ner", gold).estimate(need_ner))
            with_pairs = [ex for ex in given if len(ex.entities) >= 2]
            if self.schema.relation_labels and with_pairs:
                plans.append(self._teacher("re", gold).estimate(with_pairs))
        out: dict[str, Any] = {"tasks": len(examples), "model": self.llm_config().model}
        for key in ("requests", "cached", "prompt_tokens", "completion_tokens_expected", "completion_tokens_max"):
            out[key] = sum(getattr(p, key) for p in plans)
        for key in ("cost_expected", "cost_max"):
            out[key] = round(sum(getattr(p, key) for p in plans), 6)
        if self.schema.relation_labels and len(with_pairs) < len(examples):
            out["relations"] = "not counted for tasks without given entities: their pairs depend on the entities found"
        return out

    # -- the students ------------------------------------------------------------------------
    def train_config(self) -> Any:
        from llmaaa.training.trainer import TrainConfig

        # SEED seeds the whole backend (cold-start batch, samplers, student); TRAIN_SEED, when set, the student alone
        cfg = from_env(TrainConfig, "TRAIN_", None if "TRAIN_SEED" in os.environ else {"seed": self.config.seed})
        if self.config.device and any(f.name == "device" for f in dataclasses.fields(cfg)):
            cfg = dataclasses.replace(cfg, device=self.config.device)
        return cfg

    def train(self, train: Sequence[Example], gold: Sequence[Example], log_dir: Path | None = None) -> Students:
        from llmaaa.training.trainer import train_task_model

        cfg = self.train_config()
        labels = self.schema.labels
        ner = train_task_model("ner", list(train), list(gold), labels, cfg, progress=False,
                               log_dir=log_dir / "ner" if log_dir else None)
        re = None
        if self.schema.relation_labels and any(ex.relations for ex in train):
            with_pairs = [ex for ex in train if len(ex.entities) >= 2]
            re = train_task_model("re", with_pairs, [g for g in gold if len(g.entities) >= 2], labels, cfg,
                                  progress=False, log_dir=log_dir / "re" if log_dir else None)
        return Students(ner, re)

    def sampler(self) -> Any:
        from llmaaa.active import make_sampler

        return make_sampler(self.config.sampler, task="ner", reduction=self.config.sampler_reduction, seed=self.config.seed)


def project_budget(llm: Any, cache: Any) -> Any:
    """The project's LLM budget, charged with what its answer cache says was already paid.

    ``LLM_MAX_COST`` / ``LLM_MAX_TOKENS_TOTAL`` cap a project's whole life: a restart, or an edited
    label config (which builds a new engine), must not hand it a fresh allowance. The cache is the
    spend record because every answer is stored as it arrives and is never paid for twice.
    """
    from llmaaa.annotate.pricing import Budget, PriceTable

    budget = Budget(llm.max_cost, llm.max_tokens_total)
    prices = PriceTable.load(llm.prices)
    for model, (prompt, completion) in cache.usage_by_model().items():
        budget.charge(prices.cost(model, prompt, completion), prompt + completion)
    if budget.exhausted:
        log.warning("the LLM budget is already spent (%d tokens, $%.4f): LLM labels fail with 'budget exhausted' "
                    "until LLM_MAX_COST / LLM_MAX_TOKENS_TOTAL is raised", budget.tokens, budget.cost)
    return budget


def publish(students: Students, models_dir: Path, version: str) -> Path:
    """Write the students into ``models_dir/version`` by rename, so readers never see half a folder."""
    final = models_dir / version
    tmp = models_dir / f".{version}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    students.save(tmp)
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return final


def prune_model_versions(models_dir: Path, current: str, keep: int) -> list[str]:
    """Delete student folders beyond the newest ``keep`` (by write time; ``current`` always stays) and
    folders a crash left half-written; returns the names deleted.

    Each trained round writes a full copy of the student (~90 MB for MiniLM, GBs for large encoders):
    kept forever they fill the disk, and a full disk fails the next publish. ``keep=0`` keeps all.
    """
    if keep <= 0 or not models_dir.is_dir():
        return []
    folders = [p for p in models_dir.iterdir() if p.is_dir()]
    stale = [p for p in folders if p.name.startswith(".") and p.name.endswith(".tmp")]
    done = sorted((p for p in folders if p not in stale and p.name != current),
                  key=lambda p: p.stat().st_mtime, reverse=True)
    gone = stale + done[max(0, keep - 1):]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return sorted(p.name for p in gone)
