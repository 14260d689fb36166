"""Time per training step: plain vs learning-to-reweight (fast closed form, exact look-ahead).

Same model (MiniLM NER student), same batch of 8 CoNLL-2003 train sentences, gold batches of 8 from
dev, in one run, the variants interleaved step by step (median ms/step) so a busy machine slows all
alike; the step is ``llmaaa.training.trainer.train_step`` (forward, weights, backward,
clipping, AdamW). On CPU, and on CUDA too when available. The exact look-ahead needs eager
attention (double backward through fused attention is missing on CPU), so it is timed on an eager
copy of the model; plain and fast are timed on both, and ratios are taken within one attention kind.

    python bench/reweight_cost.py [--steps 10] [--quick] [--output bench/out/reweight_cost.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from llmaaa.data.schema import Example, LabelSet, Span  # noqa: E402
from llmaaa.training.reweight import LearningToReweight  # noqa: E402
from llmaaa.training.trainer import TrainConfig, build_model, make_optimizer, seed_everything, train_step  # noqa: E402

log = logging.getLogger("bench.reweight_cost")
LABELS = LabelSet(("PER", "ORG", "LOC", "MISC"))


def load_batches(n: int = 8) -> tuple[list[Example], list[Example], str]:
    try:
        from llmaaa.data.readers import read_dataset

        train = [ex for ex in read_dataset("conll2003", "train") if 25 <= len(ex.text.split()) <= 40][:n]
        gold = [ex for ex in read_dataset("conll2003", "dev") if 15 <= len(ex.text.split()) <= 40][: 4 * n]
        return train, gold, "CoNLL-2003 train/dev sentences of 25-40 / 15-40 words"
    except Exception as e:  # noqa: BLE001 - the bench still runs without the data
        log.warning("CoNLL-2003 not available (%s); using synthetic sentences", e)
        text = "Angela Merkel met Emmanuel Macron in Paris on Monday to discuss the European Union budget plans ."
        ex = Example("x", text, (Span(0, 13, "PER"), Span(18, 33, "PER"), Span(37, 42, "LOC"), Span(72, 86, "ORG")))
        return [ex] * n, [ex] * (4 * n), "synthetic 18-word sentence"


def _variant(model, gold_feats, method: str | None):
    cfg = TrainConfig(reweight=method is not None, reweight_method=method or "fast")
    opt, sched = make_optimizer(model, cfg, 10_000)
    rw = (LearningToReweight(model, gold_feats, lr=cfg.lr, head_lr=cfg.head_lr, batch_size=8, method=method)
          if method else None)
    return cfg, opt, sched, rw


def time_interleaved(model, batch, gold_feats, methods, steps: int, warmup: int = 1) -> dict:
    """Median ms per step of each variant, the variants run in turn each round so machine load hits all alike."""
    model.net.train()
    sync = torch.cuda.synchronize if model.device.type == "cuda" else (lambda: None)
    variants = {m: _variant(model, gold_feats, m) for m in methods}
    times: dict = {m: [] for m in methods}
    for r in range(warmup + steps):
        for m, (cfg, opt, sched, rw) in variants.items():
            sync()
            t0 = time.perf_counter()
            train_step(model, batch, opt, sched, cfg, rw)
            sync()
            if r >= warmup:
                times[m].append(1000 * (time.perf_counter() - t0))
    return {m: statistics.median(ts) for m, ts in times.items()}


def run(device: str, steps: int) -> list[dict]:
    train, gold, source = load_batches()
    rows = []
    for attn in ("sdpa", "eager"):
        seed_everything(0)
        cfg = TrainConfig(device=device, reweight=attn == "eager", reweight_method="exact" if attn == "eager" else "fast")
        model = build_model("ner", LABELS, cfg)
        batch = model.collate(model.features(train))
        gold_feats = model.features(gold)
        methods = (None, "fast", "exact") if attn == "eager" else (None, "fast")
        ms = time_interleaved(model, batch, gold_feats, methods, steps)
        for method in methods:
            rows.append({"device": device, "attention": attn, "variant": method or "plain",
                         "ms_per_step": round(ms[method], 1), "vs_plain": round(ms[method] / ms[None], 2),
                         "batch": list(batch["input_ids"].shape), "data": source})
            log.info("%s %s %s: %.1f ms/step", device, attn, method or "plain", ms[method])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="3 timed steps (CI size)")
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "out" / "reweight_cost.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    steps = 3 if args.quick else args.steps
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    rows = [r for d in devices for r in run(d, steps)]
    print(f"\n| device | attention | variant | ms / step | vs plain |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['device']} | {r['attention']} | {r['variant']} | {r['ms_per_step']} | {r['vs_plain']}x |")
    print(f"\nbatch {rows[0]['batch']} (sentences x sub-tokens), {rows[0]['data']}, {steps} timed steps each (median), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps({"steps": steps, "torch": torch.__version__, "threads": torch.get_num_threads(),
                                       "rows": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
