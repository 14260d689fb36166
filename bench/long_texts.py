"""Long texts: one prompt per document vs sentence-aligned pieces (``LLM_MAX_CHARS``), same LLM, same demos.

Documents are runs of ``--sentences`` consecutive CoNLL-2003 test sentences of at least 40 chars
(prose, not the results tables) joined with a space, gold spans shifted, so their gold labels are
the sentences' own. Each document is annotated by
the LLM teacher with k-NN demos from 100 dev sentences (seed 0), once whole (``max_chars=0``) and
once in pieces of at most ``--max-chars`` characters; the table gives entity micro F1 (failed
documents count as predicting nothing), failures, requests and tokens, measured in one run.

Default LLM: the embedded SmolLM2-135M-Instruct (``scripts/llm_server.sh start``), or any
OpenAI-compatible server via LLM_BASE_URL / LLM_MODEL. Answers are cached in bench/out/long_texts.sqlite.

    .venv/bin/python bench/long_texts.py [--quick] [--docs 10] [--sentences 8] [--max-chars 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.annotate.client import LLMConfig  # noqa: E402
from llmaaa.annotate.retrieval import DemoIndex, SentenceEncoder  # noqa: E402
from llmaaa.annotate.teacher import LLMTeacher  # noqa: E402
from llmaaa.config import from_env  # noqa: E402
from llmaaa.data.readers import read_dataset  # noqa: E402
from llmaaa.data.schema import Example, LabelSet  # noqa: E402
from llmaaa.data.segment import concat, segments  # noqa: E402
from llmaaa.metrics import entity_prf  # noqa: E402


def documents(sentences: list[Example], per_doc: int, n_docs: int) -> list[Example]:
    """``n_docs`` texts of ``per_doc`` consecutive sentences, gold spans shifted into the joined text."""
    chunks = [sentences[d * per_doc : (d + 1) * per_doc] for d in range(n_docs)]
    return [concat(chunk, f"doc-{d}") for d, chunk in enumerate(chunks) if len(chunk) == per_doc]


def run(cfg: LLMConfig, labels: LabelSet, index: DemoIndex, docs: list[Example], *, k: int, cache: str) -> dict:
    teacher = LLMTeacher(cfg, labels, index, task="ner", k=k, demo_mode="knn", cache=cache)
    start = time.perf_counter()
    pred = teacher.annotate([d.with_labels(entities=()) for d in docs])
    seconds = time.perf_counter() - start
    m, s = entity_prf(docs, pred), teacher.last_summary
    return {"max_chars": cfg.max_chars, "f1": m["f1"], "precision": m["precision"], "recall": m["recall"],
            "docs": len(docs), "failed": s.failed, "failures": dict(s.failures), "requests": s.requests,
            "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens, "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 documents of 6 sentences")
    ap.add_argument("--docs", type=int, default=None, help="documents (default 10; --quick: 3)")
    ap.add_argument("--sentences", type=int, default=None, help="sentences per document (default 8; --quick: 6)")
    ap.add_argument("--max-chars", type=int, default=300, help="piece size of the split setting")
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--data-dir", help="folder holding conll2003/")
    ap.add_argument("--cache", default=str(ROOT / "bench" / "out" / "long_texts.sqlite"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "long_texts.json"))
    args = ap.parse_args()
    n_docs = args.docs or (3 if args.quick else 10)
    per_doc = args.sentences or (6 if args.quick else 8)
    base = from_env(LLMConfig, "LLM_", {"concurrency": 2, "timeout_s": 300.0})
    test = [ex for ex in read_dataset("conll2003", "test", args.data_dir) if len(ex.text.strip()) >= 40]
    docs = documents(test, per_doc, n_docs)
    dev = [ex for ex in read_dataset("conll2003", "dev", args.data_dir) if ex.entities]
    index = DemoIndex(SentenceEncoder(), random.Random(0).sample(dev, 100), mode="knn")
    labels = LabelSet(("PER", "ORG", "LOC", "MISC"))
    rows = {}
    for name, max_chars in (("whole document", 0), (f"pieces <= {args.max_chars} chars", args.max_chars)):
        rows[name] = run(dataclasses.replace(base, max_chars=max_chars), labels, index, docs, k=args.k, cache=args.cache)
        print(f"{name}: {rows[name]}", file=sys.stderr)
    chars = [len(d.text) for d in docs]
    pieces = [len(segments(d.text, args.max_chars)) for d in docs]
    print(f"Long texts: {base.model}, {len(docs)} documents of {per_doc} CoNLL03 test sentences "
          f"({min(chars)}-{max(chars)} chars, {sum(pieces) / len(pieces):.1f} pieces each), k={args.k}\n")
    print("| setting | F1 | P | R | failed docs | requests | prompt tokens | completion tokens | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['f1']:.3f} | {r['precision']:.3f} | {r['recall']:.3f} | {r['failed']} | {r['requests']} "
              f"| {r['prompt_tokens']} | {r['completion_tokens']} | {r['seconds']} |")
    out = {"model": base.model, "base_url": base.base_url, "docs": len(docs), "sentences_per_doc": per_doc,
           "chars": chars, "pieces": pieces, "k": args.k, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
