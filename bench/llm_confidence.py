"""Does the LLM's confidence (token log-probabilities) tell its right labels from its wrong ones?

The first N CoNLL-2003 test sentences (default 200) are labeled by the LLM teacher with k=5 k-NN
demos from 100 dev sentences (seed 0), as in ``teacher_quality.py``; each predicted span is right
when the gold has the same (start, end, type). Reported: precision of the spans per confidence
bin, the AUROC of confidence for right vs wrong spans (0.5: no signal), and how many spans got no
confidence. With ``--re N``, the same for the relations of N CoNLL04 test sentences.

Default LLM: the embedded SmolLM2-135M-Instruct (``scripts/llm_server.sh start``), or any
OpenAI-compatible server via LLM_BASE_URL / LLM_MODEL. Answers (with their log-probabilities) are
cached in bench/out/llm_confidence.sqlite, so a re-run only re-scores.

    .venv/bin/python bench/llm_confidence.py [--ner 200] [--re 0] [--output bench/out/llm_confidence.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.annotate.client import LLMConfig  # noqa: E402
from llmaaa.annotate.retrieval import SentenceEncoder  # noqa: E402
from llmaaa.annotate.teacher import LLMTeacher  # noqa: E402
from llmaaa.config import from_env  # noqa: E402
from llmaaa.metrics import confidence_calibration  # noqa: E402
from bench.teacher_setup import NER_LABELS, conll03_ner, conll04_re  # noqa: E402

def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ner", type=int, default=200, help="CoNLL03 test sentences")
    ap.add_argument("--re", type=int, default=0, help="CoNLL04 test sentences with >= 2 entities")
    ap.add_argument("--demos", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--data-dir", help="folder holding conll2003/ and conll04/ (default ../shared/data)")
    ap.add_argument("--cache", default=str(ROOT / "bench" / "out" / "llm_confidence.sqlite"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "llm_confidence.json"))
    args = ap.parse_args()
    cfg = from_env(LLMConfig, "LLM_", {"concurrency": 2, "timeout_s": 180.0, "logprobs": True})
    encoder = SentenceEncoder()
    res: dict = {"model": cfg.model, "base_url": cfg.base_url, "k": args.k, "demos": args.demos}
    if args.ner:
        test, index = conll03_ner(args.ner, args.demos, encoder, args.data_dir)
        t = LLMTeacher(cfg, NER_LABELS, index, k=args.k, cache=args.cache)
        pred = t.annotate([g.with_labels(entities=(), relations=()) for g in test])
        res["ner"] = {"sentences": len(test), **confidence_calibration(test, pred, "ner")}
    if args.re:
        test, labels, index = conll04_re(args.re, args.demos, encoder, args.data_dir)
        t = LLMTeacher(cfg, labels, index, task="re", k=args.k, cache=args.cache)
        pred = t.annotate([g.with_labels(relations=()) for g in test])
        res["re"] = {"sentences": len(test), **confidence_calibration(test, pred, "re")}

    print(f"LLM label confidence: {cfg.model} at {cfg.base_url}, k={args.k}\n")
    rows = [(task, res[task]) for task in ("ner", "re") if task in res]
    if rows:
        print("| task | labels | precision | AUROC | unscored | "
              + " | ".join(f"P @ {b['bin']} (n)" for b in rows[0][1]["bins"]) + " |")
        print("|---" * (5 + len(rows[0][1]["bins"])) + "|")
    for task, r in rows:
        cells = " | ".join("-" if b["precision"] is None else f"{b['precision']:.2f} ({b['n']})" for b in r["bins"])
        print(f"| {task} | {r['labels']} | {_num(r['precision'])} | {_num(r['auroc'])} | {r['unscored']} | {cells} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
