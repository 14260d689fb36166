"""TACRED, TACREV and Re-TACRED records (the paper's RE data) read as one subject/object pair each."""

import json

import pytest
from openai_stub import ScriptedOpenAI

from llmaaa.data.formats import TACRED, as_schema
from llmaaa.data.jsonl import JsonlError, read_jsonl, write_jsonl
from llmaaa.data.pairs import candidate_pairs
from llmaaa.data.readers import DatasetNotFound, read_dataset
from llmaaa.data.schema import Example, LabelSet, SchemaError


def record(**over):
    """Re-TACRED's shape: 0-based, end-inclusive token indexes; CoreNLP's escapes in the tokens."""
    rec = {"id": "e7798fb926b9403cfcd2", "docid": "APW_ENG_20101103.0539", "relation": "per:city_of_birth",
           "token": ["Anna", "Smith", "-LRB-", "born", "in", "Zürich", "-RRB-", "said", "``", "hi", "''", "."],
           "subj_start": 0, "subj_end": 1, "obj_start": 5, "obj_end": 5, "subj_type": "PERSON", "obj_type": "CITY",
           "stanford_pos": ["NNP", "NNP", "-LRB-", "VBN", "IN", "NNP", "-RRB-", "VBD", "``", "UH", "''", "."]}
    return {**rec, **over}


def read(rec):
    found = as_schema(rec, default_id="line-0")
    return Example.from_dict(found.data, default_id="line-0"), found.format


def spans(ex):
    return [(s.start, s.end, s.label, ex.mention(s)) for s in ex.entities]


def relations(ex):
    return [(r.head, r.tail, r.label) for r in ex.relations]


def test_a_record_is_its_text_with_the_subject_and_object_and_their_relation_for_that_pair_only():
    ex, fmt = read(record())
    assert fmt == TACRED and ex.id == "e7798fb926b9403cfcd2"
    assert ex.text == 'Anna Smith ( born in Zürich ) said " hi " .'  # escapes undone, tokens joined by spaces
    assert spans(ex) == [(0, 10, "PERSON", "Anna Smith"), (21, 27, "CITY", "Zürich")]
    assert relations(ex) == [(0, 1, "per:city_of_birth")]
    assert ex.extra["pairs"] == [[0, 1]] and candidate_pairs(ex) == [(0, 1)]  # not (1, 0): only the pair asked
    assert ex.extra["tokens"] == [[0, 4], [5, 10], [11, 12], [13, 17], [18, 20], [21, 27], [28, 29], [30, 34],
                                  [35, 36], [37, 39], [40, 41], [42, 43]]
    # the record's other columns stay; the ones made into text, entities and relations do not
    assert set(ex.extra) == {"docid", "stanford_pos", "pairs", "tokens"}
    assert ex.extra["docid"] == "APW_ENG_20101103.0539"


def test_every_ptb_escape_is_its_character_and_its_offsets_select_it():
    escapes = ["-LRB-", "-RRB-", "-LSB-", "-RSB-", "-LCB-", "-RCB-", "``", "''"]
    ex, _ = read(record(token=["Rex", *escapes, "IBM"], subj_start=0, subj_end=0, obj_start=9, obj_end=9))
    assert ex.text == 'Rex ( ) [ ] { } " " IBM'
    assert [ex.text[s:e] for s, e in ex.extra["tokens"]] == ["Rex", "(", ")", "[", "]", "{", "}", '"', '"', "IBM"]
    # an escape inside an entity is undone there too; a token that merely contains one is left alone
    ex, _ = read(record(token=["Sony", "-LRB-", "Japan", "-RRB-", "hired", "a-LRB-b"], subj_start=0, subj_end=3,
                        obj_start=5, obj_end=5))
    assert spans(ex) == [(0, 14, "PERSON", "Sony ( Japan )"), (21, 28, "CITY", "a-LRB-b")]


@pytest.mark.parametrize("label", ["no_relation", "NA", "None", "n/a"])
def test_a_no_relation_record_is_its_pair_asked_with_no_relation(label):
    ex, fmt = read(record(relation=label))
    assert fmt == TACRED and ex.relations == () and ex.extra["pairs"] == [[0, 1]]
    assert [s.label for s in ex.entities] == ["PERSON", "CITY"]  # the pair is still there to be labeled


