"""Other tools' JSONL (doccano, Prodigy/spaCy, Hugging Face tokens) read with its labels, never silently empty."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from llmaaa.data.formats import DOCCANO, DOCCANO_RELATIONS, PRODIGY, SPACY, as_schema
from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.schema import Example, Relation, SchemaError, Span

ROOT = Path(__file__).resolve().parents[2]


def read(record, default_id="line-0"):
    """The example a JSONL line becomes, and the format it was read as."""
    found = as_schema(record, default_id=default_id)
    assert found.skip is None
    return Example.from_dict(found.data, default_id=default_id), found.format


def mentions(ex):
    return [(ex.mention(s), s.label) for s in ex.entities]


# doccano sequence labeling --------------------------------------------------------------------

@pytest.mark.parametrize("text, labels, expected", [
    ("José lives in Zürich", [[0, 4, "PER"], [14, 20, "LOC"]], [("José", "PER"), ("Zürich", "LOC")]),
    ("张三在北京工作", [[0, 2, "PER"], [3, 5, "LOC"]], [("张三", "PER"), ("北京", "LOC")]),
    ("🎉👍🏽 Ann Lee in Paris", [[4, 11, "PER"], [15, 20, "LOC"]], [("Ann Lee", "PER"), ("Paris", "LOC")]),
])
def test_doccano_label_triples_are_entities_at_exact_char_offsets(text, labels, expected):
    ex, fmt = read({"id": 12, "text": text, "label": labels, "meta": {"source": "news"}})
    assert fmt == DOCCANO
    assert mentions(ex) == expected
    assert ex.id == "12" and ex.extra == {"meta": {"source": "news"}}  # 'label' became entities, not extra


def test_doccano_labels_key_is_read_too():
    ex, fmt = read({"text": "Zürich", "labels": [[0, 6, "LOC"]]})
    assert fmt == DOCCANO and mentions(ex) == [("Zürich", "LOC")]


def test_doccano_text_classification_label_is_no_span_and_stays_in_extra():
    ex, fmt = read({"id": 3, "text": "great film", "label": ["positive"]})
    assert fmt is None and ex.entities == () and ex.extra == {"label": ["positive"]}


@pytest.mark.parametrize("label, what", [
    ([[0, 4]], "[0, 4]"),
    ([[0, 4, "PER"], "positive"], "'positive'"),
    ([[0, "4", "PER"]], "[0, '4', 'PER']"),
])
def test_a_doccano_label_that_is_no_triple_is_an_error_naming_example_and_format(label, what):
    with pytest.raises(SchemaError, match="example 'news-7' looks like doccano") as e:
        as_schema({"id": "news-7", "text": "José Ortega", "label": label}, default_id="x")
    assert what in str(e.value) and "[start, end, label]" in str(e.value)


# doccano relation export ----------------------------------------------------------------------

def test_doccano_relation_export_maps_entity_ids_to_indices():
    ex, fmt = read({
        "id": 5, "text": "José Núñez nació en Zürich 🎉 y vive en 北京",
        "entities": [{"id": 41, "label": "PER", "start_offset": 0, "end_offset": 10},
                     {"id": 40, "label": "LOC", "start_offset": 20, "end_offset": 26},
                     {"id": 43, "label": "LOC", "start_offset": 39, "end_offset": 41}],
        "relations": [{"id": 1, "from_id": 41, "to_id": 40, "type": "born_in"},
                      {"id": 2, "from_id": 41, "to_id": 43, "type": "lives_in"}],
        "Comments": [],
    })
    assert fmt == DOCCANO_RELATIONS
    assert mentions(ex) == [("José Núñez", "PER"), ("Zürich", "LOC"), ("北京", "LOC")]
    assert ex.relations == (Relation(0, 1, "born_in"), Relation(0, 2, "lives_in"))
    assert ex.extra == {"Comments": []}


def test_a_doccano_relation_naming_no_entity_is_an_error_naming_the_example():
    record = {"id": "doc-9", "text": "Ann in Rome",
              "entities": [{"id": 1, "label": "PER", "start_offset": 0, "end_offset": 3}],
              "relations": [{"id": 1, "from_id": 1, "to_id": 2, "type": "in"}]}
    with pytest.raises(SchemaError, match=r"example 'doc-9' looks like doccano relations.*to_id 2"):
        as_schema(record, default_id="x")


def test_doccano_entities_mixed_with_ours_are_an_error():
    record = {"text": "Ann in Rome", "entities": [{"id": 1, "label": "PER", "start_offset": 0, "end_offset": 3},
                                                {"start": 7, "end": 11, "label": "LOC"}]}
    with pytest.raises(SchemaError, match="example 'line-0' looks like doccano relations"):
        as_schema(record, default_id="line-0")


# Prodigy and spaCy ----------------------------------------------------------------------------

def test_prodigy_spans_with_an_emoji_before_them_keep_char_offsets():
    text = "😀 José Martí visitó Zürich"
    ex, fmt = read({"text": text, "answer": "accept", "_input_hash": 1, "_task_hash": 2,
                    "tokens": [{"text": "😀", "start": 0, "end": 1, "id": 0, "ws": True},
                               {"text": "José", "start": 2, "end": 6, "id": 1, "ws": True}],
                    "spans": [{"start": 2, "end": 12, "label": "PER", "token_start": 1, "token_end": 2},
                              {"start": 20, "end": 26, "label": "LOC", "token_start": 4, "token_end": 4}]})
    assert fmt == PRODIGY
    assert mentions(ex) == [("José Martí", "PER"), ("Zürich", "LOC")]
    assert ex.extra["answer"] == "accept" and ex.extra["_input_hash"] == 1
    assert ex.extra["tokens"] == [[0, 1], [2, 6]]  # llmaaa's token offsets, so write_conll can use them


def test_spacy_doc_to_json_ents_are_entities():
    ex, fmt = read({"text": "李明住在上海", "ents": [{"start": 0, "end": 2, "label": "PER"},
                                                  {"start": 4, "end": 6, "label": "GPE"}],
                    "sents": [{"start": 0, "end": 6}], "tokens": [{"id": 0, "start": 0, "end": 2}]})
    assert fmt == SPACY and mentions(ex) == [("李明", "PER"), ("上海", "GPE")]
    assert ex.extra["sents"] == [{"start": 0, "end": 6}]


def test_prodigy_relations_find_their_spans_and_add_unlisted_ones():
    ex, fmt = read({
        "text": "Zoë works for Nestlé in Vevey",
        "spans": [{"start": 0, "end": 3, "label": "PER"}, {"start": 14, "end": 20, "label": "ORG"}],
        "relations": [
            {"head": 0, "child": 3, "label": "works_for",
             "head_span": {"start": 0, "end": 3, "token_start": 0, "token_end": 0, "label": "PER"},
             "child_span": {"start": 14, "end": 20, "token_start": 3, "token_end": 3, "label": "ORG"}},
            {"head": 3, "child": 5, "label": "based_in",
             "head_span": {"start": 14, "end": 20, "label": "ORG"},
             "child_span": {"start": 24, "end": 29, "label": "LOC"}},
        ],
        "answer": "accept",
    })
    assert fmt == PRODIGY
    assert mentions(ex) == [("Zoë", "PER"), ("Nestlé", "ORG"), ("Vevey", "LOC")]
    assert ex.relations == (Relation(0, 1, "works_for"), Relation(1, 2, "based_in"))


def test_prodigy_span_without_a_label_is_an_error_naming_the_example():
    with pytest.raises(SchemaError, match="example 'p1' looks like Prodigy"):
        as_schema({"id": "p1", "text": "Ann", "spans": [{"start": 0, "end": 3}]}, default_id="x")


@pytest.mark.parametrize("answer", ["reject", "ignore"])
def test_rejected_and_ignored_prodigy_answers_are_skipped(answer):
    found = as_schema({"text": "Ann", "spans": [{"start": 0, "end": 3, "label": "PER"}], "answer": answer},
                      default_id="x")
    assert found.skip == f"Prodigy answer {answer!r}"


# Hugging Face token classification ------------------------------------------------------------

def test_hugging_face_string_tags_in_english():
    ex, fmt = read({"id": "0", "tokens": ["EU", "rejects", "German", "call", "to", "boycott", "British", "lamb", "."],
                    "ner_tags": ["B-ORG", "O", "B-MISC", "O", "O", "O", "B-MISC", "O", "O"],
                    "pos_tags": [22, 42, 16, 21, 35, 37, 16, 21, 7]})
    assert fmt == "Hugging Face (tokens + ner_tags)"
    assert ex.text == "EU rejects German call to boycott British lamb ."
    assert mentions(ex) == [("EU", "ORG"), ("German", "MISC"), ("British", "MISC")]
    assert ex.extra["pos_tags"][0] == 22 and ex.extra["tokens"][1] == [3, 10]


def test_hugging_face_char_level_chinese_stays_chinese():
    tokens = list("1998年，张三在北京。")
    tags = ["O"] * 6 + ["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"]
    ex, _ = read({"tokens": tokens, "ner_tags": tags})
    assert ex.text == "1998年，张三在北京。"
    assert mentions(ex) == [("张三", "PER"), ("北京", "LOC")]


@pytest.mark.parametrize("tags", [
    ["I-PER", "I-PER", "O", "I-LOC"],  # IOB1
    ["B-PER", "E-PER", "O", "S-LOC"],  # BIOES
])
def test_hugging_face_iob1_and_bioes_tags_and_accents(tags):
    ex, fmt = read({"tokens": ["José", "Núñez", "in", "Zürich"], "tags": tags})
    assert fmt == "Hugging Face (tokens + tags)"
    assert mentions(ex) == [("José Núñez", "PER"), ("Zürich", "LOC")]


def test_hugging_face_text_is_used_when_it_is_the_tokens_joined():
    ex, _ = read({"text": "Ann 🎉 Lee", "tokens": ["Ann", "🎉", "Lee"], "ner_tags": ["B-PER", "O", "B-PER"]})
    assert mentions(ex) == [("Ann", "PER"), ("Lee", "PER")]
    with pytest.raises(SchemaError, match="cannot be placed"):
        as_schema({"text": "Ann, Lee", "tokens": ["Ann", "Lee"], "ner_tags": ["B-PER", "B-PER"]}, default_id="x")


def test_integer_ner_tags_are_a_clear_error_saying_how_to_map_them():
    with pytest.raises(SchemaError) as e:
        as_schema({"id": "7", "tokens": ["EU", "rejects"], "ner_tags": [3, 0]}, default_id="x")
    msg = str(e.value)
    assert "example '7'" in msg and "class ids" in msg and "dataset.features['ner_tags'].feature.names" in msg


def test_a_tag_no_scheme_knows_is_an_error_naming_the_example():
    with pytest.raises(SchemaError, match="example 'x' looks like Hugging Face.*X-PER"):
        as_schema({"tokens": ["Ann"], "ner_tags": ["X-PER"]}, default_id="x")


# our own schema, and ambiguity ----------------------------------------------------------------

def test_a_record_in_our_schema_is_not_touched_even_beside_foreign_keys():
    record = {"id": "a", "text": "Ann met Bob", "entities": [{"start": 0, "end": 3, "label": "PER"}],
              "relations": [], "label": [[8, 11, "PER"]], "spans": [{"start": 8, "end": 11, "label": "PER"}],
              "answer": "reject"}
    found = as_schema(record, default_id="x")
    assert found.data is record and found.format is None and found.skip is None
    ex = Example.from_dict(found.data)
    assert mentions(ex) == [("Ann", "PER")] and ex.extra["label"] == [[8, 11, "PER"]]


def test_an_empty_entities_beside_foreign_spans_is_an_error_not_a_silent_choice():
    with pytest.raises(SchemaError, match="example 'a' has an empty 'entities' and doccano"):
        as_schema({"id": "a", "text": "Ann", "entities": [], "label": [[0, 3, "PER"]]}, default_id="x")


def test_two_formats_in_one_record_is_an_error_naming_both():
    with pytest.raises(SchemaError, match="example 'b' looks like doccano .* and like Prodigy"):
        as_schema({"id": "b", "text": "Ann", "label": [[0, 3, "PER"]], "spans": [{"start": 0, "end": 3, "label": "PER"}]},
                  default_id="x")


# read_jsonl and the CLI -----------------------------------------------------------------------

def write_lines(path, records):
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records), encoding="utf-8")
    return path


DOCCANO_LINES = [
    {"id": 1, "text": "José Ortega vive en Zürich", "label": [[0, 11, "PER"], [20, 26, "LOC"]], "Comments": []},
    {"id": 2, "text": "张三在北京工作", "label": [[0, 2, "PER"], [3, 5, "LOC"]], "Comments": []},
    {"id": 3, "text": "🎉 Ann Lee", "label": [[2, 9, "PER"]], "Comments": []},
]


def test_read_jsonl_reads_a_doccano_file_and_says_so(tmp_path, caplog):
    path = write_lines(tmp_path / "doccano.jsonl", DOCCANO_LINES)
    with caplog.at_level(logging.INFO, logger="llmaaa.data.jsonl"):
        exs = read_jsonl(path)
    assert [mentions(ex) for ex in exs] == [[("José Ortega", "PER"), ("Zürich", "LOC")],
                                            [("张三", "PER"), ("北京", "LOC")], [("Ann Lee", "PER")]]
    assert f"read 3 lines of {path} as {DOCCANO}" in caplog.text
    # written back, it is our schema and reads back the same
    write_jsonl(exs, tmp_path / "ours.jsonl")
    assert read_jsonl(tmp_path / "ours.jsonl") == exs


def test_read_jsonl_skips_rejected_prodigy_answers_and_counts_them(tmp_path, caplog):
    span = [{"start": 0, "end": 4, "label": "PER"}]
    path = write_lines(tmp_path / "prodigy.jsonl", [
        {"text": "José", "spans": span, "answer": "accept"},
        {"text": "Zoë", "spans": [], "answer": "reject"},
        {"text": "Jürg", "spans": span, "answer": "ignore"},
        {"text": "Zoë", "spans": [], "answer": "reject"},
        {"text": "Jana", "spans": span},
    ])
    with caplog.at_level(logging.INFO, logger="llmaaa.data.jsonl"):
        exs = read_jsonl(path)
    assert [ex.text for ex in exs] == ["José", "Jana"] and [ex.id for ex in exs] == ["prodigy-0", "prodigy-1"]
    assert f"read 2 lines of {path} as {PRODIGY}" in caplog.text
    assert "skipped 3 lines" in caplog.text and "2 with Prodigy answer 'reject'" in caplog.text
    assert "1 with Prodigy answer 'ignore'" in caplog.text


def test_a_bad_foreign_line_names_file_and_line_or_is_skipped(tmp_path):
    path = write_lines(tmp_path / "mixed.jsonl", [DOCCANO_LINES[0], {"text": "ab", "label": [[0, 2]]}])
    with pytest.raises(JsonlError, match=r"mixed.jsonl:2: example 'mixed-1' looks like doccano"):
        read_jsonl(path)
    errors = []
    assert len(read_jsonl(path, strict=False, errors=errors)) == 1 and len(errors) == 1


def test_read_jsonl_reads_hugging_face_token_files(tmp_path):
    path = write_lines(tmp_path / "hf.jsonl", [
        {"id": "0", "tokens": ["Ann", "met", "Zoë"], "ner_tags": ["B-PER", "O", "B-PER"]},
        {"id": "1", "tokens": list("李明在上海"), "ner_tags": ["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]},
    ])
    exs = read_jsonl(path)
    assert [ex.text for ex in exs] == ["Ann met Zoë", "李明在上海"]
    assert [mentions(ex) for ex in exs] == [[("Ann", "PER"), ("Zoë", "PER")], [("李明", "PER"), ("上海", "LOC")]]


def test_cli_scores_a_doccano_gold_file_against_our_predictions(tmp_path):
    gold = write_lines(tmp_path / "doccano.jsonl", DOCCANO_LINES)
    # right: José Ortega, 张三, 北京, Ann Lee; wrong: Zürich as ORG (1 FP + 1 FN)
    pred = [Example("1", DOCCANO_LINES[0]["text"], (Span(0, 11, "PER"), Span(20, 26, "ORG"))),
            Example("2", "张三在北京工作", (Span(0, 2, "PER"), Span(3, 5, "LOC"))),
            Example("3", "🎉 Ann Lee", (Span(2, 9, "PER"),))]
    write_jsonl(pred, tmp_path / "ours.jsonl")
    exe = ROOT / ".venv" / "bin" / "python"
    r = subprocess.run([str(exe if exe.exists() else sys.executable), "-m", "llmaaa", "evaluate", "--task", "ner",
                        "--gold", str(gold), "--pred", str(tmp_path / "ours.jsonl")],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["tp"], out["fp"], out["fn"]) == (4, 1, 1)
    assert f"as {DOCCANO}" in r.stderr


# found by reviewing user-brought files (each was read with no entities, or the wrong relation, silently) --------

def test_label_studio_json_min_regions_are_entities():
    from llmaaa.data.formats import LABEL_STUDIO_MIN

    ex, fmt = read({"id": 1, "text": "John lives in Paris",
                    "label": [{"start": 0, "end": 4, "text": "John", "labels": ["PER"]},
                              {"start": 14, "end": 19, "text": "Paris", "labels": ["LOC"]}]})
    assert fmt == LABEL_STUDIO_MIN and mentions(ex) == [("John", "PER"), ("Paris", "LOC")]
    with pytest.raises(SchemaError, match="one label"):
        read({"text": "John", "label": [{"start": 0, "end": 4, "labels": ["PER", "ORG"]}]})


def test_tokens_and_bio_tags_beside_a_text_are_read_and_topic_tags_are_not():
    ex, _ = read({"text": "John Smith flew", "tokens": ["John", "Smith", "flew"], "tags": ["B-PER", "I-PER", "O"]})
    assert mentions(ex) == [("John Smith", "PER")]
    ex, fmt = read({"text": "a post", "tokens": ["a", "post"], "tags": ["sports", "news"]})
    assert fmt is None and ex.entities == () and ex.extra["tags"] == ["sports", "news"]


def test_chinese_and_japanese_word_tokens_are_joined_without_spaces():
    ex, _ = read({"tokens": ["我", "在", "北京", "2008", "年"], "ner_tags": ["O", "O", "B-LOC", "O", "O"]})
    assert ex.text == "我在北京2008年" and mentions(ex) == [("北京", "LOC")]
    ex, _ = read({"tokens": ["東京", "に", "住む"], "ner_tags": ["B-LOC", "O", "O"]})
    assert ex.text == "東京に住む"


@pytest.mark.parametrize("ids,head,tail", [(["T1", "T2", "T3"], "T1", "T2"), ([1, 2, 3], 1, 2)])
def test_relations_that_name_entity_ids_join_those_entities(ids, head, tail):
    # before: 1 and 2 were read as list positions, so the relation joined IBM and NY instead of John and IBM
    text = "John works at IBM in NY"
    spans = [(0, 4, "PER"), (14, 17, "ORG"), (21, 23, "LOC")]
    ex = Example.from_dict({"id": "x", "text": text,
                            "entities": [{"id": i, "start": s, "end": e, "label": l} for i, (s, e, l) in zip(ids, spans)],
                            "relations": [{"head": head, "tail": tail, "label": "works_for"}]})
    assert [(ex.mention(ex.entities[r.head]), ex.mention(ex.entities[r.tail])) for r in ex.relations] == [("John", "IBM")]


def test_a_json_array_file_says_how_to_convert_it(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 1, "data": {"text": "a"}, "annotations": []}], indent=2), encoding="utf-8")
    with pytest.raises(JsonlError, match=r"one JSON array, not JSON Lines.*ml_backend convert"):
        read_jsonl(path)


@pytest.mark.parametrize("record,unit", [
    ({"text": "Nice 😀 trip to Paris and Rome", "label": [[16, 21, "LOC"], [26, 30, "LOC"]]}, "UTF-16 units"),
    ({"text": "Café René in Zürich", "entities": [{"start": 15, "end": 22, "label": "LOC"}]}, "UTF-8 bytes"),
])
def test_offsets_counted_in_utf16_or_bytes_without_mention_text_are_an_error(record, unit):
    # before: "aris " and "ome" labelled LOC with no warning (the mention text that would show it was absent)
    with pytest.raises(SchemaError, match=f"look counted in {unit}"):
        read(record)


@pytest.mark.parametrize("text,name", [("今天😀😀北京天气好", "北京"), ("刚到😂😂上海啦", "上海"),
                                       ("김철수는😀서울에 산다", "서울"), ("東京に😀住む山田さん", "山田")])
def test_code_point_offsets_inside_chinese_korean_or_japanese_after_an_emoji_are_kept(text, name):
    """Before, a span inside running CJK text counted as cutting a word, and these were refused as
    "counted in UTF-16 units": the backend's own dataset.jsonl export of such a task could not be read back."""
    start = text.index(name)
    ex, _ = read({"text": text, "label": [[start, start + len(name), "LOC"]]})
    assert mentions(ex) == [(name, "LOC")]


