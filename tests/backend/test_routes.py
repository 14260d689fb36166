"""Every route with the bodies Label Studio 1.23.2 sends, including the bad ones: 4xx or per-task errors, never a 500."""

from __future__ import annotations

import base64
import io
import json
import time
import zipfile

import pytest

from llmaaa.config import ConfigError

from tests.backend.conftest import NER, NER_RE, PROJECT, annotation_event, ls_task, predict_body, region, relation, setup_body


def test_health_is_cheap_and_up(client):
    t0 = time.perf_counter()
    r = client.get("/health")
    assert r.status_code == 200 and r.json["status"] == "UP"
    assert client.get("/").json["status"] == "UP"
    assert time.perf_counter() - t0 < 0.5  # Label Studio gives /health 1 s, before every predict batch


def test_setup_returns_a_model_version(client):
    r = client.post("/setup", json=setup_body())
    assert r.status_code == 200
    assert r.json["model_version"] == "llmaaa-0"


def test_setup_refuses_configs_it_cannot_serve_with_a_clear_message(client):
    cases = {
        '<View><Choices name="c" toName="text"><Choice value="a"/></Choices><Text name="text" value="$text"/></View>':
            "needs a <Labels",
        '<View><Labels name="l" toName="img"><Label value="A"/></Labels><Image name="img" value="$image"/></View>':
            "text only",
        ('<View><Labels name="l" toName="a,b"><Label value="A"/></Labels><Text name="a" value="$a"/>'
         '<Text name="b" value="$b"/></View>'): "exactly one <Text>",
        '<View><Labels name="l" toName="t"></Labels><Text name="t" value="$t"/></View>': "no <Label",
        "<View><Labels": "not valid XML",
        "": "empty",
    }
    for xml, message in cases.items():
        r = client.post("/setup", json=setup_body(xml))
        assert r.status_code == 400, xml
        assert message in r.json["error"], (xml, r.json)


def test_a_config_with_a_title_text_and_choices_beside_the_labels_is_served(make_app):
    """Only the <Text> the <Labels> names is read; a title <Text> and a <Choices> are the annotator's."""
    xml = ('<View><Header value="$title"/><Text name="title" value="$title"/>'
           '<Labels name="ents" toName="body"><Label value="Person" hint="a named person"/><Label value="City"/></Labels>'
           '<Text name="body" value="$body"/>'
           '<Choices name="tone" toName="body"><Choice value="neutral"/><Choice value="odd"/></Choices></View>')
    # no background rounds: /setup queues the cold-start round, which, run before the webhook, counted the
    # annotation as its own (new_human_labels 0; seen once, in a fresh-clone run on a quiet machine)
    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    assert c.post("/setup", json=setup_body(xml)).status_code == 200
    body = "Zoë lives in Lyon ."
    result = [{**region("a", 0, 3, "Zoë", "Person"), "from_name": "ents", "to_name": "body"},
              {**region("b", 13, 17, "Lyon", "City"), "from_name": "ents", "to_name": "body"},
              {"id": "c", "from_name": "tone", "to_name": "body", "type": "choices", "value": {"choices": ["odd"]}}]
    event = annotation_event("ANNOTATION_CREATED", 9, 4, body, result, xml=xml)
    event["task"]["data"] = {"title": "A title that is not the text", "body": body}
    r = c.post("/webhook", json=event)
    assert r.status_code == 201 and r.json["new_human_labels"] == 1
    ann = app.extensions["llmaaa"].context("1").state.annotations()[0]
    assert ann["text"] == body
    r = c.post("/predict", json=predict_body([{**ls_task(5, None), "data": {"title": "t", "body": body}}], xml=xml))
    assert r.status_code == 200 and len(r.json["results"]) == 1 and "error" not in r.json["results"][0]


@pytest.mark.parametrize("text_tag,data", [
    ('<Text name="body" value="$doc.body"/>', lambda t: {"doc": {"body": t, "lang": "fr"}}),
    ('<Text name="body" value="$docs[0].body"/>', lambda t: {"docs": [{"body": t}, {"body": "other"}]}),
    ('<Text name="body" value="$body" encoding="base64unicode"/>',
     lambda t: {"body": base64.b64encode(t.encode("utf-8")).decode("ascii").rstrip("=")}),  # atob takes it unpadded
])
def test_nested_and_base64_task_text_is_read_as_label_studio_shows_it(make_app, tmp_path, text_tag, data):
    """"$doc.body" was read as one flat key (every task 'has no text'); base64 text was labeled encoded."""
    xml = f'<View><Labels name="ents" toName="body"><Label value="Person"/><Label value="City"/></Labels>{text_tag}</View>'
    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    assert c.post("/setup", json=setup_body(xml)).status_code == 200
    body = "Zoë lives in Lyon 🙂 ."
    result = [{**region("a", 0, 3, "Zoë", "Person"), "from_name": "ents", "to_name": "body"},
              {**region("b", 13, 17, "Lyon", "City"), "from_name": "ents", "to_name": "body"}]
    event = annotation_event("ANNOTATION_CREATED", 9, 4, body, result, xml=xml)
    event["task"]["data"] = data(body)
    r = c.post("/webhook", json=event)
    assert r.status_code == 201 and r.json["new_human_labels"] == 1, r.json
    assert app.extensions["llmaaa"].context("1").state.annotations()[0]["text"] == body
    r = c.post("/predict", json=predict_body([{**ls_task(5, None), "data": data(body)}], xml=xml))
    assert r.status_code == 200 and "error" not in r.json["results"][0], r.json
    z = zipfile.ZipFile(io.BytesIO(c.get("/export?project=1").data))
    [task] = [t for t in json.loads(z.read("label_studio.json")) if t["id"] == 4]
    assert task["data"] == data(body)  # the re-import file keeps the task's own shape


