"""How good is the teacher? k-NN vs random vs zero-shot demos (LLMaAA Table 3 analog), RE with/without descriptions.

NER: the first N CoNLL-2003 test sentences (200; ``--quick``: 12) annotated with 100 demos drawn
from the dev split (seed 0), k=5 demos per prompt, demo modes knn / random / none; entity micro F1
by ``llmaaa.metrics.entity_prf`` (failed examples count as predicting nothing, and are reported).
RE: CoNLL04 test sentences with >= 2 gold entities (50; ``--quick``: 3), every ordered pair
classified with k-NN demos from 100 dev sentences, with and without label descriptions; relation
micro F1 by ``relation_prf``.

Default LLM: the embedded SmolLM2-135M-Instruct (``scripts/llm_server.sh start``), or any
OpenAI-compatible server via LLM_BASE_URL / LLM_MODEL. Answers are cached in bench/out/teacher_quality.sqlite.

    .venv/bin/python bench/teacher_quality.py [--quick] [--ner N] [--re N] [--output bench/out/teacher_quality.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.annotate.client import LLMConfig  # noqa: E402
from llmaaa.annotate.retrieval import SentenceEncoder  # noqa: E402
from llmaaa.annotate.teacher import LLMTeacher  # noqa: E402
from llmaaa.config import from_env  # noqa: E402
from llmaaa.metrics import entity_prf, relation_prf  # noqa: E402
from bench.teacher_setup import NER_LABELS, conll03_ner, conll04_re  # noqa: E402


def score(teacher: LLMTeacher, gold, task: str) -> dict:
    pool = [g.with_labels(entities=() if task == "ner" else None, relations=()) for g in gold]
    start = time.perf_counter()
    pred = teacher.annotate(pool)
    seconds = time.perf_counter() - start
    m = (entity_prf if task == "ner" else relation_prf)(gold, pred)
    s = teacher.last_summary
    return {"f1": m["f1"], "precision": m["precision"], "recall": m["recall"], "n": len(gold),
            "failed": s.failed if s else None, "failures": dict(s.failures) if s else {},
            "requests": s.requests if s else None, "seconds": round(seconds, 1),
            "tokens": (s.prompt_tokens + s.completion_tokens) if s else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="12 NER sentences, 3 RE sentences (the local LLM is slow on 2 cores)")
    ap.add_argument("--ner", type=int, help="CoNLL03 test sentences (default 200)")
    ap.add_argument("--re", type=int, help="CoNLL04 test sentences (default 50)")
    ap.add_argument("--demos", type=int, default=100, help="demo pool size drawn from dev")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--data-dir", help="folder holding conll2003/ and conll04/")
    ap.add_argument("--cache", default=str(ROOT / "bench" / "out" / "teacher_quality.sqlite"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "teacher_quality.json"))
    args = ap.parse_args()
    n_ner = args.ner if args.ner is not None else (12 if args.quick else 200)
    n_re = args.re if args.re is not None else (3 if args.quick else 50)
    cfg = from_env(LLMConfig, "LLM_", {"concurrency": 2, "timeout_s": 180.0})
    encoder = SentenceEncoder()
    res: dict = {"model": cfg.model, "base_url": cfg.base_url, "k": args.k, "demos": args.demos, "ner": {}, "re": {}}

    if n_ner:
        test, index = conll03_ner(n_ner, args.demos, encoder, args.data_dir)
        for mode in ("knn", "random", "none"):
            t = LLMTeacher(cfg, NER_LABELS, index, task="ner", k=args.k, demo_mode=mode, cache=args.cache)
            res["ner"][mode] = score(t, test, "ner")
            print(f"ner {mode}: {res['ner'][mode]}", file=sys.stderr)
    if n_re:
        test, labels, index = conll04_re(n_re, args.demos, encoder, args.data_dir)
        for name, desc in (("with descriptions", True), ("names only", False)):
            t = LLMTeacher(cfg, labels, index, task="re", k=args.k, demo_mode="knn", cache=args.cache,
                           descriptions=desc)
            res["re"][name] = score(t, test, "re")
            print(f"re {name}: {res['re'][name]}", file=sys.stderr)

    print(f"Teacher quality: {cfg.model} at {cfg.base_url}, k={args.k}, {args.demos} dev demos\n")
    print("| task | setting | n | F1 | P | R | failed | requests | s |\n|---|---|---|---|---|---|---|---|---|")
    for task, rows in (("NER CoNLL03", res["ner"]), ("RE CoNLL04", res["re"])):
        for setting, r in rows.items():
            print(f"| {task} | {setting} | {r['n']} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} "
                  f"| {r['failed']} | {r['requests']} | {r['seconds']} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
