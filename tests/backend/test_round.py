"""The background round without Label Studio: the scripted LLM pre-annotates, the student trains, the queue is ranked."""

from __future__ import annotations

import json
import math
import re
import time
import traceback

import pytest

from llmaaa.active import base as sampler_registry
from llmaaa.config import ConfigError

from openai_stub import Reply, ScriptedOpenAI, last_user_message, word_logprobs
from tests.backend.conftest import NER, NER_RE, ROOT, annotation_event, ls_task, predict_body, region, setup_body

PEOPLE = ["Anna", "Bruno", "Chloé", "Dmitri", "王小明", "Zoë"]
PLACES = ["Paris", "Berlin", "北京", "Québec", "Lima", "Oslo"]
TEXTS = [f"{p} lives in {c} ." if i % 3 else f"🙂 {p} moved to {c} today ." for i, (p, c) in enumerate(zip(PEOPLE, PLACES))]


def scripted_teacher(req: dict, n: int) -> str:
    """NER: every known name/place in the query; RE: Live_In from a person to a place."""
    query = last_user_message(req)
    if "Head:" in query:
        head = re.search(r"Head: .*\((\w+)\)", query).group(1)
        tail = re.search(r"Tail: .*\((\w+)\)", query).group(1)
        return "Live_In" if (head, tail) == ("Peop", "Loc") else "no_relation"
    text = query.split("Text:", 1)[1]
    found = [{"span": p, "type": "PEOP"} for p in PEOPLE if p in text]  # label case does not matter
    found += [{"span": c, "type": "Loc"} for c in PLACES if c in text]
    found += [{"span": "Mars", "type": "PLANET"}]  # an unknown label: must never reach Label Studio
    return json.dumps(found, ensure_ascii=False)


def wait_idle(state, timeout: float = 240.0) -> list[dict]:
    """The jobs, newest first, once one has run and none is queued or running."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        jobs = state.jobs()
        if jobs and not any(j["status"] in ("queued", "running") for j in jobs):
            return jobs
        time.sleep(0.2)
    raise AssertionError(f"jobs did not finish in {timeout}s: {state.jobs()}")


def assert_valid(results: list[dict], xml: str) -> None:
    from label_studio_sdk.label_interface import LabelInterface

    assert LabelInterface(xml).validate_prediction({"result": results}, return_errors=True) == []


@pytest.fixture
def quick_training(monkeypatch):
    for k, v in {"TRAIN_EPOCHS": "2", "TRAIN_MAX_LENGTH": "32", "TRAIN_PATIENCE": "0", "TRAIN_BATCH_SIZE": "4",
                 "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_S": "5"}.items():
        monkeypatch.setenv(k, v)


def with_logprobs(req: dict, n: int) -> Reply:
    """``scripted_teacher``'s answer with token log-probabilities: sure of the people, 0.6 sure of the places."""
    answer = scripted_teacher(req, n)
    return Reply(answer, logprobs=word_logprobs(answer, {c: math.log(0.6) for c in PLACES}))


