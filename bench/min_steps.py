"""Few labels, few steps: the student with a fixed 10 epochs vs the default (more epochs for few labels).

An active-learning run starts small (the paper: 50 labels; the backend's first round: 8), and 10
epochs of 50 sentences in batches of 8 are 70 optimizer steps. With ``TrainConfig.epochs`` unset the
trainer adds epochs (up to ``max_epochs``) until the run has ``min_steps`` steps; patience still ends
it early. This bench trains the same student on the same simulated-teacher labels both ways, side by
side in one run (``min_steps`` 0 in the table: exactly ``--epochs``):

    python bench/min_steps.py [--sizes 20,50,100] [--min-steps 200] [--seeds 2] [--teacher 0.81]
                              [--output bench/out/min_steps.json]

NER on CoNLL-2003 (the ``student_noise.py`` split: train sentences sampled with seed 0, 100 gold from
dev, --test-size test sentences); the teacher's noise is drawn per seed.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.student_noise import score, splits, strip, write_rows  # noqa: E402
from llmaaa.annotate.simulated import SimulatedTeacher  # noqa: E402
from llmaaa.data.schema import LabelSet  # noqa: E402
from llmaaa.training.trainer import TrainConfig, train_task_model  # noqa: E402

log = logging.getLogger("bench.min_steps")


def run_one(train, gold, test, labels: LabelSet, *, teacher_f1: float, seed: int, min_steps: int, epochs: int) -> dict:
    noisy = SimulatedTeacher(train, labels, task="ner", target_f1=teacher_f1, seed=seed).annotate(
        [strip(ex, "ner") for ex in train])
    cfg = TrainConfig(seed=seed, epochs=None if min_steps else epochs, min_steps=min_steps)
    t0 = time.perf_counter()
    res = train_task_model("ner", noisy, gold, labels, cfg, progress=False)
    seconds = time.perf_counter() - t0
    return {"labels": len(train), "min_steps": min_steps, "seed": seed, "epochs_run": len(res.history),
            "best_epoch": max(res.history, key=lambda h: (h["gold_f1"], -h["gold_loss"]))["epoch"],
            "gold_f1": res.gold_metrics.get("f1"), "test_f1": score("ner", test, res.model.predict(
                [strip(ex, "ner") for ex in test])), "train_seconds": round(seconds, 1)}


def table(rows: list[dict]) -> str:
    out = ["| labels | min_steps | epochs run (mean) | student test F1 (mean ± std) | gold F1 | seeds | s/run |",
           "|---|---|---|---|---|---|---|"]
    for key in sorted({(r["labels"], r["min_steps"]) for r in rows}):
        rs = [r for r in rows if (r["labels"], r["min_steps"]) == key]
        f = [r["test_f1"] for r in rs]
        sd = statistics.stdev(f) if len(f) > 1 else 0.0
        out.append(f"| {key[0]} | {key[1] or '0 (epochs only)'} | {statistics.mean(r['epochs_run'] for r in rs):.1f} | "
                   f"{statistics.mean(f):.3f} ± {sd:.3f} | {statistics.mean(r['gold_f1'] or 0 for r in rs):.3f} | "
                   f"{len(rs)} | {statistics.mean(r['train_seconds'] for r in rs):.0f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="20,50,100", help="comma list of training-set sizes (teacher labels)")
    ap.add_argument("--min-steps", type=int, default=200)
    ap.add_argument("--epochs", type=int, default=10, help="the fixed-epochs side (the default's floor is 10)")
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--teacher", type=float, default=0.81, help="the simulated teacher's F1")
    ap.add_argument("--gold-size", type=int, default=100)
    ap.add_argument("--test-size", type=int, default=500)
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "out" / "min_steps.json")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    sizes = [int(s) for s in args.sizes.split(",") if s]
    train_all, gold, test = splits("ner", max(sizes), args.gold_size, args.test_size)
    labels = LabelSet.from_examples([*train_all, *gold, *test])
    rows: list[dict] = []
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for seed in range(args.seeds):
        for n in sizes:
            for min_steps in (0, args.min_steps):  # side by side: the same labels, the same machine state
                rows.append(run_one(train_all[:n], gold, test, labels, teacher_f1=args.teacher, seed=seed,
                                    min_steps=min_steps, epochs=args.epochs))
                log.info("%s", rows[-1])
                write_rows(args.output, args, rows)
    print(f"\n{table(rows)}\n\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
