"""Relations as Label Studio users draw them, and relation-only tasks that bring their spans (found by an RE review)."""

from __future__ import annotations

import json
import re
import time

import pytest

from llmaaa.data.schema import Example
from ml_backend.labeling import parse_config
from ml_backend.results import TaskError, given_entities, results_to_example

from openai_stub import Reply, ScriptedOpenAI, last_user_message
from tests.backend.conftest import NER, NER_RE, ROOT, annotation_event, ls_task, predict_body, region, setup_body
from tests.backend.test_round import quick_training, scripted_teacher, wait_idle  # noqa: F401 (fixture)

TEXT = "Anna works for Acme in Lima ."
ANNA, ACME, LIMA = region("a", 0, 4, "Anna", "Peop"), region("b", 15, 19, "Acme", "Org"), region("c", 23, 27, "Lima", "Loc")
ONE_RELATION = """<View>
  <Relations><Relation value="Works at"/></Relations>
  <Labels name="label" toName="text"><Label value="Peop"/><Label value="Org"/><Label value="Loc"/></Labels>
  <Text name="text" value="$text"/>
</View>"""
RE_XML = (ROOT / "label_config" / "re.xml").read_text(encoding="utf-8")


def rel(a: str, b: str, *labels: str, direction: str = "right", **kw) -> dict:
    return {"from_id": a, "to_id": b, "type": "relation", "direction": direction, "labels": list(labels), **kw}


def read(results: list, xml: str = NER_RE) -> Example:
    return results_to_example(Example("1", TEXT), results, parse_config(xml), source="human")


def triples(ex: Example) -> set[tuple[str, str, str]]:
    return {(ex.mention(ex.entities[r.head]), ex.mention(ex.entities[r.tail]), r.label) for r in ex.relations}


def test_an_unlabeled_relation_is_the_configs_only_relation_label():
    """Label Studio draws a relation first and asks for its label after; with one label there is nothing to ask."""
    ex = read([ANNA, ACME, rel("a", "b")], ONE_RELATION)
    assert triples(ex) == {("Anna", "Acme", "Works at")} and not ex.unlabeled_pairs
    without_key = {k: v for k, v in rel("a", "b").items() if k != "labels"}
    assert triples(read([ANNA, ACME, without_key], ONE_RELATION)) == {("Anna", "Acme", "Works at")}


def test_an_unlabeled_relation_among_several_labels_leaves_its_pair_unknown_not_no_relation():
    for r in (rel("a", "b"), rel("a", "b", "Employed_By"), {**rel("a", "b"), "labels": None}):
        ex = read([ANNA, ACME, LIMA, r, rel("a", "c", "Live_In")])
        assert triples(ex) == {("Anna", "Lima", "Live_In")}, r
        assert ex.unlabeled_pairs == {(0, 1)}, r


def test_the_first_label_of_the_config_counts_and_bi_relations_hold_both_ways():
    ex = read([ANNA, ACME, LIMA, rel("a", "b", "Employed_By", "Work_For"), rel("b", "c", "OrgBased_In", direction="left")])
    assert triples(ex) == {("Anna", "Acme", "Work_For"), ("Lima", "Acme", "OrgBased_In")}
    spouses = read([ANNA, region("d", 15, 19, "Acme", "Peop"), rel("a", "d", "Kill", direction="bi")])
    assert triples(spouses) == {("Anna", "Acme", "Kill"), ("Acme", "Anna", "Kill")}
    several = read([{**ANNA, "value": {**ANNA["value"], "labels": ["Planet", "Peop"]}}])
    assert [s.label for s in several.entities] == ["Peop"]  # a region's first label the config has


def test_a_labels_exact_name_wins_over_another_that_differs_in_case():
    xml = NER_RE.replace('<Relation value="Kill"', '<Relation value="kill"/><Relation value="Kill"')
    s = parse_config(xml)
    assert s.map_relation("kill") == "kill" and s.map_relation("Kill") == "Kill" and s.map_relation("KILL") == "kill"


def test_the_webhook_warns_of_a_relation_without_a_label(client):
    client.post("/setup", json=setup_body(NER_RE))
    r = client.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 5, 50, TEXT, [ANNA, ACME, rel("a", "b")]))
    assert r.status_code == 201
    assert "1 relation(s) without a relation label" in r.json["warning"]
    labeled = annotation_event("ANNOTATION_CREATED", 6, 51, TEXT, [ANNA, ACME, rel("a", "b", "Work_For")])
    assert "warning" not in client.post("/webhook", json=labeled).json


