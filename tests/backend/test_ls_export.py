"""``python -m ml_backend convert``: Label Studio's own JSON export read into llmaaa JSONL, gold = the latest real annotation."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from llmaaa.data.jsonl import read_jsonl
from ml_backend.__main__ import main
from ml_backend.labeling import UnsupportedConfig, parse_config

from tests.backend.conftest import NER, NER_RE, ROOT, relation

EN = "Zoë met José 🎉 Müller in Zürich."  # accents, and an emoji right before an entity
ZH = "王小明在北京工作。"
RE_TEXT = "Anna Berg works for Acme Corp in Oslo."


def region(text: str, rid: str, mention: str, label: str, *, nth: int = 0) -> dict[str, Any]:
    """A labels region as Label Studio exports it (code-point offsets, ``value.text`` the mention)."""
    start = -1
    for _ in range(nth + 1):
        start = text.index(mention, start + 1)
    return {"id": rid, "from_name": "label", "to_name": "text", "type": "labels", "origin": "manual",
            "value": {"start": start, "end": start + len(mention), "text": mention, "labels": [label]}}


def annotation(ann_id: int, result: list, *, updated: str = "2026-11-24T10:00:00.000000Z", cancelled: bool = False,
               lead_time: float | None = 12.5, parent_prediction: int | None = None) -> dict[str, Any]:
    """One element of a task's ``annotations`` in Label Studio's "JSON" export."""
    return {"id": ann_id, "completed_by": 1, "result": result, "was_cancelled": cancelled, "ground_truth": False,
            "created_at": updated, "updated_at": updated, "draft_created_at": None, "lead_time": lead_time,
            "prediction": {}, "result_count": len(result), "unique_id": f"u-{ann_id}", "import_id": None,
            "last_action": None, "task": None, "project": 1, "updated_by": 1, "parent_prediction": parent_prediction,
            "parent_annotation": None, "last_created_by": None}


def task(task_id: int, text: Any, annotations: list | None = None, **data: Any) -> dict[str, Any]:
    d = {} if text is None else {"text": text}
    anns = [{**a, "task": task_id} for a in annotations or []]
    return {"id": task_id, "annotations": anns, "file_upload": None, "drafts": [],
            "predictions": [{"id": 900 + task_id, "model_version": "llmaaa-1", "score": 0.4,
                             "result": [region(text, "p", text[:3], "MISC")] if isinstance(text, str) and text else []}],
            "data": {**d, **data}, "meta": {}, "created_at": "2026-11-24T09:00:00.000000Z",
            "updated_at": "2026-11-24T10:00:00.000000Z", "inner_id": task_id, "total_annotations": len(anns),
            "cancelled_annotations": 0, "total_predictions": 1, "project": 1}


def ner_export() -> list[dict[str, Any]]:
    real = [region(EN, "a", "Zoë", "PER"), region(EN, "b", "José", "PER"), region(EN, "c", "Müller", "PER"),
            region(EN, "d", "Zürich", "LOC")]
    return [
        task(1, EN, [annotation(11, real)]),
        task(2, ZH, [annotation(21, [region(ZH, "a", "王小明", "PER"), region(ZH, "b", "北京", "LOC")])]),
        # an older real annotation beats a newer copy of the LLM's prediction nobody opened
        task(3, "Paris is in France.", [
            annotation(31, [region("Paris is in France.", "a", "Paris", "LOC"), region("Paris is in France.", "b", "France", "LOC")],
                       updated="2026-11-24T10:00:00.000000Z"),
            annotation(32, [region("Paris is in France.", "a", "Paris", "PER")], updated="2026-11-25T10:00:00.000000Z",
                       lead_time=None, parent_prediction=903)]),
        # a skipped (cancelled) annotation is no gold; the task has no other
        task(4, "Berlin again.", [annotation(41, [], cancelled=True, lead_time=2.0)]),
        # only a copy of a prediction nobody opened (lead_time 0): left out
        task(5, "Rome and Milan.", [annotation(51, [region("Rome and Milan.", "a", "Rome", "LOC")], lead_time=0,
                                               parent_prediction=905)]),
        # a prediction opened and submitted unchanged has a lead_time: reviewed, so gold; the newer of two wins
        task(6, "Oslo, then Bergen.", [
            annotation(61, [region("Oslo, then Bergen.", "a", "Oslo", "ORG")], updated="2026-11-24T10:00:00.000000Z"),
            annotation(62, [region("Oslo, then Bergen.", "a", "Oslo", "LOC"), region("Oslo, then Bergen.", "b", "Bergen", "LOC")],
                       updated="2026-11-24T11:30:00.000000Z", lead_time=4.2, parent_prediction=906),
            annotation(63, [], updated="2026-11-26T10:00:00.000000Z", cancelled=True)]),
        # never annotated (only a prediction)
        task(7, "Nobody labeled Kyoto."),
    ]


@pytest.fixture
def files(tmp_path):
    def write(tasks: Any, xml: str = NER, name: str = "export.json") -> tuple[str, str, str]:
        (tmp_path / "config.xml").write_text(xml, encoding="utf-8")
        src = tmp_path / name
        src.write_text(tasks if isinstance(tasks, str) else json.dumps(tasks, ensure_ascii=False), encoding="utf-8")
        return str(tmp_path / "config.xml"), str(src), str(tmp_path / "gold.jsonl")
    return write


def convert(config: str, src: str, out: str, *extra: str) -> int:
    return main(["convert", "--config", config, "--input", src, "--output", out, *extra])


def spans(ex) -> list[tuple[str, str]]:
    return [(ex.mention(s), s.label) for s in ex.entities]


def test_subprocess_writes_gold_with_exact_offsets_and_evaluates_to_f1_1(files):
    config, src, out = files(ner_export())
    r = subprocess.run([sys.executable, "-m", "ml_backend", "convert", "--config", config, "--input", src, "--output", out],
                       cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"wrote 4 examples to {out} (4 with gold labels: 10 entities, 0 relations); "
                                "3 tasks without a gold annotation left out; 0 tasks skipped")
    got = {ex.id: ex for ex in read_jsonl(out)}
    assert list(got) == ["1", "2", "3", "6"]
    en = got["1"]
    assert en.text == EN
    assert [s.key() for s in en.entities] == [(0, 3, "PER"), (8, 12, "PER"), (15, 21, "PER"), (25, 31, "LOC")]
    assert spans(en) == [("Zoë", "PER"), ("José", "PER"), ("Müller", "PER"), ("Zürich", "LOC")]
    assert [s.key() for s in got["2"].entities] == [(0, 3, "PER"), (4, 6, "LOC")]
    assert spans(got["2"]) == [("王小明", "PER"), ("北京", "LOC")]
    assert spans(got["3"]) == [("Paris", "LOC"), ("France", "LOC")]  # not the unopened copy's PER
    assert spans(got["6"]) == [("Oslo", "LOC"), ("Bergen", "LOC")]  # the newer, reviewed one; not the cancelled
    assert all(ex.extra["source"] == "human" and not ex.relations for ex in got.values())

    r = subprocess.run([sys.executable, "-m", "llmaaa", "evaluate", "--task", "ner", "--gold", out, "--pred", out],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    score = json.loads(r.stdout)
    assert (score["f1"], score["support"]) == (1.0, 10)


def test_include_unlabeled_writes_tasks_without_gold_unlabeled(files, capsys):
    config, src, out = files(ner_export())
    assert convert(config, src, out, "--include-unlabeled") == 0
    got = {ex.id: ex for ex in read_jsonl(out)}
    assert list(got) == ["1", "2", "3", "4", "5", "6", "7"]
    for tid in ("4", "5", "7"):  # cancelled, unopened copy, never annotated: no labels, not even the prediction's
        assert got[tid].entities == () and "source" not in got[tid].extra
    assert got["7"].text == "Nobody labeled Kyoto."
    assert "3 tasks without a gold annotation written unlabeled" in capsys.readouterr().out


def test_relations_between_regions(files):
    t = RE_TEXT
    result = [region(t, "h", "Anna Berg", "Peop"), region(t, "o", "Acme Corp", "Org"), region(t, "l", "Oslo", "Loc"),
              relation("h", "o", "Work_For"), {**relation("l", "o", "OrgBased_In"), "direction": "left"}]
    config, src, out = files([task(5, t, [annotation(50, result)])], xml=NER_RE)
    assert convert(config, src, out) == 0
    (ex,) = read_jsonl(out)
    assert [s.key() for s in ex.entities] == [(0, 9, "Peop"), (20, 29, "Org"), (33, 37, "Loc")]
    named = {(ex.mention(ex.entities[r.head]), ex.mention(ex.entities[r.tail]), r.label) for r in ex.relations}
    assert named == {("Anna Berg", "Acme Corp", "Work_For"), ("Acme Corp", "Oslo", "OrgBased_In")}  # "left" = tail -> head
    r = subprocess.run([sys.executable, "-m", "llmaaa", "evaluate", "--task", "re", "--gold", out, "--pred", out],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["f1"] == 1.0


def test_malformed_tasks_are_reported_and_the_rest_written(files, capsys):
    tasks = ner_export()[:2] + [
        task(12, None, [annotation(120, [])], title="no text field"),
        task(13, 42, [annotation(130, [])]),
        {**task(14, "Bad result.", [annotation(140, [])]), "annotations": [{**annotation(140, []), "result": "oops"}]},
        {**task(15, "Bad annotations."), "annotations": {"id": 150}},
        {"data": {"text": "no id"}, "annotations": []},
        "not a task",
        task(1, "A duplicate of task 1."),
    ]
    config, src, out = files(tasks)
    assert convert(config, src, out) == 0
    captured = capsys.readouterr()
    assert [ex.id for ex in read_jsonl(out)] == ["1", "2"]
    lines = captured.err.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "skipped task 12", "skipped task 13", "skipped task 14", "skipped task 15",
        "skipped task #7 in the file", "skipped task #8 in the file", "skipped task 1"]
    assert "no string field 'text'" in lines[0] and "'result' is not a list" in lines[2]
    assert "Traceback" not in captured.err
    assert "7 tasks skipped" in captured.out


@pytest.mark.parametrize("content, why", [
    (json.dumps(task(1, "one task", [annotation(1, [])])), "one task, not a list of tasks"),
    (json.dumps([{"id": 1, "text": "Paris", "label": [{"start": 0, "end": 5, "text": "Paris", "labels": ["LOC"]}],
                  "annotator": 1, "annotation_id": 3}]), "a JSON-MIN export?"),
    ("id,text,label\n1,Paris,LOC\n", "not one JSON document"),
    ('"just a string"', "not a list of tasks"),
])
def test_input_that_is_not_the_json_export_is_one_error_line(files, capsys, content, why):
    config, src, out = files(content)
    assert convert(config, src, out) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and why in err and 'Label Studio\'s "JSON" format' in err


def test_newest_is_by_time_not_by_string(files):
    """Label Studio writes ``10:00:00Z`` without zero microseconds: as a string it sorts after ``10:00:00.25Z``."""
    t = "Lima or Quito."
    config, src, out = files([task(8, t, [
        annotation(88, [region(t, "a", "Quito", "LOC")], updated="2026-11-24T10:00:00.250000Z"),
        annotation(89, [region(t, "a", "Lima", "LOC")], updated="2026-11-24T10:00:00Z")])])
    assert convert(config, src, out) == 0
    assert spans(read_jsonl(out)[0]) == [("Quito", "LOC")]


def test_tasks_object_is_read_like_the_list(files):
    config, src, out = files({"tasks": ner_export()[:1]})
    assert convert(config, src, out) == 0
    assert [ex.id for ex in read_jsonl(out)] == ["1"]


def test_config_the_backend_cannot_serve_is_refused_with_its_reason(files, capsys):
    xml = '<View><Image name="img" value="$image"/><RectangleLabels name="box" toName="img"><Label value="Car"/></RectangleLabels></View>'
    with pytest.raises(UnsupportedConfig) as refused:
        parse_config(xml)
    config, src, out = files(ner_export(), xml=xml)
    assert convert(config, src, out) == 2
    assert capsys.readouterr().err == f"error: {config}: {refused.value}\n"


def test_nothing_usable_writes_nothing_and_exits_2(files, capsys):
    config, src, out = files([t for t in ner_export() if t["id"] in (4, 5, 7)])
    assert convert(config, src, out) == 2
    assert "3 tasks without one (--include-unlabeled writes them unlabeled)" in capsys.readouterr().err
    assert not (ROOT / out).exists()


def test_output_equal_to_input_is_refused(files, capsys):
    config, src, _ = files(ner_export())
    before = open(src, encoding="utf-8").read()
    assert convert(config, src, src) == 2
    assert "same file" in capsys.readouterr().err
    assert open(src, encoding="utf-8").read() == before


def test_a_relation_without_a_config_label_is_kept_as_an_unknown_pair_and_counted(files, capsys):
    """It said '2 entities, 0 relations' and the pair went into gold.jsonl as no_relation."""
    t = RE_TEXT
    result = [region(t, "h", "Anna Berg", "Peop"), region(t, "o", "Acme Corp", "Org"),
              {"from_id": "h", "to_id": "o", "type": "relation", "direction": "right", "labels": []}]
    config, src, out = files([task(6, t, [annotation(60, result)])], xml=NER_RE)
    assert convert(config, src, out) == 0
    assert "0 relations, 1 relations without a label of the config" in capsys.readouterr().out
    (ex,) = read_jsonl(out)
    assert ex.relations == () and ex.unlabeled_pairs == {(0, 1)}  # read back from the file: still unknown


def test_an_annotation_whose_every_region_has_a_removed_label_is_skipped_not_written_as_no_entities(files, capsys):
    tasks = ner_export()[:1] + [task(16, "Acme hired Anna.", [annotation(160, [region("Acme hired Anna.", "a", "Acme", "COMPANY")])])]
    config, src, out = files(tasks)
    assert convert(config, src, out) == 0
    captured = capsys.readouterr()
    assert [ex.id for ex in read_jsonl(out)] == ["1"]
    assert "skipped task 16: annotation 160: none of its 1 region(s) has a label of the config" in captured.err
