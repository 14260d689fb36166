"""How close is the pre-run cost estimate (``llmaaa annotate --estimate``) to what the run then used?

2N CoNLL-2003 test sentences (default N=30) with k=5 k-NN demos from 100 dev sentences (seed 0)
and, with ``--re N``, the entity pairs of 2N CoNLL04 test sentences. On a fresh cache, the first N
are estimated at the default rate (3.5 bytes per token) and then labeled; the next N are
estimated at the rate the server reported for the first (``ResponseCache.tokens_per_byte``) and
then labeled. Prints estimated vs used prompt and completion tokens for both.

Default LLM: the embedded SmolLM2-135M-Instruct (``scripts/llm_server.sh start``), or any
OpenAI-compatible server via LLM_BASE_URL / LLM_MODEL.

    .venv/bin/python bench/cost_estimate.py [--ner 60] [--re 10] [--output bench/out/cost_estimate.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.annotate.client import LLMConfig  # noqa: E402
from llmaaa.annotate.retrieval import SentenceEncoder  # noqa: E402
from llmaaa.annotate.teacher import LLMTeacher  # noqa: E402
from llmaaa.config import from_env  # noqa: E402
from bench.teacher_setup import NER_LABELS, conll03_ner, conll04_re  # noqa: E402


def compare(teacher: LLMTeacher, pool) -> dict:
    plan = teacher.estimate(pool)
    teacher.annotate(pool)
    s = teacher.last_summary
    assert s is not None
    return {"rate": "measured" if plan.tokens_per_byte else "default", "tokens_per_byte": plan.tokens_per_byte,
            "requests_estimated": plan.requests, "requests_sent": s.requests,
            "prompt_estimated": plan.prompt_tokens, "prompt_used": s.prompt_tokens,
            "completion_expected": plan.completion_tokens_expected, "completion_max": plan.completion_tokens_max,
            "completion_used": s.completion_tokens, "failed": s.failed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--ner", type=int, default=30, help="CoNLL03 test sentences per half")
    ap.add_argument("--re", type=int, default=0, help="CoNLL04 test sentences with >= 2 entities, per half")
    ap.add_argument("--demos", type=int, default=100)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--data-dir", help="folder holding conll2003/ and conll04/ (default ../shared/data)")
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "cost_estimate.json"))
    args = ap.parse_args()
    cfg = from_env(LLMConfig, "LLM_", {"concurrency": 2, "timeout_s": 180.0})
    encoder = SentenceEncoder()
    res: dict = {"model": cfg.model, "base_url": cfg.base_url, "k": args.k}
    with tempfile.TemporaryDirectory() as tmp:  # a fresh cache: the estimate must count every prompt
        if args.ner:
            test, index = conll03_ner(2 * args.ner, args.demos, encoder, args.data_dir)
            t = LLMTeacher(cfg, NER_LABELS, index, k=args.k, cache=Path(tmp) / "c.sqlite")
            pool = [g.with_labels(entities=(), relations=()) for g in test]
            res["ner"] = [compare(t, pool[: args.ner]), compare(t, pool[args.ner :])]
        if args.re:
            test, labels, index = conll04_re(2 * args.re, args.demos, encoder, args.data_dir)
            t = LLMTeacher(cfg, labels, index, task="re", k=args.k, cache=Path(tmp) / "c.sqlite")
            pool = [g.with_labels(relations=()) for g in test]
            res["re"] = [compare(t, pool[: args.re]), compare(t, pool[args.re :])]

    print(f"Cost estimate vs use: {cfg.model} at {cfg.base_url}, k={args.k}\n")
    print("| task | rate | requests est / sent | prompt tokens est / used (ratio) | completion expected / max / used |\n"
          "|---|---|---|---|---|")
    for task in ("ner", "re"):
        for r in res.get(task, ()):
            ratio = r["prompt_estimated"] / r["prompt_used"] if r["prompt_used"] else float("nan")
            print(f"| {task} | {r['rate']} | {r['requests_estimated']} / {r['requests_sent']} | "
                  f"{r['prompt_estimated']:,} / {r['prompt_used']:,} ({ratio:.2f}) | {r['completion_expected']:,} / "
                  f"{r['completion_max']:,} / {r['completion_used']:,} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2), encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
