"""The /report page a user opens from the README: numbers, the figure, and safe rendering of their texts."""

from __future__ import annotations

import json

import pytest

from ml_backend.app import create_app
from ml_backend.config import BackendConfig
from ml_backend.report import QueueItem, ReportData, RoundRow, render_html, render_png
from ml_backend.state import ProjectState

XML = ('<View><Labels name="label" toName="text"><Label value="PER"/><Label value="LOC"/></Labels>'
       '<Text name="text" value="$text"/></View>')
TEXTS = {1: "Maya Chen landed in Tokyo ✈️", 2: "王小明在北京", 3: "José visited Zürich <script>x</script>", 4: "Rain in Bergen"}


def span(tid, start, end, label):
    return {"id": f"r{tid}-{start}", "from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": start, "end": end, "text": TEXTS[tid][start:end], "labels": [label]}}


@pytest.fixture
def client(tmp_path):
    st = ProjectState(tmp_path, 7)
    st.set_meta("label_config", XML)
    st.upsert_tasks([(i, t, {"text": t}) for i, t in TEXTS.items()])
    # Humans labeled tasks 1 and 2; the LLM had labeled both in round 1: one span right, one wrong type.
    st.record_annotation(101, 1, [span(1, 0, 9, "PER"), span(1, 20, 25, "LOC")])
    st.record_annotation(102, 2, [span(2, 0, 3, "PER"), span(2, 4, 6, "LOC")])
    # Each LLM span carries its confidence; the wrong one was the doubtful one.
    llm = [{"id": "1", "text": TEXTS[1], "entities": [{"start": 0, "end": 9, "label": "PER", "score": 0.9},
                                                      {"start": 20, "end": 25, "label": "LOC", "score": 0.7}]},
           {"id": "2", "text": TEXTS[2], "entities": [{"start": 0, "end": 3, "label": "PER", "score": 0.95},
                                                      {"start": 4, "end": 6, "label": "PER", "score": 0.3}]},
           {"id": "3", "text": TEXTS[3], "entities": [], "annotation": {"error": "invalid JSON after 2 attempts"}}]
    st.save_llm_labels(llm, 1)
    st.add_round(1, "llmaaa-1", {"labels_by_source": {"human": 2, "llm": 2}, "gold_size": 2, "llm_failed": 1,
                                 "llm_errors": ["invalid JSON after 2 attempts"],
                                 "llm_usage": {"prompt_tokens": 1200, "completion_tokens": 300, "cost": 0.0021, "reasks": 2,
                                               "dropped": {"not_in_text": 3, "unknown_labels": 1, "malformed": 0,
                                                           "overlaps": 1, "fuzzy_matches": 2}}})
    st.add_round(2, "llmaaa-2", {"labels_by_source": {"human": 2, "llm": 0, "student": 2}, "gold_size": 2,
                                 "trained": {"gold_metrics": {"f1": 0.5}}, "llm_usage": {}})
    st.save_predictions([(3, "llmaaa-2", "llm", 0.2, {"result": []}), (4, "llmaaa-2", "student", 0.6, {"result": []})])
    st.publish_version("llmaaa-2")
    st.set_meta("student_version", "llmaaa-2")  # the student folder the trainer wrote, with its history
    (st.model_path("llmaaa-2") / "ner").mkdir(parents=True)
    (st.model_path("llmaaa-2") / "ner" / "history.json").write_text(json.dumps(
        [{"epoch": 1, "train_loss": 0.9, "weights": {"n": 16, "zero": 4, "zero_frac": 0.25, "mean": 1.0, "std": 0.4}},
         {"epoch": 2, "train_loss": 0.5, "weights": {"n": 16, "zero": 2, "zero_frac": 0.125, "mean": 1.0, "std": 0.3}}]))
    st.close()
    app = create_app(BackendConfig(model_dir=str(tmp_path)))
    return app.test_client()


