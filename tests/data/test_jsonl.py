"""Examples JSONL: lossless UTF-8 round trip, atomic writes, errors that name file and line."""

import json

import pytest

from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.schema import Example, Relation, Span


def test_round_trip_keeps_unicode_readable_and_extra_fields(tmp_path):
    text = "José met 王小明 🎉"
    ex = Example("a", text, (Span(0, 4, "PER"), Span(9, 12, "PER", score=0.5)), (Relation(0, 1, "knows"),),
                 {"annotation": {"source": "llm", "error": None}})
    path = tmp_path / "sub" / "out.jsonl"
    assert write_jsonl([ex], path) == 1
    raw = path.read_text(encoding="utf-8")
    assert "王小明" in raw and "🎉" in raw  # not \\u-escaped
    assert read_jsonl(path) == [ex]
    assert [p.name for p in path.parent.iterdir()] == ["out.jsonl"]  # no temp file left behind


def test_failed_write_leaves_the_previous_file_untouched(tmp_path):
    path = tmp_path / "out.jsonl"
    write_jsonl([Example("a", "old")], path)

    def broken():
        yield Example("b", "new")
        raise RuntimeError("labeler crashed")

    with pytest.raises(RuntimeError):
        write_jsonl(broken(), path)
    assert read_jsonl(path) == [Example("a", "old")]
    assert len(list(tmp_path.iterdir())) == 1


def test_bad_lines_name_file_and_line_or_are_collected(tmp_path):
    path = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "1", "text": "ok"}),
        "{not json",
        "",
        json.dumps({"id": "2", "text": "ab", "entities": [{"start": 0, "end": 5, "label": "X"}]}),
        json.dumps({"id": "1", "text": "dup"}),
        json.dumps({"text": "no id here"}),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(JsonlError, match=r"in.jsonl:2: not valid JSON"):
        read_jsonl(path)
    errors: list[str] = []
    exs = read_jsonl(path, strict=False, errors=errors)
    assert [ex.id for ex in exs] == ["1", "in-1"]
    assert [e.split(": ")[0].rsplit(":", 1)[1] for e in errors] == ["2", "4", "5"]
    assert "outside a text" in errors[1] and "duplicate id" in errors[2]