def test_given_entities_in_label_studios_region_shape_or_utf16_offsets_are_read():
    s = parse_config(RE_XML)
    text = "😀😀 Anna works for Acme ."
    ls_shaped = [{"value": {"start": 3, "end": 7, "labels": ["Peop"], "text": "Anna"}},
                 {"start": 22, "end": 26, "label": "org", "text": "Acme"}]  # UTF-16 units: each emoji counts 2
    spans = given_entities({"entities": ls_shaped}, text, s)
    assert [(text[x.start:x.end], x.label) for x in spans] == [("Anna", "Peop"), ("Acme", "Org")]


def test_an_empty_entities_list_in_a_relations_project_is_no_entities_given():
    """Before, ``"entities": []`` made an empty prediction without asking the LLM for spans."""
    from ml_backend.results import pool_example

    ex = pool_example(1, "Anna works for Acme .", {"text": "Anna works for Acme .", "entities": []}, parse_config(RE_XML))
    assert given_entities({"entities": []}, "Anna works for Acme .", parse_config(RE_XML)) is None
    assert not ex.extra.get("given_entities")


def test_an_entities_field_of_a_task_in_an_ner_project_is_not_taken_as_its_labels():
    """A plain NER config: the LLM finds every span. A task's own "entities" (another tool's, partial, empty, or
    a list of names) was taken as its full labels, or failed the task."""
    from ml_backend.results import pool_example

    ner = parse_config(NER)
    for entities in ([{"start": 0, "end": 4, "label": "PER"}], [], ["Anna", "Paris"]):
        ex = pool_example(1, "Anna lives in Paris", {"text": "Anna lives in Paris", "entities": entities}, ner)
        assert ex.entities == () and not ex.extra.get("given_entities")


@pytest.mark.parametrize("entity, message", [
    ({"start": 0, "end": 4, "label": "Person"}, "label 'Person' is not a label of the config"),
    ({"start": 0, "end": 40, "label": "Peop"}, "is not inside the text"),
    ({"start": 0, "end": 4, "label": "Peop", "text": "Bob"}, "'Bob' is not in the text"),
    ({"start": "x", "end": 4, "label": "Peop"}, "needs integer 'start' and 'end'"),
    ("Anna", "is not an object"),
])
def test_a_given_entity_the_backend_cannot_use_is_the_tasks_error(entity, message):
    with pytest.raises(TaskError, match=message):
        given_entities({"entities": [{"start": 15, "end": 19, "label": "Org"}, entity]}, TEXT, parse_config(RE_XML))


def test_tasks_with_unusable_given_entities_are_named_not_labeled_empty(make_app, quick_training):
    """Dropped silently, the task had no spans left, cost no request and passed for 'labeled, no relations'."""
    good = ls_task(1, TEXT, entities=[{"start": 0, "end": 4, "label": "Peop"}, {"start": 23, "end": 27, "label": "Loc"}])
    bad = ls_task(2, TEXT, entities=[{"start": 0, "end": 4, "label": "Person"}, {"start": 15, "end": 19, "label": "Org"}])
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=5, teacher_k=0, predict_on_demand="llm")
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        results = c.post("/predict", json=predict_body([good, bad], RE_XML)).json["results"]
        assert "label 'Person' is not a label of the config" in results[1]["error"]
        assert [x["labels"] for x in results[0]["result"] if x["type"] == "relation"] == [["Live_In"]]
        c.post("/setup", json=setup_body(RE_XML))
        detail = wait_idle(st)[0]["detail"]
        assert detail["tasks_with_bad_entities"]["count"] == 1
        assert "task 2: data.entities[0]" in detail["tasks_with_bad_entities"]["first"][0]
        assert 2 not in {int(ex["id"]) for ex in st.llm_labels()}