def test_llm_round_pre_annotates_the_top_batch_with_valid_ner_and_relations(make_app, quick_training):
    with ScriptedOpenAI(with_logprobs) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(100 + i, t) for i, t in enumerate(TEXTS)]
        c.post("/predict", json=predict_body(tasks))  # Label Studio shows us the tasks
        assert c.post("/setup", json=setup_body(NER_RE)).status_code == 200  # connecting starts the cold-start round
        jobs = wait_idle(st)
        assert [j["status"] for j in jobs] == ["done"], jobs
        detail = jobs[0]["detail"]
        assert detail["llm_labeled"] == 3 and detail["ranked_by"].startswith("random")
        assert "skipped_training" in detail  # no human label yet: the reason is recorded
        round_1 = st.rounds()[-1]["llm_usage"]
        assert round_1["dropped"]["unknown_labels"] == 3 and round_1["reasks"] == 0  # the PLANET in every answer
        n_requests = len(llm.requests)
        # the next batch's bill, before anything is sent: the 3 tasks left, one entity prompt each
        est = detail["next_llm_estimate"]
        assert (est["tasks"], est["requests"], est["cached"]) == (3, 3, 0) and est["prompt_tokens"] > 0
        assert 0 < est["completion_tokens_expected"] <= est["completion_tokens_max"]
        assert "relations" in est  # their pairs depend on the entities still to be found
        assert len(llm.requests) == n_requests  # estimating sent nothing
        html = c.get("/report?project=1").get_data(as_text=True)
        assert "next LLM batch (estimate, nothing sent yet): 3 tasks, 3 requests" in html

        results = c.post("/predict", json=predict_body(tasks)).json["results"]
        assert len(results) == len(TEXTS)
        assert {r["model_version"] for r in results} == {"llmaaa-1"}
        llm_rows = [r for r in results if r["result"]]
        assert len(llm_rows) == 3
        for task, r in zip(tasks, results):
            if not r["result"]:
                continue
            assert_valid(r["result"], NER_RE)
            spans = [x["value"] for x in r["result"] if x["type"] == "labels"]
            assert {v["labels"][0] for v in spans} == {"Peop", "Loc"}  # case-insensitive; PLANET dropped
            assert all(task["data"]["text"][v["start"]:v["end"]] == v["text"] for v in spans)  # emoji, Chinese
            assert [x["labels"] for x in r["result"] if x["type"] == "relation"] == [["Live_In"]]
            # each LLM region shows the LLM's confidence in it (Label Studio lists it with the region)
            assert {x["value"]["labels"][0]: round(x["score"], 6) for x in r["result"] if x["type"] == "labels"} == {
                "Peop": 1.0, "Loc": 0.6}
        # the queue: LLM pre-annotations first (lowest score is served first)
        ordered = sorted(results, key=lambda r: r["score"])
        assert all(r["result"] for r in ordered[:3]) and not any(r["result"] for r in ordered[3:])
        assert st.queue_head(3)[0]["source"] == "llm"

        # a second identical round asks the LLM nothing new (the cache; and labeled tasks are not re-bought)
        c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
        time.sleep(0.3)
        assert wait_idle(st)[0]["status"] == "done"
        assert len(llm.requests) - n_requests <= 3 * 1 + 3 * 2  # only the 3 remaining tasks (NER + a pair each)
        asked = [last_user_message(r) for r in llm.requests[n_requests:]]
        assert sum("Head:" not in q for q in asked) == est["requests"]  # the entity prompts, as estimated
        assert "next_llm_estimate" not in st.rounds()[-1]  # nothing left for the LLM


@pytest.mark.slow
def test_human_labels_trigger_training_and_a_new_version_ranked_by_the_student(make_app, quick_training):
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=3, min_train_labels=3, train_threshold=2, teacher_k=2)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(100 + i, t) for i, t in enumerate(TEXTS)]
        c.post("/predict", json=predict_body(tasks, NER))
        c.post("/setup", json=setup_body(NER))
        wait_idle(st)
        picked = {int(r["task_id"]) for r in st.queue_head(3)}
        rest = [i for i in range(6) if 100 + i not in picked]
        for k, i in enumerate(rest[:2]):  # two human annotations: TRAIN_THRESHOLD=2 starts a round
            text = TEXTS[i]
            res = [region("h", text.index(PEOPLE[i]), text.index(PEOPLE[i]) + len(PEOPLE[i]), PEOPLE[i], "PER")]
            t0 = time.perf_counter()
            r = c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 900 + k, 100 + i, text, res, NER))
            assert r.status_code == 201 and time.perf_counter() - t0 < 0.5
        time.sleep(0.3)
        last = wait_idle(st)[0]
        assert last["status"] == "done", last
        assert last["detail"]["trained"]["gold"] == 2 and last["detail"]["trained"]["llm_labels"] == 3
        assert last["detail"]["ranked_by"] == "least_confidence"
        assert st.current_version == "llmaaa-2"
        assert (st.model_path("llmaaa-2") / "ner" / "README.md").exists()  # the model card
        # the last unannotated, unlabeled task now carries a student prediction of the new version
        left = [i for i in rest[2:]]
        results = c.post("/predict", json=predict_body([tasks[i] for i in left], NER)).json["results"]
        assert {r["model_version"] for r in results} == {"llmaaa-2"}
        for r in results:
            assert_valid(r["result"], NER)

        # a restart serves the same version and student
        app.extensions["llmaaa"].close()
        again = make_app(llm_base_url=llm.base_url).test_client()
        assert again.post("/setup", json=setup_body(NER)).json["model_version"] == "llmaaa-2"
        fresh = again.post("/predict", json=predict_body([ls_task(200, "Anna lives in Oslo .")], NER)).json["results"]
        assert fresh[0]["model_version"] == "llmaaa-2" and "result" in fresh[0]  # the student, on demand

        # "Retrieve predictions" on many tasks: the student answers in chunks until the deadline, the rest
        # get a per-task error (the whole batch was lost past Label Studio's 100 s)
        again.application.extensions["llmaaa"].close()
        again_app = make_app(llm_base_url=llm.base_url, predict_llm_deadline_s=1e-6)
        many = [ls_task(300 + i, f"{PEOPLE[i % len(PEOPLE)]} met guest {i} in {PLACES[i % len(PLACES)]} .")
                for i in range(40)]
        out = again_app.test_client().post("/predict", json=predict_body(many, NER)).json["results"]
        assert sum("result" in r for r in out) == 32 and all("PREDICT_LLM_DEADLINE_S" in r["error"] for r in out[32:])


