"""Train a student (NER or RE) on teacher labels, early-stopped on the gold set, optionally reweighted.

As in the LLMaAA reference (``train_ner.py``/``train_re.py``): AdamW with a separate (higher) lr
for the task head, linear warm-up then decay, gradient clipping, and the best epoch on the gold set
(the demo pool, 100 human labels) kept. A fresh model per call (the paper retrains from the
pretrained checkpoint every round) unless ``init_from`` is given (warm start).

Defaults are tuned for the 6-layer MiniLM student (lr 1e-4 / head 5e-4, batch 8, 10 epochs or up
to 40 for few labels, patience 3): MiniLM is small and needs a higher lr than BERT-base's 2e-5 to
converge in a few epochs (measured: 500 gold CoNLL03 sentences reach test F1 ~0.72 at lr 1e-4; at
5e-5 a 100-sentence run still predicted only O after 3 epochs).

An empty gold set means no early stopping (all epochs run, the last one is kept) and, with
``reweight=True``, a warning and plain training: reweighting has nothing to weigh against, and a
Label Studio project that has no human labels yet should still get a student.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from llmaaa.data.schema import Example, LabelSet
from llmaaa.models.base import TaskModel
from llmaaa.models.common import autocast, resolve_device, sorted_batches
from llmaaa.training.batching import downsample_negatives, epoch_batches, learnable
from llmaaa.training.reweight import METHODS, LearningToReweight, ReweightError, WeightStats
from llmaaa.training.stopping import SELECT_ON, EarlyStopping

log = logging.getLogger(__name__)

TASKS = ("ner", "re")
DEFAULT_EPOCHS = 10  # TrainConfig.epochs None: this many, or more for few labels (min_steps)


class TrainingError(ValueError):
    """Training that cannot start (unknown task, no usable training examples)."""


@dataclass
class TrainConfig:
    """Student training options; ``from_env(TrainConfig, prefix="TRAIN_")`` reads ``TRAIN_EPOCHS`` etc."""

    model_name: str | None = None  # HF id or folder; None = packaged MiniLM
    # None: 10 epochs, or more for few labels. Few labels make few optimizer steps (20 labels x 10 epochs
    # is 30 steps: a student still near its "predict nothing" start), so epochs are added until the run
    # has min_steps steps, up to max_epochs (the paper's cap, 40); patience still ends a run that stopped
    # improving. bench/min_steps.py (CoNLL03, 0.81 teacher, 2 seeds): test F1 0.18 -> 0.37 at 20 labels,
    # 0.32 -> 0.43 at 50. A number: exactly that many epochs (min_steps and max_epochs are then unused).
    epochs: int | None = None
    min_steps: int = 200
    max_epochs: int = 40
    batch_size: int = 8
    lr: float = 1e-4  # encoder
    head_lr: float = 5e-4  # classifier head: 5x the encoder, the paper's ratio (2e-5 / 1e-4 for BERT-base)
    weight_decay: float = 0.0
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    patience: int = 3  # epochs in which neither gold F1 nor gold loss improved, once gold F1 > 0 (stopping.py); <= 0: never stop
    select_on: str = "f1"  # "f1" (gold F1, ties broken by loss) or "loss" (the paper's gold loss)
    reweight: bool = False
    reweight_method: str = "fast"  # "fast" (closed-form alignment, top layer + head) or "exact" (look-ahead)
    seed: int = 42
    device: str = "auto"
    warm_start: bool = False  # for callers: pass the previous student as init_from
    max_length: int = 256  # sub-tokens per window (NER) / per marked pair (RE)
    eval_batch_size: int = 32
    typed_markers: bool = False  # RE: [E1:Peop] instead of [E1]
    re_max_chars: int = 1000  # RE: a longer text is read in sentence-aligned pieces, pairs within one piece (0: whole)
    negative_ratio: float = 0.0  # RE: keep at most this many no_relation pairs per positive one (0 = keep all)
    group_by_length: bool = False  # batches of similar length (see batching.epoch_batches): less padding, same examples


@dataclass
class TrainResult:
    model: TaskModel  # best epoch restored
    history: list[dict] = field(default_factory=list)
    gold_metrics: dict = field(default_factory=dict)
    config: TrainConfig | None = None
    data: dict = field(default_factory=dict)  # sizes: train, skipped_failed, gold, features
    # Reweighting only: example id -> mean weight over its features and all epochs (x batch size: 1.0 is
    # what a plain step gives every example, 0.0 means the gold set never wanted this label).
    example_weights: dict[str, float] = field(default_factory=dict)


def check_config(task: str, labels: LabelSet, config: TrainConfig) -> None:
    """Refuse settings that cannot train, before any model is built.

    Otherwise they fail deep inside the loop (``batch_size=0``: a division by zero; NER ``max_length``
    below 3: empty windows and an ``IndexError`` at prediction), or save a student that never trained
    (``epochs=0``: a random head) or that can only say "nothing" (no entity / relation labels: a
    one-class classifier whose loss is always 0).
    """
    if task not in TASKS:
        raise TrainingError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
    if config.reweight_method not in METHODS:
        raise ReweightError(f"unknown reweight_method {config.reweight_method!r}; use one of {', '.join(METHODS)}")
    for name in ("epochs", "max_epochs", "batch_size", "eval_batch_size"):
        if name == "epochs" and config.epochs is None:
            continue
        if not isinstance(getattr(config, name), int) or getattr(config, name) < 1:
            raise TrainingError(f"{name} must be a whole number >= 1, got {getattr(config, name)!r}")
    least = 3 if task == "ner" else 8  # [CLS] + one sub-token + [SEP]; [CLS] [E1] x [/E1] [E2] y [/E2] [SEP]
    if config.max_length < least:
        raise TrainingError(f"max_length {config.max_length} is too small for {task}: at least "
                            f"{least} sub-tokens (special tokens included)")
    if not isinstance(config.min_steps, int) or config.min_steps < 0:
        raise TrainingError(f"min_steps must be a whole number >= 0, got {config.min_steps!r}")
    if config.select_on not in SELECT_ON:
        raise TrainingError(f"unknown select_on {config.select_on!r}; use one of {', '.join(SELECT_ON)}")
    if not config.negative_ratio >= 0:
        raise TrainingError(f"negative_ratio must be >= 0 (0 keeps every no_relation pair), "
                            f"got {config.negative_ratio!r}")
    if task == "ner" and not labels.entity_labels:
        raise TrainingError("the label set has no entity labels: an NER student could only predict 'O'; "
                            "add entity labels (or label some entities)")
    if task == "re" and not labels.relation_labels:
        raise TrainingError("the label set has no relation labels: an RE student could only predict "
                            "'no_relation'; add relation labels (or label some relations)")


def check_warm_start(init_from: TaskModel, task: str, labels: LabelSet, config: TrainConfig) -> None:
    """A warm start keeps the previous student's head, so it must classify the same labels.

    The head has one row per tag / relation class: a label added since (a new one in Label Studio)
    would have no row, and its spans would be dropped from training without an error; a removed one
    would still be predicted.
    """
    if init_from.task != task:
        raise TrainingError(f"init_from is a {init_from.task} student; a {task} student cannot start from it")
    old, new = init_from.labels, labels
    typed = getattr(init_from, "typed", False)  # RE: typed markers exist only for the entity labels it knew
    pairs = [("entity", old.entity_labels, new.entity_labels)] if task == "ner" or typed else []
    if task == "re":
        pairs.append(("relation", old.relation_labels, new.relation_labels))
    for kind, before, now in pairs:
        if set(before) != set(now):
            added, removed = sorted(set(now) - set(before)), sorted(set(before) - set(now))
            raise TrainingError(
                f"cannot warm-start: the previous student knows {kind} labels {sorted(before)}, the label set now "
                f"has {sorted(now)} (added: {added or '-'}, removed: {removed or '-'}); train from the pretrained "
                "encoder instead (no init_from / warm_start=False)")
    if task == "re" and typed != config.typed_markers:
        raise TrainingError("cannot warm-start: typed_markers differs from the previous student's; "
                            "train from the pretrained encoder instead (no init_from / warm_start=False)")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def build_model(task: str, labels: LabelSet, config: TrainConfig) -> TaskModel:
    """A fresh student; eager attention for the exact look-ahead (double backward through SDPA is missing on CPU)."""
    attn = "eager" if config.reweight and config.reweight_method == "exact" else None
    common = dict(max_length=config.max_length, device=config.device, batch_size=config.eval_batch_size)
    if task == "ner":
        from llmaaa.models.ner import NerModel

        return NerModel.create(labels, config.model_name, attn_implementation=attn, **common)
    if task == "re":
        from llmaaa.models.re import ReModel

        return ReModel.create(labels, config.model_name, attn_implementation=attn, typed=config.typed_markers,
                               max_chars=config.re_max_chars, **common)
    raise TrainingError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")


def evaluate(model, task: str, gold: Sequence[Example], gold_feats: Sequence[dict], batch_size: int) -> tuple[float, dict]:
    """Gold loss (mean per-feature loss) and ``llmaaa.metrics`` on the gold set (same scoring as the teacher)."""
    from llmaaa.metrics import entity_prf, relation_prf

    score = entity_prf if task == "ner" else relation_prf
    if gold_feats and hasattr(model, "losses_and_predict"):  # one forward pass gives both (RE)
        losses, pred = model.losses_and_predict(gold, gold_feats, batch_size)
        return float(losses.mean()), score(gold, pred)
    model.net.eval()
    total, n = 0.0, 0
    with torch.no_grad():  # length-sorted batches: the same sum, a fraction of the padding
        for idx in sorted_batches([len(f["input_ids"]) for f in gold_feats], batch_size):
            batch = model.collate([gold_feats[i] for i in idx])
            with autocast(model.device):
                losses = model.example_losses(batch)
            total += float(losses.sum())
            n += len(losses)
    pred = model.predict([ex.with_labels(entities=ex.entities if task == "re" else (), relations=()) for ex in gold])
    return total / max(n, 1), score(gold, pred)


def make_optimizer(model, config: TrainConfig, total_steps: int):
    from transformers import get_linear_schedule_with_warmup

    head = [p for n, p in model.net.named_parameters() if n.startswith(model.head_prefix)]
    body = [p for n, p in model.net.named_parameters() if not n.startswith(model.head_prefix)]
    opt = torch.optim.AdamW(
        [{"params": body, "lr": config.lr}, {"params": head, "lr": config.head_lr}],
        weight_decay=config.weight_decay, eps=1e-6,
    )
    sched = get_linear_schedule_with_warmup(opt, int(config.warmup_ratio * total_steps), total_steps)
    return opt, sched


def train_step(model, batch: dict, opt, sched, config: TrainConfig, reweighter: LearningToReweight | None = None,
               stats: WeightStats | None = None, weight_sink: list[float] | None = None) -> torch.Tensor:
    """One optimizer step (plain mean loss, or the reweighted loss); returns the detached per-example losses.

    ``weight_sink`` receives the batch's normalized weights (reweighting only), in batch order.
    """
    with autocast(model.device):
        losses = model.example_losses(batch)
    if not bool(torch.isfinite(losses).all()):  # before any update: the weights stay as they were
        raise TrainingError(f"the training loss is NaN/inf (lr {config.lr:g}, head_lr {config.head_lr:g}): training "
                            "diverged and nothing was kept; lower the learning rates")
    if reweighter is not None:
        w = reweighter.weights(batch, losses if reweighter.method == "fast" else None)
        if stats is not None:
            stats.add(w)
        if weight_sink is not None:
            weight_sink.extend((w.detach().float().cpu() * len(w)).tolist())
        if float(w.sum()) <= 0:  # no example helps the gold batch: skip the update, keep the schedule
            opt.zero_grad(set_to_none=True)
            opt.step()  # a no-op without gradients; spares torch's "scheduler before optimizer" warning
            sched.step()
            return losses.detach()
        loss = (w * losses).sum()
    else:
        loss = losses.mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.net.parameters(), config.max_grad_norm)
    opt.step()
    sched.step()
    return losses.detach()


def epochs_for(steps_per_epoch: int, config: TrainConfig) -> int:
    """``config.epochs`` when set; else ``DEFAULT_EPOCHS``, or more (up to ``max_epochs``) for ``min_steps`` steps."""
    if config.epochs is not None:
        return config.epochs
    needed = -(-config.min_steps // max(steps_per_epoch, 1))
    return min(config.max_epochs, max(DEFAULT_EPOCHS, needed))


def train_task_model(task: str, train: Sequence[Example], gold: Sequence[Example], labels: LabelSet,
                     config: TrainConfig, *, init_from: TaskModel | None = None, progress: bool = True,
                     log_dir: Path | None = None) -> TrainResult:
    """Train a student on ``train`` (teacher labels), early-stopped and scored on ``gold``.

    Examples the teacher failed on (``Example.failed``) are skipped: their empty labels mean
    "unknown", not "no entities".
    """
    from tqdm.auto import tqdm

    check_config(task, labels, config)
    if init_from is not None:
        check_warm_start(init_from, task, labels, config)
    usable = [ex for ex in train if not ex.failed]
    skipped = len(train) - len(usable)
    if skipped:
        log.info("skipping %d training examples the teacher failed on", skipped)
    if not usable:
        raise TrainingError(f"no usable training examples ({len(train)} given, {skipped} failed); label some first")
    reweight = config.reweight
    if reweight and not gold:
        log.warning("reweighting needs a gold set (the meta set) and none was given; training without reweighting")
        reweight = False
    seed_everything(config.seed)
    model = copy.deepcopy(init_from) if init_from is not None else build_model(task, labels, config)
    if init_from is not None:
        model.net.to(resolve_device(config.device))
        model.device = resolve_device(config.device)
        if reweight and config.reweight_method == "exact":  # double backward needs eager attention (see build_model)
            (model.net.encoder if task == "re" else model.net).set_attn_implementation("eager")
    train_feats = learnable(model.features(usable, with_labels=True))
    gold_feats = model.features(gold, with_labels=True) if gold else []
    if task == "re" and config.negative_ratio > 0:
        train_feats = downsample_negatives(train_feats, config.negative_ratio, config.seed)
    if not train_feats:
        raise TrainingError("the training examples produced no features (RE needs at least two entities per example)"
                            if task == "re" else f"the {len(usable)} training examples have no text to learn from "
                            "(every text is empty or whitespace)")
    steps_per_epoch = (len(train_feats) + config.batch_size - 1) // config.batch_size
    epochs = epochs_for(steps_per_epoch, config)
    if epochs > DEFAULT_EPOCHS and config.epochs is None:
        log.info("%d epochs: %d training features make %d steps an epoch, and min_steps is %d (set epochs for an exact "
                 "number)", epochs, len(train_feats), steps_per_epoch, config.min_steps)
    opt, sched = make_optimizer(model, config, steps_per_epoch * epochs)
    # The meta set gets the same no_relation share as the training pairs, or its gradient mostly says "no_relation".
    meta_feats = learnable(downsample_negatives(gold_feats, config.negative_ratio, config.seed)
                           if task == "re" and config.negative_ratio > 0 and gold_feats else gold_feats)
    if reweight and not meta_feats:
        log.warning("reweighting needs gold labels to weigh against and the %d gold examples give none (%s); "
                    "training without reweighting", len(gold),
                    "no example has two entities" if task == "re" else "every text is empty")
        reweight = False
    reweighter = (LearningToReweight(model, meta_feats, lr=config.lr, head_lr=config.head_lr, batch_size=config.batch_size,
                                     method=config.reweight_method, seed=config.seed) if reweight else None)
    rng = np.random.default_rng(config.seed)
    lengths = [len(f["input_ids"]) for f in train_feats]
    history: list[dict] = []
    stopping = EarlyStopping(config.patience, config.select_on)
    best: tuple[dict, dict] | None = None  # (state, metrics) of stopping.best_epoch
    w_sum, w_count = np.zeros(len(train_feats)), np.zeros(len(train_feats))
    show = progress and sys.stderr.isatty()
    for epoch in range(1, epochs + 1):
        t0 = time.perf_counter()
        model.net.train()
        stats, total, n = WeightStats(), 0.0, 0
        batches = epoch_batches(lengths, config.batch_size, rng, config.group_by_length)
        bar = tqdm(batches, desc=f"{task} epoch {epoch}/{epochs}", disable=not show, leave=False)
        for idx in bar:
            batch = model.collate([train_feats[i] for i in idx])
            sink: list[float] | None = [] if reweighter is not None else None
            losses = train_step(model, batch, opt, sched, config, reweighter, stats, sink)
            if sink:
                w_sum[idx] += sink
                w_count[idx] += 1
            total += float(losses.sum())
            n += len(losses)
        require_finite_parameters(model, epoch, config)
        record: dict[str, Any] = {"epoch": epoch, "train_loss": total / max(n, 1),
                                  "train_seconds": round(time.perf_counter() - t0, 3)}  # the steps; "seconds" adds the gold eval
        if reweighter is not None:
            record["weights"] = stats.summary()
        if gold:
            gold_loss, metrics = evaluate(model, task, gold, gold_feats, config.eval_batch_size)
            record.update(gold_loss=gold_loss, gold_f1=metrics["f1"])
        record["seconds"] = round(time.perf_counter() - t0, 3)
        history.append(record)
        _log_epoch(task, record)
        if not gold:
            continue
        if stopping.update(epoch, f1=metrics["f1"], loss=gold_loss):
            best = ({k: v.detach().to("cpu", copy=True) for k, v in model.net.state_dict().items()}, metrics)
        elif stopping.should_stop:
            log.info("early stopping after epoch %d: no gold improvement for %d epochs", epoch, stopping.bad_epochs)
            break
    gold_metrics: dict = {}
    if best is not None:
        model.net.load_state_dict(best[0])
        gold_metrics = best[1]
    model.net.eval()
    data = {"train": len(usable), "skipped_failed": skipped, "gold": len(gold), "train_features": len(train_feats),
            "reweight": reweight, "reweight_method": config.reweight_method if reweight else None}
    result = TrainResult(model=model, history=history, gold_metrics=gold_metrics, config=config, data=data,
                         example_weights=example_weights(usable, train_feats, w_sum, w_count))
    if log_dir is not None:
        log_dir = Path(log_dir)
        log_dir.mkdir(parents=True, exist_ok=True)
        (log_dir / "history.json").write_text(json.dumps({"history": history, "data": data,
                                                          "config": dataclasses.asdict(config)}, indent=2))
    return result


def require_finite_parameters(model, epoch: int, config: TrainConfig) -> None:
    """A NaN/inf weight after an epoch (a step that overflowed) is an error, never a student to keep or save."""
    for name, p in model.net.named_parameters():
        if not bool(torch.isfinite(p).all()):
            raise TrainingError(f"training diverged in epoch {epoch} ({name} has NaN/inf values; lr {config.lr:g}, "
                                f"head_lr {config.head_lr:g}); nothing was kept; lower the learning rates")


def example_weights(examples: Sequence[Example], feats: Sequence[dict], w_sum: np.ndarray,
                    w_count: np.ndarray) -> dict[str, float]:
    """Mean reweighting weight per training example (over its windows or pairs, and every epoch).

    Exported next to the LLM labels so a user sees which of them the gold set argued against.
    """
    owner = np.array([int(f["example"]) for f in feats], dtype=np.int64)
    sums = np.bincount(owner, weights=w_sum, minlength=len(examples))
    counts = np.bincount(owner, weights=w_count, minlength=len(examples))
    return {examples[k].id: round(float(sums[k] / counts[k]), 4) for k in np.flatnonzero(counts)}


def _log_epoch(task: str, r: dict) -> None:
    parts = [f"{task} epoch {r['epoch']}: train loss {r['train_loss']:.4f}"]
    if "gold_loss" in r:
        parts.append(f"gold loss {r['gold_loss']:.4f} F1 {r['gold_f1']:.4f}")
    if "weights" in r:
        w = r["weights"]
        parts.append(f"weights: {w['zero']}/{w['n']} LLM labels at 0, {w['skipped_steps']} steps skipped")
    parts.append(f"{r['seconds']:.1f}s ({r['train_seconds']:.1f}s steps)")
    log.info(", ".join(parts))
