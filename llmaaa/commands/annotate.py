"""``annotate``: label a pool JSONL with the LLM teacher (k-NN demos, cache, budget) and write it back."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from llmaaa.annotate.factory import build_llm_teacher
from llmaaa.annotate.pricing import PriceError
from llmaaa.annotate.prompts import TemplateError
from llmaaa.annotate.retrieval import DEMO_MODES
from llmaaa.commands import count
from llmaaa.commands.checks import require_examples
from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.schema import LabelSet

_USER_ERRORS = (JsonlError, TemplateError, PriceError, FileNotFoundError, ValueError)


def _labels(args: argparse.Namespace, demos: list) -> LabelSet:
    found = LabelSet.from_examples(demos)
    given = tuple(l.strip() for l in args.labels.split(",") if l.strip()) if args.labels else None
    descriptions = json.loads(Path(args.descriptions).read_text(encoding="utf-8")) if args.descriptions else {}
    if args.task == "ner":
        labels = LabelSet(given or found.entity_labels, (), descriptions)
        if not labels.entity_labels:
            raise ValueError("no entity labels: the demos have none; pass --labels PER,ORG,...")
    else:
        labels = LabelSet(found.entity_labels, given or found.relation_labels, descriptions)
        if not labels.relation_labels:
            raise ValueError("no relation labels: the demos have none; pass --labels Work_For,Live_In,...")
    return labels


def _annotate(args: argparse.Namespace) -> int:
    try:
        if args.output and Path(args.output).is_dir():  # found out before the LLM is paid, not after
            raise ValueError(f"--output {args.output} is a folder; pass a file such as {Path(args.output) / 'llm.jsonl'}")
        pool = require_examples(read_jsonl(args.input), args.input, "--input")
        demos = require_examples(read_jsonl(args.demos), args.demos, "--demos") if args.demos else []
        labels = _labels(args, demos)
        api_key = os.environ.get(args.api_key_env) if args.api_key_env else None
        if args.api_key_env and api_key is None:
            raise ValueError(f"--api-key-env {args.api_key_env}: that environment variable is not set")
        teacher = build_llm_teacher(
            labels, demos, task=args.task, base_url=args.base_url, model=args.model, cache_path=args.cache,
            k=args.k, demo_mode=args.demo_mode, encoder=args.encoder, template_dir=args.templates,
            progress=not args.no_progress, api_key=api_key, concurrency=args.concurrency,
            timeout_s=args.timeout, max_retries=args.max_retries, json_mode=args.json_mode or None,
            prices=args.prices, max_cost=args.max_cost, max_tokens_total=args.max_tokens_total,
            max_chars=args.max_chars,
        )
        if args.estimate:
            plan = teacher.estimate(pool)
            print(f"{teacher.name}: {plan.line()}")
            if args.summary:
                Path(args.summary).write_text(json.dumps(plan.to_dict(), indent=2), encoding="utf-8")
            return 0
        if not args.output:
            raise ValueError("--output is required (or --estimate, to see the cost without labeling)")
        out = teacher.annotate(pool)
        write_jsonl(out, args.output)
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    summary = teacher.last_summary
    assert summary is not None
    print(f"{teacher.name}: {summary.line()}")
    print(f"wrote {len(out)} examples to {args.output}")
    if args.summary:
        Path(args.summary).write_text(json.dumps(summary.to_dict(), indent=2), encoding="utf-8")
    return 1 if out and summary.failed == len(out) else 0


def register(sub: argparse._SubParsersAction) -> None:
    a = sub.add_parser(
        "annotate", help="label examples with an LLM (OpenAI-compatible server) and k-NN demos",
        description="Label a pool with the LLM teacher. The output keeps each input example and adds the "
                    "teacher's entities/relations and an 'annotation' record (model, demo ids, usage, error). "
                    "LLM options not given here come from LLM_* environment variables.")
    a.add_argument("--task", required=True, choices=("ner", "re"),
                   help="ner: find entities; re: classify every ordered pair of the input's entities "
                        "(or the pairs its 'pairs' field lists)")
    a.add_argument("--input", required=True, help="pool examples JSONL")
    a.add_argument("--demos", help="gold demonstrations JSONL (also the default label set)")
    a.add_argument("--output", help="annotated examples JSONL (required unless --estimate)")
    a.add_argument("--estimate", action="store_true",
                   help="send nothing: print the requests, cache hits, tokens and cost the run would take "
                        "(tokens approximate; --summary writes them as JSON)")
    a.add_argument("--base-url", help="OpenAI-compatible base URL (default: $LLM_BASE_URL or the local LLM)")
    a.add_argument("--model", help="model name (default: $LLM_MODEL or smollm2-135m-instruct)")
    a.add_argument("--api-key-env", help="environment variable holding the API key "
                                         "(default: LLM_API_KEY, then OPENAI_API_KEY)")
    a.add_argument("--labels", help="comma-separated labels (entity labels for ner, relation labels for re); "
                                    "default: those in the demos")
    a.add_argument("--descriptions", help="JSON file {label: one-line description} shown in the prompt")
    a.add_argument("--k", type=count(0), default=5, help="demos per prompt (default 5)")
    a.add_argument("--demo-mode", default="knn", choices=DEMO_MODES,
                   help="knn: nearest demos (default); random: random demos; none: zero-shot")
    a.add_argument("--encoder", help="sentence encoder for k-NN (HF id or folder; default: packaged MiniLM)")
    a.add_argument("--templates", help="folder with prompt templates overriding {ner,re}_{system,query}.txt")
    a.add_argument("--concurrency", type=count(1), help="requests in flight (default: $LLM_CONCURRENCY or 16)")
    a.add_argument("--timeout", type=float, help="seconds per request (default: $LLM_TIMEOUT_S or 60)")
    a.add_argument("--max-retries", type=int, help="retries on 429/5xx/timeouts (default: $LLM_MAX_RETRIES or 3)")
    a.add_argument("--json-mode", action="store_true", help="ask the server for JSON output (response_format)")
    a.add_argument("--max-chars", type=int, help="ask about longer texts in sentence pieces of at most this "
                                                 "many chars (default: $LLM_MAX_CHARS or 2000; 0: never split)")
    a.add_argument("--cache", help="SQLite response cache; a re-run with it costs nothing")
    a.add_argument("--prices", help='JSON file or inline JSON {"model": [input $/1M tokens, output $/1M tokens]}')
    a.add_argument("--max-cost", type=float, help="stop at this many $ (the rest fail with 'budget exhausted')")
    a.add_argument("--max-tokens-total", type=int, help="stop at this many tokens")
    a.add_argument("--summary", help="also write the run summary as JSON to this file")
    a.add_argument("--no-progress", action="store_true", help="no progress bar")
    a.set_defaults(func=_annotate)