def cold_started(make_app, texts=TEXTS, **kw):
    """An NER project on ``texts`` (tasks 100, 101, ...) after its cold-start round: ``(app, client, state,
    indices of the texts the LLM left)``."""
    app = make_app(**kw)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/predict", json=predict_body([ls_task(100 + i, t) for i, t in enumerate(texts)], NER))
    c.post("/setup", json=setup_body(NER))
    wait_idle(st)
    picked = {int(r["task_id"]) for r in st.queue_head(3)}
    return app, c, st, [i for i in range(len(texts)) if 100 + i not in picked]


def test_an_annotation_whose_regions_have_no_label_of_the_config_is_not_trained_on_as_gold(make_app, quick_training):
    """Used as gold, it would say its text has no entity, and teach the student that the marked span is O."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        app, c, st, rest = cold_started(make_app, llm_base_url=llm.base_url, llm_batch=3, min_train_labels=3,
                                        train_threshold=3, teacher_k=2)
        for k, i in enumerate(rest[:3]):
            text, name = TEXTS[i], PEOPLE[i]
            label = "Wizard" if k == 0 else "PER"
            res = [region("h", text.index(name), text.index(name) + len(name), name, label)]
            c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 900 + k, 100 + i, text, res, NER))
        time.sleep(0.3)
        last = wait_idle(st)[0]
    assert last["status"] == "done", last
    assert last["detail"]["trained"]["gold"] == 2 and last["detail"]["gold_unusable"] == 1
    assert len(st.annotations()) == 3  # kept all the same


def test_a_long_document_gets_llm_spans_from_every_piece_at_its_own_offsets(make_app, quick_training, monkeypatch):
    monkeypatch.setenv("LLM_MAX_CHARS", "300")
    doc = " ".join(TEXTS * 8)  # ~1,000 chars: several pieces, every name several times
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, predict_on_demand="llm", teacher_k=0, run_jobs=False)
        c = app.test_client()
        [res] = c.post("/predict", json=predict_body([ls_task(1, doc)], NER)).json["results"]
        assert len(llm.requests) >= 4 and all(len(last_user_message(q)) < 600 for q in llm.requests)
    assert "error" not in res
    assert_valid(res["result"], NER)
    got = sorted((r["value"]["start"], r["value"]["text"], r["value"]["labels"][0]) for r in res["result"])
    expected = sorted((m.start(), m.group(0), "PER" if name in PEOPLE else "LOC") for name in PEOPLE + PLACES
                      for m in re.finditer(re.escape(name), doc))
    assert [(s, t) for s, t, _ in got] == [(s, t) for s, t, _ in expected]
    assert all(doc[r["value"]["start"]:r["value"]["end"]] == r["value"]["text"] for r in res["result"])


def test_a_cold_starts_empty_queue_place_is_not_served_as_a_prediction_when_the_llm_predicts_on_demand(
        make_app, quick_training):
    """A cold start gives the tasks outside its LLM batch a queue place with no labels; with
    PREDICT_ON_DEMAND=llm, /predict served that empty placeholder instead of asking the LLM."""
    tasks = [ls_task(200 + i, t) for i, t in enumerate(TEXTS[:5])]
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, predict_on_demand="none",
                       min_train_labels=1000)
        c = app.test_client()
        c.post("/predict", json=predict_body(tasks, NER))  # the tasks are known before the cold start is queued
        c.post("/setup", json=setup_body(NER))
        st = app.extensions["llmaaa"].context("1").state
        jobs = wait_idle(st)
        assert jobs[0]["detail"]["llm_labeled"] == 2, jobs[0]
        placeholders = c.post("/predict", json=predict_body(tasks, NER)).json["results"]
        assert sum(1 for r in placeholders if r.get("result") == []) == 3  # PREDICT_ON_DEMAND=none: the queue place
        asked = len(llm.requests)
        app.extensions["llmaaa"].close()  # the restart with PREDICT_ON_DEMAND=llm
        again = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, predict_on_demand="llm", run_jobs=False)
        results = again.test_client().post("/predict", json=predict_body(tasks, NER)).json["results"]
        assert len(llm.requests) == asked + 3
    assert all(r.get("result") for r in results)  # every task now has the LLM's spans


def test_a_dead_llm_is_recorded_per_task_and_loses_nothing(make_app, quick_training):
    with ScriptedOpenAI([Reply(status=500, text="boom")]) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, predict_on_demand="llm", teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        r = c.post("/predict", json=predict_body([ls_task(1, "Anna lives in Oslo ."), ls_task(2, "Bruno 🙂 .")], NER))
        assert r.status_code == 200
        assert [("result" in x, "error" in x) for x in r.json["results"]] == [(False, True), (False, True)]
        c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 5, 1, "Anna lives in Oslo .",
                                                 [region("a", 0, 4, "Anna", "PER")], NER))
        c.post("/setup", json=setup_body(NER))
        jobs = wait_idle(st)
        assert jobs[0]["status"] == "done" and jobs[0]["detail"]["llm_failed"] >= 1
        assert jobs[0]["detail"]["llm_errors"]
        assert [a["annotation_id"] for a in st.annotations()] == [5]


def test_export_writes_the_dataset_with_provenance(make_app, quick_training, tmp_path, monkeypatch):
    import io
    import zipfile

    from ml_backend.__main__ import main

    monkeypatch.setenv("TRAIN_REWEIGHT", "true")  # the export then carries each LLM label's weight
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, train_threshold=100, min_train_labels=2)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(100 + i, t) for i, t in enumerate(TEXTS)]
        c.post("/predict", json=predict_body(tasks, NER))
        text = TEXTS[5]
        c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 9, 105, text,
                                                 [region("a", text.index("Zoë"), text.index("Zoë") + 3, "Zoë", "PER")], NER))
        c.post("/setup", json=setup_body(NER))
        wait_idle(st)
        c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})  # round 2 trains on the 2 LLM labels
        time.sleep(0.3)
        assert wait_idle(st)[0]["detail"]["trained"]["llm_labels"] == 2
        r = c.get("/export?project=1")
        assert r.status_code == 200 and r.mimetype == "application/zip"
        names = set(zipfile.ZipFile(io.BytesIO(r.data)).namelist())
        assert {"label_studio.json", "dataset.jsonl", "dataset.conll", "learning_curve.json",
                "learning_curve.png"} <= names
        assert c.get("/export?project=42").status_code == 400

    out = tmp_path / "export"
    assert main(["export", "--project", "1", "--output", str(out), "--model-dir", str(tmp_path / "model_dir")]) == 0
    exported = json.loads((out / "label_studio.json").read_text(encoding="utf-8"))
    by_id = {t["id"]: t for t in exported}
    assert by_id[105]["annotations"][0]["source"] == "human"
    llm_tasks = [t for t in exported if t["predictions"]]
    assert len(llm_tasks) == 4 and llm_tasks[0]["predictions"][0]["provenance"]["model"]
    lines = (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert sorted(r["source"] for r in rows) == ["human", "llm", "llm", "llm", "llm"]  # 2 more LLM labels in round 2
    trained_on = [r for r in rows if "weight" in r]  # the student's reweighting weight of the labels it trained on
    assert len(trained_on) == 2 and all(r["source"] == "llm" and r["weight"] >= 0 for r in trained_on)
    assert "Zoë" in (out / "dataset.conll").read_text(encoding="utf-8")
    png = (out / "learning_curve.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 2000  # a drawn figure, not an empty file
    assert main(["export", "--project", "77", "--output", str(out), "--model-dir", str(tmp_path / "model_dir")]) == 2


def test_relations_on_given_entities_ask_the_llm_only_for_relations(make_app, quick_training):
    xml = (ROOT / "label_config" / "re.xml").read_text(encoding="utf-8")
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = []
        for i, (p, place) in enumerate(zip(PEOPLE[:3], PLACES[:3])):
            text = TEXTS[i]
            ents = [{"start": text.index(p), "end": text.index(p) + len(p), "label": "Peop"},
                    {"start": text.index(place), "end": text.index(place) + len(place), "label": "loc"}]
            tasks.append(ls_task(300 + i, text, entities=ents))
        c.post("/predict", json=predict_body(tasks, xml))
        c.post("/setup", json=setup_body(xml))
        assert wait_idle(st)[0]["status"] == "done"
        queries = [last_user_message(r) for r in llm.requests]
        assert queries and all("Head:" in q for q in queries)  # the spans were given: no NER prompt
        results = c.post("/predict", json=predict_body(tasks, xml)).json["results"]
        with_rel = [r for r in results if any(x["type"] == "relation" for x in r["result"])]
        assert len(with_rel) == 2
        for task, r in zip(tasks, results):
            assert_valid(r["result"], xml)
            spans = sorted((x["value"]["start"], x["value"]["labels"][0]) for x in r["result"] if x["type"] == "labels")
            assert spans == sorted((e["start"], e["label"].capitalize()) for e in task["data"]["entities"])


def test_a_round_counts_the_entity_pairs_the_llm_was_not_asked(make_app, quick_training, monkeypatch):
    """Two entities in different pieces of a long text: no request for the pair, and the round says so."""
    monkeypatch.setenv("LLM_MAX_CHARS", "60")
    xml = (ROOT / "label_config" / "re.xml").read_text(encoding="utf-8")
    text = "Anna arrived today . " + "It rained all week long over the hills . " * 3 + "She likes Lima ."
    near = "Bruno lives in Oslo ."
    ents = lambda t, a, b: [{"start": t.index(a), "end": t.index(a) + len(a), "label": "Peop"},  # noqa: E731
                            {"start": t.index(b), "end": t.index(b) + len(b), "label": "Loc"}]
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(400, text, entities=ents(text, "Anna", "Lima")), ls_task(401, near, entities=ents(near, "Bruno", "Oslo"))]
        c.post("/predict", json=predict_body(tasks, xml))
        c.post("/setup", json=setup_body(xml))
        detail = wait_idle(st)[0]["detail"]
        assert detail["llm_labeled"] == 2
        assert detail["llm_pairs_not_asked"] == {"other_piece": 2}  # Anna->Lima and Lima->Anna
        queries = [last_user_message(r) for r in llm.requests]
        assert len(queries) == 2 and all("Bruno" in q for q in queries)  # only the short task's two pairs


@pytest.mark.slow
def test_diversity_samplers_pick_the_llm_batch(make_app, quick_training, monkeypatch):
    """kcenter ranks the round after training, hybrid the next (previous student); a typo in SAMPLER is refused at
    start; a plug-in sampler that fails at run time costs the ranking (seeded random, reason recorded), not the round."""
    texts = [f"{p} visited {c} ." for p in PEOPLE[:4] for c in PLACES[:3]]  # 12 tasks
    tasks = [ls_task(300 + i, t) for i, t in enumerate(texts)]
    with ScriptedOpenAI(scripted_teacher) as llm:
        def round_with(sampler: str, **kw) -> dict:
            app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, sampler=sampler, **kw)
            c, st = app.test_client(), app.extensions["llmaaa"].context("1").state
            c.post("/predict", json=predict_body(tasks, NER))
            c.post("/setup", json=setup_body(NER))
            return app, c, st

        app, c, st = round_with("kcenter", min_train_labels=2, train_threshold=2)
        wait_idle(st)  # cold start: 2 random LLM labels
        for k, i in enumerate((0, 5)):
            if any(int(r["task_id"]) == 300 + i for r in st.queue_head(2)):
                i += 1
            text, p = texts[i], PEOPLE[i // 3]
            c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 700 + k, 300 + i, text,
                                                     [region("h", 0, len(p), p, "PER")], NER))
        time.sleep(0.3)
        last = wait_idle(st)[0]
        assert last["status"] == "done" and last["detail"]["trained"], last
        assert last["detail"]["ranked_by"] == "kcenter" and last["detail"]["llm_labeled"] == 2
        app.extensions["llmaaa"].close()

        def next_round(sampler: str) -> dict:
            app, c, st = round_with(sampler, min_train_labels=100)  # no retraining: the published student ranks
            c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
            time.sleep(0.3)
            job = wait_idle(st)[0]
            app.extensions["llmaaa"].close()
            assert job["status"] == "done", job
            return job["detail"]

        hybrid = next_round("hybrid")
        assert hybrid["ranked_by"] == "hybrid" and hybrid["llm_labeled"] == 2

        class Broken:  # a user's strategy registered next to ours, failing on this pool
            name = "broken"

            def select(self, pool, outputs, k, labeled=(), *, rng=None):
                raise RuntimeError("faiss: no GPU resources")

        monkeypatch.setitem(sampler_registry._REGISTRY, "broken", lambda **options: Broken())
        failed = next_round("broken")
        assert failed["ranked_by"] == "random (broken failed: faiss: no GPU resources)", failed
        assert failed["llm_labeled"] == 2  # the LLM batch was still bought, in the random order
        with pytest.raises(ConfigError, match="SAMPLER='no_such_sampler': unknown sampler 'no_such_sampler'; choose one of"):
            make_app(llm_base_url=llm.base_url, sampler="no_such_sampler")  # boot fails loudly, no silent random rounds


@pytest.mark.slow
def test_the_llm_bill_stops_once_the_student_matches_the_teacher(make_app, quick_training):
    people = ["Anna", "Bruno", "Chloé", "Dmitri", "王小明", "Zoë", "Oskar", "Hana", "Emil"]
    places = ["Paris", "Berlin", "北京", "Québec", "Lima", "Oslo", "Cairo", "Perth", "Kyiv"]
    texts = [f"{p} lives in {c} ." for p, c in zip(people, places)]

    def swapped_teacher(req: dict, n: int) -> str:  # a teacher that gets every type wrong: F1 0 against humans
        query = last_user_message(req).split("Text:", 1)[1]
        return json.dumps([{"span": p, "type": "LOC"} for p in people if p in query]
                          + [{"span": c, "type": "PER"} for c in places if c in query], ensure_ascii=False)

    with ScriptedOpenAI(swapped_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=5, min_train_labels=3, train_threshold=2, teacher_k=0,
                       stop_after_matched=1, stop_min_overlap=2)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(100 + i, t) for i, t in enumerate(texts)]
        c.post("/predict", json=predict_body(tasks, NER))
        c.post("/setup", json=setup_body(NER))
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 5  # cold start: no student, so the rule cannot apply
        asked = len(llm.requests)
        llm_tasks = [int(q["task_id"]) for q in st.queue_head(5)]
        for k, tid in enumerate(llm_tasks[:2]):  # humans correct two LLM pre-annotations
            i = tid - 100
            text = texts[i]
            res = [region("p", 0, len(people[i]), people[i], "PER"),
                   region("c", text.index(places[i]), text.index(places[i]) + len(places[i]), places[i], "LOC")]
            c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 900 + k, tid, text, res, NER))
        time.sleep(0.3)
        last = wait_idle(st)[0]
        assert last["status"] == "done", last
        detail = last["detail"]
        assert detail["trained"]["llm_labels"] == 3 and detail["llm_labeled"] == 0
        assert "STOP_AFTER_MATCHED=1" in detail["llm_stopped"] and "0.000 on 2 tasks" in detail["llm_stopped"]
        assert len(llm.requests) == asked  # not one LLM call this round
        # the queue still has every unannotated task: the older LLM ones first, then student predictions
        sources = [q["source"] for q in st.queue_head(20)]
        assert sources == ["llm"] * 3 + ["student"] * 4
        page = c.get("/report?project=1").get_data(as_text=True)
        assert 'id="llm-stopped"' in page and "LLM labeling paused" in page
        # on-demand predictions stop calling the LLM too (PREDICT_ON_DEMAND=llm): the student answers
        app.extensions["llmaaa"].close()
        again = make_app(llm_base_url=llm.base_url, predict_on_demand="llm", run_jobs=False).test_client()
        again.post("/setup", json=setup_body(NER))
        fresh = again.post("/predict", json=predict_body([ls_task(300, "Emil lives in Oslo .")], NER)).json["results"]
        assert "result" in fresh[0] and len(llm.requests) == asked


def test_copies_of_one_text_take_one_place_in_the_llm_batch(make_app, quick_training):
    """Copies score alike, so a batch could be mostly one sentence (CoNLL03 has "Scorers :" 16 times)."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        _, _, st, _ = cold_started(make_app, [TEXTS[0]] * 4 + [TEXTS[1], TEXTS[2]], llm_base_url=llm.base_url,
                                   llm_batch=3, teacher_k=0)
    detail = st.jobs()[0]["detail"]
    assert (detail["llm_labeled"], detail["llm_copied"]) == (3, 3)  # 3 texts asked; the other copies get the answer
    labels = st.llm_labels()
    assert sorted({d["text"] for d in labels}) == sorted(TEXTS[:3]) and len(labels) == 6
    assert len({json.dumps(d["entities"]) for d in labels if d["text"] == TEXTS[0]}) == 1
    assert {q["source"] for q in st.queue_head(6)} == {"llm"}  # every copy is served the LLM's pre-annotation


