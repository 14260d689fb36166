"""``convert`` (benchmark files <-> examples JSONL / CoNLL) and ``evaluate`` (P/R/F1 as JSON)."""

from __future__ import annotations

import argparse
import json
import sys

from llmaaa.commands.checks import check_label_overlap, require_examples
from llmaaa.data.conll_writer import write_conll
from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.readers import (
    DATASETS,
    DETECT,
    SPLITS,
    DatasetNotFound,
    FormatError,
    read_conll,
    read_conll04,
    read_dataset,
)
from llmaaa.data.schema import Example
from llmaaa.data.tags import SCHEMES, TagError
from llmaaa.metrics import EvaluationError, entity_prf, relation_prf

_USER_ERRORS = (DatasetNotFound, FormatError, JsonlError, EvaluationError, TagError, FileNotFoundError)


def _load(args: argparse.Namespace) -> list[Example]:
    if args.input is None:
        if args.source not in DATASETS:
            raise FormatError(f"--from {args.source} needs --input PATH")
        if args.split is None:
            raise FormatError(f"--from {args.source} without --input needs --split ({', '.join(SPLITS)})")
        return read_dataset(args.source, args.split, args.data_dir)
    if args.source == "conll04":
        return read_conll04(args.input, id_prefix=args.split)
    if args.source == "jsonl":
        return list(require_examples(read_jsonl(args.input), args.input, "--input"))
    scheme = "iob2" if args.source == "conll2003" else args.scheme
    return read_conll(args.input, scheme=scheme, token_sep=args.token_sep, tag_column=args.tag_column,
                      token_column=args.token_column, id_prefix=args.split)


def _convert(args: argparse.Namespace) -> int:
    try:
        examples = _load(args)
        fmt = args.to or ("conll" if args.output.endswith((".conll", ".txt", ".bmes")) else "jsonl")
        n_rel = sum(len(ex.relations) for ex in examples)
        if fmt == "conll":
            stats = write_conll(examples, args.output, scheme=args.scheme)
            left = [f"{stats['snapped']} spans snapped", f"{stats['dropped']} dropped"]
            left += [f"{stats['empty']} empty texts left out"] if stats["empty"] else []
            left += [f"{stats['merged']} neighbouring pairs merge in IO"] if stats["merged"] else []
            left += [f"{n_rel} relations not written: CoNLL has no relations"] if n_rel else []
            summary = (f"{stats['examples']} examples ({stats['entities']} entities) to {args.output} as conll "
                       f"({', '.join(left)})")
        else:
            write_jsonl(examples, args.output)
            n_ent = sum(len(ex.entities) for ex in examples)
            summary = f"{len(examples)} examples ({n_ent} entities, {n_rel} relations) to {args.output} as jsonl"
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {summary}")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    try:
        gold, pred = require_examples(read_jsonl(args.gold), args.gold, "--gold"), read_jsonl(args.pred)
        check_label_overlap(args.task, pred, gold, args.pred, args.gold, disjoint_is_error=False)
        score = (entity_prf if args.task == "ner" else relation_prf)(gold, pred)
    except _USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({"task": args.task, **score}, indent=2, ensure_ascii=False))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    c = sub.add_parser("convert", help="convert CoNLL-2003 / CoNLL04 / CoNLL / BMES files to examples JSONL (or back)",
                       description="Convert a data file into llmaaa examples (JSONL), or examples into CoNLL columns.")
    c.add_argument("--from", dest="source", required=True, choices=(*DATASETS, "conll", "jsonl"),
                   help="input format: conll2003 (IOB2 column file), conll04 (SpERT or BILOU JSON), "
                        "conll (any column file, see --scheme), jsonl (examples)")
    c.add_argument("--input", help="input file; omit it with --from conll2003|conll04 to read --split from --data-dir")
    c.add_argument("--output", required=True, help="output file (.jsonl, or .conll/.txt/.bmes for CoNLL columns)")
    c.add_argument("--to", choices=("jsonl", "conll"), help="output format (default: from the --output extension)")
    c.add_argument("--scheme", default="iob2", choices=SCHEMES, help="tag scheme of a conll input / conll output")
    c.add_argument("--token-sep", default=DETECT,
                   help='separator joining tokens into text (default: from the tokens, none for Chinese/Japanese; " ", "")')
    c.add_argument("--tag-column", type=int, default=-1, help="column holding the tag (default: last)")
    c.add_argument("--token-column", type=int, default=None,
                   help="column holding the token (default: the first, or the second after a 1, 2, 3 ID column)")
    c.add_argument("--split", help="split name used in example ids (default: from the file name)")
    c.add_argument("--data-dir", help="folder holding conll2003/ and conll04/ (default: $LLMAAA_DATA_DIR or ../shared/data)")
    c.set_defaults(func=_convert)

    e = sub.add_parser("evaluate", help="score predictions against gold examples (micro P/R/F1 as JSON)",
                       description="Print micro and per-label precision, recall and F1 as JSON.")
    e.add_argument("--task", required=True, choices=("ner", "re"), help="ner: exact entity spans; re: positive relations")
    e.add_argument("--gold", required=True, help="gold examples JSONL")
    e.add_argument("--pred", required=True, help="predicted examples JSONL (matched to gold by id)")
    e.set_defaults(func=_evaluate)