def test_a_text_encoding_the_backend_cannot_read_is_refused_at_setup(client):
    xml = '<View><Labels name="l" toName="t"><Label value="A"/></Labels><Text name="t" value="$t" encoding="rot13"/></View>'
    r = client.post("/setup", json=setup_body(xml))
    assert r.status_code == 400 and "plain text, base64 and base64unicode" in r.json["error"]

def test_garbage_json_and_wrong_shapes_are_400_not_500(client):
    for path in ("/setup", "/predict", "/webhook"):
        r = client.post(path, data=b"{not json", content_type="application/json")
        assert r.status_code == 400 and "JSON object" in r.json["error"]
        r = client.post(path, data=b"[1, 2]", content_type="application/json")
        assert r.status_code == 400
    assert client.post("/predict", json={"tasks": "x", "project": PROJECT}).status_code == 400
    assert client.post("/setup", json={"project": "abc", "schema": NER}).status_code == 400
    r = client.post("/webhook", json={"project": {"id": 1}})
    assert r.status_code == 400 and "action" in r.json["error"]


def test_predict_answers_one_element_per_task_in_order_with_per_task_errors(client):
    client.post("/setup", json=setup_body())
    tasks = [
        ls_task(11, "Anna Schmidt works for Siemens in München ."),
        ls_task(12, None, other="no text field"),
        ls_task(13, ""),
        ls_task(14, "x" * 1_000_000),  # a 1 MB text
        ls_task(15, "王小明在北京工作 🙂"),
        {"no": "id"},
    ]
    r = client.post("/predict", json=predict_body(tasks))
    assert r.status_code == 200
    results = r.json["results"]
    assert len(results) == len(tasks)
    # no stored prediction and no student yet: no element carries a "result" Label Studio would store
    assert all("result" not in el for el in results)
    assert "no string field 'text'" in results[1]["error"]
    assert "integer 'id'" in results[5]["error"]


def test_predict_for_an_unknown_project_without_config_is_a_clear_400(client):
    r = client.post("/predict", json={"tasks": [ls_task(1, "a")], "project": "7.1700000000", "params": {}})
    assert r.status_code == 400 and "has not been set up" in r.json["error"]


def test_webhook_records_the_annotation_before_answering_and_it_survives_a_restart(make_app):
    app = make_app(train_threshold=100)
    c = app.test_client()
    text = "Zoë Durand 🙂 lives in Québec ."
    result = [region("a", 0, 10, "Zoë Durand", "Peop"), region("b", 23, 29, "Québec", "Loc"), relation("a", "b", "Live_In")]
    t0 = time.perf_counter()
    r = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 501, 7, text, result))
    assert time.perf_counter() - t0 < 0.3  # Label Studio waits at most 1 s, inside the annotator's request
    assert r.status_code == 201 and r.json["status"] == "ok" and r.json["new_human_labels"] == 1
    app.extensions["llmaaa"].close()

    again = make_app(train_threshold=100).extensions["llmaaa"]  # a new process on the same MODEL_DIR
    ctx = again.context("1")
    anns = ctx.state.annotations()
    assert [(a["task_id"], a["annotation_id"], a["text"]) for a in anns] == [(7, 501, text)]
    assert anns[0]["result"] == result
    assert ctx.state.label_counts()["human"] == 1


def test_webhook_update_delete_cancel_and_unknown_events(make_app):
    app = make_app(train_threshold=100)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 1, 1, "Bob ran .", [region("a", 0, 3, "Bob", "Peop")]))
    c.post("/webhook", json=annotation_event("ANNOTATION_UPDATED", 1, 1, "Bob ran .", [region("a", 0, 3, "Bob", "Org")]))
    assert [a["result"][0]["value"]["labels"] for a in st.annotations()] == [["Org"]]
    r = c.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 1}], "project": {"id": 1}})
    assert r.status_code == 201 and st.annotations() == []
    cancelled = annotation_event("ANNOTATION_CREATED", 2, 1, "Bob ran .", [])
    cancelled["annotation"]["was_cancelled"] = True
    c.post("/webhook", json=cancelled)
    assert st.annotations() == []
    for action in ("PROJECT_UPDATED", "SOMETHING_NEW", "PROJECT_CREATED"):
        r = c.post("/webhook", json={"action": action, "project": {"id": 1}})
        assert r.status_code == 200 and r.json == {"status": "Unknown event"}
    bad = annotation_event("ANNOTATION_CREATED", 3, 1, "x", [])
    bad["annotation"].pop("id")
    r = c.post("/webhook", json=bad)
    assert r.status_code == 400 and "integer 'id'" in r.json["error"]


