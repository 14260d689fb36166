"""The demo data that `make run` imports: well-formed, consistent across files, and up to date."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmaaa.data.schema import Example

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo"
LABELS = {"PER", "ORG", "LOC", "MISC"}


def load(name: str) -> list[dict]:
    with open(DEMO / name, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize("name", ["ner_gold.jsonl", "ner_demos.jsonl", "ner_zh_sample.jsonl"])
def test_every_span_is_a_clean_mention_with_a_known_label(name):
    rows = load(name)
    for row in rows:
        ex = Example.from_dict(row)  # raises on offsets outside the text
        spans = sorted(ex.entities, key=lambda s: s.start)
        for s in spans:
            mention = ex.mention(s)
            assert s.label in LABELS, (ex.id, s)
            assert mention == mention.strip() and mention, (ex.id, mention)
        for a, b in zip(spans, spans[1:]):
            assert a.end <= b.start, f"{ex.id}: overlapping spans {a} {b}"


def test_pool_and_gold_describe_the_same_sentences_and_demos_are_apart():
    pool, gold, demos = load("ner_pool.jsonl"), load("ner_gold.jsonl"), load("ner_demos.jsonl")
    assert [r["id"] for r in pool] == [r["id"] for r in gold]
    assert [r["text"] for r in pool] == [r["text"] for r in gold]
    assert all(set(r) == {"id", "text"} for r in pool), "the pool must carry no labels"
    ids = [r["id"] for r in pool + demos]
    assert len(ids) == len(set(ids)), "ids must be unique across pool and demos"
    assert not {r["text"] for r in pool} & {r["text"] for r in demos}, "a demo sentence leaked into the pool"


def test_sizes_and_coverage():
    pool, gold, demos, zh = (load(n) for n in ("ner_pool.jsonl", "ner_gold.jsonl", "ner_demos.jsonl", "ner_zh_sample.jsonl"))
    assert 250 <= len(pool) <= 400 and 25 <= len(demos) <= 40 and len(zh) == 20
    seen = {e["label"] for r in gold + demos for e in r["entities"]}
    assert seen == LABELS
    assert {e["label"] for r in demos for e in r["entities"]} == LABELS, "demos must show every label"
    texts = " ".join(r["text"] for r in pool + demos)
    for word in ("José", "Zürich", "Gdańsk"):
        assert word in texts
    assert any(ord(ch) > 0x1F000 for ch in texts), "some sentences must carry emoji"
    assert all(" " not in r["text"] and r["entities"] for r in zh)


def test_committed_files_match_their_sources():
    out = subprocess.run([sys.executable, str(ROOT / "scripts/make_demo_data.py"), "--check"],
                         capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, f"demo JSONL is stale, run scripts/make_demo_data.py: {out.stdout}{out.stderr}"
