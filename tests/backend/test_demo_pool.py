"""The teacher's k-NN demo pool follows the human labels: an edited annotation replaces its demo, a deleted one leaves."""

from __future__ import annotations

import json

from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.data.schema import Example, Span
from ml_backend.engine import Engine
from ml_backend.labeling import parse_config
from openai_stub import ScriptedOpenAI
from tests.backend.conftest import NER, make_config

DEMO_TEXT = "Zoë moved to 北京 today ."


def gold(label: str) -> Example:
    return Example("7", DEMO_TEXT, entities=(Span(0, 3, label),))


def prompt_of(req: dict) -> str:
    return "\n".join(str(m.get("content")) for m in req["messages"])


def test_demo_index_upsert_replaces_and_remove_drops():
    idx = DemoIndex(examples=[gold("PER"), Example("8", "Anna lives in Paris .")])
    assert idx.upsert([gold("PER")]) == 0  # same text and labels: no change
    assert idx.upsert([gold("LOC")]) == 1 and len(idx) == 2
    assert idx.nearest(DEMO_TEXT, 1)[0].entities[0].label == "LOC"  # k-NN sees the edited version
    assert idx.remove(["7", "nope"]) == 1 and [ex.id for ex in idx.examples] == ["8"]
    assert [ex.id for ex in idx.nearest(DEMO_TEXT, 5)] == ["8"]  # faiss rebuilt without the removed demo
    assert idx.upsert([gold("PER")]) == 1 and len(idx) == 2


def test_the_teacher_prompt_shows_the_edited_demo_and_drops_the_deleted_one(tmp_path):
    with ScriptedOpenAI(lambda req, n: "[]") as llm:
        cfg = make_config(tmp_path, llm_base_url=llm.base_url, teacher_k=1)
        engine = Engine(cfg, parse_config(NER), tmp_path / "p")
        (tmp_path / "p").mkdir()

        def demos_in_prompt(gold_pool, query: str) -> str:
            before = len(llm.requests)
            engine.annotate([Example(query, f"{query} and Zoë went to 北京 ."), ], gold_pool)
            return "\n".join(prompt_of(r) for r in llm.requests[before:])

        first = demos_in_prompt([gold("PER")], "q1")
        assert DEMO_TEXT in first and "PER" in first.split(DEMO_TEXT, 1)[1]
        edited = demos_in_prompt([gold("LOC")], "q2")  # ANNOTATION_UPDATED: Zoë relabelled
        after = edited.split(DEMO_TEXT, 1)[1]
        assert "LOC" in after.split("Text:", 1)[0] and "PER" not in after.split("Text:", 1)[0]
        assert DEMO_TEXT in demos_in_prompt(None, "q3")  # on-demand /predict keeps the pool
        assert DEMO_TEXT not in demos_in_prompt([], "q4")  # ANNOTATIONS_DELETED: the demo is gone


def test_train_seed_seeds_the_student_when_set_and_seed_otherwise(tmp_path, monkeypatch):
    """SEED was passed over TRAIN_SEED, so a user's TRAIN_SEED never reached the student."""
    engine = Engine(make_config(tmp_path, seed=7), parse_config(NER), tmp_path / "p")
    monkeypatch.delenv("TRAIN_SEED", raising=False)
    assert engine.train_config().seed == 7
    monkeypatch.setenv("TRAIN_SEED", "3")
    assert engine.train_config().seed == 3
