"""``train`` (a student on teacher labels), ``predict`` (with a saved student), ``corrupt`` (simulated teacher)."""

from __future__ import annotations

import argparse
import json
import sys

from llmaaa.commands.checks import check_label_overlap, require_examples
from llmaaa.config import ConfigError, from_env
from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.schema import LabelSet
from llmaaa.models.common import ModelFolderError

_USER_ERRORS = (JsonlError, FileNotFoundError, ConfigError, ModelFolderError, ValueError)


def _labels(train, gold) -> LabelSet:
    """The label set of the gold and training data together (sorted), so no gold label is left out."""
    return LabelSet.from_examples([*gold, *train])


def _train(args: argparse.Namespace) -> int:
    from llmaaa.training.export import save_model_version
    from llmaaa.training.trainer import TrainConfig, train_task_model

    try:
        train = require_examples(read_jsonl(args.train), args.train, "--train")
        gold = require_examples(read_jsonl(args.gold), args.gold, "--gold") if args.gold else []
        if gold:  # without --gold there is nothing to compare the labels with
            check_label_overlap(args.task, train, gold, args.train, args.gold, disjoint_is_error=True)
        overrides = {"model_name": args.model_name, "epochs": args.epochs, "batch_size": args.batch_size,
                     "lr": args.lr, "seed": args.seed, "device": args.device,
                     "reweight": True if args.reweight else None, "reweight_method": args.reweight_method}
        config = from_env(TrainConfig, "TRAIN_", overrides)
        result = train_task_model(args.task, train, gold, _labels(train, gold), config, progress=not args.no_progress)
        path = save_model_version(result, args.output)
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    f1 = result.gold_metrics.get("f1")
    print(f"trained a {args.task} student on {result.data['train']} examples "
          f"({result.data['skipped_failed']} failed skipped, reweighting {'on' if result.data['reweight'] else 'off'}) "
          f"in {len(result.history)} epochs; gold F1 {'n/a' if f1 is None else f'{f1:.4f}'}; saved to {path}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    from llmaaa.training.export import load_task_model

    try:
        model = load_task_model(args.model, device=args.device)
        examples = require_examples(read_jsonl(args.input), args.input, "--input")
        if model.task == "ner":
            examples = [ex.with_labels(entities=(), relations=()) for ex in examples]
        n = write_jsonl(model.predict(examples), args.output)
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {n} {model.task} predictions to {args.output}")
    return 0


def _corrupt(args: argparse.Namespace) -> int:
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.metrics import entity_prf, relation_prf

    try:
        gold = require_examples(read_jsonl(args.input), args.input, "--input")
        teacher = SimulatedTeacher(gold, LabelSet.from_examples(gold), task=args.task, target_f1=args.target_f1,
                                   seed=args.seed)
        noisy = teacher.annotate(gold)
        write_jsonl(noisy, args.output)
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    score = (entity_prf if args.task == "ner" else relation_prf)(gold, noisy)
    print(json.dumps({"teacher": teacher.name, "noise_rate": teacher.rate, "examples": len(noisy),
                      "precision": score["precision"], "recall": score["recall"], "f1": score["f1"],
                      "output": args.output}, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    t = sub.add_parser("train", help="train a student (task model) on teacher-labeled examples",
                       description="Train a NER/RE student on LLM labels, early-stopped on the gold set; "
                                   "options not given come from TRAIN_* environment variables, then defaults.")
    t.add_argument("--task", required=True, choices=("ner", "re"))
    t.add_argument("--train", required=True, help="teacher-labeled examples (JSONL); failed ones are skipped")
    t.add_argument("--gold", help="human-labeled examples (JSONL): early stopping, reweighting meta set, metrics")
    t.add_argument("--output", required=True, help="model folder to publish (replaced atomically if it exists)")
    t.add_argument("--model-name", help="Hugging Face id or local folder (default: the packaged MiniLM)")
    t.add_argument("--reweight", action="store_true", help="learning-to-reweight against the gold set")
    t.add_argument("--reweight-method", choices=("fast", "exact"), help="fast (default) or exact look-ahead")
    t.add_argument("--epochs", type=int, help="exactly this many (default: 10, more for few labels: up to 40 for 200 steps)")
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float, help="encoder learning rate (the head uses TRAIN_HEAD_LR)")
    t.add_argument("--seed", type=int)
    t.add_argument("--device", help="auto (default), cpu, cuda, cuda:1 ...")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.set_defaults(func=_train)

    p = sub.add_parser("predict", help="label examples with a saved student",
                       description="Label a JSONL file with a student folder; spans/relations carry a score.")
    p.add_argument("--model", required=True, help="model folder written by `train`")
    p.add_argument("--input", required=True, help="examples (JSONL); RE needs their entities")
    p.add_argument("--output", required=True)
    p.add_argument("--device", default="auto")
    p.set_defaults(func=_predict)

    c = sub.add_parser("corrupt", help="simulate a teacher: corrupt gold labels to a target F1",
                       description="Corrupt gold labels with the seeded, calibrated noise model of the simulated "
                                   "teacher (missed/boundary/type/spurious errors; RE label flips).")
    c.add_argument("--task", required=True, choices=("ner", "re"))
    c.add_argument("--input", required=True, help="gold examples (JSONL)")
    c.add_argument("--output", required=True)
    c.add_argument("--target-f1", type=float, default=0.81)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(func=_corrupt)
