"""The example schema: exact offsets in any script, lossless round trips, clear errors."""

import json

import pytest

from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation, SchemaError, Span


def test_round_trip_keeps_extra_fields_and_unicode():
    text = "José met 王小明 in Zürich 🎉 today"
    start = text.index("王小明")
    ex = Example(
        "a1",
        text,
        entities=(Span(0, 4, "PER"), Span(start, start + 3, "PER", score=0.9)),
        relations=(Relation(0, 1, "knows"),),
        extra={"pairs": [[0, 1]], "source_id": 17},
    )
    back = Example.from_dict(json.loads(json.dumps(ex.to_dict(), ensure_ascii=False)))
    assert back == ex
    assert back.mention(back.entities[1]) == "王小明"
    assert back.extra["pairs"] == [[0, 1]]


def test_offsets_outside_the_text_are_refused_with_the_example_id():
    with pytest.raises(SchemaError, match="ex7"):
        Example.from_dict({"id": "ex7", "text": "short", "entities": [{"start": 2, "end": 9, "label": "X"}]})


def test_relation_must_join_two_existing_entities():
    with pytest.raises(SchemaError, match="must join"):
        Example.from_dict(
            {"id": 1, "text": "A B", "entities": [{"start": 0, "end": 1, "label": "X"}], "relations": [{"head": 0, "tail": 1, "label": "r"}]}
        )


def test_missing_text_is_a_schema_error():
    with pytest.raises(SchemaError, match="no string 'text'"):
        Example.from_dict({"id": "x"})
    with pytest.raises(SchemaError, match="JSON object"):
        Example.from_dict(["not", "an", "object"])


def test_failed_annotation_is_not_an_empty_label_set():
    ex = Example("1", "Paris").with_labels(entities=[], annotation={"source": "llm", "error": "timeout"})
    assert ex.failed and ex.entities == ()
    assert not Example("2", "Paris").failed


def test_label_set_from_examples_is_sorted_and_excludes_no_relation():
    exs = [
        Example("1", "a b", (Span(0, 1, "ORG"), Span(2, 3, "LOC")), (Relation(0, 1, "based_in"), Relation(1, 0, NO_RELATION))),
    ]
    ls = LabelSet.from_examples(exs)
    assert ls.entity_labels == ("LOC", "ORG")
    assert ls.relation_labels == ("based_in",)
    assert ls.relation_classes == (NO_RELATION, "based_in")