def test_annotations_created_in_bulk_are_recorded_as_gold(make_app):
    """An import of annotations (human ones, with no parent prediction) sends one ANNOTATIONS_CREATED with lists."""
    app = make_app(train_threshold=2, run_jobs=False)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    one = annotation_event("ANNOTATION_CREATED", 11, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")])
    two = annotation_event("ANNOTATION_CREATED", 12, 2, "Bo ran .", [region("a", 0, 2, "Bo", "Peop")])
    skipped = annotation_event("ANNOTATION_CREATED", 13, 3, "Cy ran .", [])
    skipped["annotation"]["was_cancelled"] = True
    body = {"action": "ANNOTATIONS_CREATED", "project": one["project"],
            "annotation": [one["annotation"], two["annotation"], skipped["annotation"]],
            "task": [one["task"], two["task"], skipped["task"]]}
    r = c.post("/webhook", json=body)
    assert r.status_code == 201 and r.json["new_human_labels"] == 2 and r.json["job"] is not None
    assert [(a["annotation_id"], a["task_id"], a["text"]) for a in st.annotations()] == \
        [(11, 1, "Ann ran ."), (12, 2, "Bo ran .")]
    for bad, message in (({"annotation": None}, "'annotation' list"),
                         ({"annotation": [{"id": 14}], "task": []}, "annotated task's id")):
        r = c.post("/webhook", json={**body, **bad})
        assert r.status_code == 400 and message in r.json["error"], bad
    # one malformed item among good ones: the good ones are recorded, the bad one is named
    three = annotation_event("ANNOTATION_CREATED", 15, 4, "Di ran .", [region("a", 0, 2, "Di", "Peop")])
    r = c.post("/webhook", json={**body, "annotation": [{"task": 4}, three["annotation"]], "task": [three["task"]]})
    assert r.status_code == 201 and r.json["errors"] == ["ANNOTATIONS_CREATED without an 'annotation' object with an integer 'id'"]
    assert [a["annotation_id"] for a in st.annotations()] == [11, 12, 15]


def test_annotations_made_from_predictions_nobody_opened_are_not_gold(make_app):
    """"Create annotations from predictions" copies the LLM's labels under a user's name (``parent_prediction``,
    no ``lead_time``): counted as unreviewed, never demos or meta set, and no trigger for a round. Opened and
    submitted in the editor (a ``lead_time``), the same annotation becomes gold."""
    app = make_app(train_threshold=2, run_jobs=False)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    human = annotation_event("ANNOTATION_CREATED", 21, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")])
    copies = [annotation_event("ANNOTATION_CREATED", 22 + i, 2 + i, f"Bo{i} ran .", [region("a", 0, 3, f"Bo{i}", "Peop")])
              for i in range(3)]
    for i, e in enumerate(copies):
        e["annotation"].update(parent_prediction=500 + i, lead_time=None)
    body = {"action": "ANNOTATIONS_CREATED", "project": human["project"],
            "annotation": [human["annotation"], *(e["annotation"] for e in copies)],
            "task": [human["task"], *(e["task"] for e in copies)]}
    r = c.post("/webhook", json=body)
    assert r.status_code == 201 and r.json["unreviewed"] == 3
    assert r.json["new_human_labels"] == 1 and r.json["job"] is None  # the threshold (2) counts humans only
    assert [a["annotation_id"] for a in st.annotations()] == [21]
    assert st.label_counts()["human"] == 1 and st.label_counts()["unreviewed"] == 3
    # one of them opened in the editor and submitted unchanged: reviewed, gold, and it completes the threshold
    opened = {**copies[0], "action": "ANNOTATION_UPDATED"}
    opened["annotation"] = {**copies[0]["annotation"], "lead_time": 4.5}
    r = c.post("/webhook", json=opened)
    assert r.status_code == 201 and "unreviewed" not in r.json and r.json["job"] is not None
    assert [a["annotation_id"] for a in st.annotations()] == [21, 22]
    assert st.label_counts()["unreviewed"] == 2 and c.get("/metrics").json["projects"]["1"]["labels"]["unreviewed"] == 2
    # one made through the API from a prediction (no lead_time) is unreviewed too; deleting it forgets it
    single = {**copies[1], "action": "ANNOTATION_CREATED"}
    assert c.post("/webhook", json=single).json["unreviewed"] == 1
    c.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": human["project"], "annotations": [{"id": 23}]})
    assert st.label_counts()["unreviewed"] == 1 and st.unreviewed_ids() == {24}


def test_a_bulk_of_annotations_is_one_commit(make_app):
    """Label Studio sends up to 5,000 annotations in one ANNOTATIONS_CREATED and waits 1 s."""
    app = make_app(train_threshold=10**6, run_jobs=False)
    st = app.extensions["llmaaa"].context("1").state
    events = [annotation_event("ANNOTATION_CREATED", 1000 + i, 1 + i, f"Ann {i} ran .", [region("a", 0, 3, "Ann", "Peop")])
              for i in range(2000)]
    body = {"action": "ANNOTATIONS_CREATED", "project": events[0]["project"],
            "annotation": [e["annotation"] for e in events], "task": [e["task"] for e in events]}
    commits = []
    st._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    r = app.test_client().post("/webhook", json=body)
    st._db.set_trace_callback(None)
    assert r.status_code == 201 and r.json["new_human_labels"] == 2000 and len(st.annotations()) == 2000
    assert commits == ["COMMIT"]


def test_a_label_config_edited_in_label_studio_is_used_at_once(make_app):
    """PROJECT_UPDATED carries the new config: the next round labels with the new label set."""
    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    ctx = app.extensions["llmaaa"].context("1")
    c.post("/setup", json=setup_body(NER_RE))
    project = {"id": 1, "title": "p", "label_config": NER}
    r = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project})
    assert r.status_code == 201 and r.json == {"status": "ok", "label_config": "updated"}
    assert ctx.label_config == NER and ctx.state.get_meta("label_config") == NER and ctx.schema.task == "ner"
    r = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project})
    assert r.json["label_config"] == "unchanged"
    choices = '<View><Choices name="c" toName="t"><Choice value="a"/></Choices><Text name="t" value="$t"/></View>'
    r = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {**project, "label_config": choices}})
    assert r.status_code == 201 and r.json["label_config"] == "not served" and "<Labels" in r.json["error"]
    assert ctx.label_config == NER  # the served config stays


