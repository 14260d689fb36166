"""The LLMaAA rounds: train student -> score pool -> pick k -> teacher labels them (paper §3, Alg. 1).

Round 0 trains on the initial random batch; round r >= 1 trains on everything bought so far. As
in the reference code each round trains a *fresh* student from the pretrained encoder (no warm
start), early-stopped on the demo pool, which is also the reweighting meta set. Every finished step
is saved in the state directory (``llmaaa.loop.state``) so a crashed run resumes where it stopped.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from llmaaa.active import make_sampler
from llmaaa.annotate.base import Teacher
from llmaaa.data.schema import Example, LabelSet
from llmaaa.loop.config import LoopConfig
from llmaaa.loop.evaluate import measure_teacher, strip_labels, usage_totals, score_predictions
from llmaaa.loop.state import LoopState
from llmaaa.models.base import ModelOutputs, TaskModel

log = logging.getLogger(__name__)


@dataclass
class LoopResult:
    """What a finished (or early-stopped) run produced; everything is also on disk in ``state_dir``."""

    state_dir: Path
    records: list[dict[str, Any]]
    labeled: list[Example]
    teacher_gold: dict[str, Any] | None
    student: TaskModel | None = None
    stopped: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ActiveLoop:
    """One run of the protocol for one strategy and seed, resumable from ``state_dir``.

    ``pool`` is the unlabeled pool (its gold labels, if any, are stripped before the teacher or the
    student sees them); ``demo`` is the gold demo pool; ``test`` (optional) is scored every round.
    """

    def __init__(
        self,
        config: LoopConfig,
        *,
        pool: Sequence[Example],
        demo: Sequence[Example],
        teacher: Teacher,
        labels: LabelSet,
        state_dir: str | Path,
        test: Sequence[Example] | None = None,
        train_config: Any = None,
        progress: bool = False,
    ) -> None:
        from llmaaa.training.trainer import TrainConfig

        _check_schedule(config)
        self.config = config
        self.task = config.task
        self.pool = [strip_labels(ex, self.task) for ex in pool]
        _check_unique_ids(self.pool)
        budget = config.init + config.rounds * config.per_round
        if budget > len(self.pool):  # said now: the run stops early as "pool exhausted", and the table cannot say why
            log.warning("the schedule buys up to %d labels (init %d + %d rounds x %d) from a pool of %d: the run stops "
                        "when the pool is used up", budget, config.init, config.rounds, config.per_round, len(self.pool))
        # the pool's own labels, where it has any (a benchmark's gold): each round scores the labels it bought
        # against them, so a sampler that picks the examples the teacher gets wrong shows it
        self._pool_gold = {ex.id: ex for ex in pool} if any(ex.entities or ex.relations for ex in pool) else {}
        self.demo = list(demo)
        self.test = list(test) if test else None
        self.teacher = teacher
        self.labels = labels
        self.state = LoopState(state_dir)
        base = train_config if train_config is not None else TrainConfig()
        self.train_config = dataclasses.replace(base, reweight=config.reweight, seed=config.seed)
        self.progress = progress
        self.sampler = make_sampler(config.strategy, task=self.task, reduction=config.reduction, seed=config.seed)
        self._student: tuple[int, TaskModel] | None = None

    # -- steps -------------------------------------------------------------------------------
    def _teacher_gold(self) -> dict[str, Any]:
        record = self.state.teacher_gold()
        if record is None or record.get("failed"):  # failed labels are unknowns, not errors: measured again
            record = measure_teacher(self.teacher, self.demo, self.task)
            self.state.save_teacher_gold(record)
            log.info("teacher %s F1 on the %d-example demo pool: %.4f", self.teacher.name, len(self.demo), record["f1"])
        return record

    def _ask_failed_again(self, labeled: list[Example]) -> list[Example]:
        """Labels the teacher failed on (a dead endpoint, a spent budget) are asked again once when a run
        (re)starts: a failed label is "unknown", and without this a run begun against a dead endpoint
        could never train, however often it was resumed. Rounds already trained keep their records."""
        failed = [ex.id for ex in labeled if ex.failed]
        if not failed:
            return labeled
        by_id = {ex.id: ex for ex in self.pool}
        again = self.teacher.annotate([by_id[i] for i in failed if i in by_id])
        fixed = [ex for ex in again if not ex.failed]
        log.info("asked the teacher again for %d failed labels: %d now labeled", len(failed), len(fixed))
        return self.state.relabel(fixed) if fixed else labeled

    def _label_batch(self, batch: int, ids: Sequence[str], labeled: list[Example]) -> list[Example]:
        by_id = {ex.id: ex for ex in self.pool}
        todo = [by_id[i] for i in ids]
        t0 = time.perf_counter()
        annotated = self.teacher.annotate(todo)
        failed = sum(ex.failed for ex in annotated)
        log.info("batch %d: teacher labeled %d examples (%d failed) in %.1fs", batch, len(annotated), failed,
                 time.perf_counter() - t0)
        return labeled + self.state.add_batch(batch, annotated)

    def _train(self, round_: int, labeled: list[Example], teacher_f1: float | None) -> dict[str, Any]:
        from llmaaa.training.export import save_model_version
        from llmaaa.training.trainer import TrainingError, train_task_model

        if labeled and all(ex.failed for ex in labeled):
            first = (labeled[0].annotation or {}).get("error")
            raise TrainingError(f"the teacher failed on all {len(labeled)} labels of this run (first error: {first}); "
                                "they are kept as failed: re-run the same command once the teacher answers, and "
                                "the failed labels are asked again")
        t0 = time.perf_counter()
        result = train_task_model(
            self.task, labeled, self.demo, self.labels, self.train_config,
            progress=self.progress, log_dir=self.state.root / "logs" / f"round-{round_}",
        )
        train_s = time.perf_counter() - t0
        model = result.model
        gold_f1 = float(result.gold_metrics.get("f1", 0.0)) if result.gold_metrics else None
        test_f1 = None
        if self.test:
            test_in = [strip_labels(ex, self.task) for ex in self.test]
            test_f1 = score_predictions(self.task, self.test, model.predict(test_in))["f1"]
        save_model_version(result, self.state.student_dir(round_))
        if not self.config.keep_students and round_ > 0:
            shutil.rmtree(self.state.student_dir(round_ - 1), ignore_errors=True)
        self._student = (round_, model)
        prompt, completion, cost, paid = usage_totals(labeled)
        record = {
            "round": round_,
            "strategy": self.config.strategy,
            "reweight": self.config.reweight,
            "seed": self.config.seed,
            "budget": len(labeled),
            "failed_labels": sum(ex.failed for ex in labeled),
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "cost": cost,
            "paid_cost": paid,
            "teacher_gold_f1": teacher_f1,
            "bought_labels_f1": self._bought_labels_f1(labeled),
            "student_gold_f1": gold_f1,
            "student_test_f1": test_f1,
            "epochs": len(result.history),
            "train_seconds": round(train_s, 3),
        }
        log.info("round %d: budget %d, student gold F1 %s, test F1 %s (teacher %s)", round_, len(labeled),
                 _fmt(gold_f1), _fmt(test_f1), _fmt(teacher_f1))
        return record

    def _bought_labels_f1(self, labeled: list[Example]) -> float | None:
        """F1 of the teacher's labels bought so far against the pool's gold (None without gold): the teacher's
        quality on what the sampler picked, not on the demo pool or test."""
        ok = [ex for ex in labeled if not ex.failed and ex.id in self._pool_gold]
        if not ok:
            return None
        return float(score_predictions(self.task, [self._pool_gold[ex.id] for ex in ok], ok)["f1"])

    def _student_for(self, round_: int, labeled: list[Example]) -> TaskModel:
        if self._student and self._student[0] == round_:
            return self._student[1]
        from llmaaa.training.export import load_task_model

        path = self.state.student_dir(round_)
        if path.exists():
            return load_task_model(path)
        log.warning("student of round %d is not on disk; retraining it to select the next batch", round_)
        self._train(round_, labeled, None)
        return self._student[1]  # type: ignore[index]

    def _select(self, round_: int, labeled: list[Example], record: dict[str, Any]) -> list[str]:
        taken = {ex.id for ex in labeled}
        remaining = [ex for ex in self.pool if ex.id not in taken]
        k = min(self.config.per_round, len(remaining))
        if k == 0:
            return []
        outputs: ModelOutputs | None = None
        score_s = 0.0
        if getattr(self.sampler, "needs_outputs", True):
            model = self._student_for(round_, labeled)
            extra = labeled if getattr(self.sampler, "needs_labeled_outputs", False) else []
            t0 = time.perf_counter()
            outputs = model.outputs([*remaining, *extra])
            score_s = time.perf_counter() - t0
        rng = np.random.default_rng([self.config.seed, round_ + 1])
        t0 = time.perf_counter()
        picks = self.sampler.select(remaining, outputs, k, labeled, rng=rng)
        record["score_seconds"] = round(score_s, 3)
        record["sampler_seconds"] = round(time.perf_counter() - t0, 4)
        return [remaining[i].id for i in picks]

    # -- the run -----------------------------------------------------------------------------
    def run(self) -> LoopResult:
        cfg = self.config
        self.state.bind({**cfg.identity(), "teacher": self.teacher.name, "pool_size": len(self.pool),
                         "data": data_fingerprint(self.pool, self.demo, self.test),
                         "gold": gold_fingerprint(list(self._pool_gold.values()), self.demo, self.test),
                         "train": train_identity(self.train_config)})
        teacher = self._teacher_gold()
        teacher_f1 = teacher.get("f1")
        # a measurement with failed labels scores them as empty answers: too low a bar to stop on
        stop_f1 = None if teacher.get("failed") else teacher_f1
        if teacher.get("failed") and cfg.stop_after_rounds_matched > 0:
            log.warning("the stopping rule is off for this run: the teacher failed on %d of the %d demo-pool labels, so "
                        "its F1 there (%s) counts them as empty answers; a re-run measures it again",
                        teacher["failed"], teacher.get("n", 0), _fmt(teacher_f1))
        labeled = self._ask_failed_again(self.state.labeled())
        records = self.state.rounds()
        stopped: str | None = None
        r = 0
        while True:
            if not any(ex.extra.get("loop", {}).get("batch") == r for ex in labeled):
                if r == 0:
                    init = make_sampler("random").select(self.pool, None, cfg.init, rng=np.random.default_rng(cfg.seed))
                    ids = [self.pool[i].id for i in init]
                else:
                    ids = records[r - 1]["selected_ids"]
                labeled = self._label_batch(r, ids, labeled)
            if r >= len(records):
                records.append(self._train(r, labeled, teacher_f1))
                self.state.save_rounds(records)
            rec = records[r]
            stopped = rec.get("stopped")
            if stopped is None or stopped.startswith(MATCHED):
                # checked again on resume: the teacher may have been measured again, the rule changed; a match on
                # the schedule's last round stops nothing, and recorded it would read as a run cut short
                stopped = self._stop_reason(records[: r + 1], stop_f1) if r < cfg.rounds else None
                if stopped != rec.get("stopped"):
                    if stopped:
                        rec["stopped"] = stopped
                        log.info("stopping after round %d: %s", r, stopped)
                    else:
                        log.info("round %d: the stop it recorded no longer holds (%s); %s", r, rec.pop("stopped"),
                                 "going on" if r < cfg.rounds else "the schedule ends here")
                    self.state.save_rounds(records)
            if stopped or r >= cfg.rounds:
                break
            if rec.get("selected_ids") is None:
                rec["selected_ids"] = self._select(r, labeled, rec)
                self.state.save_rounds(records)
            if not rec["selected_ids"]:
                rec["stopped"] = stopped = "pool exhausted"
                self.state.save_rounds(records)
                break
            r += 1
        student = self._student[1] if self._student else None
        return LoopResult(self.state.root, records, labeled, teacher, student, stopped)

    def _stop_reason(self, records: list[dict[str, Any]], teacher_f1: float | None) -> str | None:
        n = self.config.stop_after_rounds_matched
        if n <= 0 or teacher_f1 is None or len(records) < n:
            return None
        last = records[-n:]
        if all(rec.get("student_gold_f1") is not None and rec["student_gold_f1"] >= teacher_f1 for rec in last):
            # a teacher at 0 (an LLM answering [] to everything) is "matched" by any student: stopping is still
            # right (its labels teach nothing), but the reason must not read as the student's success
            worthless = "; the teacher scores 0 on the gold set, so its labels teach nothing" if teacher_f1 <= 0 else ""
            return f"{MATCHED} ({teacher_f1:.4f}) for {n} consecutive rounds{worthless}"
        return None


MATCHED = "student matched the teacher's gold-set F1"


def data_fingerprint(pool: Sequence[Example], demo: Sequence[Example], test: Sequence[Example] | None) -> str:
    """A short hash of the pool, demo pool and test set (ids and texts): a resumed run on other data (another
    dataset, ``--test-size``) would mix two experiments in one curve."""
    h = hashlib.sha256()
    for part in (pool, demo, test or ()):
        for ex in part:
            h.update(f"{ex.id}\x1f{ex.text}\x1e".encode("utf-8", "surrogatepass"))
        h.update(b"\x1d")
    return h.hexdigest()[:16]


def gold_fingerprint(pool: Sequence[Example], demo: Sequence[Example], test: Sequence[Example] | None) -> str:
    """A short hash of the gold labels of the pool, demo pool and test set: a label renamed or corrected in the
    user's files is other data too (``data_fingerprint`` sees only ids and texts; it keeps its old value so
    that state directories written before this key still resume)."""
    h = hashlib.sha256()
    for part in (pool, demo, test or ()):
        for ex in part:
            spans = ";".join(f"{s.start},{s.end},{s.label}" for s in ex.entities)
            rels = ";".join(f"{r.head},{r.tail},{r.label}" for r in ex.relations)
            h.update(f"{ex.id}\x1f{spans}\x1f{rels}\x1e".encode("utf-8", "surrogatepass"))
        h.update(b"\x1d")
    return h.hexdigest()[:16]


def train_identity(config: Any) -> dict[str, Any]:
    """The student options that change what a round trains (not where or how fast); the reweighting method
    only when the run reweights (a plain run resumes whatever ``TRAIN_REWEIGHT_METHOD`` says now)."""
    d = dataclasses.asdict(config)
    if not d.get("reweight"):
        d.pop("reweight_method", None)
    for free in ("device", "eval_batch_size", "group_by_length", "warm_start", "seed", "reweight"):
        d.pop(free, None)
    return d


def _check_schedule(config: LoopConfig) -> None:
    """Refuse a schedule that buys nothing, before any teacher call.

    ``init < 1`` would train round 0 on no labels; ``per_round < 1`` selects an empty batch, which
    the loop reads as "pool exhausted" and stops after round 0 with a false reason.
    """
    if config.init < 1:
        raise ValueError(f"init must be >= 1 (round 0 trains on the initial batch), got {config.init}")
    if config.rounds > 0 and config.per_round < 1:
        raise ValueError(f"per_round must be >= 1 when rounds > 0, got {config.per_round}")


def _check_unique_ids(pool: Sequence[Example]) -> None:
    """Refuse a pool with a repeated id: labels are kept by id, so one text would be labeled for the others."""
    seen: set[str] = set()
    for ex in pool:
        if ex.id in seen:
            raise ValueError(f"the pool has two examples with id {ex.id!r}; give every example its own id")
        seen.add(ex.id)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4f}"


def run_loop(config: LoopConfig, **kwargs: Any) -> LoopResult:
    """Run (or resume) one loop; keyword arguments as for ``ActiveLoop``."""
    return ActiveLoop(config, **kwargs).run()