def test_utf16_offsets_in_chinese_text_are_still_refused_when_they_cut_a_latin_word():
    with pytest.raises(SchemaError, match="look counted in UTF-16 units"):
        read({"text": "😀我在Paris住", "label": [[4, 9, "LOC"]]})


def test_clean_code_point_offsets_after_an_emoji_and_a_sloppy_span_are_kept():
    ex, _ = read({"text": "Nice 😀 trip to Paris", "label": [[15, 20, "LOC"]]})
    assert mentions(ex) == [("Paris", "LOC")]
    ex, _ = read({"text": "Zoë met Anna ", "label": [[8, 13, "PER"]]})  # a trailing space, not another unit
    assert mentions(ex) == [("Anna ", "PER")]


# found by an adversarial review of user data import -------------------------------------------

def test_relation_ends_are_read_one_way_for_the_whole_example():
    """Before, each relation was read on its own: with entity ids 1, 2, 3, ``{head: 0, tail: 2}`` was read as
    indexes and ``{head: 1, tail: 2}`` as ids, so the second joined Anna and Bob instead of Bob and Oslo."""
    entities = [{"id": 1, "start": 0, "end": 4, "label": "PER"}, {"id": 2, "start": 9, "end": 12, "label": "PER"},
                {"id": 3, "start": 16, "end": 20, "label": "LOC"}]

    def joined(relations):
        ex = Example.from_dict({"id": "r1", "text": "Anna met Bob in Oslo", "entities": entities,
                                "relations": relations})
        return [(ex.mention(ex.entities[r.head]), ex.mention(ex.entities[r.tail])) for r in ex.relations]

    as_indexes = [{"head": 0, "tail": 2, "label": "lives_in"}, {"head": 1, "tail": 2, "label": "lives_in"}]
    assert joined(as_indexes) == [("Anna", "Oslo"), ("Bob", "Oslo")]
    # every end an id (and also a valid index): ids, as the README documents
    assert joined([{"head": 1, "tail": 3, "label": "lives_in"}, {"head": 2, "tail": 1, "label": "knows"}]) == [
        ("Anna", "Oslo"), ("Bob", "Anna")]
    with pytest.raises(SchemaError, match=r"example 'r1': relation .*'head': 3, 'tail': 9.* names neither"):
        joined([{"head": 0, "tail": 1, "label": "knows"}, {"head": 3, "tail": 9, "label": "lives_in"}])
    with pytest.raises(SchemaError, match=r"example 'r1': relation .*'T1'.* entity ids but relation .* indexes"):
        Example.from_dict({"id": "r1", "text": "Anna met Bob in Oslo",
                           "entities": [{**e, "id": f"T{e['id']}"} for e in entities],
                           "relations": [{"head": "T1", "tail": "T3", "label": "lives_in"},
                                         {"head": 1, "tail": 2, "label": "lives_in"}]})


