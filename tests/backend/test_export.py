"""What a user takes away from ``GET /export`` and ``python -m ml_backend export``: every file readable and consistent."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from llmaaa.data.jsonl import read_jsonl
from llmaaa.data.readers import read_conll
from llmaaa.training.card import render_card
from ml_backend.__main__ import main
from ml_backend.app import create_app
from ml_backend.config import BackendConfig
from ml_backend.state import ProjectState

XML = ('<View><Labels name="label" toName="text"><Label value="Person Name" alias="PER"/><Label value="LOC"/></Labels>'
       '<Text name="text" value="$text"/><Relations><Relation value="lives in"/></Relations></View>')
TEXTS = {1: "José  visited\tZürich\n\nyesterday 🎉 ✈️ ok", 2: "only llm: Anna in Oslo", 3: "<b>failed</b>"}
CJK = {1: "王小明在北京工作。", 2: "李雷住在上海"}


def region(text: str, rid: str, start: int, end: int, label: str) -> dict:
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": text[start:end], "labels": [label]}}


def new_project(root, pid: int, texts: dict[int, str], xml: str = XML) -> ProjectState:
    st = ProjectState(root, pid)
    st.set_meta("label_config", xml)
    st.upsert_tasks([(i, t, {"text": t}) for i, t in texts.items()])
    return st


def export(root, pid: int, out) -> int:
    return main(["export", "--project", str(pid), "--output", str(out), "--model-dir", str(root)])


@pytest.fixture
def mixed(tmp_path):
    """A human label (alias in the result), an LLM label with a relation, and a failed LLM label."""
    st = new_project(tmp_path, 7, TEXTS)
    t = TEXTS[1]
    st.record_annotation(101, 1, [region(t, "a", 0, 4, "PER"), region(t, "b", 14, 20, "LOC")])
    st.save_llm_labels([
        {"id": "2", "text": TEXTS[2], "entities": [{"start": 10, "end": 14, "label": "Person Name"},
                                                    {"start": 18, "end": 22, "label": "LOC"}],
         "relations": [{"head": 0, "tail": 1, "label": "lives in"}], "annotation": {"model": "gpt-x"}},
        {"id": "3", "text": TEXTS[3], "entities": [], "annotation": {"model": "gpt-x", "error": "invalid JSON"}}], 1)
    st.close()
    return tmp_path


def test_dataset_files_read_back_exactly(mixed, tmp_path):
    from label_studio_sdk.label_interface import LabelInterface

    out = tmp_path / "out"
    assert export(mixed, 7, out) == 0
    tasks = json.loads((out / "label_studio.json").read_text(encoding="utf-8"))
    assert [t["id"] for t in tasks] == [1, 2, 3] and tasks[2]["predictions"] == []  # the failed label is not a prediction
    pred = tasks[1]["predictions"][0]
    assert pred["model_version"] == "llm:gpt-x" and LabelInterface(XML).validate_prediction(pred, return_errors=True) == []
    assert [r["value"]["labels"] for r in pred["result"] if r["type"] == "labels"] == [["PER"], ["LOC"]]  # the alias
    ids = [r["id"] for r in pred["result"] if "id" in r]
    assert len(set(ids)) == 2 and [(r["from_id"], r["to_id"]) for r in pred["result"] if r["type"] == "relation"] == [
        (ids[0], ids[1])]

    examples = read_jsonl(out / "dataset.jsonl")
    assert [(e.id, e.extra["source"]) for e in examples] == [("1", "human"), ("2", "llm")]
    assert examples[0].text == TEXTS[1]
    assert [(examples[0].text[s.start:s.end], s.label) for s in examples[0].entities] == [("José", "Person Name"),
                                                                                      ("Zürich", "LOC")]
    assert [(r.head, r.tail, r.label) for r in examples[1].relations] == [(0, 1, "lives in")]


def test_conll_keeps_a_label_with_a_space(mixed, tmp_path):
    """``B-Person Name`` after a space read back as the tag ``Name`` (a FormatError): the column separator is a tab."""
    out = tmp_path / "out"
    assert export(mixed, 7, out) == 0
    lines = (out / "dataset.conll").read_text(encoding="utf-8").splitlines()
    assert lines[:3] == ["José\tB-Person Name", "visited\tO", "Zürich\tB-LOC"]
    back = read_conll(out / "dataset.conll")
    assert [[(e.text[s.start:s.end], s.label) for s in e.entities] for e in back] == [
        [("José", "Person Name"), ("Zürich", "LOC")], [("Anna", "Person Name"), ("Oslo", "LOC")]]
    assert back[0].text == "José visited Zürich yesterday 🎉 ✈\ufe0f ok"  # CoNLL keeps tokens, not the spacing


def test_conll_of_chinese_reads_back_with_exact_offsets(tmp_path):
    st = new_project(tmp_path, 8, CJK)
    st.record_annotation(1, 1, [region(CJK[1], "a", 0, 3, "PER"), region(CJK[1], "b", 4, 6, "LOC")])
    st.record_annotation(2, 2, [region(CJK[2], "a", 0, 2, "PER"), region(CJK[2], "b", 4, 6, "LOC")])
    st.close()
    assert export(tmp_path, 8, tmp_path / "out") == 0
    back = read_conll(tmp_path / "out" / "dataset.conll", token_sep="")
    orig = read_jsonl(tmp_path / "out" / "dataset.jsonl")
    assert [e.text for e in back] == [e.text for e in orig] == [CJK[1], CJK[2]]
    assert [e.entities for e in back] == [e.entities for e in orig]


def test_label_studio_json_keeps_the_task_data(tmp_path):
    """Fields beyond the text (a document id, a relations-only project's given ``entities``) were dropped."""
    st = ProjectState(tmp_path, 9)
    st.set_meta("label_config", XML)
    data = {"text": "Anna in Oslo", "doc_id": "news-17", "entities": [{"start": 0, "end": 4, "label": "Person Name"}]}
    st.upsert_tasks([(1, data["text"], data)])
    st.close()
    assert export(tmp_path, 9, tmp_path / "out") == 0
    tasks = json.loads((tmp_path / "out" / "label_studio.json").read_text(encoding="utf-8"))
    assert tasks == [{"id": 1, "data": data, "annotations": [], "predictions": []}]


def test_llm_label_for_an_edited_text_is_left_out(tmp_path, caplog):
    """Its offsets point into the old text: as a prediction it marked "ntir" of the new text as a person."""
    st = new_project(tmp_path, 10, {1: "New text entirely", 2: "Anna in Oslo"})
    st.save_llm_labels([{"id": "1", "text": "Old text Anna", "entities": [{"start": 9, "end": 13, "label": "PER"}],
                         "annotation": {"model": "m"}},
                        {"id": "2", "text": "Anna in Oslo", "entities": [{"start": 0, "end": 4, "label": "PER"}],
                         "annotation": {"model": "m"}}], 1)
    st.close()
    assert export(tmp_path, 10, tmp_path / "out") == 0
    tasks = json.loads((tmp_path / "out" / "label_studio.json").read_text(encoding="utf-8"))
    assert [len(t["predictions"]) for t in tasks] == [0, 1]
    assert [e.id for e in read_jsonl(tmp_path / "out" / "dataset.jsonl")] == ["2"]
    assert "left out 1 LLM labels made for an older text (or given entities) of their task (tasks 1)" in caplog.text


def test_llm_label_made_before_a_label_was_added_is_left_out(tmp_path, caplog):
    """It has none of the new label's mentions: in the dataset it would say "Lyon" is not a LOC."""
    st = new_project(tmp_path, 11, {1: "Anna in Lyon", 2: "Bo in Oslo", 3: "Cy ran"})
    asked = {"entities": ["Person Name"], "relations": ["lives in"]}
    st.save_llm_labels([{"id": "1", "text": "Anna in Lyon", "entities": [{"start": 0, "end": 4, "label": "Person Name"}],
                         "annotation": {"model": "m", "labels": asked}},
                        {"id": "2", "text": "Bo in Oslo", "entities": [{"start": 0, "end": 2, "label": "Person Name"},
                                                                        {"start": 6, "end": 10, "label": "LOC"}],
                         "annotation": {"model": "m", "labels": {**asked, "entities": ["Person Name", "LOC", "ORG"]}}},
                        {"id": "3", "text": "Cy ran", "entities": [], "annotation": {"model": "m"}}], 1)  # older record
    st.close()
    assert export(tmp_path, 11, tmp_path / "out") == 0
    assert [e.id for e in read_jsonl(tmp_path / "out" / "dataset.jsonl")] == ["2", "3"]
    assert "left out 1 LLM labels made for fewer labels than the config has now (tasks 1)" in caplog.text


def test_export_into_a_used_folder_leaves_no_other_model(tmp_path):
    """A second export into the same folder kept the first project's model/ beside the second's dataset."""
    st = new_project(tmp_path, 11, {1: "Anna in Oslo"})
    st.set_meta("student_version", "llmaaa-2")
    (st.model_path("llmaaa-2") / "ner").mkdir(parents=True)
    (st.model_path("llmaaa-2") / "ner" / "labels.json").write_text("{}", encoding="utf-8")
    new_project(tmp_path, 12, {1: "Rain in Bergen"}).close()
    st.close()
    out = tmp_path / "out"
    assert export(tmp_path, 11, out) == 0
    assert json.loads((out / "model" / "version.json").read_text()) == {"version": "llmaaa-2", "project": "11"}
    assert (out / "model" / "ner" / "labels.json").is_file()
    assert export(tmp_path, 12, out) == 0
    assert not (out / "model").exists()
    assert json.loads((out / "label_studio.json").read_text())[0]["data"]["text"] == "Rain in Bergen"


def test_export_route_without_a_labeling_config_is_a_400(tmp_path):
    st = ProjectState(tmp_path, 13)  # /predict saw tasks, /setup never came
    st.upsert_tasks([(1, "Anna in Oslo", None)])
    st.close()
    new_project(tmp_path, 14, {1: "Anna in Oslo"}).close()  # set up, nothing labeled yet
    app = create_app(BackendConfig(model_dir=str(tmp_path)))
    try:
        c = app.test_client()
        r = c.get("/export?project=13")
        assert r.status_code == 400 and "no labeling config yet" in r.get_json()["error"]
        r = c.get("/export?project=14")
        z = zipfile.ZipFile(io.BytesIO(r.data))
        assert r.status_code == 200 and z.read("dataset.jsonl") == b"" and z.read("dataset.conll") == b""
        assert json.loads(z.read("label_studio.json")) == [
            {"id": 1, "data": {"text": "Anna in Oslo"}, "annotations": [], "predictions": []}]
    finally:
        app.extensions["llmaaa"].close()
    assert export(tmp_path, 13, tmp_path / "out") == 2



def test_the_export_route_works_in_model_dir_and_a_killed_exports_folder_is_removed_at_start(mixed):
    """It wrote in /tmp, where a kill -9 mid-export left the copy (the student: ~90 MB) for good."""
    debris = mixed / "7" / ".export-killed"
    (debris / "model").mkdir(parents=True)
    (debris / "model" / "model.safetensors").write_bytes(b"x" * 1000)
    app = create_app(BackendConfig(model_dir=str(mixed)))
    try:
        r = app.test_client().get("/export?project=7")
        assert r.status_code == 200 and "dataset.jsonl" in zipfile.ZipFile(io.BytesIO(r.data)).namelist()
        assert not debris.exists()
        assert not list((mixed / "7").glob(".export-*"))  # the route's own folder is gone too
    finally:
        app.extensions["llmaaa"].close()


def test_model_card_escapes_table_cells():
    """A ``|`` in a label split its table row (the card showed a stray column and lost the rest of the name)."""
    card = render_card(task="ner", labels={"entity_labels": ["Person|Org", "LOC"]}, data={}, gold_metrics={},
                       config={}, extra={"note": "two\nlines"})
    lines = card.splitlines()
    assert "| entity labels | Person\\|Org, LOC |" in lines and "| relation labels | - |" in lines
    assert "| note | two lines |" in lines


def test_export_to_an_existing_file_is_a_clear_error(mixed, tmp_path, capsys):
    """``--output export.zip`` naming a file was a FileExistsError traceback."""
    target = tmp_path / "export.zip"
    target.write_bytes(b"PK")
    assert export(mixed, 7, target) == 2
    assert "is a file; pass a folder" in capsys.readouterr().err and target.read_bytes() == b"PK"


def test_thai_and_emoji_entities_read_back_exactly_and_empty_texts_are_counted(tmp_path, caplog):
    """Thai is written without spaces like Chinese; a token never splits a letter from its marks."""
    texts = {1: "ฉันอยู่กรุงเทพมหานคร", 2: "", 3: "Ana 👩🏽‍💻 vive en Lima"}
    st = new_project(tmp_path, 9, texts)
    st.record_annotation(1, 1, [region(texts[1], "a", 7, 14, "LOC")])  # กรุงเทพ inside the run
    st.record_annotation(2, 2, [])
    st.record_annotation(3, 3, [region(texts[3], "a", 0, 3, "PER"), region(texts[3], "b", 17, 21, "LOC")])
    st.close()
    with caplog.at_level("WARNING"):
        assert export(tmp_path, 9, tmp_path / "out") == 0
    assert "1 examples with an empty text left out" in caplog.text and "snapped" not in caplog.text
    back = read_conll(tmp_path / "out" / "dataset.conll", token_sep="")
    assert [(e.text, [(s.start, s.end, s.label) for s in e.entities]) for e in back][0] == (texts[1], [(7, 14, "LOC")])
    lines = (tmp_path / "out" / "dataset.conll").read_text(encoding="utf-8").splitlines()
    assert "👩🏽\u200d💻\tO" in lines  # one token, not four


def test_an_llm_label_of_a_removed_label_leaves_every_file_and_edited_human_regions_follow_their_text(tmp_path):
    st = new_project(tmp_path, 10, {5: "Cy in Lima works", 6: "Anna in Oslo"})
    st.save_llm_labels([{"id": "5", "text": "Cy in Lima works", "entities": [
        {"start": 0, "end": 2, "label": "Person Name"}, {"start": 6, "end": 10, "label": "ORG"}],
        "relations": [{"head": 0, "tail": 1, "label": "works for"}],
        "annotation": {"model": "m", "labels": {"entities": ["Person Name", "LOC", "ORG"], "relations": ["lives in"]}}}], 1)
    st.record_annotation(61, 6, [region("Anna in Oslo", "a", 8, 12, "LOC")])
    st.upsert_tasks([(6, "Ms Anna in Oslo", {"text": "Ms Anna in Oslo"})])  # edited in Label Studio since
    st.close()
    assert export(tmp_path, 10, tmp_path / "out") == 0
    by_id = {ex.id: ex for ex in read_jsonl(tmp_path / "out" / "dataset.jsonl")}
    assert [(s.label) for s in by_id["5"].entities] == ["Person Name"] and by_id["5"].relations == ()
    assert "ORG" not in (tmp_path / "out" / "dataset.conll").read_text(encoding="utf-8")
    tasks = {t["id"]: t for t in json.loads((tmp_path / "out" / "label_studio.json").read_text(encoding="utf-8"))}
    value = tasks[6]["annotations"][0]["result"][0]["value"]
    assert (value["start"], value["end"]) == (11, 15) and "Ms Anna in Oslo"[11:15] == "Oslo"


def test_every_annotators_annotation_is_in_the_re_import_file_and_an_unusable_one_is_no_gold(tmp_path, caplog):
    """Two annotators on a task kept only the newest in label_studio.json; an annotation whose regions all have
    a label removed from the config was exported as gold "no entities" (every token O in the CoNLL)."""
    texts = {1: "Anna in Oslo", 2: "Bob in Rome"}
    st = new_project(tmp_path, 21, texts)
    st.record_annotation(301, 1, [region(texts[1], "a", 0, 4, "PER")])
    st.record_annotation(302, 1, [region(texts[1], "a", 0, 4, "PER"), region(texts[1], "b", 8, 12, "LOC")])
    st.record_annotation(303, 2, [region(texts[2], "c", 0, 3, "COMPANY")])  # a label since removed
    st.save_llm_labels([{"id": "2", "text": texts[2], "entities": [{"start": 7, "end": 11, "label": "LOC"}],
                         "annotation": {"model": "m"}}], 1)
    st.close()
    out = tmp_path / "out"
    assert export(tmp_path, 21, out) == 0
    tasks = {t["id"]: t for t in json.loads((out / "label_studio.json").read_text(encoding="utf-8"))}
    assert [a["id"] for a in tasks[1]["annotations"]] == [301, 302]
    assert [a["id"] for a in tasks[2]["annotations"]] == [303]  # kept, never lost
    examples = {e.id: e for e in read_jsonl(out / "dataset.jsonl")}
    assert len(examples["1"].entities) == 2 and examples["1"].extra["source"] == "human"  # the newest is the gold
    assert examples["2"].extra["source"] == "llm" and [s.label for s in examples["2"].entities] == ["LOC"]
    assert "left out of dataset.jsonl/.conll as gold" in caplog.text



def test_an_annotation_whose_region_no_longer_fits_its_edited_text_is_no_gold(tmp_path):
    """"Bonn" edited to "Köln": [Karl/PER] alone passed for the text's full gold, teaching that Köln is O."""
    old, new = "Karl met Lena in Bonn.", "Karl met Lena in Köln."
    st = new_project(tmp_path, 22, {1: old, 2: "Anna in Oslo"})
    st.record_annotation(401, 1, [region(old, "a", 0, 4, "PER"), region(old, "b", 17, 21, "LOC")])
    st.record_annotation(402, 2, [region("Anna in Oslo", "c", 0, 4, "PER")])
    st.upsert_tasks([(1, new, {"text": new})])  # the task was edited in Label Studio
    st.close()
    out = tmp_path / "out"
    assert export(tmp_path, 22, out) == 0
    assert [e.id for e in read_jsonl(out / "dataset.jsonl")] == ["2"]
    tasks = {t["id"]: t for t in json.loads((out / "label_studio.json").read_text(encoding="utf-8"))}
    assert [a["id"] for a in tasks[1]["annotations"]] == [401]  # kept as Label Studio has it
