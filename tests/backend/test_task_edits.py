"""A relations task whose given entities or pairs were edited in Label Studio (the text the same) is labeled again.

The LLM's label and the stored prediction of the old entities (or of the old pair) join spans the task no
longer has: served or trained on, they teach relations between the wrong entities. Other data fields
changing (metadata) costs nothing, and so does a config edit that reads the entities as before.
"""

from __future__ import annotations

import json
import re
import sqlite3

from ml_backend.state import ProjectState

from openai_stub import ScriptedOpenAI, last_user_message
from tests.backend.conftest import ls_task, predict_body, setup_body
from tests.backend.test_relations import RE_XML
from tests.backend.test_round import quick_training, scripted_teacher, wait_idle  # noqa: F401 (fixture)

START = {"action": "START_TRAINING", "project": {"id": 1}}


def ent(text: str, mention: str, label: str) -> dict:
    at = text.index(mention)
    return {"start": at, "end": at + len(mention), "label": label}


ANNA = "Anna works for Acme in Lima ."
ZOE = "Zoë lives in Oslo ."
BRUNO = "Bruno moved to Berlin ."
CHLOE = "Chloé lives in Paris ."
DMITRI = "Dmitri lives in Lima ."
BEFORE = {
    1: {"text": ANNA, "entities": [ent(ANNA, "Anna", "Peop"), ent(ANNA, "Acme", "Org")]},
    2: {"text": ZOE, "entities": [ent(ZOE, "Zoë", "Peop"), ent(ZOE, "Oslo", "Loc")], "pairs": [[1, 0]]},
    3: {"text": BRUNO, "entities": [ent(BRUNO, "Bruno", "Peop"), ent(BRUNO, "Berlin", "Org")]},
    4: {"text": CHLOE, "entities": [ent(CHLOE, "Chloé", "Peop"), ent(CHLOE, "Paris", "Loc")]},
    5: {"text": DMITRI, "entities": [ent(DMITRI, "Dmitri", "Peop"), ent(DMITRI, "Lima", "Loc")]},
}
AFTER = {
    1: {**BEFORE[1], "entities": [ent(ANNA, "Anna", "Peop"), ent(ANNA, "Lima", "Loc")]},  # a span moved
    2: {**BEFORE[2], "pairs": [[0, 1]]},  # the pair reversed
    3: {**BEFORE[3], "entities": [ent(BRUNO, "Bruno", "Peop"), ent(BRUNO, "Berlin", "Loc")]},  # a label fixed
    4: BEFORE[4],
    5: {**BEFORE[5], "meta": "x"},  # another field: no new question
}


def tasks(data: dict[int, dict]) -> list[dict]:
    return [ls_task(i, d["text"], **{k: v for k, v in d.items() if k != "text"}) for i, d in data.items()]


def served(result: dict) -> set[tuple[str, str, str, str, str]]:
    """(head, its label, relation, tail, its label) of a /predict element's relations."""
    regions = {r["id"]: r["value"] for r in result.get("result") or [] if r["type"] == "labels"}
    out = set()
    for r in result.get("result") or []:
        if r["type"] == "relation":
            h, t = regions[r["from_id"]], regions[r["to_id"]]
            out.add((h["text"], h["labels"][0], r["labels"][0], t["text"], t["labels"][0]))
    return out


def asked(requests: list[dict]) -> set[tuple[str, str]]:
    """The (head, tail) pairs the LLM was asked about."""
    out = set()
    for req in requests:
        q = last_user_message(req)
        if "Head:" in q:
            out.add((re.search(r"Head: (.*?) \(\w+\)", q).group(1), re.search(r"Tail: (.*?) \(\w+\)", q).group(1)))
    return out


def labeled_at_cold_start(make_app, llm, data: dict[int, dict]):
    """A relations project on ``data`` after its cold-start round: ``(app, client, state)``."""
    app = make_app(llm_base_url=llm.base_url, llm_batch=10, teacher_k=0)
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/predict", json=predict_body(tasks(data), RE_XML))
    c.post("/setup", json=setup_body(RE_XML))
    wait_idle(st)
    return app, c, st