def test_region_text_with_collapsed_whitespace_matches_its_offsets():
    """Before, Label Studio's region text "Berlin, Germany" (whitespace runs collapsed) for offsets over
    "Berlin,  Germany" failed the whole file as a mention mismatch."""
    ex, _ = read({"id": 1, "text": "Berlin,  Germany is big",
                  "label": [{"start": 0, "end": 16, "text": "Berlin, Germany", "labels": ["LOC"]}]})
    assert mentions(ex) == [("Berlin,  Germany", "LOC")]
    ex, _ = read({"text": "New\nYork", "entities": [{"start": 0, "end": 8, "text": " New York ", "label": "LOC"}]})
    assert mentions(ex) == [("New\nYork", "LOC")]
    with pytest.raises(SchemaError, match="has text 'Berlin,Germany'"):
        read({"text": "Berlin,  Germany", "entities": [{"start": 0, "end": 16, "text": "Berlin,Germany", "label": "LOC"}]})


@pytest.mark.parametrize("record", [
    {"text": "Anna lives in New York", "tokens": ["Anna", "lives", "in", "New", "York"],
     "tags": ["PER", "O", "O", "LOC", "LOC"]},
    {"tokens": ["Anna", "lives", "in", "New", "York"], "ner_tags": ["PER", "O", "O", "LOC", "LOC"]},
    {"text": "Anna lives in New York", "tokens": ["Anna", "lives", "in", "New", "York"],
     "tags": ["B-PER", "X", "-", "B-LOC", "I-LOC"]},
])
def test_hugging_face_io_tags_and_x_are_read(record):
    """Before, IO tags (no B-/I- prefix) or an ``X`` beside a text gave no entities and no log line, and
    without a text the same tags were an error."""
    ex, fmt = read(record)
    assert fmt.startswith("Hugging Face")
    assert mentions(ex) == [("Anna", "PER"), ("New York", "LOC")]