def test_report_numbers_per_round(client):
    d = client.get("/report.json?project=7").get_json()
    r1, r2 = d["rounds"]
    # round 1's LLM labels vs the humans' labels of the same tasks: 3 of 4 spans right -> P = R = F1 = 0.75
    assert r1["teacher_f1"] == pytest.approx(0.75) and r1["student_f1"] is None
    assert r2["student_f1"] == pytest.approx(0.5)
    assert d["totals"] == {"prompt_tokens": 1200, "completion_tokens": 300, "cost": pytest.approx(0.0021), "failures": 1,
                           "reasks": 2, "dropped": 4}  # dropped: not in the text + unknown labels (+ malformed)
    assert d["failure_reasons"] == {"invalid JSON after 2 attempts": 1}
    assert [q["task_id"] for q in d["queue_head"]] == [3, 4], "served lowest score first; annotated tasks are not in the queue"
    assert d["model_version"] == "llmaaa-2" and d["labels_by_source"]["human"] == 2
    assert [(w["epoch"], w["zero_frac"]) for w in d["weights"]] == [(1, 0.25), (2, 0.125)]
    conf = d["llm_confidence"]  # the humans kept 3 of the LLM's 4 spans: all but the 0.3 one
    assert (conf["labels"], conf["unscored"], conf["precision"], conf["auroc"]) == (4, 0, 0.75, 1.0)
    assert [(b["bin"], b["n"], b["precision"]) for b in conf["bins"]] == [
        ("0-0.2", 0, None), ("0.2-0.4", 1, 0.0), ("0.4-0.6", 0, None), ("0.6-0.8", 1, 1.0), ("0.8-1", 2, 1.0)]


def test_report_page_shows_figure_numbers_and_escapes_texts(client):
    page = client.get("/report?project=7")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'src="/report/7.png"' in html
    assert "0.750" in html and "$0.0021" in html and "1,500" in html  # teacher F1, cost, tokens
    assert "<th>re-asks</th><th>dropped mentions</th>" in html
    assert "<th>LLM confidence</th><th>LLM spans</th><th>kept by annotators</th>" in html
    assert "<td>0.2-0.4</td><td>1</td><td>0.000</td>" in html and "AUROC of confidence for kept vs corrected: 1.000" in html
    assert "<script>x</script>" not in html and "&lt;script&gt;" in html
    assert "not gold" not in html  # nobody converted predictions without opening them


def test_report_page_counts_unreviewed_copies_of_predictions_apart(tmp_path, client):
    st = ProjectState(tmp_path, 7)
    st.record_unreviewed([(201, 4)])  # "Create annotations from predictions" on task 4
    st.close()
    html = client.get("/report?project=7").get_data(as_text=True)
    assert "unreviewed copies of predictions (not gold)" in html
    png = client.get("/report/7.png")
    assert png.status_code == 200 and png.data[:8] == b"\x89PNG\r\n\x1a\n" and len(png.data) > 10_000


def test_unknown_or_missing_project(client):
    assert client.get("/report?project=999").status_code == 404
    assert "make run" in client.get("/report?project=999").get_json()["error"]
    assert client.get("/report?project=abc").status_code == 400
    assert 'href="/report?project=7"' in client.get("/report").get_data(as_text=True)


def test_render_without_any_round_yet():
    data = ReportData(project=1)
    assert "none yet" in render_html(data)
    assert render_png(data)[:4] == b"\x89PNG"


def test_render_weights_and_cjk_queue():
    data = ReportData(project=2, rounds=[RoundRow(1, teacher_f1=0.3, student_f1=0.4, labels_by_source={"llm": 5})],
                      weights=[{"epoch": 1, "n": 40, "zero": 10, "zero_frac": 0.25, "mean": 1.0, "std": 0.5,
                                "hist": {"edges": [0, 0.5, 1, 1.5, 2], "counts": [10, 5, 20, 5]}}], queue_head=[QueueItem(5, 0.1, "llm", "王小明在北京 🎉")])
    assert "王小明在北京 🎉" in render_html(data)
    assert len(render_png(data)) > 10_000