def test_no_round_runs_while_the_projects_config_is_one_the_backend_refuses(make_app):
    """Before, Start Training after an edit into an unserved config ran a round that wrote predictions for the
    old config (from_name "label"), which Label Studio would have pushed into the edited project."""
    app = make_app(train_threshold=1, run_jobs=False)
    c = app.test_client()
    ctx = app.extensions["llmaaa"].context("1")
    c.post("/setup", json=setup_body(NER))
    jobs = len(ctx.state.jobs())
    two = ('<View><Labels name="a" toName="t"><Label value="X"/></Labels><Labels name="b" toName="t">'
           '<Label value="Y"/></Labels><Text name="t" value="$text"/></View>')
    project = {"id": 1, "title": "p", "label_config": two}
    assert c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project}).json["label_config"] == "not served"
    r = c.post("/webhook", json={"action": "START_TRAINING", "project": project})
    assert r.status_code == 400 and "label config is not served: the config has 2 label blocks" in r.json["error"]
    from ml_backend.jobs import run_round
    with pytest.raises(RuntimeError, match="not served"):  # a round queued before the edit fails, and says why
        run_round(ctx, {"id": 0, "reason": "queued before the edit"})
    event = annotation_event("ANNOTATION_CREATED", 7, 3, "Ann ran .", [region("a", 0, 3, "Ann", "PER")])
    r = c.post("/webhook", json={**event, "project": project})
    assert r.status_code == 201 and r.json["job"] is None and "not served" in r.json["error"]
    assert len(ctx.state.get_meta("unserved_config")) > 0 and len(ctx.state.jobs()) == jobs
    # reverting the edit to the config served before ends the wait too
    r = c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {**project, "label_config": NER}})
    assert r.json["label_config"] == "updated" and ctx.unserved is None
    c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": project})
    # the state survives a restart, and a served config ends the wait
    app.extensions["llmaaa"].close()
    app2 = make_app(train_threshold=1, run_jobs=False)
    ctx2 = app2.extensions["llmaaa"].context("1")
    assert ctx2.unserved is not None
    served = {**project, "label_config": NER_RE}
    r = app2.test_client().post("/webhook", json={"action": "PROJECT_UPDATED", "project": served})
    assert r.json["label_config"] == "updated" and ctx2.unserved is None
    assert app2.test_client().post("/webhook", json={"action": "START_TRAINING", "project": served}).json["job"]


def test_a_prediction_stored_under_an_old_label_config_is_not_served_under_the_new_one(make_app):
    """Before: the stored body went out with the old from_name, to_name and labels, which the edited project no
    longer has (Label Studio then rejects the whole batch). Now it is predicted again for the new config."""
    from label_studio_sdk.label_interface import LabelInterface
    from openai_stub import ScriptedOpenAI

    new = ('<View><Labels name="ner" toName="body"><Label value="Person"/><Label value="City"/></Labels>'
           '<Text name="body" value="$text"/></View>')
    task = ls_task(1, "Anna lives in Oslo .")
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}, {"span": "Oslo", "type": "LOC"}]',
                         '[{"span": "Anna", "type": "Person"}, {"span": "Oslo", "type": "City"}]']) as llm:
        app = make_app(llm_base_url=llm.base_url, predict_on_demand="llm", teacher_k=0, run_jobs=False)
        c = app.test_client()
        [old] = c.post("/predict", json=predict_body([task], NER)).json["results"]
        assert {r["from_name"] for r in old["result"]} == {"label"}
        c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1, "label_config": new}})
        [fresh] = c.post("/predict", json=predict_body([task], new)).json["results"]
        [again] = c.post("/predict", json=predict_body([task], new)).json["results"]
        assert len(llm.requests) == 2  # asked once per config, then served from the store
    assert [(r["from_name"], r["to_name"], r["value"]["labels"]) for r in fresh["result"]] == [
        ("ner", "body", ["Person"]), ("ner", "body", ["City"])]
    assert not LabelInterface(new).validate_prediction({"result": fresh["result"]}, return_errors=True)
    assert again == fresh


def test_threshold_and_start_training_queue_one_round(make_app):
    app = make_app(train_threshold=2, run_jobs=False)  # keep the job queued so the test can see it
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    r1 = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 1, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")]))
    assert r1.json["job"] is None
    r2 = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 2, 2, "Bo ran .", [region("a", 0, 2, "Bo", "Peop")]))
    r3 = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 3, 3, "Cy ran .", [region("a", 0, 2, "Cy", "Peop")]))
    assert r2.json["job"] is not None and r3.json["job"] == r2.json["job"]  # a burst makes one round
    r4 = c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1, "label_config": NER_RE}})
    assert r4.status_code == 201 and r4.json["job"] == r2.json["job"]
    assert [(j["kind"], j["status"]) for j in st.jobs()] == [("round", "queued")]