def test_hugging_face_tags_mixing_bio_and_io_are_an_error_naming_the_record():
    with pytest.raises(SchemaError, match=r"example 'm' looks like Hugging Face.*mixes prefixed tags \('B-PER'\)"):
        as_schema({"id": "m", "text": "Anna in Oslo", "tokens": ["Anna", "in", "Oslo"], "tags": ["B-PER", "O", "LOC"]},
                  default_id="x")


@pytest.mark.parametrize("record,name", [
    ({"id": "hf", "tokens": ["Anna", "ran"], "ner_tags": ["B-PER", "O"], "text": "Anna ran", "entities": []},
     "Hugging Face"),
    ({"id": "hf", "tokens": ["Anna", "ran"], "tags": ["PER", "O"], "text": "Anna ran", "entities": []},
     "Hugging Face"),
    ({"id": "hf", "text": "Anna ran", "entities": [], "label": [{"start": 0, "end": 4, "text": "Anna", "labels": ["PER"]}]},
     "Label Studio JSON-MIN"),
])
def test_an_empty_entities_beside_hugging_face_tags_or_json_min_regions_is_an_error(record, name):
    """Before, these were read with no entities, silently, while doccano labels beside an empty 'entities'
    were refused."""
    with pytest.raises(SchemaError, match=f"example 'hf' has an empty 'entities' and {name}"):
        as_schema(record, default_id="x")