def test_edited_entities_or_pairs_are_asked_again_and_served_between_the_new_entities(make_app, quick_training):
    with ScriptedOpenAI(scripted_teacher) as llm:
        app, c, st = labeled_at_cold_start(make_app, llm, BEFORE)
        assert st.jobs()[0]["detail"]["llm_labeled"] == 5
        first = c.post("/predict", json=predict_body(tasks(BEFORE), RE_XML)).json["results"]
        assert [served(r) for r in first] == [set(), set(), set(), {("Chloé", "Peop", "Live_In", "Paris", "Loc")},
                                              {("Dmitri", "Peop", "Live_In", "Lima", "Loc")}]
        n = len(llm.requests)

        # Label Studio sends the edited data with the next /predict (tasks 1, 2), and re-imports update 3 and 5
        c.post("/webhook", json={"action": "TASKS_CREATED", "project": {"id": 1},
                                 "tasks": tasks({i: AFTER[i] for i in (3, 5)})})
        now = c.post("/predict", json=predict_body(tasks(AFTER), RE_XML)).json["results"]
        assert all("result" not in now[i] for i in (0, 1, 2)), now  # no student yet: nothing, not the old relations
        assert now[3:] == first[3:]  # unchanged, and a changed metadata field: the stored predictions
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [4, 5]
        app.extensions["llmaaa"].close()

        app = make_app(llm_base_url=llm.base_url, llm_batch=10, teacher_k=0)  # a restart: what was seen is kept
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [4, 5]
        c.post("/webhook", json=START)
        detail = wait_idle(st)[0]["detail"]
        assert detail["llm_labeled"] == 3
        assert asked(llm.requests[n:]) == {("Anna", "Lima"), ("Lima", "Anna"), ("Zoë", "Oslo"), ("Bruno", "Berlin"),
                                           ("Berlin", "Bruno")}  # the listed pair alone, in its new direction
        after = c.post("/predict", json=predict_body(tasks(AFTER), RE_XML)).json["results"]
    assert [served(r) for r in after] == [
        {("Anna", "Peop", "Live_In", "Lima", "Loc")}, {("Zoë", "Peop", "Live_In", "Oslo", "Loc")},
        {("Bruno", "Peop", "Live_In", "Berlin", "Loc")}, {("Chloé", "Peop", "Live_In", "Paris", "Loc")},
        {("Dmitri", "Peop", "Live_In", "Lima", "Loc")}]
    labels = {int(d["id"]): d for d in st.llm_labels(current=True)}
    assert sorted(labels) == [1, 2, 3, 4, 5] and labels[2]["pairs"] == [[0, 1]]
    assert [(e["start"], e["label"]) for e in labels[3]["entities"]] == [(0, "Peop"), (15, "Loc")]


