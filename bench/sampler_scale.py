"""How long does picking the next batch take on a large pool, and how does it compare to model inference?

Part 1 (synthetic): a 100k-example pool of NER-like probability arrays (CoNLL03-like lengths, 9 BIO
tags) and 384-d L2-normalised embeddings, 500 labeled embeddings; time ``scores`` + ``select``
(k=50) for every sampler.
Part 2 (real): on the CoNLL03 train pool (14k sentences; ``--quick``: 1000), the MiniLM student's
``outputs()`` (the inference the loop needs anyway) vs the samplers' score + select on those outputs.

    .venv/bin/python bench/sampler_scale.py [--quick] [--pool 100000] [--output bench/out/sampler_scale.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmaaa.active import available, make_sampler  # noqa: E402
from llmaaa.data.schema import Example  # noqa: E402
from llmaaa.models.base import ModelOutputs  # noqa: E402

STRATEGIES = ["random", "entropy", "least_confidence", "margin", "kmeans", "kcenter", "hybrid"]


def synthetic(n: int, *, d: int = 384, tags: int = 9, labeled: int = 500, seed: int = 0):
    rng = np.random.default_rng(seed)
    lengths = np.clip(rng.poisson(14, size=n), 1, 120)
    logits = rng.normal(scale=3.0, size=(int(lengths.sum()), tags)).astype(np.float32)
    probs = np.exp(logits - logits.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    rows = np.split(probs, np.cumsum(lengths)[:-1])
    emb = rng.normal(size=(n + labeled, d)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    return rows, emb


def time_samplers(pool, rows, emb, n_labeled: int, k: int, repeats: int = 1) -> dict[str, dict]:
    labeled = [Example(id=f"l{i}", text="x") for i in range(n_labeled)]
    n = len(pool)
    out: dict[str, dict] = {}
    for name in STRATEGIES:
        s = make_sampler(name, seed=0)
        with_labeled = getattr(s, "needs_labeled_outputs", False)
        outputs = ModelOutputs(rows if not with_labeled else rows + [np.zeros((0, rows[0].shape[1]))] * n_labeled,
                               emb if with_labeled else emb[:n])
        best = float("inf")
        score_s = None
        for _ in range(repeats):
            t0 = time.perf_counter()
            picks = s.select(pool, outputs, k, labeled if with_labeled else [])
            best = min(best, time.perf_counter() - t0)
        if hasattr(s, "scores"):
            t0 = time.perf_counter()
            s.scores(ModelOutputs(rows, emb[:n]))
            score_s = time.perf_counter() - t0
        assert len(set(picks)) == k
        out[name] = {"select_seconds": round(best, 4), "scores_seconds": None if score_s is None else round(score_s, 4)}
    return out


def real_pool(n: int | None, data_dir: str | None, k: int) -> dict:
    from llmaaa.data.readers import read_dataset
    from llmaaa.data.schema import LabelSet
    from llmaaa.loop.evaluate import sample_demo_pool, strip_labels
    from llmaaa.training.trainer import TrainConfig, train_task_model

    train = read_dataset("conll2003", "train", data_dir)
    dev = read_dataset("conll2003", "dev", data_dir)
    labels = LabelSet.from_examples(train)
    pool = [strip_labels(ex, "ner") for ex in (train if n is None else train[:n])]
    demo = sample_demo_pool(dev, 20, task="ner", seed=42)
    model = train_task_model("ner", train[:50], demo, labels, TrainConfig(epochs=1), progress=False).model
    t0 = time.perf_counter()
    outputs = model.outputs(pool)
    infer = time.perf_counter() - t0
    res = {"pool": len(pool), "outputs_seconds": round(infer, 2), "samplers": {}}
    for name in STRATEGIES:
        s = make_sampler(name, seed=0)
        t0 = time.perf_counter()
        s.select(pool, outputs, k, [])
        dt = time.perf_counter() - t0
        res["samplers"][name] = {"select_seconds": round(dt, 4), "fraction_of_inference": round(dt / infer, 5)}
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10k synthetic pool, 1000-sentence real pool")
    ap.add_argument("--pool", type=int, default=None, help="synthetic pool size (default 100000; --quick 10000)")
    ap.add_argument("--real-pool", type=int, default=None, help="CoNLL03 train sentences (default all; --quick 1000)")
    ap.add_argument("--skip-real", action="store_true", help="only the synthetic part")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--k", type=int, default=50)
    ap.add_argument("--output", type=Path, default=Path(__file__).parent / "out" / "sampler_scale.json")
    args = ap.parse_args(argv)
    n = args.pool or (10_000 if args.quick else 100_000)
    assert set(STRATEGIES) <= set(available())
    t0 = time.perf_counter()
    rows, emb = synthetic(n)
    print(f"synthetic pool: {n} examples, {sum(len(r) for r in rows)} token rows, 384-d embeddings "
          f"(built in {time.perf_counter() - t0:.1f}s)")
    pool = [Example(id=str(i), text="x") for i in range(n)]
    synth = time_samplers(pool, rows, emb, 500, args.k)
    print(f"\n| sampler | scores (s) | score + select k={args.k} (s) |\n|---|---|---|")
    for name, r in synth.items():
        sc = "-" if r["scores_seconds"] is None else f"{r['scores_seconds']:.3f}"
        print(f"| {name} | {sc} | {r['select_seconds']:.3f} |")
    result = {"machine": platform.processor() or platform.machine(), "synthetic": {"pool": n, "k": args.k, "samplers": synth}}
    if not args.skip_real:
        real = real_pool(args.real_pool or (1000 if args.quick else None), args.data_dir, args.k)
        result["real"] = real
        print(f"\nCoNLL03 train pool of {real['pool']} sentences: student outputs() took {real['outputs_seconds']:.1f}s")
        print("\n| sampler | score + select (s) | fraction of inference |\n|---|---|---|")
        for name, r in real["samplers"].items():
            print(f"| {name} | {r['select_seconds']:.3f} | {r['fraction_of_inference']:.4f} |")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