def test_an_unreachable_label_studio_skips_the_pull_and_the_round_still_labels(make_app, quick_training):
    """A wrong LABEL_STUDIO_URL (the usual Docker mistake) used to fail every round with a ConnectError."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, label_studio_url="http://127.0.0.1:9")
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        tasks = [ls_task(100 + i, t) for i, t in enumerate(TEXTS[:3])]
        c.post("/predict", json=predict_body(tasks, NER))
        c.post("/setup", json={**setup_body(NER), "access_token": "token-from-label-studio"})
        jobs = wait_idle(st, timeout=60)
    assert [j["status"] for j in jobs] == ["done"], jobs
    detail = jobs[0]["detail"]
    assert detail["pull"].startswith("skipped: cannot reach Label Studio (ConnectError") and "LABEL_STUDIO_URL" in detail["pull"]
    assert detail["llm_labeled"] == 2 and "pushed" not in detail and "push_error" not in detail
    results = c.post("/predict", json=predict_body(tasks, NER)).json["results"]
    assert sum(1 for r in results if r["result"]) == 2


def two_tasks_labeled_at_cold_start(make_app, llm, xml: str):
    """A client, the project state and its jobs once the cold-start round had the LLM label tasks 100 and 101."""
    app = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/predict", json=predict_body([ls_task(100 + i, t) for i, t in enumerate(TEXTS[1:3])], xml))
    c.post("/setup", json=setup_body(xml))
    return c, st, wait_idle(st)


def test_a_task_edited_after_the_llm_labeled_it_is_labeled_again_at_its_new_offsets(make_app, quick_training):
    """The old label's offsets point into the old text: it must not be served, trained on or exported for the new one."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        c, st, _ = two_tasks_labeled_at_cold_start(make_app, llm, NER)
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [100, 101]
        st.upsert_tasks([(100, "Zoë lives in Lima .", None)])  # what the pull records after an edit in Label Studio
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [101]
        c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1, "label_config": NER}})  # queued now
        jobs = wait_idle(st)
    assert len(jobs) == 2 and jobs[0]["detail"]["llm_labeled"] == 1
    relabeled = {int(d["id"]): d for d in st.llm_labels(current=True)}[100]
    assert relabeled["text"] == "Zoë lives in Lima ."
    assert [(e["start"], e["end"], e["label"]) for e in relabeled["entities"]] == [(0, 3, "PER"), (13, 17, "LOC")]