def test_empty_entities_beside_all_outside_tags_agree_and_are_read():
    found = as_schema({"id": "o", "tokens": ["ran"], "ner_tags": ["O"], "text": "ran", "entities": []}, default_id="x")
    assert Example.from_dict(found.data).entities == ()


def test_labels_are_stripped_and_an_empty_label_is_an_error_naming_the_example(tmp_path):
    """Before, "PER " was a label of its own and "" was accepted; both broke the CoNLL round trip
    ("B-PER " / "B-" written, refused when read back)."""
    ex = Example.from_dict({"id": "a", "text": "Anna lives in Oslo",
                            "entities": [{"start": 0, "end": 4, "label": "PER "}, {"start": 14, "end": 18, "label": "\tLOC"}],
                            "relations": [{"head": 0, "tail": 1, "label": " lives_in "}]})
    assert [s.label for s in ex.entities] == ["PER", "LOC"] and ex.relations[0].label == "lives_in"
    from llmaaa.data.conll_writer import write_conll
    from llmaaa.data.readers import read_conll

    write_conll([ex], tmp_path / "a.conll")
    assert [mentions(back) for back in read_conll(tmp_path / "a.conll")] == [[("Anna", "PER"), ("Oslo", "LOC")]]
    with pytest.raises(SchemaError, match=r"example 'b': entity .*'label': ''.* has an empty 'label'"):
        Example.from_dict({"id": "b", "text": "Bob", "entities": [{"start": 0, "end": 3, "label": ""}]})
    with pytest.raises(SchemaError, match=r"example 'c': relation .* has an empty 'label'"):
        Example.from_dict({"id": "c", "text": "Bob Ann", "entities": [{"start": 0, "end": 3, "label": "PER"},
                                                                    {"start": 4, "end": 7, "label": "PER"}],
                           "relations": [{"head": 0, "tail": 1, "label": "  "}]})