def test_tasks_imported_after_connecting_start_the_cold_start_round(make_app):
    app = make_app(run_jobs=False)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/setup", json=setup_body())  # connected before any task exists: the cold-start round is queued
    r = c.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 1}, "tasks": [{"id": 1}]})
    assert r.status_code == 201 and r.json["job"] == st.jobs()[0]["id"]  # one round, not two
    st.publish_version("llmaaa-1")
    r = c.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 1}, "tasks": [{"id": 2}]})
    assert r.status_code == 200 and r.json == {"status": "Unknown event"}  # later imports wait for the next round
    # the tasks an import carries are recorded: a round whose pull from Label Studio fails labels them too
    imported = [{"id": 3, "data": {"text": "Zoë 🙂 lives in 北京"}}, {"id": 4, "data": {"other": "no text"}}, "junk",
                {"id": 5, "data": {"text": "Anna in Oslo"}}]
    c.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 1}, "tasks": imported})
    assert st.tasks() == {3: "Zoë 🙂 lives in 北京", 5: "Anna in Oslo"}


def test_basic_auth_on_every_route(make_app):
    c = make_app(basic_auth_user="ls", basic_auth_pass="s3cret").test_client()
    for method, path in (("get", "/health"), ("post", "/setup"), ("post", "/predict"), ("post", "/webhook"), ("get", "/metrics")):
        r = getattr(c, method)(path, json={})
        assert r.status_code == 401 and "WWW-Authenticate" in r.headers, path
    wrong = {"Authorization": "Basic " + base64.b64encode(b"ls:nope").decode()}
    assert c.get("/health", headers=wrong).status_code == 401
    good = {"Authorization": "Basic " + base64.b64encode(b"ls:s3cret").decode()}
    assert c.get("/health", headers=good).status_code == 200
    assert c.get("/health", headers={"Authorization": "basic " + base64.b64encode(b"ls:s3cret").decode()}).status_code == 200
    assert c.post("/setup", json=setup_body(), headers=good).status_code == 200


def test_bad_options_are_refused_at_start_all_named_in_one_error(make_app, monkeypatch):
    monkeypatch.setenv("LLM_RE_PAIRS", "typed")
    with pytest.raises(ConfigError) as e:
        make_app(sampler="least_confidance", predict_on_demand="always", llm_batch=0, basic_auth_user="ls",
                 keep_prediction_versions=-1)
    msg = str(e.value)
    for part in ("SAMPLER='least_confidance': unknown sampler 'least_confidance'; choose one of", "least_confidence", "PREDICT_ON_DEMAND='always'",
                 "LLM_BATCH=0: must be at least 1", "BASIC_AUTH_USER and BASIC_AUTH_PASS",
                 "KEEP_PREDICTION_VERSIONS=-1: must not be negative", "LLM_RE_PAIRS='typed': choose one of all, seen"):
        assert part in msg, part
    monkeypatch.setenv("LLM_RE_PAIRS", "seen")
    monkeypatch.setenv("LLM_TIMEOUT_S", "soon")
    with pytest.raises(ConfigError, match="LLM_TIMEOUT_S"):
        make_app()


def test_metrics_reports_projects_jobs_and_hides_secrets(make_app):
    app = make_app(train_threshold=100, llm_api_key="sk-secret")
    c = app.test_client()
    c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 1, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")]))
    m = c.get("/metrics").json
    assert m["projects"]["1"]["labels"]["human"] == 1
    assert "sk-secret" not in json.dumps(m)


def test_a_job_left_running_by_a_crash_is_requeued(make_app, tmp_path):
    app = make_app(train_threshold=100, run_jobs=False)
    backend = app.extensions["llmaaa"]
    st = backend.context("1").state
    job = st.add_job("round", "test")
    assert st.claim_job()["id"] == job  # "running" when the process dies (kill -9)
    backend.close()

    # no job thread this time: the resumed job would run and fail (no /setup in this test) while the assertions
    # read the state, and CPython 3.11's concurrent traceback formatting can raise SystemError (ast.parse in threads)
    again = make_app(train_threshold=100, run_jobs=False).extensions["llmaaa"]
    jobs = again.context("1").state.jobs()
    statuses = {j["id"]: j["status"] for j in jobs}
    assert statuses[job] == "interrupted"
    assert any(j["reason"].startswith("resumed after interruption") for j in jobs)


def test_a_job_killed_after_its_round_was_recorded_is_done_not_rerun(make_app):
    """Re-running a round that already finished would buy one more LLM batch for nothing."""
    app = make_app(train_threshold=100, run_jobs=False)
    backend = app.extensions["llmaaa"]
    st = backend.context("1").state
    earlier = st.add_job("round", "earlier")
    st.claim_job()
    st.add_round(1, "llmaaa-1", {"labels_by_source": {"human": 0, "llm": 20}})
    st.finish_job(earlier, "done")
    job = st.add_job("round", "test")
    st.claim_job()
    st.add_round(2, "llmaaa-2", {"labels_by_source": {"human": 3, "llm": 20}})  # the kill comes here
    backend.close()

    jobs = make_app(train_threshold=100, run_jobs=False).extensions["llmaaa"].context("1").state.jobs()
    assert [(j["id"], j["status"]) for j in jobs] == [(job, "done"), (earlier, "done")]  # nothing queued
    assert jobs[0]["detail"]["recovered"] == "round 2 was recorded"
    assert jobs[0]["detail"]["labels_by_source"] == {"human": 3, "llm": 20}