def test_the_llm_budget_caps_the_project_across_restarts(make_app, quick_training, monkeypatch):
    """LLM_MAX_COST is the project's allowance, not each process's: a restart must not refill it."""
    monkeypatch.setenv("LLM_PRICES", '{"stub": [1000000, 0]}')  # $1 per prompt token
    monkeypatch.setenv("LLM_MAX_COST", "100")
    with ScriptedOpenAI(lambda req, n: Reply(scripted_teacher(req, n), prompt_tokens=60, completion_tokens=0)) as llm:
        def predict(app, task_id: int) -> dict:
            body = predict_body([ls_task(task_id, TEXTS[task_id])], NER)
            return app.test_client().post("/predict", json=body).json["results"][0]

        kw = dict(llm_base_url=llm.base_url, predict_on_demand="llm", teacher_k=0, train_threshold=100, run_jobs=False)
        app = make_app(**kw)
        assert "result" in predict(app, 1) and "result" in predict(app, 2)  # $60, then $120: started under the cap
        assert predict(app, 3) == {"error": "budget exhausted"} and len(llm.requests) == 2
        app.extensions["llmaaa"].close()

        again = make_app(**kw)  # a new process on the same MODEL_DIR
        assert predict(again, 4) == {"error": "budget exhausted"}
        assert len(llm.requests) == 2