# found by a review of the Hugging Face IO tags ------------------------------------------------

@pytest.mark.parametrize("tags", [["PROPN", "VERB", "ADV"], ["NNP", "VBZ", "RB"], ["PROPN", "VERB", "X"]])
def test_part_of_speech_tags_without_a_text_are_an_error_naming_the_record(tags):
    """With IO tags read, a POS dataset's ``tags`` (UD upos, Penn Treebank xpos) became entities: "Anna" a
    PROPN, "runs" a VERB. Before IO tags, they were an error naming the record; they are again."""
    with pytest.raises(SchemaError, match=r"example 'p' looks like Hugging Face.*'tags' holds part-of-speech tags"):
        as_schema({"id": "p", "tokens": ["Anna", "runs", "fast"], "tags": tags}, default_id="x")


@pytest.mark.parametrize("tags", [["PROPN", "VERB", "X"], ["NNP", "VBZ", "RB"], ["X", "X", "X"]])
def test_part_of_speech_tags_beside_a_text_are_no_entities(tags):
    """One UPOS ``X`` counted as an outside tag, so these were read as IO entities "PROPN" and "VERB"; only
    ``O`` makes untyped tags IO now, and a POS tag set is kept as it was before (no entities, in extra)."""
    record = {"id": 2, "text": "Anna runs lol", "tokens": ["Anna", "runs", "lol"], "tags": tags}
    ex, fmt = read(record)
    assert ex.entities == ()
    if set(tags) != {"X"}:  # all X: no tag a NER set could not use, read as tags all outside
        assert fmt is None and ex.extra["tags"] == tags
    ex, _ = read({**record, "entities": []})  # an empty 'entities' beside them is no second answer
    assert ex.entities == ()


@pytest.mark.parametrize("tags,expected", [(["NUM", "O"], [("12", "NUM")]), (["NUM", "X"], [("12", "NUM")])])
def test_entity_labels_that_are_also_pos_tags_are_read_as_entities(tags, expected):
    """A first version of the POS check refused ``ner_tags ["NUM"]`` as part-of-speech tags."""
    ex, fmt = read({"id": 3, "tokens": ["12", "cats"], "ner_tags": tags})
    assert fmt.startswith("Hugging Face") and mentions(ex) == expected


def test_io_tags_beside_a_text_still_need_an_o_and_prefixed_tags_keep_x_as_outside():
    ex, fmt = read({"text": "Anna runs", "tokens": ["Anna", "runs"], "tags": ["PER", "O"]})
    assert fmt.startswith("Hugging Face") and mentions(ex) == [("Anna", "PER")]
    ex, fmt = read({"text": "Anna runs", "tokens": ["Anna", "runs"], "tags": ["PER", "X"]})
    assert fmt is None and ex.entities == ()
    ex, _ = read({"text": "Anna runs", "tokens": ["Anna", "runs"], "tags": ["B-PER", "X"]})
    assert mentions(ex) == [("Anna", "PER")]