def test_tasks_deleted_in_label_studio_are_forgotten_with_their_predictions(make_app):
    """A prediction pushed for a deleted task makes Label Studio refuse the whole batch: deleted tasks must go."""
    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/setup", json=setup_body())
    c.post("/predict", json=predict_body([ls_task(1, "Ann ran ."), ls_task(2, "Bo ran ."), ls_task(3, "Cy ran .")]))
    c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 7, 2, "Bo ran .", [region("a", 0, 2, "Bo", "Peop")]))
    st.save_predictions([(t, "llmaaa-1", "llm", 0.5, {"result": [], "score": 0.5, "model_version": "llmaaa-1"})
                         for t in (1, 2, 3)])
    st.save_llm_labels([{"id": "1", "text": "Ann ran .", "entities": [], "relations": []}], 1)
    r = c.post("/webhook", json={"action": "TASKS_DELETED", "tasks": [{"id": 1}, {"id": 2}, {"id": 99}],
                                 "project": {"id": 1, "label_config": NER_RE}})
    assert r.status_code == 201 and r.json == {"status": "ok", "tasks_deleted": 2}
    assert sorted(st.tasks()) == [3] and st.llm_labels() == [] and st.annotations() == []
    assert sorted(st.predictions_for([1, 2, 3])) == [3]
    # "delete all tasks" through the API names no project: task ids are global in Label Studio
    r = c.post("/webhook", json={"action": "TASKS_DELETED", "tasks": [{"id": 3}]})
    assert r.status_code == 201 and r.json["tasks_deleted"] == 1 and st.tasks() == {}


def test_ids_sqlite_cannot_store_are_bad_requests_not_500s(client):
    client.post("/setup", json=setup_body())
    r = client.post("/predict", json=predict_body([ls_task(2**70, "Ann ran ."), ls_task(True, "Bo ran ."), ls_task(3, "Cy .")]))
    assert r.status_code == 200
    assert [x.get("error") for x in r.json["results"]][:2] == ["task has no integer 'id'"] * 2
    big = annotation_event("ANNOTATION_CREATED", 2**70, 1, "Ann ran .", [])
    r = client.post("/webhook", json=big)
    assert r.status_code == 400 and "integer 'id'" in r.json["error"]
    big = annotation_event("ANNOTATION_CREATED", 1, 1, "Ann ran .", [])
    big["task"]["id"] = 2**70
    r = client.post("/webhook", json=big)
    assert r.status_code == 400 and "annotated task's id" in r.json["error"]
    for action, key in (("ANNOTATIONS_DELETED", "annotations"), ("TASKS_DELETED", "tasks")):
        r = client.post("/webhook", json={"action": action, key: [{"id": 2**70}], "project": {"id": 1}})
        assert r.status_code == 201, action


def test_annotations_deleted_without_a_project_is_applied_not_refused(make_app):
    """Label Studio sends ANNOTATIONS_DELETED with no project when an annotation is turned into a draft."""
    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 4, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")]))
    r = c.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "annotations": [{"id": 4}]})
    assert r.status_code == 201 and r.json == {"status": "ok", "annotations_deleted": 1}
    assert st.annotations() == []
    r = c.post("/webhook", json={"action": "ANNOTATIONS_DELETED"})  # its usual form: the ids are already gone
    assert r.status_code == 201 and r.json == {"status": "ok", "annotations_deleted": 0}


def test_a_task_sent_with_an_edited_text_is_not_served_its_old_prediction(make_app):
    """The stored prediction's offsets point into the old text; recording the new text drops it."""
    app = make_app(train_threshold=100, run_jobs=False, predict_on_demand="none")
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/setup", json=setup_body())
    c.post("/predict", json=predict_body([ls_task(1, "Ann ran ."), ls_task(2, "Bo ran .")]))
    body = {"result": [region("r", 0, 3, "Ann", "Peop")], "score": 0.5, "model_version": "llmaaa-1"}
    st.save_predictions([(t, "llmaaa-1", "llm", 0.5, body) for t in (1, 2)])
    served = c.post("/predict", json=predict_body([ls_task(1, "Ann ran ."), ls_task(2, "Bo ran .")])).json["results"]
    assert [r.get("result") for r in served] == [body["result"]] * 2
    edited = c.post("/predict", json=predict_body([ls_task(1, "Annabel ran ."), ls_task(2, "Bo ran .")])).json["results"]
    assert "result" not in edited[0] and edited[1]["result"] == body["result"]
    assert st.tasks()[1] == "Annabel ran ." and sorted(st.predictions_for([1, 2])) == [2]
    st.upsert_tasks([(2, "Bob ran .", None)])  # the pull records an edit made in Label Studio
    assert st.predictions_for([1, 2]) == {}