def test_a_failed_relation_step_fails_the_task_and_keeps_it_in_the_pool(make_app, quick_training):
    """Stored as a success with no relations, it was served without them, trained as all no_relation, never asked again."""
    def teacher(req: dict, n: int):
        if "Head:" in last_user_message(req):
            return Reply(json.dumps({"error": {"message": "model overloaded"}}), status=400)
        return scripted_teacher(req, n)

    with ScriptedOpenAI(teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        c.post("/predict", json=predict_body([ls_task(1, "Anna lives in Lima ."), ls_task(2, "Zoë lives in Oslo .")]))
        c.post("/setup", json=setup_body(NER_RE))
        detail = wait_idle(st)[0]["detail"]
        assert (detail["llm_labeled"], detail["llm_failed"]) == (0, 2)
        assert all(e.startswith("relations: ") for e in detail["llm_errors"])
        stored = st.llm_labels()
        assert len(stored) == 2 and all(d["annotation"]["error"] for d in stored)
        assert all(d["entities"] for d in stored)  # what the entity step found is kept, shown with the error
        app.extensions["llmaaa"].close()

    with ScriptedOpenAI(scripted_teacher) as llm:  # the LLM is back: the next round asks only the relations
        app = make_app(llm_base_url=llm.base_url, llm_batch=2, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        c.post("/webhook", json={"action": "START_TRAINING", "project": {"id": 1}})
        detail = wait_idle(st)[0]["detail"]
        assert (detail["llm_labeled"], detail["llm_failed"]) == (2, 0)
        assert llm.requests and all("Head:" in last_user_message(r) for r in llm.requests)  # entity answers cached
        usage = st.rounds()[-1]["llm_usage"]
        assert usage["prompt_tokens"] > 0  # the relation questions' tokens are in the round's bill
        assert {tuple(sorted(x["label"] for x in d["relations"])) for d in st.llm_labels()} == {("Live_In",)}


@pytest.mark.slow
@pytest.mark.parametrize("student_relations", [False, True])
def test_the_llm_bill_stops_for_a_project_with_relations_only_when_the_student_serves_them(
        make_app, quick_training, student_relations):
    """STOP_AFTER_MATCHED compared entity F1 only and then served student predictions without relations."""
    people = ["Anna", "Bruno", "Chloé", "Dmitri", "王小明", "Zoë", "Oskar", "Hana", "Emil"]
    places = ["Paris", "Berlin", "北京", "Québec", "Lima", "Oslo", "Cairo", "Perth", "Kyiv"]
    texts = [f"{p} lives in {c} ." for p, c in zip(people, places)]

    def swapped_teacher(req: dict, n: int) -> str:  # every type wrong, so every relation runs the wrong way
        query = last_user_message(req)
        if "Head:" in query:
            return scripted_teacher(req, n)
        query = query.split("Text:", 1)[1]
        return json.dumps([{"span": p, "type": "Loc"} for p in people if p in query]
                          + [{"span": c, "type": "Peop"} for c in places if c in query], ensure_ascii=False)

    with ScriptedOpenAI(swapped_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=5, min_train_labels=3, train_threshold=2, teacher_k=0,
                       stop_after_matched=1, stop_min_overlap=2, student_relations=student_relations)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        c.post("/predict", json=predict_body([ls_task(100 + i, t) for i, t in enumerate(texts)]))
        c.post("/setup", json=setup_body(NER_RE))
        assert wait_idle(st)[0]["detail"]["llm_labeled"] == 5
        for k, q in enumerate(st.queue_head(2)):  # humans correct two LLM pre-annotations, relation included
            i = int(q["task_id"]) - 100
            at = texts[i].index(places[i])
            res = [region("p", 0, len(people[i]), people[i], "Peop"),
                   region("c", at, at + len(places[i]), places[i], "Loc"), rel("p", "c", "Live_In")]
            c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 900 + k, int(q["task_id"]), texts[i], res))
        time.sleep(0.3)
        last = wait_idle(st)[0]
        assert last["status"] == "done", last
        detail = last["detail"]
        if student_relations:  # both F1s matched: the student takes over, relations included
            assert "f1" in detail["trained"]["served_relation_metrics"]
            assert "relation F1" in detail["llm_stopped"] and detail["llm_labeled"] == 0, detail
            assert "llm_stop_held" not in detail
        else:  # the queue's student predictions would carry no relations: the LLM goes on
            assert "llm_stopped" not in detail and detail["llm_labeled"] == 4, detail
            assert "STUDENT_RELATIONS=true" in detail["llm_stop_held"]


