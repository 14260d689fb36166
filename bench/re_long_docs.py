"""The RE student on long documents: every ordered pair of the whole text vs pairs within sentence pieces.

Documents are runs of ``--sentences`` consecutive CoNLL04 test sentences joined with a space
(``llmaaa.data.segment.concat``), so every gold relation is the sentence's own. The same MiniLM RE
student (untrained head: this measures cost and coverage, not accuracy) scores each document's
candidate pairs twice in one run: with ``max_chars=0`` (the whole document, every ordered pair
whose markers fit one 256-sub-token window) and with ``max_chars`` = ``--max-chars`` (the default
``TRAIN_RE_MAX_CHARS``: pairs within one sentence-aligned piece, the piece as the input). The
table gives pairs scored, gold relations that still have a feature (a pair without one can never
be predicted), mean sub-tokens per pair, and prediction seconds.

    .venv/bin/python bench/re_long_docs.py [--docs 2] [--sentences 10] [--max-chars 1000]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.data.readers import read_dataset  # noqa: E402
from llmaaa.data.schema import LabelSet  # noqa: E402
from llmaaa.data.segment import concat  # noqa: E402
from llmaaa.training.trainer import TrainConfig, build_model  # noqa: E402


def measure(model, docs: list, max_chars: int) -> dict:
    model.max_chars = max_chars
    feats = model.features(docs)
    gold = {(k, r.head, r.tail) for k, d in enumerate(docs) for r in d.relations}
    covered = {(f["example"], *f["pair"]) for f in feats} & gold
    start = time.perf_counter()
    model.predict(docs)
    seconds = time.perf_counter() - start
    return {"max_chars": max_chars, "pairs": len(feats), "gold_relations": len(gold), "gold_with_feature": len(covered),
            "mean_subtokens": round(sum(len(f["input_ids"]) for f in feats) / max(len(feats), 1), 1),
            "seconds": round(seconds, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=2)
    ap.add_argument("--sentences", type=int, default=10, help="CoNLL04 test sentences per document")
    ap.add_argument("--max-chars", type=int, default=TrainConfig.re_max_chars)
    ap.add_argument("--data-dir", help="folder holding conll04/ (default: $LLMAAA_DATA_DIR or ../shared/data)")
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "re_long_docs.json"))
    args = ap.parse_args()
    test = read_dataset("conll04", "test", args.data_dir)
    n = args.sentences
    docs = [concat(test[d * n : (d + 1) * n], f"doc-{d}") for d in range(args.docs)]
    labels = LabelSet(tuple(sorted({s.label for d in docs for s in d.entities})),
                      tuple(sorted({r.label for ex in test for r in ex.relations})))
    model = build_model("re", labels, TrainConfig(device="cpu"))
    rows = {}
    for name, max_chars in (("whole document", 0), (f"pieces <= {args.max_chars} chars", args.max_chars)):
        rows[name] = measure(model, docs, max_chars)
        print(f"{name}: {rows[name]}", file=sys.stderr)
    chars = [len(d.text) for d in docs]
    ents = [len(d.entities) for d in docs]
    print(f"RE student on long documents: {len(docs)} documents of {n} CoNLL04 test sentences "
          f"({min(chars)}-{max(chars)} chars, {min(ents)}-{max(ents)} entities), MiniLM, CPU\n")
    print("| setting | pairs scored | gold relations with a feature | sub-tokens per pair | predict s |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['pairs']} | {r['gold_with_feature']} / {r['gold_relations']} | {r['mean_subtokens']} "
              f"| {r['seconds']} |")
    whole, split = rows["whole document"], rows[f"pieces <= {args.max_chars} chars"]
    print(f"\nspeed-up: {whole['seconds'] / max(split['seconds'], 1e-9):.1f}x")
    out = {"docs": len(docs), "sentences_per_doc": n, "chars": chars, "entities": ents, "rows": rows}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(out, indent=2), encoding="utf-8")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
