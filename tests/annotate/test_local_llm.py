"""The teacher against the real local SmolLM2-135M-Instruct server: well-formed output, not quality."""

import pytest

from llmaaa.annotate.client import LLMConfig
from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.annotate.teacher import LLMTeacher
from llmaaa.data.schema import Example, LabelSet, Span

pytestmark = [pytest.mark.llm, pytest.mark.slow]

LABELS = LabelSet(("PER", "ORG", "LOC", "MISC"))
DEMOS = [
    Example("d1", "Barack Obama visited Paris with Microsoft executives.",
            (Span(0, 12, "PER"), Span(21, 26, "LOC"), Span(32, 41, "ORG"))),
    Example("d2", "The German team beat Brazil in Rio.", (Span(4, 10, "MISC"), Span(21, 27, "LOC"), Span(31, 34, "LOC"))),
]
POOL = [
    Example("a", "Angela Merkel met Emmanuel Macron in Berlin."),
    Example("b", "Apple opened a store in Tokyo."),
    Example("c", "李雷在北京大学读书。😀"),
]


def test_smollm2_annotates_three_sentences_with_well_formed_output(llm_server, tmp_path):
    cfg = LLMConfig(base_url=llm_server, model="smollm2-135m-instruct", concurrency=2, timeout_s=120)
    teacher = LLMTeacher(cfg, LABELS, DemoIndex(examples=DEMOS, mode="random"), k=2, cache=tmp_path / "c.sqlite")
    out = teacher.annotate(POOL)
    assert [ex.id for ex in out] == ["a", "b", "c"]
    for src, ex in zip(POOL, out):
        assert ex.text == src.text
        ex.validate()  # offsets inside the text
        ann = ex.annotation
        assert ann["source"] == "llm" and ann["model"] == "smollm2-135m-instruct"
        assert len(ann["demo_ids"]) == 2
        if ann["error"] is None:
            assert ann["usage"]["prompt_tokens"] > 0
            for s in ex.entities:
                assert s.label in LABELS.entity_labels
                assert ex.text[s.start : s.end].strip() == ex.text[s.start : s.end] != ""
        else:
            assert ex.entities == () and ann["error"]  # a failure is recorded with its reason
    # llama.cpp sends token log-probabilities: a span the model wrote verbatim has a confidence
    scores = [s.score for ex in out for s in ex.entities]
    assert all(x is None or 0.0 < x <= 1.0 for x in scores)
    assert not scores or any(x is not None for x in scores), scores
    s = teacher.last_summary
    assert s.annotated + s.failed == 3 and sum(s.failures.values()) == s.failed
    assert s.annotated >= 1  # SmolLM2 answers these few-shot prompts with JSON
    again = teacher.annotate(POOL)  # the cache makes a re-run free
    assert teacher.last_summary.requests == 0
    assert [e.entities for e in again] == [e.entities for e in out]  # scores included