def test_bad_input_found_by_review_gets_a_clear_answer_and_costs_only_itself(make_app):
    """A malformed stored region, a lone surrogate, string ids in a delete: none may break the project."""
    app = make_app(train_threshold=100, run_jobs=False, predict_on_demand="none")
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    good = annotation_event("ANNOTATION_CREATED", 1, 1, "Ann ran .", [region("a", 0, 3, "Ann", "Peop")])
    assert c.post("/webhook", json=good).status_code == 201
    # regions of the wrong shape are stored (Label Studio is the authority) and cost only themselves when read
    odd = [{"id": "x", "from_name": "label", "to_name": "text", "type": "labels", "value": "Alice"},
           {"id": "y", "from_name": "label", "to_name": "text", "type": "labels",
            "value": {"start": 0, "end": 2, "labels": {"a": 1}}},
           {"id": "z", "type": "relation", "from_id": "x", "to_id": "y", "labels": {"a": 1}},
           region("b", 0, 2, "Bo", "Peop")]
    assert c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 2, 2, "Bo ran .", odd)).status_code == 201
    assert c.get("/export?project=1").status_code == 200 and c.get("/report.json?project=1").status_code == 200
    not_a_list = annotation_event("ANNOTATION_CREATED", 3, 3, "Cy ran .", [])
    not_a_list["annotation"]["result"] = 5
    r = c.post("/webhook", json=not_a_list)
    assert r.status_code == 400 and "not a list of regions" in r.json["error"]
    # a lone surrogate: that task's error, that item's error; the rest of the batch is served and stored
    def post(route, body):  # JSON with \ud800 escaped, as a client in any language sends a lone surrogate
        return c.post(route, data=json.dumps(body), content_type="application/json")

    r = post("/predict", predict_body([ls_task(20, "a\ud800b"), ls_task(21, "Ann ran .")]))
    assert r.status_code == 200 and len(r.json["results"]) == 2
    meta = {**ls_task(22, "Eve ran ."), "data": {"text": "Eve ran .", "source": "x\ud800"}}  # not the text: stored
    r = post("/predict", predict_body([meta, ls_task(23, "Fay ran .")]))
    assert r.status_code == 200 and len(r.json["results"]) == 2 and {22, 23} <= set(st.tasks())
    bad = annotation_event("ANNOTATION_CREATED", 4, 4, "x\ud800", [])
    ok = annotation_event("ANNOTATION_CREATED", 5, 5, "Di ran .", [region("d", 0, 2, "Di", "Peop")])
    r = post("/webhook", {"action": "ANNOTATIONS_CREATED", "project": ok["project"],
                          "annotation": [bad["annotation"], ok["annotation"]], "task": [bad["task"], ok["task"]]})
    assert r.status_code == 201 and "lone surrogate" in r.json["errors"][0]
    assert 5 in {a["annotation_id"] for a in st.annotations()}
    assert post("/setup", setup_body("\ud800")).status_code == 400
    # deletes with ids as a script sends them are applied and counted; nothing usable is a 400
    r = c.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": [{"id": "1"}, 2]})
    assert r.status_code == 201 and r.json["annotations_deleted"] == 2
    assert {a["annotation_id"] for a in st.annotations()} == {5}
    r = c.post("/webhook", json={"action": "ANNOTATIONS_DELETED", "project": {"id": 1}, "annotations": [{"x": 1}]})
    assert r.status_code == 201 and r.json["annotations_deleted"] == 0 and "without an annotation id" in r.json["ignored"]
    r = c.post("/setup", json=setup_body(NER, project="1000000000000000000000000000000.17"))
    assert r.status_code == 400 and "not a Label Studio project id" in r.json["error"]
    # digits int() refuses ("²"), and JSON nested past the parser's depth: 400s, not 500s
    for route, body in (("/setup", setup_body(NER, project="².17")), ("/predict", predict_body([], NER, project="².1")),
                        ("/webhook", {"action": "START_TRAINING", "project": {"id": "²"}})):
        r = c.post(route, json=body)
        assert r.status_code == 400 and "not a Label Studio project id" in r.json["error"], route
    assert c.get("/export?project=²").status_code == 400
    r = c.post("/predict", data="[" * 100000, content_type="application/json")
    assert r.status_code == 400 and "nested too deeply" in r.json["error"]


def test_state_written_before_predictions_recorded_their_config_opens_and_serves(tmp_path):
    """A MODEL_DIR from an earlier version (no ``config`` column): opened, migrated, its predictions still served."""
    import sqlite3

    from ml_backend.state import ProjectState

    d = tmp_path / "7"
    d.mkdir()
    db = sqlite3.connect(d / "state.db")
    db.executescript("CREATE TABLE predictions (task_id INTEGER PRIMARY KEY, version TEXT NOT NULL, source TEXT NOT NULL,"
                     " score REAL, body TEXT NOT NULL, created_at REAL);"
                     "CREATE TABLE tasks (id INTEGER PRIMARY KEY, text TEXT NOT NULL, data TEXT, seen_at REAL);"
                     "INSERT INTO tasks VALUES (1, 'Anna .', NULL, 0);"
                     "INSERT INTO predictions VALUES (1, 'v1', 'llm', 0.5, '{\"result\": []}', 0);")
    db.commit()
    db.close()
    st = ProjectState(tmp_path, 7)
    assert st.prediction_json_for({1: "Anna ."}, "abc") == {1: '{"result": []}'}
    st.save_predictions([(1, "v2", "llm", 0.4, {"result": [], "score": 0.4})], "def")
    assert st.prediction_json_for({1: "Anna ."}, "abc") == {}  # written for another config
    assert json.loads(st.prediction_json_for({1: "Anna ."}, "def")[1])["score"] == 0.4