def test_other_is_a_relation_not_a_no_relation_label():
    """SemEval-2010's "Other" is one of its classes, scored as such; only NA spellings mean no relation."""
    ex, _ = read(record(relation="Other"))
    assert relations(ex) == [(0, 1, "Other")]


def test_an_object_before_the_subject_keeps_the_subject_as_the_head():
    ex, _ = read(record(id="r2", relation="org:top_members/employees",
                        token=["Tim", "Cook", ",", "chief", "of", "Apple", ",", "spoke", "."],
                        subj_start=5, subj_end=5, obj_start=0, obj_end=1, subj_type="ORGANIZATION", obj_type="PERSON"))
    assert ex.text == "Tim Cook , chief of Apple , spoke ."
    assert spans(ex) == [(20, 25, "ORGANIZATION", "Apple"), (0, 8, "PERSON", "Tim Cook")]
    assert relations(ex) == [(0, 1, "org:top_members/employees")] and ex.extra["pairs"] == [[0, 1]]


def test_a_subject_and_object_on_the_same_tokens_are_two_entities_joined_by_the_relation():
    ex, _ = read(record(relation="per:alternate_names", obj_start=0, obj_end=1, obj_type="PERSON"))
    assert spans(ex) == [(0, 10, "PERSON", "Anna Smith"), (0, 10, "PERSON", "Anna Smith")]
    assert relations(ex) == [(0, 1, "per:alternate_names")]
    ex, _ = read(record(relation="per:alternate_names", obj_start=1, obj_end=3, obj_type="PERSON"))  # overlapping
    assert spans(ex) == [(0, 10, "PERSON", "Anna Smith"), (5, 17, "PERSON", "Smith ( born")]


def test_unicode_tokens_keep_exact_code_point_offsets():
    ex, _ = read(record(token=["Zoë", "Ünal", "moved", "from", "Zürich", "to", "😀", "Köln", "."],
                        subj_start=0, subj_end=1, obj_start=7, obj_end=7, relation="per:cities_of_residence"))
    assert ex.text == "Zoë Ünal moved from Zürich to 😀 Köln ."
    assert spans(ex) == [(0, 8, "PERSON", "Zoë Ünal"), (32, 36, "CITY", "Köln")]
    # word tokens of Chinese are joined without spaces, as every token file of Chinese is
    ex, _ = read(record(token=["张三", "出生", "于", "北京", "。"], subj_start=0, subj_end=0, obj_start=3, obj_end=3))
    assert ex.text == "张三出生于北京。"
    assert spans(ex) == [(0, 2, "PERSON", "张三"), (5, 7, "CITY", "北京")]


@pytest.mark.parametrize("over, message", [
    ({"obj_end": 12}, r"its obj tokens \[5, 12\] are not within its 12 tokens \(0-based, end inclusive: "
                      r"0 <= obj_start <= obj_end <= 11\)"),
    ({"subj_start": 2, "subj_end": 1}, r"its subj tokens \[2, 1\] are not within"),
    ({"subj_start": -1}, r"its subj tokens \[-1, 1\] are not within"),
    ({"obj_start": "5"}, r"its obj tokens \['5', 5\] are not within"),
    ({"obj_end": True}, r"its obj tokens \[5, True\] are not within"),
    ({"token": "Anna Smith was born"}, r"'token' is not a list of strings"),
    ({"subj_type": ""}, r"'subj_type' is '', not a label"),
    ({"relation": ""}, r"'relation' is '', not a label"),
    ({"text": "Anna Smith (born in Zürich) said \"hi\"."}, r"its 'text' is not its tokens joined"),
    ({"relations": [{"head": 0, "tail": 1, "label": "x"}]}, r"it has 'relations', which TACRED files do not have"),
])
def test_a_half_there_record_is_an_error_naming_the_example_and_what_is_wrong(over, message):
    with pytest.raises(SchemaError, match=r"example 'e7798fb926b9403cfcd2' looks like TACRED .*, but " + message):
        read(record(**over))


