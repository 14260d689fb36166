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


def _one_line(tmp_path, record):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "ok", "text": "x"}\n' + json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def test_utf16_offsets_that_miss_the_entity_text_name_the_line_and_the_right_offsets(tmp_path):
    # JavaScript counts the emoji as 2 units: "Paris" at [8, 13) instead of [7, 12)
    path = _one_line(tmp_path, {"id": "e", "text": "I ❤ 😀 Paris",
                                "entities": [{"start": 7, "end": 12, "label": "LOC", "text": "Paris"}]})
    with pytest.raises(JsonlError, match=r"mine.jsonl:2: example 'e': entity \[7, 12\) 'LOC' has text 'Paris' but "
                                         r"the text there is 'aris'; 'Paris' is at \[6, 11\)"):
        read_jsonl(path)


def test_an_entity_text_field_that_matches_is_accepted_even_in_another_normalization(tmp_path):
    nfd = "Jose\u0301 vive"
    path = _one_line(tmp_path, {"id": "n", "text": nfd, "entities": [{"start": 0, "end": 5, "label": "PER", "text": "José"}]})
    (_, ex) = read_jsonl(path)
    assert ex.text == nfd and ex.mention(ex.entities[0]) == "Jose\u0301"


@pytest.mark.parametrize("start, message", [(0.7, "0.7"), (True, "True"), ("x", "'x'")])
def test_an_offset_that_is_not_an_integer_is_refused_not_truncated(tmp_path, start, message):
    path = _one_line(tmp_path, {"id": "f", "text": "abc", "entities": [{"start": start, "end": 2, "label": "A"}]})
    with pytest.raises(JsonlError, match=rf"mine.jsonl:2: example 'f': entity .*'start' must be an integer, got {message}"):
        read_jsonl(path)


def test_integral_float_and_digit_string_offsets_still_read(tmp_path):
    path = _one_line(tmp_path, {"id": "f", "text": "abc", "entities": [{"start": "1", "end": 3.0, "label": "A"}]})
    assert read_jsonl(path)[1].entities == (Span(1, 3, "A"),)


def test_entities_that_are_not_a_list_of_objects_name_the_line(tmp_path):
    path = _one_line(tmp_path, {"id": "d", "text": "abc", "entities": {"start": 0, "end": 1, "label": "A"}})
    with pytest.raises(JsonlError, match=r"mine.jsonl:2: example 'd': 'entities' must be a list of objects"):
        read_jsonl(path)


def test_a_line_that_is_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "cp1252.jsonl"
    path.write_bytes(b'{"id": "a", "text": "ok"}\n{"id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(JsonlError, match=r"cp1252.jsonl:2: not UTF-8 text \(byte 0xe9 at column 25\)"):
        read_jsonl(path)


def test_a_duplicate_id_names_the_line_that_first_had_it_even_a_generated_one(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n{"id": "mine-1", "text": "c"}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"mine.jsonl:4: duplicate id 'mine-1' \(also on line 3; a line without 'id' "
                                         r"gets 'mine-<example index>'\)"):
        read_jsonl(path)