def test_an_edited_entity_is_predicted_on_demand_for_its_new_label(make_app, quick_training):
    """PREDICT_ON_DEMAND=llm: the stored prediction of the old entities is not served, the new question is asked."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, teacher_k=0, predict_on_demand="llm", run_jobs=False)
        c = app.test_client()
        before = c.post("/predict", json=predict_body(tasks({3: BEFORE[3]}), RE_XML)).json["results"][0]
        assert served(before) == set()
        n = len(llm.requests)
        assert c.post("/predict", json=predict_body(tasks({3: BEFORE[3]}), RE_XML)).json["results"][0] == before
        assert len(llm.requests) == n  # unchanged: served as stored
        meta = c.post("/predict", json=predict_body(tasks({3: {**BEFORE[3], "meta": "x"}}), RE_XML)).json["results"][0]
        assert meta == before and len(llm.requests) == n
        after = c.post("/predict", json=predict_body(tasks({3: AFTER[3]}), RE_XML)).json["results"][0]
        assert served(after) == {("Bruno", "Peop", "Live_In", "Berlin", "Loc")}
        assert len(llm.requests) > n
        again = c.post("/predict", json=predict_body(tasks({3: AFTER[3]}), RE_XML)).json["results"][0]
    assert again == after


def test_a_state_from_before_given_fingerprints_opens_and_its_edited_tasks_are_labeled_again(make_app, quick_training,
                                                                                                tmp_path):
    """An older state.db has no tasks.given column: it opens and serves its predictions; a task whose entities were
    edited after its LLM label is labeled again, the others are not, and an edit arriving later is seen."""
    db = tmp_path / "model_dir" / "1" / "state.db"
    db.parent.mkdir(parents=True)
    old = sqlite3.connect(db)
    old.executescript("""
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT);
        CREATE TABLE tasks (id INTEGER PRIMARY KEY, text TEXT NOT NULL, data TEXT, seen_at REAL);
        CREATE TABLE llm_labels (task_id INTEGER PRIMARY KEY, example TEXT NOT NULL, model TEXT, round INTEGER,
                                 error TEXT, created_at REAL);
        CREATE TABLE predictions (task_id INTEGER PRIMARY KEY, version TEXT NOT NULL, source TEXT NOT NULL,
                                  score REAL, body TEXT NOT NULL, created_at REAL);
        CREATE TABLE rounds (n INTEGER PRIMARY KEY, version TEXT, finished_at REAL, record TEXT NOT NULL);
        INSERT INTO rounds VALUES (1, 'llmaaa-1', 0, '{"llm_labeled": 2}');""")
    old.execute("INSERT INTO meta VALUES ('label_config', ?)", (json.dumps(RE_XML),))
    for i in (3, 4):  # task 3 was edited after the LLM labeled it (its label has the old entities); 4 was not
        old.execute("INSERT INTO tasks VALUES (?, ?, ?, 0)", (i, AFTER[i]["text"], json.dumps(AFTER[i])))
        label = {"id": str(i), **BEFORE[i], "relations": [], "given_entities": True,
                 "annotation": {"source": "llm", "model": "stub", "error": None}}
        old.execute("INSERT INTO llm_labels VALUES (?, ?, 'stub', 1, NULL, 0)", (i, json.dumps(label)))
        old.execute("INSERT INTO predictions VALUES (?, 'llmaaa-1', 'llm', 0.5, ?, 0)",
                    (i, json.dumps({"result": [], "score": 0.5, "model_version": "llmaaa-1"})))
    old.commit()
    old.close()
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [4]  # 3's label joins the old entities
        stored = c.post("/predict", json=predict_body(tasks({4: AFTER[4]}), RE_XML)).json["results"][0]
        assert stored["model_version"] == "llmaaa-1"
        moved = {**AFTER[4], "entities": [ent(CHLOE, "Chloé", "Peop"), ent(CHLOE, "Paris", "Org")]}
        assert st.prediction_json_for({4: CHLOE}, data={4: moved}) == {}  # an edit from now on: not served
        c.post("/webhook", json=START)
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 1
        assert asked(llm.requests) == {("Bruno", "Berlin"), ("Berlin", "Bruno")}
        n = len(llm.requests)
        c.post("/webhook", json=START)
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 0
        assert len(llm.requests) == n  # nothing edited since: nothing asked
    assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [3, 4]


FIXED = RE_XML.replace('<Label value="Loc" background="#8ce99a"',
                       '<Label value="Loc" predicted_values="GPE" background="#8ce99a"')
LIMA = "Anna lives in Lima ."
OSLO = "Bruno lives in Oslo ."
GPE = {1: {"text": LIMA, "entities": [ent(LIMA, "Anna", "Peop"), ent(LIMA, "Lima", "GPE")]},  # GPE: not in RE_XML
       2: {"text": OSLO, "entities": [ent(OSLO, "Bruno", "Peop"), ent(OSLO, "Oslo", "Loc")]}}


def test_a_task_a_config_edit_makes_usable_is_labeled_once_with_label_studio_unreachable(make_app, quick_training):
    """A config edit changes how a task's entities read (an alias for its label): the label made under the new config
    is current from then on, though no pull records the task again (no API key here)."""
    assert FIXED != RE_XML
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=10, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        c.post("/predict", json=predict_body(tasks(GPE), RE_XML))
        c.post("/setup", json=setup_body(RE_XML))
        first = wait_idle(st)[0]["detail"]
        assert first["pull"].startswith("skipped") and first["llm_labeled"] == 1
        assert first["tasks_with_bad_entities"]["count"] == 1
        c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1, "label_config": FIXED}})
        per_round = []
        for _ in range(3):
            n = len(llm.requests)
            c.post("/webhook", json=START)
            per_round.append((wait_idle(st)[0]["detail"]["llm_labeled"], len(llm.requests) - n))
        assert [labeled for labeled, _ in per_round] == [1, 0, 0] and [paid for _, paid in per_round[1:]] == [0, 0]
    assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [1, 2]


def test_removing_relations_from_the_config_relabels_no_task(make_app, quick_training):
    """The same labels without ``<Relations>`` (NER) read no given entities: the LLM labels stay, as a label removed
    from the config costs nothing."""
    ner = re.sub(r"<Relations>.*?</Relations>", "", RE_XML, flags=re.S)
    assert "<Relations>" in RE_XML and ner != RE_XML
    given = {i: BEFORE[i] for i in (2, 4, 5)}
    with ScriptedOpenAI(scripted_teacher) as llm:
        app, c, st = labeled_at_cold_start(make_app, llm, given)
        assert st.jobs()[0]["detail"]["llm_labeled"] == 3
        c.post("/webhook", json={"action": "PROJECT_UPDATED", "project": {"id": 1, "label_config": ner}})
        c.post("/predict", json=predict_body(tasks(given), ner))
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == [2, 4, 5]
        n = len(llm.requests)
        c.post("/webhook", json=START)
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 0
        assert len(llm.requests) == n


def test_a_state_whose_tasks_hold_config_read_keys_opens_with_its_predictions_served(tmp_path):
    """A state written while ``tasks.given`` held each task's entities as the config read them (103fb54) has them
    written afresh from the task data when opened: its stored predictions are served, not taken for edits."""
    st = ProjectState(tmp_path, 1)
    st.upsert_tasks([(2, ZOE, BEFORE[2])])
    st.save_predictions([(2, "llmaaa-1", "llm", 0.5, {"result": [], "model_version": "llmaaa-1"})])
    st._q("UPDATE tasks SET given = ?", ('{"entities":[[0,3,"Peop"],[13,17,"Loc"]],"pairs":[[1,0]]}',))
    st._q("DELETE FROM meta WHERE key = 'tasks_given'")
    st.close()
    st = ProjectState(tmp_path, 1)
    assert list(st.prediction_json_for({2: ZOE}, data={2: BEFORE[2]})) == [2]
    assert st.prediction_json_for({2: ZOE}, data={2: AFTER[2]}) == {}
    st.close()


def test_removed_entities_make_the_old_label_stale_and_the_cli_export_leaves_edited_ones_out(make_app, quick_training,
                                                                                             tmp_path):
    """A task whose given entities were removed (or emptied) kept its LLM label of the old entities: served again
    and never relabeled. The CLI export, which opens the state on its own, kept a label of edited entities."""
    from ml_backend.export import export_project

    two = {1: BEFORE[1], 2: {**BEFORE[2], "pairs": None}, 3: BEFORE[3]}
    with ScriptedOpenAI(scripted_teacher) as llm:
        app, c, st = labeled_at_cold_start(make_app, llm, two)
        assert st.jobs()[0]["detail"]["llm_labeled"] == 3
        gone = {1: {"text": ANNA}, 2: {"text": ZOE, "entities": []}, 3: AFTER[3]}
        c.post("/predict", json=predict_body(tasks(gone), RE_XML))
        assert sorted(int(d["id"]) for d in st.llm_labels(current=True)) == []
        out = tmp_path / "export"
        export_project(app.extensions["llmaaa"].config, 1, out)
        exported = [json.loads(line) for line in (out / "dataset.jsonl").read_text(encoding="utf-8").splitlines()]
        assert not [d for d in exported if (d.get("annotation") or {}).get("source") == "llm"]
        n = len(llm.requests)
        c.post("/webhook", json=START)
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 3 and len(llm.requests) > n