def test_a_duplicated_region_is_one_entity_whichever_copy_carries_the_relation():
    """Two copies of one span, the relation drawn from one, trained the same pair as related and as not."""
    anna_again = region("a2", 0, 4, "Anna", "Peop")
    ex = read([ANNA, anna_again, ACME, LIMA, rel("a2", "c", "Live_In"), rel("a", "a2", "Work_For")])
    assert [ex.mention(s) for s in ex.entities] == ["Anna", "Acme", "Lima"]
    assert triples(ex) == {("Anna", "Lima", "Live_In")}
    relabeled = read([ANNA, region("a2", 0, 4, "Anna", "Org"), LIMA])  # the same span, another label: kept apart
    assert [s.label for s in relabeled.entities] == ["Peop", "Org", "Loc"]


# Relation classification of a given pair (TACRED's question): data.pairs beside data.entities ----------------
ANNA_LIMA = [{"start": 0, "end": 4, "label": "Peop"}, {"start": 23, "end": 27, "label": "Loc"}]


def heads_asked(llm: ScriptedOpenAI) -> list[str]:
    return [re.search(r"Head: (\w+)", last_user_message(r)).group(1) for r in llm.requests]


def served_relations(result: list[dict]) -> list[tuple[str, str, list[str]]]:
    """(head mention, tail mention, labels) of a /predict result's relations."""
    mention = {r["id"]: r["value"]["text"] for r in result if r["type"] == "labels"}
    return [(mention[r["from_id"]], mention[r["to_id"]], r["labels"]) for r in result if r["type"] == "relation"]


@pytest.mark.parametrize("pairs, asked, served", [
    (None, ["Anna", "Lima"], [("Anna", "Lima", ["Live_In"]), ("Lima", "Anna", ["Live_In"])]),
    ([], ["Anna", "Lima"], [("Anna", "Lima", ["Live_In"]), ("Lima", "Anna", ["Live_In"])]),  # empty: not given
    ([[0, 1]], ["Anna"], [("Anna", "Lima", ["Live_In"])]),
    ([[1, 0]], ["Lima"], [("Lima", "Anna", ["Live_In"])]),
    ([{"head": 1, "tail": 0}], ["Lima"], [("Lima", "Anna", ["Live_In"])]),
])
def test_a_task_that_lists_its_pair_costs_one_question_in_that_direction(make_app, quick_training, pairs, asked,
                                                                         served):
    """Every ordered pair was asked: a TACRED-style task cost two questions and could get the reverse relation."""
    with ScriptedOpenAI(lambda req, n: "Live_In") as llm:  # a teacher that finds Live_In whatever it is asked
        c = make_app(llm_base_url=llm.base_url, teacher_k=0, predict_on_demand="llm").test_client()
        data = {"entities": ANNA_LIMA} if pairs is None else {"entities": ANNA_LIMA, "pairs": pairs}
        (result,) = c.post("/predict", json=predict_body([ls_task(1, TEXT, **data)], RE_XML)).json["results"]
        assert sorted(heads_asked(llm)) == asked  # one request per listed pair, its head first
        assert sorted(served_relations(result["result"])) == served


@pytest.mark.parametrize("data, message", [
    ({"pairs": [[0, 1]]}, "the task gives no data.entities"),
    ({"entities": [], "pairs": [[0, 1]]}, "the task gives no data.entities"),
    ({"entities": ANNA_LIMA, "pairs": [[0, 2]]}, r"data.pairs\[0\] is \[0, 2\]: data.entities has 2 entities"),
    ({"entities": ANNA_LIMA, "pairs": [[1, 1]]}, r"data.pairs\[0\] pairs entity 1 with itself"),
    ({"entities": ANNA_LIMA, "pairs": [[0, 1], [0]]}, r"data.pairs\[1\] is \[0\], not \[head, tail\]"),
    ({"entities": ANNA_LIMA, "pairs": [["T1", "T2"]]}, "entity ids are not read"),
    ({"entities": ANNA_LIMA, "pairs": [{"head": 0}]}, "not \\[head, tail\\]"),
    ({"entities": ANNA_LIMA, "pairs": [[True, 0]]}, "0-based indexes"),
    ({"entities": ANNA_LIMA, "pairs": "0-1"}, "data.pairs is a JSON str, not a list"),
])
def test_pairs_the_backend_cannot_follow_are_the_tasks_error(data, message):
    from ml_backend.results import pool_example

    with pytest.raises(TaskError, match=message):
        pool_example(1, TEXT, {"text": TEXT, **data}, parse_config(RE_XML))