def test_a_task_id_repeated_with_another_text_in_one_batch_is_a_per_task_error(make_app):
    """Before: both got the spans of the last text, so the first task's offsets pointed into the wrong text."""
    from openai_stub import ScriptedOpenAI

    with ScriptedOpenAI(['[{"span": "Bob", "type": "PER"}]']) as llm:
        app = make_app(llm_base_url=llm.base_url, predict_on_demand="llm", teacher_k=0, run_jobs=False)
        r = app.test_client().post("/predict", json=predict_body(
            [ls_task(41, "Bob is in Rome today ."), ls_task(41, "Anna lives in Oslo ."), ls_task(41, "Bob is in Rome today .")],
            NER))
    first, second, third = r.json["results"]
    assert [x["value"]["text"] for x in first["result"]] == ["Bob"] and third == first
    assert "repeated in this batch" in second["error"]


def test_an_annotation_with_no_usable_region_is_kept_but_named_and_not_gold(make_app):
    """Before: answered "ok" and used as gold with no entities, teaching the student that the marked spans are O."""
    from ml_backend.results import human_example, unusable_gold

    app = make_app(train_threshold=100, run_jobs=False)
    c = app.test_client()
    c.post("/setup", json=setup_body(NER))
    ctx = app.extensions["llmaaa"].context("1")
    wizard = [region("a", 0, 4, "Anna", "Wizard")]
    r = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 7, 1, "Anna lives in Oslo .", wizard, NER))
    assert r.status_code == 201 and "none of its 1 region(s) has a label of the config" in r.json["warning"]
    assert [a["annotation_id"] for a in ctx.state.annotations()] == [7]  # recorded all the same
    assert unusable_gold(human_example(1, "Anna lives in Oslo .", wizard, ctx.schema), wizard, ctx.schema).startswith(
        "none of its 1 region(s) has a label of the config")
    # an annotation with no region says "no entities" and is gold; so is one with a usable region beside a bad one
    for result in ([], [*wizard, region("b", 14, 18, "Oslo", "LOC")]):
        r = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 8, 2, "Anna lives in Oslo .", result, NER))
        assert "warning" not in r.json
        assert not unusable_gold(human_example(2, "Anna lives in Oslo .", result, ctx.schema), result, ctx.schema)
    # a task whose data lacks the config's text field: recorded, and the answer says why it is not used yet
    event = annotation_event("ANNOTATION_CREATED", 9, 3, "x", [region("a", 0, 1, "x", "PER")], NER)
    event["task"]["data"] = {"sentence": "x"}
    r = c.post("/webhook", json=event)
    assert r.status_code == 201 and "has no text in data['text']" in r.json["warning"]


def test_a_slow_llm_on_demand_answers_within_the_deadline_and_stores_the_late_prediction(make_app):
    """Before: /predict waited for every retry of a hung LLM (minutes), past Label Studio's 100 s, which then
    dropped the whole batch. Now the tasks get an error at PREDICT_LLM_DEADLINE_S, and the late answer is kept."""
    from openai_stub import Reply, ScriptedOpenAI

    task = ls_task(1, "Anna lives in Oslo .")
    with ScriptedOpenAI([Reply('[{"span": "Anna", "type": "PER"}]', delay=2.0)]) as llm:
        app = make_app(llm_base_url=llm.base_url, predict_on_demand="llm", teacher_k=0, run_jobs=False,
                       predict_llm_deadline_s=0.5)
        c = app.test_client()
        [first] = c.post("/predict", json=predict_body([task], NER)).json["results"]
        assert "PREDICT_LLM_DEADLINE_S" in first["error"]  # answered before the LLM did
        st = app.extensions["llmaaa"].context("1").state
        deadline = time.monotonic() + 30
        while not st.predictions_for([1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        [later] = c.post("/predict", json=predict_body([task], NER)).json["results"]
        assert len(llm.requests) == 1  # served from the store: the LLM is not asked twice
    assert [r["value"]["text"] for r in later["result"]] == ["Anna"]


def test_sampler_reduction_ranks_by_uncertainty_per_token_and_a_bad_one_stops_the_boot(tmp_path):
    """With documents the sum put any long, confident task before a short one where every token is a coin toss."""
    import numpy as np

    from llmaaa.models.base import ModelOutputs
    from ml_backend.config import BackendConfig
    from ml_backend.engine import Engine
    from ml_backend.labeling import parse_config

    long_sure = np.tile([0.98, 0.01, 0.01], (2000, 1))
    short_doubtful = np.tile([0.5, 0.5, 0.0], (12, 1))
    scores = {}
    for reduction in ("sum", "mean"):
        cfg = BackendConfig(model_dir=str(tmp_path), sampler_reduction=reduction).validate()
        scores[reduction] = Engine(cfg, parse_config(NER), tmp_path).sampler().scores(
            ModelOutputs([long_sure, short_doubtful], np.eye(2, dtype=np.float32)))
    assert scores["sum"][0] > scores["sum"][1] and scores["mean"][1] > scores["mean"][0]
    with pytest.raises(ConfigError, match="SAMPLER_REDUCTION='median': choose one of sum, mean, max"):
        BackendConfig(model_dir=str(tmp_path), sampler_reduction="median").validate()