def test_a_record_missing_a_tacred_key_names_the_missing_ones():
    rec = record()
    del rec["obj_end"], rec["obj_type"]
    with pytest.raises(SchemaError, match=r"looks like TACRED .*, but it has no 'obj_end', 'obj_type'; a TACRED "
                                          r"record has all of token, subj_start, subj_end, obj_start"):
        read(rec)


@pytest.mark.parametrize("over", [{"relation": None}, {}])
def test_a_record_without_a_relation_is_an_unlabeled_pair_to_ask_not_a_no_relation(over):
    """A pool in TACRED's shape, to be labeled: refused before; read as no_relation it would be wrong gold."""
    rec = {**record(), **over}
    if not over:
        del rec["relation"]
    ex, _ = read(rec)
    assert ex.relations == () and ex.unlabeled_pairs == {(0, 1)} and ex.extra["pairs"] == [[0, 1]]
    assert [s.label for s in ex.entities] == ["PERSON", "CITY"]


def test_one_tacred_key_alone_is_no_tacred_record():
    ex, fmt = read({"id": "a", "text": "Anna", "token": ["Anna"], "entities": [{"start": 0, "end": 4, "label": "P"}]})
    assert fmt is None and ex.extra == {"token": ["Anna"]}


def test_an_empty_entities_beside_tacred_spans_is_an_error_not_a_record_without_labels():
    with pytest.raises(SchemaError, match="empty 'entities' and TACRED .* labels in 'token'"):
        read(record(text="x", entities=[]))


# whole files ---------------------------------------------------------------------------------

RECORDS = [
    record(),
    record(id="r2", relation="no_relation", token=["北京", "is", "far", "from", "Zürich", "."], subj_start=0,
           subj_end=0, obj_start=4, obj_end=4, subj_type="CITY", obj_type="CITY"),
    record(id="r3", relation="org:top_members/employees", token=["Tim", "Cook", "leads", "Apple", "."],
           subj_start=3, subj_end=3, obj_start=0, obj_end=1, subj_type="ORGANIZATION", obj_type="PERSON"),
]


def summary(examples):
    return [(ex.id, ex.text, spans(ex), relations(ex), ex.extra["pairs"]) for ex in examples]


EXPECTED = [
    ("e7798fb926b9403cfcd2", 'Anna Smith ( born in Zürich ) said " hi " .',
     [(0, 10, "PERSON", "Anna Smith"), (21, 27, "CITY", "Zürich")], [(0, 1, "per:city_of_birth")], [[0, 1]]),
    # a CJK word beside a Latin one is joined without a space, as every token file with such words is
    ("r2", "北京is far from Zürich .", [(0, 2, "CITY", "北京"), (14, 20, "CITY", "Zürich")], [], [[0, 1]]),
    ("r3", "Tim Cook leads Apple .", [(15, 20, "ORGANIZATION", "Apple"), (0, 8, "PERSON", "Tim Cook")],
     [(0, 1, "org:top_members/employees")], [[0, 1]]),
]


def test_a_tacred_json_array_file_is_read_by_the_public_reader(tmp_path, caplog):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(RECORDS, indent=2, ensure_ascii=False), encoding="utf-8")  # as TACRED ships it
    with caplog.at_level("INFO", logger="llmaaa.data.jsonl"):
        assert summary(read_jsonl(path)) == EXPECTED
    assert f"3 records of {path} as TACRED" in caplog.text


def test_a_tacred_json_lines_file_is_read_by_the_public_reader(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in RECORDS), encoding="utf-8")
    assert summary(read_jsonl(path)) == EXPECTED


