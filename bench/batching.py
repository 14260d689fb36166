"""Random vs length-grouped training batches: padded sub-tokens, seconds per training, student F1.

Random batches pad every sentence to the longest one in its batch; ``TrainConfig.group_by_length``
builds batches of similar length inside shuffled chunks (``llmaaa.training.batching.epoch_batches``).
This bench trains the same student on the same data both ways, side by side in one run, so the
speed ratio and the F1 difference come from one machine state:

    python bench/batching.py [--tasks ner,re] [--seeds 2] [--epochs 6] [--output bench/out/batching.json]

NER: CoNLL-2003, 500 training sentences with gold labels, 100 gold from dev, 500 test sentences
(the ``student_noise.py`` split); RE: CoNLL04 the same way, with gold entities.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.student_noise import score, splits, strip  # noqa: E402
from llmaaa.data.schema import LabelSet  # noqa: E402
from llmaaa.training.batching import epoch_batches  # noqa: E402
from llmaaa.training.trainer import TrainConfig, build_model, train_task_model  # noqa: E402

log = logging.getLogger("bench.batching")


def feature_lengths(task: str, train, labels: LabelSet) -> list[int]:
    """Sub-tokens per training feature (sentence window for NER, marked pair for RE)."""
    feats = build_model(task, labels, TrainConfig(device="cpu")).features(train, with_labels=True)
    return [len(f["input_ids"]) for f in feats]


def padded_ratio(lengths: list[int], batch_size: int, grouped: bool, seed: int) -> float:
    """Sub-tokens the encoder sees per real sub-token, over one epoch of this batching."""
    batches = epoch_batches(lengths, batch_size, np.random.default_rng(seed), grouped)
    return sum(len(b) * max(lengths[i] for i in b) for b in batches) / sum(lengths)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default="ner")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--train-size", type=int, default=500)
    ap.add_argument("--test-size", type=int, default=500)
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "out" / "batching.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows = []
    for task in [t for t in args.tasks.split(",") if t]:
        train, gold, test = splits(task, args.train_size, 100, args.test_size)
        labels = LabelSet.from_examples([*train, *gold, *test])
        over = {"epochs": args.epochs, "negative_ratio": 1.0} if task == "re" else {"epochs": args.epochs}
        lengths = feature_lengths(task, train, labels)  # RE: all pairs (training downsamples no_relation)
        for seed in range(args.seeds):
            for grouped in (False, True):
                cfg = TrainConfig(seed=seed, group_by_length=grouped, **over)
                t0 = time.perf_counter()
                res = train_task_model(task, train, gold, labels, cfg, progress=False)
                seconds = time.perf_counter() - t0
                rows.append({"task": task, "seed": seed, "group_by_length": grouped,
                             "padded_ratio": round(padded_ratio(lengths, cfg.batch_size, grouped, seed), 3),
                             "train_seconds": round(seconds, 1), "epochs": len(res.history),
                             # the training steps only: the gold evaluation each epoch is the same either way
                             "s_per_epoch": round(sum(h["train_seconds"] for h in res.history) / len(res.history), 1),
                             "gold_f1": res.gold_metrics.get("f1"),
                             "test_f1": score(task, test, res.model.predict([strip(ex, task) for ex in test]))})
                log.info("%s", rows[-1])
                args.output.parent.mkdir(parents=True, exist_ok=True)
                args.output.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows},
                                                  indent=2))
    print("| task | batches | padded / real sub-tokens | s per epoch of steps (mean) | speed-up | test F1 (mean ± std) |")
    print("|---|---|---|---|---|---|")
    for task in dict.fromkeys(r["task"] for r in rows):
        base = statistics.mean(r["s_per_epoch"] for r in rows if r["task"] == task and not r["group_by_length"])
        for grouped in (False, True):
            rs = [r for r in rows if r["task"] == task and r["group_by_length"] == grouped]
            f1 = [r["test_f1"] for r in rs]
            spe = statistics.mean(r["s_per_epoch"] for r in rs)
            std = statistics.stdev(f1) if len(f1) > 1 else 0.0
            print(f"| {task} | {'length-grouped' if grouped else 'random'} | {statistics.mean(r['padded_ratio'] for r in rs):.2f} "
                  f"| {spe:.1f} | {base / spe:.2f}x | {statistics.mean(f1):.3f} ± {std:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