def test_a_task_with_unusable_pairs_gets_its_error_on_predict_and_costs_no_question(make_app, quick_training):
    with ScriptedOpenAI(lambda req, n: "Live_In") as llm:
        c = make_app(llm_base_url=llm.base_url, teacher_k=0, predict_on_demand="llm").test_client()
        tasks = [ls_task(1, TEXT, entities=ANNA_LIMA, pairs=[[0, 5]]), ls_task(2, TEXT, entities=ANNA_LIMA, pairs=[[0, 1]])]
        r = c.post("/predict", json=predict_body(tasks, RE_XML))
        assert r.status_code == 200
        bad, good = r.json["results"]
        assert "data.pairs[0] is [0, 5]: data.entities has 2 entities" in bad["error"]
        assert served_relations(good["result"]) == [("Anna", "Lima", ["Live_In"])]
        assert heads_asked(llm) == ["Anna"]


def test_pairs_are_not_read_in_an_ner_project():
    """As for entities: a plain NER config finds every span, whatever else the task's data holds."""
    from ml_backend.results import pool_example

    ex = pool_example(1, TEXT, {"text": TEXT, "entities": ANNA_LIMA, "pairs": [[0, 9]]}, parse_config(NER))
    assert ex.entities == () and "pairs" not in ex.extra


def test_the_gold_of_a_task_that_lists_its_pair_keeps_to_that_pair():
    """The reverse of a TACRED pair holds the inverse relation; read from the gold as no_relation, it taught the opposite.

    Label Studio's own export: the annotator's regions come in another order, one relation drawn on another pair."""
    from llmaaa.data.pairs import candidate_pairs
    from ml_backend.ls_export import task_example

    task = {"id": 7, "data": {"text": TEXT, "entities": [*ANNA_LIMA, {"start": 15, "end": 19, "label": "Org"}],
                              "pairs": [[0, 1]]},
            "annotations": [{"id": 70, "result": [LIMA, ACME, ANNA, rel("a", "c", "Live_In"), rel("b", "c", "Located_In")]}]}
    gold = task_example(task, parse_config(RE_XML))
    names = [gold.mention(s) for s in gold.entities]
    assert [(names[h], names[t]) for h, t in candidate_pairs(gold)] == [("Anna", "Lima"), ("Acme", "Lima")]
    without_anna = {**task, "annotations": [{"id": 71, "result": [LIMA, ACME]}]}
    assert candidate_pairs(task_example(without_anna, parse_config(RE_XML))) == []  # its pair's entity was removed
    no_pairs = {**task, "data": {k: v for k, v in task["data"].items() if k != "pairs"}}
    assert len(candidate_pairs(task_example(no_pairs, parse_config(RE_XML)))) == 6  # every pair, as before


def test_tasks_with_one_text_and_entities_but_other_pairs_are_not_copies_in_the_llm_batch():
    """Two questions about one sentence (subject -> object, and back) are two tasks, not one asked twice."""
    from ml_backend.llm_batch import distinct_batch
    from ml_backend.results import pool_example

    schema = parse_config(RE_XML)
    ents = [{"start": 0, "end": 4, "label": "Peop"}, {"start": 23, "end": 27, "label": "Loc"}]
    pool = [pool_example(i, TEXT, {"text": TEXT, "entities": ents, "pairs": p}, schema)
            for i, p in enumerate(([[0, 1]], [[1, 0]], [[0, 1]]))]
    assert [ex.id for ex in distinct_batch(pool, [0, 1, 2], 3, set())] == ["0", "1"]


def test_a_given_entity_whose_boundary_the_annotator_corrected_keeps_its_pair_in_the_gold():
    """'Anna' widened to 'Anna works' (any correction overlapping it): the pair was dropped, and the annotator's
    no_relation answer with it."""
    from llmaaa.data.pairs import candidate_pairs
    from ml_backend.ls_export import task_example

    wide = {**ANNA, "value": {**ANNA["value"], "end": 10, "text": "Anna works"}}
    task = {"id": 8, "data": {"text": TEXT, "entities": ANNA_LIMA, "pairs": [[0, 1]]},
            "annotations": [{"id": 80, "result": [wide, LIMA]}]}
    gold = task_example(task, parse_config(RE_XML))
    names = [gold.mention(s) for s in gold.entities]
    assert [(names[h], names[t]) for h, t in candidate_pairs(gold)] == [("Anna works", "Lima")]
    assert gold.relations == ()
