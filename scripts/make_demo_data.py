"""Build demo/ner_*.jsonl from the hand-written, marked-up sentences in demo/src/.

    python scripts/make_demo_data.py            # rewrite the JSONL files
    python scripts/make_demo_data.py --check    # exit 1 if they differ from what the sources give

Markup: ``[PER José Álvarez] opened a bookshop in [LOC Zürich].`` Offsets are Python string
indices (code points, end exclusive), computed here and asserted with ``text[start:end] == mention``,
so accents, CJK and emoji are safe. Every tenth English sentence (the 5th, 15th, ...) goes to the
gold demo pool; the rest form the unlabeled pool, whose gold labels are kept apart for scoring.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.data.schema import Example, Span  # noqa: E402

LABELS = ("PER", "ORG", "LOC", "MISC")
MARK = re.compile(r"\[(PER|ORG|LOC|MISC) ([^\[\]]+)\]")
DEMO_EVERY, DEMO_OFFSET = 10, 4


class MarkupError(ValueError):
    """A source line whose markup cannot be read; the message names the file and line."""


def parse_line(line: str, where: str) -> tuple[str, list[Span]]:
    """Strip the markup from one line; return the plain text and its spans."""
    text, spans, pos = [], [], 0
    length = 0
    for m in MARK.finditer(line):
        before = line[pos : m.start()]
        text.append(before)
        length += len(before)
        label, mention = m.group(1), m.group(2)
        spans.append(Span(length, length + len(mention), label))
        text.append(mention)
        length += len(mention)
        pos = m.end()
    text.append(line[pos:])
    plain = "".join(text)
    if "[" in plain or "]" in plain:
        raise MarkupError(f"{where}: unbalanced or unknown markup in {line!r} (labels: {', '.join(LABELS)})")
    mentions = MARK.findall(line)
    for span, (_, mention) in zip(spans, mentions):
        assert plain[span.start : span.end] == mention, (where, mention)
    return plain, spans


def read_source(path: Path, prefix: str) -> list[Example]:
    examples = []
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        text, spans = parse_line(line, f"{path.name}:{lineno}")
        examples.append(Example(f"{prefix}-{len(examples) + 1:04d}", text, tuple(spans)).validate())
    return examples


def dump(rows: list[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)


def build() -> dict[str, str]:
    """The demo files' contents by path (relative to the repository root)."""
    en = read_source(ROOT / "demo/src/en.txt", "en")
    zh = read_source(ROOT / "demo/src/zh.txt", "zh")
    demos = [ex for i, ex in enumerate(en) if i % DEMO_EVERY == DEMO_OFFSET]
    pool = [ex for i, ex in enumerate(en) if i % DEMO_EVERY != DEMO_OFFSET]
    gold = lambda ex: {"id": ex.id, "text": ex.text, "entities": [s.to_dict() for s in ex.entities]}  # noqa: E731
    return {
        "demo/ner_pool.jsonl": dump([{"id": ex.id, "text": ex.text} for ex in pool]),
        "demo/ner_gold.jsonl": dump([gold(ex) for ex in pool]),
        "demo/ner_demos.jsonl": dump([gold(ex) for ex in demos]),
        "demo/ner_zh_sample.jsonl": dump([gold(ex) for ex in zh]),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare; exit 1 when a file is stale")
    args = ap.parse_args(argv)
    stale = []
    for rel, content in build().items():
        path = ROOT / rel
        if path.exists() and path.read_text(encoding="utf-8") == content:
            continue
        stale.append(rel)
        if not args.check:
            path.write_text(content, encoding="utf-8")
    for rel in stale:
        print(("stale: " if args.check else "wrote ") + rel)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