def test_a_label_added_to_the_config_gets_the_old_llm_labels_relabeled(make_app, quick_training):
    """An LLM label made before MISC existed says nothing about MISC: trained on, it would teach MISC = O."""
    no_misc = re.sub(r'\s*<Label value="MISC"[^>]*/>', "", NER)
    no_org = re.sub(r'\s*<Label value="ORG"[^>]*/>', "", NER)
    assert "MISC" not in no_misc and "ORG" not in no_org
    with ScriptedOpenAI(scripted_teacher) as llm:
        c, st, jobs = two_tasks_labeled_at_cold_start(make_app, llm, no_misc)
        assert jobs[0]["detail"]["llm_labeled"] == 2 and len(llm.requests) == 2
        asked = [d["annotation"]["labels"]["entities"] for d in st.llm_labels()]
        assert asked == [["PER", "ORG", "LOC"]] * 2

        for xml, relabeled in ((NER, 2), (no_org, 0)):  # a label added: relabel; a label removed: nothing to redo
            c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1, "label_config": xml}})
            c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1, "label_config": xml}})
            assert wait_idle(st)[0]["detail"]["llm_labeled"] == relabeled, xml
        assert len(llm.requests) == 4
        assert [d["annotation"]["labels"]["entities"] for d in st.llm_labels()] == [["PER", "ORG", "LOC", "MISC"]] * 2