def test_a_bad_record_of_an_array_is_named_by_its_place_and_id(tmp_path):
    path = tmp_path / "dev.json"
    path.write_text(json.dumps([RECORDS[0], record(id="bad", obj_end=40)]), encoding="utf-8")
    with pytest.raises(JsonlError, match=r"dev.json: record 2: example 'bad' looks like TACRED .*, but its obj "
                                         r"tokens \[5, 40\] are not within its 12 tokens"):
        read_jsonl(path)
    errors: list[str] = []
    assert [ex.id for ex in read_jsonl(path, strict=False, errors=errors)] == ["e7798fb926b9403cfcd2"]
    assert len(errors) == 1 and "record 2: example 'bad'" in errors[0]
    path.write_text(json.dumps([RECORDS[0], RECORDS[0]]), encoding="utf-8")
    with pytest.raises(JsonlError, match=r"record 2: duplicate id 'e7798fb926b9403cfcd2' \(also on record 1;"):
        read_jsonl(path)


def test_a_broken_array_says_where_it_stops_being_json(tmp_path):
    path = tmp_path / "test.json"
    path.write_text(json.dumps(RECORDS, indent=1)[:-40], encoding="utf-8")  # cut short, as a failed download is
    with pytest.raises(JsonlError, match=r"test.json:\d+: the file starts a JSON array but is not valid JSON"):
        read_jsonl(path)


def test_other_json_arrays_still_get_the_advice_to_convert_them(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": 1, "text": "Anna flew .", "entities": []}]), encoding="utf-8")
    with pytest.raises(JsonlError, match=r"one JSON array, not JSON Lines.*ml_backend convert"):
        read_jsonl(path)


def test_read_examples_round_trip_through_our_jsonl_unchanged(tmp_path):
    path = tmp_path / "train.json"
    path.write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    examples = read_jsonl(path)
    write_jsonl(examples, tmp_path / "ours.jsonl")
    assert read_jsonl(tmp_path / "ours.jsonl") == examples  # pairs, tokens and labels with ':' and '/' kept


def test_a_folder_of_tacred_json_splits_is_a_dataset_with_its_relation_labels(tmp_path):
    folder = tmp_path / "retacred"
    folder.mkdir()
    (folder / "train.json").write_text(json.dumps(RECORDS, ensure_ascii=False), encoding="utf-8")
    (folder / "dev.json").write_text(json.dumps(RECORDS[:2], ensure_ascii=False), encoding="utf-8")
    train, dev = read_dataset(str(folder), "train"), read_dataset(str(folder), "dev")
    assert summary(train) == EXPECTED and summary(dev) == EXPECTED[:2]
    labels = LabelSet.from_examples([*train, *dev])
    assert labels.relation_labels == ("org:top_members/employees", "per:city_of_birth")
    assert labels.relation_classes == ("no_relation", "org:top_members/employees", "per:city_of_birth")
    assert labels.entity_labels == ("CITY", "ORGANIZATION", "PERSON")
    with pytest.raises(DatasetNotFound, match="test split not found in .*retacred: expected test.jsonl or test.json"):
        read_dataset(str(folder), "test")


# the LLM teacher on a TACRED pair ------------------------------------------------------------

@pytest.mark.parametrize("answer, label", [
    ("per:city_of_birth", "per:city_of_birth"),
    ('{"relation": "org:top_members/employees"}', "org:top_members/employees"),
    ("Answer: org:top_members/employees (he leads it)", "org:top_members/employees"),
    ("no_relation", None),
])
def test_the_llm_teacher_reads_tacred_labels_with_colons_and_slashes_for_the_given_pair_only(answer, label):
    from llmaaa.annotate.client import LLMConfig
    from llmaaa.annotate.teacher import LLMTeacher

    ex, _ = read(RECORDS[2])  # Apple (subject) before Tim Cook (object) in the entities, after him in the text
    labels = LabelSet(("ORGANIZATION", "PERSON"), ("org:top_members/employees", "per:city_of_birth"))
    with ScriptedOpenAI([answer]) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="stub", backoff_s=0.01, timeout_s=5), labels, task="re")
        [out] = t.annotate([ex.with_labels(relations=())])
        asked = [m["content"] for m in llm.requests[0]["messages"] if m["role"] == "user"][-1]
    assert len(llm.requests) == 1 and "Head: Apple" in asked and "Tail: Tim Cook" in asked  # (1, 0) is not asked
    assert not out.failed
    assert relations(out) == ([(0, 1, label)] if label else [])
