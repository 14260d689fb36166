"""Student F1 under teacher noise: gold ceiling vs simulated teachers (F1 0.81 / 0.60), plain vs reweighted.

NER on CoNLL-2003 (500 train sentences, 100 gold from dev, test split) and RE on CoNLL04 (gold
entities, relation labels corrupted), MiniLM student, several seeds, mean ± std of test F1 scored by
``llmaaa.metrics``. The simulated teacher is calibrated on the training sentences themselves, so
its F1 on them is the target; the ceiling row trains on their gold labels.

    python bench/student_noise.py [--quick] [--tasks ner,re] [--seeds 3] [--output bench/out/student_noise.json]
    python bench/student_noise.py --weight-diagnostic [--train-size 120]   # NER: do the weights find the noise?

The diagnostic trains plainly on the sim-0.60 labels and, each epoch, records the learning-to-reweight
weight every sentence would get; it prints the mean weight and the zero-weight share of sentences whose
teacher labels are exactly right vs corrupted. A sign or scale bug would show correct <= corrupted.

Results are written after every run, so an interrupted full run still leaves what finished.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from llmaaa.annotate.simulated import SimulatedTeacher  # noqa: E402
from llmaaa.data.readers import read_dataset  # noqa: E402
from llmaaa.data.schema import Example, LabelSet  # noqa: E402
from llmaaa.metrics import entity_prf, relation_prf  # noqa: E402
from llmaaa.training.trainer import TrainConfig, train_task_model  # noqa: E402

log = logging.getLogger("bench.student_noise")
DATASET = {"ner": "conll2003", "re": "conll04"}
CONDITIONS = [("gold", None, False), ("sim-0.81", 0.81, False), ("sim-0.81", 0.81, True),
              ("sim-0.60", 0.60, False), ("sim-0.60", 0.60, True)]


def splits(task: str, n_train: int, n_gold: int, n_test: int | None) -> tuple[list[Example], list[Example], list[Example]]:
    name = DATASET[task]
    train, dev, test = (read_dataset(name, s) for s in ("train", "dev", "test"))
    if task == "re":
        train, dev, test = ([ex for ex in xs if len(ex.entities) >= 2] for xs in (train, dev, test))
    else:
        dev = [ex for ex in dev if ex.entities]  # the paper's demo pool keeps sentences with entities
    train = random.Random(0).sample(train, min(n_train, len(train)))
    gold = random.Random(42).sample(dev, min(n_gold, len(dev)))
    if n_test is not None:
        test = random.Random(1).sample(test, min(n_test, len(test)))
    return train, gold, test


def strip(ex: Example, task: str) -> Example:
    return ex.with_labels(entities=() if task == "ner" else ex.entities, relations=())


def score(task: str, gold: list[Example], pred: list[Example]) -> float:
    return float((entity_prf if task == "ner" else relation_prf)(gold, pred)["f1"])


def run_one(task, train, gold, test, labels, cond, seed, cfg_over, method: str = "fast") -> dict:
    name, target, reweight = cond
    teacher_f1 = 1.0
    data = train
    if target is not None:
        teacher = SimulatedTeacher(train, labels, task=task, target_f1=target, seed=seed)
        data = teacher.annotate([strip(ex, task) for ex in train])
        teacher_f1 = score(task, train, data)
    cfg = TrainConfig(seed=seed, reweight=reweight, reweight_method=method, **cfg_over)
    t0 = time.perf_counter()
    res = train_task_model(task, data, gold, labels, cfg, progress=False)
    train_s = time.perf_counter() - t0
    test_f1 = score(task, test, res.model.predict([strip(ex, task) for ex in test]))
    zero = sum(h["weights"]["zero"] for h in res.history if "weights" in h)
    n = sum(h["weights"]["n"] for h in res.history if "weights" in h)
    return {"task": task, "condition": name, "reweight": reweight, "method": method if reweight else "-", "seed": seed, "teacher_train_f1": teacher_f1,
            "gold_f1": res.gold_metrics.get("f1"), "test_f1": test_f1, "epochs": len(res.history),
            "train_seconds": round(train_s, 1), "zero_weight_frac": (zero / n) if n else None}


def weight_diagnostic(n_train: int, epochs: int, seed: int = 0) -> list[dict]:
    """Per epoch: weights (x batch size, 1.0 = plain step) of correct vs corrupted sim-0.60 sentences."""
    import numpy as np
    import torch

    from llmaaa.training.reweight import LearningToReweight
    from llmaaa.training.trainer import build_model, make_optimizer, seed_everything

    train, gold, _ = splits("ner", n_train, 100, 1)
    labels = LabelSet.from_examples([*train, *gold])
    noisy = SimulatedTeacher(train, labels, task="ner", target_f1=0.60, seed=seed).annotate([strip(e, "ner") for e in train])
    seed_everything(seed)
    cfg = TrainConfig(device="cpu", reweight=True, seed=seed)
    m = build_model("ner", labels, cfg)
    feats = m.features(noisy)
    correct = np.array([a["labels"] == b["labels"] for a, b in zip(feats, m.features(train))])
    rw = LearningToReweight(m, m.features(gold), lr=cfg.lr, head_lr=cfg.head_lr, batch_size=cfg.batch_size, seed=seed)
    opt, sched = make_optimizer(m, cfg, epochs * ((len(feats) + 7) // 8))
    rng, out = np.random.default_rng(seed), []
    for epoch in range(1, epochs + 1):
        m.net.train()
        w_all, order = np.zeros(len(feats)), rng.permutation(len(feats))
        for k in range(0, len(order), cfg.batch_size):
            idx = order[k : k + cfg.batch_size]
            batch = m.collate([feats[i] for i in idx])
            losses = m.example_losses(batch)
            w_all[idx] = rw.weights(batch, losses).numpy() * len(idx)
            opt.zero_grad()
            losses.mean().backward()
            torch.nn.utils.clip_grad_norm_(m.net.parameters(), cfg.max_grad_norm)
            opt.step()
            sched.step()
        ok, bad = w_all[correct], w_all[~correct]
        out.append({"epoch": epoch, "correct_share": float(correct.mean()), "mean_w_correct": float(ok.mean()),
                    "mean_w_corrupted": float(bad.mean()), "zero_correct": float((ok == 0).mean()),
                    "zero_corrupted": float((bad == 0).mean())})
        log.info("%s", out[-1])
    return out


def write_rows(path: Path, args: argparse.Namespace, rows: list[dict]) -> None:
    """The rows so far with the options that made them: an interrupted run still leaves what finished."""
    path.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows}, indent=2))


def row_group(r: dict) -> tuple:
    """(task, condition, reweight, method); rows written before methods were recorded used ``fast``."""
    return r["task"], r["condition"], r["reweight"], r.get("method", "fast" if r["reweight"] else "-")


SETUP = ("train_size", "gold_size", "test_size", "epochs", "re_negative_ratio", "quick")


def load_rows(path: Path, args: argparse.Namespace) -> list[dict]:
    """Rows of an earlier (possibly interrupted) run of the same output, so a re-run only adds what is missing.

    Only when that run had the same data sizes and epochs: mixing set-ups would average apples and pears.
    """
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    differ = {k: (old.get("args", {}).get(k), str(getattr(args, k))) for k in SETUP
              if str(old.get("args", {}).get(k)) != str(getattr(args, k))}
    if differ:
        raise SystemExit(f"{path} holds rows of a different set-up ({', '.join(f'{k}: {a} vs {b}' for k, (a, b) in differ.items())}); "
                         "pass the same options, another --output, or --fresh")
    rows = old.get("rows", [])
    for r in rows:
        r.setdefault("method", "fast" if r["reweight"] else "-")
    return rows


def table(rows: list[dict]) -> str:
    out = ["| task | labels | reweight | teacher F1 (train) | student test F1 (mean ± std) | seeds | zero-weight frac | s/run |",
           "|---|---|---|---|---|---|---|---|"]
    keys = []
    for r in rows:
        k = row_group(r)
        if k not in keys:
            keys.append(k)
    for k in keys:
        rs = [r for r in rows if row_group(r) == k]
        f = [r["test_f1"] for r in rs]
        sd = statistics.stdev(f) if len(f) > 1 else 0.0
        zf = [r["zero_weight_frac"] for r in rs if r["zero_weight_frac"] is not None]
        out.append(f"| {k[0]} | {k[1]} | {k[3] if k[2] else 'off'} | "
                   f"{statistics.mean(r['teacher_train_f1'] for r in rs):.3f} | {statistics.mean(f):.3f} ± {sd:.3f} | "
                   f"{len(rs)} | {f'{statistics.mean(zf):.2f}' if zf else '-'} | "
                   f"{statistics.mean(r['train_seconds'] for r in rs):.0f} |")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size: 100 train (RE 40), 50 gold, 200 test, 1 seed, 6 epochs")
    ap.add_argument("--tasks", default="ner,re")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--train-size", type=int, default=500)
    ap.add_argument("--gold-size", type=int, default=100)
    ap.add_argument("--test-size", type=int, default=None, help="default: the whole test split")
    ap.add_argument("--epochs", type=int, default=None, help="default: TrainConfig's")
    ap.add_argument("--re-negative-ratio", type=float, default=1.0,
                    help="RE training keeps at most this many no_relation pairs per positive (0 = all)")
    ap.add_argument("--conditions", default="all", help="comma list of gold,sim-0.81,sim-0.60 (default all)")
    ap.add_argument("--methods", default="fast",
                    help="reweighting implementations for the reweighted rows: fast, exact or fast,exact (parity)")
    ap.add_argument("--plain", action=argparse.BooleanOptionalAction, default=True,
                    help="run the unweighted rows too (--no-plain: only reweighted rows, e.g. for an exact parity run)")
    ap.add_argument("--fresh", action="store_true", help="ignore rows already in --output (default: resume, skip them)")
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "out" / "student_noise.json")
    ap.add_argument("--weight-diagnostic", action="store_true",
                    help="NER only: do the reweighting weights separate correct from corrupted teacher labels?")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.weight_diagnostic:
        rows = weight_diagnostic(args.train_size if args.train_size != 500 else 120, args.epochs or 3)
        print("| epoch | correct share | mean w correct | mean w corrupted | zero-weight correct | zero-weight corrupted |")
        print("|---|---|---|---|---|---|")
        for r in rows:
            print(f"| {r['epoch']} | {r['correct_share']:.2f} | {r['mean_w_correct']:.3f} | {r['mean_w_corrupted']:.3f} | "
                  f"{r['zero_correct']:.2f} | {r['zero_corrupted']:.2f} |")
        out = args.output.with_name(args.output.stem + "_weights.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "epochs": rows}, indent=2))
        return 0
    if args.quick:
        args.train_size, args.gold_size, args.test_size, args.seeds = 100, 50, 200, 1
        args.epochs = args.epochs or 6
    cfg_over = {"epochs": args.epochs} if args.epochs else {}
    conds = [c for c in CONDITIONS if (args.conditions == "all" or c[0] in args.conditions.split(","))
             and (args.plain or c[2])]
    methods = args.methods.split(",")
    rows: list[dict] = [] if args.fresh else load_rows(args.output, args)
    done = {(*row_group(r), r["seed"]) for r in rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    for task in args.tasks.split(","):
        n_train = 40 if args.quick and task == "re" else args.train_size
        train, gold, test = splits(task, n_train, args.gold_size, args.test_size)
        over = {**cfg_over, "negative_ratio": args.re_negative_ratio} if task == "re" else cfg_over
        labels = LabelSet.from_examples([*train, *gold, *test])
        log.info("%s: %d train, %d gold, %d test; labels %s", task, len(train), len(gold), len(test), labels)
        for seed in range(args.seeds):
            for cond, method in [(c, m) for c in conds for m in (methods if c[2] else ["-"])]:
                if (task, cond[0], cond[2], method, seed) in done:
                    continue
                rows.append(run_one(task, train, gold, test, labels, cond, seed, over, method if cond[2] else "fast"))
                log.info("%s", rows[-1])
                write_rows(args.output, args, rows)
    print()
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