def test_a_round_that_crashes_in_training_is_recorded_failed_and_the_runner_goes_on(make_app, quick_training,
                                                                                     monkeypatch):
    """A student that diverges (lr inf) fails its round, recorded with the error; the human label is kept, no LLM
    call is made for the failed round, and the next job still runs. Recording must not depend on formatting the
    traceback: CPython 3.11.7 can raise SystemError from inside ``traceback`` in a thread, which used to end the
    runner's thread with the job stuck at "running"."""
    monkeypatch.setenv("TRAIN_LR", "inf")
    tasks = [ls_task(500 + i, t) for i, t in enumerate(TEXTS)]
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0, min_train_labels=2, train_threshold=1)
        c, st = app.test_client(), app.extensions["llmaaa"].context("1").state
        c.post("/predict", json=predict_body(tasks, NER))
        c.post("/setup", json=setup_body(NER))
        assert wait_idle(st)[0]["status"] == "done"  # cold start: 2 LLM labels, nothing to train yet
        asked = len(llm.requests)

        def broken_formatting(*args, **kwargs):
            raise SystemError("AST constructor recursion depth mismatch (before=57, after=52)")

        monkeypatch.setattr(traceback, "format_exception", broken_formatting)
        human = next(t for t in tasks if t["id"] not in {int(r["task_id"]) for r in st.queue_head(2)})
        text = human["data"]["text"]
        name = next(p for p in PEOPLE if p in text)
        c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 900, human["id"], text,
                                                 [region("h", text.index(name), text.index(name) + len(name), name,
                                                         "PER")], NER))
        time.sleep(0.3)
        failed = wait_idle(st)[0]
        assert failed["status"] == "failed", failed
        assert failed["error"].startswith("TrainingError: training diverged in epoch 1"), failed["error"]
        assert len(llm.requests) == asked  # the round failed before buying anything
        assert [a["task_id"] for a in st.annotations()] == [human["id"]]

        c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
        time.sleep(0.3)
        jobs = wait_idle(st)
        assert [j["status"] for j in jobs[:3]] == ["failed", "failed", "done"]  # the runner took the next job
        app.extensions["llmaaa"].close()


def test_a_task_longer_than_max_text_chars_is_left_out_of_the_round_and_named(make_app, quick_training):
    """/predict refused it, but a round sent it to the LLM: a 1 MB task is hundreds of requests, hours on a local LLM."""
    huge = " ".join(TEXTS * 20)
    with ScriptedOpenAI(scripted_teacher) as llm:
        _, _, st, _ = cold_started(make_app, [*TEXTS[:3], huge], llm_base_url=llm.base_url, llm_batch=5, teacher_k=0,
                                   max_text_chars=len(huge) - 1)
        asked = [last_user_message(q) for q in llm.requests]
    detail = st.jobs()[0]["detail"]
    assert detail["tasks_too_long"] == {"count": 1, "max_text_chars": len(huge) - 1,
                                        "first": [f"task 103: {len(huge):,} chars"]}
    assert detail["llm_labeled"] == 3 and not any(TEXTS[0] in q and TEXTS[1] in q for q in asked)
    assert sorted(d["text"] for d in st.llm_labels()) == sorted(TEXTS[:3])
    assert 103 in st.tasks()  # known, kept: it joins the pool once MAX_TEXT_CHARS allows it
