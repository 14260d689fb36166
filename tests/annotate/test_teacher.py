"""The LLM teacher against a loopback OpenAI-compatible server with scripted (tricky) answers."""

import asyncio
import json
import re
import socket
import time

import pytest
from openai_stub import Reply, ScriptedOpenAI, last_user_message

from llmaaa.annotate.cache import ResponseCache
from llmaaa.annotate.client import Completion, LLMConfig
from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.annotate.teacher import SEEN_PAIRS_MIN_RELATIONS, LLMTeacher
from llmaaa.data.schema import Example, LabelSet, Relation, Span

LABELS = LabelSet(("PER", "ORG", "LOC"))
PARIS = Example("p1", "Anna flew from Paris to Paris, Texas.")


def teacher(llm, *, cache=None, **cfg):
    opts = dict(base_url=llm.base_url, model="stub-model", backoff_s=0.01, timeout_s=5)
    opts.update(cfg)
    return LLMTeacher(LLMConfig(**opts), LABELS, cache=cache)


def labeled(ex):
    return [(ex.text[s.start : s.end], s.label) for s in ex.entities]


def test_fenced_prose_wrong_case_repeated_and_unknown_labels(tmp_path):
    answer = ('Here you go:\n```json\n[{"span": "anna", "type": "per"}, {"span": "Paris", "type": "LOC"},'
              ' {"span": "Texas", "type": "STATE"}]\n```\nAnything else?')
    with ScriptedOpenAI([answer]) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
    assert labeled(out) == [("Anna", "PER"), ("Paris", "LOC"), ("Paris", "LOC")]
    assert all(PARIS.text[s.start : s.end] for s in out.entities)
    ann = out.annotation
    assert ann["error"] is None and ann["source"] == "llm" and ann["model"] == "stub-model"
    assert ann["usage"]["prompt_tokens"] > 0 and ann["cached"] is False
    s = t.last_summary
    assert s.annotated == 1 and s.failed == 0
    assert dict(s.dropped.unknown_labels) == {"STATE": 1}
    assert s.dropped.fuzzy_matches == 1  # "anna" matched "Anna"


def test_invalid_json_then_valid_on_reask():
    with ScriptedOpenAI(["I think Anna might be a person.", '[{"span": "Anna", "type": "PER"}]']) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
        second = llm.requests[1]["messages"]
    assert labeled(out) == [("Anna", "PER")]
    assert out.annotation["reasks"] == 1 and t.last_summary.reasks == 1
    assert second[-2] == {"role": "assistant", "content": "I think Anna might be a person."}
    assert "could not be used" in second[-1]["content"] and "JSON" in second[-1]["content"]


def test_still_invalid_after_reask_is_a_recorded_failure_not_no_entities():
    with ScriptedOpenAI(["no idea"]) as llm:
        t = teacher(llm, reasks=1)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 2
    assert out.failed and out.entities == ()
    assert out.annotation["error"].startswith("unparseable answer")
    assert t.last_summary.failures == {"unparseable answer": 1}


def test_an_answer_whose_mentions_are_all_missing_from_the_text_is_re_asked():
    """Small models answer with the entities of a demonstration sentence; before, the text passed as having none."""
    with ScriptedOpenAI(['[{"span": "Berlin", "type": "LOC"}]', '[{"span": "Paris", "type": "LOC"}]']) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
        second = llm.requests[1]["messages"]
    assert labeled(out) == [("Paris", "LOC"), ("Paris", "LOC")]
    assert out.annotation["reasks"] == 1 and not out.failed
    assert "'Berlin'" in second[-1]["content"] and "copy each span exactly" in second[-1]["content"]


def test_mentions_still_missing_after_the_re_asks_leave_the_text_unlabeled_not_failed():
    with ScriptedOpenAI(['[{"span": "Berlin", "type": "LOC"}]']) as llm:
        t = teacher(llm, reasks=1)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 2
    assert out.entities == () and not out.failed and out.annotation["error"] is None
    assert t.last_summary.dropped.not_in_text == 1 and t.last_summary.reasks == 1


def test_an_answer_with_some_mentions_in_the_text_is_taken_without_a_re_ask():
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}, {"span": "Berlin", "type": "LOC"}]']) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 1
    assert labeled(out) == [("Anna", "PER")] and t.last_summary.dropped.not_in_text == 1



def test_an_answer_whose_every_type_is_outside_the_label_set_is_re_asked_not_taken_as_no_entities():
    """Labels translated or renamed by the model used to pass as "this text has no entities"."""
    with ScriptedOpenAI(['[{"span": "Anna", "type": "Персона"}, {"span": "Paris", "type": "Город"}]',
                         '[{"span": "Anna", "type": "PER"}]']) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
        second = llm.requests[1]["messages"][-1]["content"]
    assert labeled(out) == [("Anna", "PER")] and out.annotation["reasks"] == 1
    assert "'Персона', 'Город'" in second and "(PER, ORG, LOC)" in second
    with ScriptedOpenAI(['[{"span": "Monday", "type": "DATE"}]']) as llm:  # it insists: only types the user has not got
        t = teacher(llm, reasks=1)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 2
    assert out.entities == () and not out.failed and dict(t.last_summary.dropped.unknown_labels) == {"DATE": 2}


def test_a_type_copied_with_the_prompts_description_line_is_read_as_its_label():
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER: a person\'s name"}, {"span": "Texas", "type": "LOC - a place"}]']) as llm:
        t = teacher(llm)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 1
    assert labeled(out) == [("Anna", "PER"), ("Texas", "LOC")]


def test_429_then_success_is_retried():
    with ScriptedOpenAI([Reply(status=429), Reply(status=503), '[{"span": "Anna", "type": "PER"}]']) as llm:
        [out] = teacher(llm).annotate([PARIS])
        assert len(llm.requests) == 3
    assert labeled(out) == [("Anna", "PER")] and not out.failed


def test_hang_past_the_timeout_is_retried_then_recorded_as_failed():
    with ScriptedOpenAI([Reply("[]", delay=30)]) as llm:
        start = time.perf_counter()
        t = teacher(llm, timeout_s=0.5, max_retries=1)
        [out] = t.annotate([PARIS])
        assert len(llm.requests) == 2
    assert time.perf_counter() - start < 5
    assert out.failed and "timeout after 0.5 s (after 2 tries)" == out.annotation["error"]
    assert t.last_summary.failures == {"timeout": 1}


def test_dead_endpoint_fails_with_a_clear_reason():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cfg = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", model="m", max_retries=1, backoff_s=0.01)
    t = LLMTeacher(cfg, LABELS)
    out = t.annotate([PARIS, Example("x", "Bob.")])
    assert all(ex.failed for ex in out)
    assert "cannot connect to http://127.0.0.1" in out[0].annotation["error"]
    assert "is the LLM server running?" in out[0].annotation["error"]
    assert t.last_summary.failed == 2 and t.last_summary.failures == {"cannot connect": 2}


def test_a_web_page_instead_of_the_api_fails_with_a_clear_reason():
    """An LLM_BASE_URL pointing at a web UI answers HTTP 200 with HTML: a recorded failure, not a crashed batch."""
    with ScriptedOpenAI([Reply(body="<html><title>Open WebUI</title></html>")]) as llm:
        t = teacher(llm)
        out = t.annotate([PARIS, Example("x", "Bob.")])
    assert all(ex.failed for ex in out) and len(llm.requests) == 2  # not retried: the same URL answers the same
    assert out[0].annotation["error"] == (f"non-JSON answer from the LLM server; is {llm.base_url} the "
                                          "OpenAI-compatible API (usually ending in /v1)?")
    assert t.last_summary.failures == {"non-JSON answer": 2}


def test_cached_rerun_makes_zero_requests(tmp_path):
    db = tmp_path / "cache.sqlite"
    exs = [PARIS, Example("b", "Anna works at IBM.")]
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}]']) as llm:
        first = teacher(llm, cache=db).annotate(exs)
        assert len(llm.requests) == 2
    with ScriptedOpenAI([Reply(status=500)]) as llm:  # would fail if asked
        t = teacher(llm, cache=ResponseCache(db))
        again = t.annotate(exs)
        assert llm.requests == []
    assert [e.entities for e in again] == [e.entities for e in first]
    assert all(e.annotation["cached"] and e.annotation["usage"]["cost"] == 0 for e in again)
    assert t.last_summary.cached == 2 and t.last_summary.requests == 0


def test_budget_cap_stops_cleanly_and_marks_the_rest_failed():
    exs = [Example(f"e{i}", f"Person {i} met Anna.") for i in range(5)]
    prices = json.dumps({"stub-model": [1_000_000, 0]})  # $1 per prompt token
    with ScriptedOpenAI([Reply('[{"span": "Anna", "type": "PER"}]', prompt_tokens=1)]) as llm:
        t = teacher(llm, concurrency=1, prices=prices, max_cost=2.0)
        out = t.annotate(exs)
        assert len(llm.requests) == 2
    assert [e.failed for e in out] == [False, False, True, True, True]
    assert out[2].annotation["error"] == "budget exhausted" and out[2].entities == ()
    assert t.last_summary.cost == pytest.approx(2.0)
    assert t.last_summary.failures == {"budget exhausted": 3}


def test_concurrency_overlaps_requests():
    with ScriptedOpenAI(["[]"], latency=0.5) as llm:
        start = time.perf_counter()
        out = teacher(llm, concurrency=8).annotate([Example(f"c{i}", "x") for i in range(8)])
    assert time.perf_counter() - start < 2.5  # 8 x 0.5 s one at a time would be 4 s
    assert not any(e.failed for e in out)


def test_json_mode_sends_response_format_and_unwraps_the_object():
    with ScriptedOpenAI(['{"entities": [{"span": "Paris", "type": "LOC"}]}']) as llm:
        [out] = teacher(llm, json_mode=True).annotate([PARIS])
        req = llm.requests[0]
    assert req["response_format"] == {"type": "json_object"} and req["temperature"] == 0
    assert '{"entities"' in req["messages"][0]["content"]
    assert labeled(out) == [("Paris", "LOC"), ("Paris", "LOC")]


def test_demos_appear_as_turns_and_the_query_itself_is_never_a_demo():
    demos = [Example("p1", PARIS.text, (Span(0, 4, "PER"),)), Example("d2", "Bob is in Rome.", (Span(10, 14, "LOC"),))]
    index = DemoIndex(examples=demos, mode="random")
    with ScriptedOpenAI(["[]"]) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), LABELS, index, k=5)
        [out] = t.annotate([PARIS])
        msgs = llm.requests[0]["messages"]
    assert out.annotation["demo_ids"] == ["d2"]
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert json.loads(msgs[2]["content"]) == [{"span": "Rome", "type": "LOC"}]


def test_relation_teacher_labels_each_ordered_pair():
    rl = LabelSet(("Peop", "Org"), ("Work_For",))
    ex = Example("r1", "Anna works for IBM.", (Span(0, 4, "Peop"), Span(15, 18, "Org")))

    def handler(req, n):
        q = last_user_message(req)
        return "Work_For" if "Head: Anna" in q else "no_relation"

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, task="re")
        [out] = t.annotate([ex])
        assert len(llm.requests) == 2
        [listed] = t.annotate([ex.with_labels(pairs=[[1, 0]])])
    assert [(r.head, r.tail, r.label) for r in out.relations] == [(0, 1, "Work_For")]
    assert out.entities == ex.entities and not out.failed
    assert listed.relations == ()


def test_a_relation_answer_that_repeats_an_entity_named_like_a_label_is_not_read_as_that_label():
    rl = LabelSet(("Peop", "Loc"), ("Kill", "Live_In"))
    ex = Example("k", "Anna moved to Kill Devil Hills.", (Span(0, 4, "Peop"), Span(14, 30, "Loc")))

    def handler(req, n):  # a model that names the place in its answer; asked again, it gives the label
        asked = [m["content"] for m in req["messages"] if m["role"] == "user"]
        if "Head: Anna" not in asked[0]:
            return "no_relation"
        return "Live_In" if len(asked) > 1 else "Kill Devil Hills"

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", concurrency=1), rl, task="re")
        [out] = t.annotate([ex])
    assert [(r.head, r.tail, r.label) for r in out.relations] == [(0, 1, "Live_In")]
    assert out.annotation["reasks"] == 1


def test_annotate_works_from_inside_a_running_event_loop():
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}]']) as llm:
        t = teacher(llm)

        async def main():
            return t.annotate([PARIS])

        [out] = asyncio.run(main())
    assert labeled(out) == [("Anna", "PER")]


def test_a_long_text_is_asked_in_sentence_pieces_and_spans_come_back_in_its_offsets():
    sents = ["Anna Schmidt flew from Paris to Québec.", "王小明住在北京。", "Zoë 🙂 met Anna Schmidt in Berlin."]
    text = " ".join(sents * 3)  # ~250 chars: pieces of at most 80
    answers = {"Paris": "LOC", "Québec": "LOC", "北京": "LOC", "王小明": "PER", "Berlin": "LOC", "Anna Schmidt": "PER"}

    def handler(req, n):  # a model that answers about the text it was shown
        query = last_user_message(req)
        return json.dumps([{"span": m, "type": t} for m, t in answers.items() if m in query])

    demos = DemoIndex(examples=[Example("d1", "Bob is in Rome. " * 20, (Span(10, 14, "LOC"), Span(330, 334, "LOC")))],
                      mode="random")
    ex = Example("long", text)
    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_chars=80), LABELS, demos, k=1)
        [out] = t.annotate([ex])
        queries = [last_user_message(r) for r in llm.requests]
        demo_turns = [r["messages"][1]["content"] for r in llm.requests]
    assert len(llm.requests) == len(queries) > 3 and all(len(q) < 200 for q in queries)
    assert out.annotation["error"] is None and out.annotation["demo_ids"] == ["d1"]
    assert out.annotation["usage"]["prompt_tokens"] > 0
    assert all(len(d) <= 120 for d in demo_turns)  # the 320-char demo is cropped to its first piece
    got = [(out.mention(s), s.label) for s in out.entities]
    expected = sorted((m.start(), m.group(0), t) for mention, t in answers.items()
                      for m in re.finditer(re.escape(mention), text))
    assert got == [(m, t) for _, m, t in expected]
    assert [s.start for s in out.entities] == sorted(s.start for s in out.entities)
    # a short text is still one request with the text itself
    with ScriptedOpenAI(handler) as llm:
        [short] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_chars=80), LABELS).annotate([PARIS])
        assert len(llm.requests) == 1
    assert [(short.mention(s), s.label) for s in short.entities] == [("Paris", "LOC"), ("Paris", "LOC")]
    # an empty or blank text costs no request and has no entities (not a failure)
    with ScriptedOpenAI(handler) as llm:
        blank = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), LABELS).annotate([Example("e", ""), Example("b", " \n ")])
        assert len(llm.requests) == 0
    assert all(b.entities == () and not b.failed for b in blank)


def test_one_failed_piece_fails_the_long_text_with_the_reason():
    text = "Anna flew to Paris. " * 10

    def handler(req, n):
        return "no idea at all" if n == 2 else '[{"span": "Paris", "type": "LOC"}]'

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_chars=50, reasks=0, concurrency=1), LABELS)
        [out] = t.annotate([Example("x", text)])
    assert out.failed and out.entities == ()
    assert "unparseable answer" in out.annotation["error"] and "pieces of a 200-char text failed" in out.annotation["error"]


def test_relations_in_a_long_document_are_asked_within_the_sentence_piece_that_holds_the_pair():
    rl = LabelSet(("Peop", "Org", "Loc"), ("Work_For", "Live_In"))
    text = "Anna works for IBM. Zoë lives in Québec."
    ents = (Span(0, 4, "Peop"), Span(15, 18, "Org"), Span(20, 23, "Peop"), Span(33, 39, "Loc"))
    ex = Example("doc", text, ents)
    gold = {("Anna", "IBM"): "Work_For", ("Zoë", "Québec"): "Live_In"}

    def handler(req, n):
        q = last_user_message(req)
        assert len(q) < 200 and not ("Anna" in q and "Québec" in q)  # only the pair's own sentence is shown
        return next((lab for (h, t), lab in gold.items() if f"Head: {h}" in q and f"Tail: {t}" in q), "no_relation")

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_chars=25), rl, task="re")
        [out] = t.annotate([ex])
        assert len(llm.requests) == 4  # 2 ordered pairs per sentence; the 8 cross-sentence pairs are not asked
    assert not out.failed and out.annotation["pairs_not_asked"] == {"other_piece": 8}
    assert sorted(map(tuple, out.annotation["unlabeled_pairs"])) == [  # unknown, for the student to skip
        (h, t) for h in range(4) for t in range(4) if h != t and (h < 2) != (t < 2)]
    assert [(out.mention(out.entities[r.head]), out.mention(out.entities[r.tail]), r.label) for r in out.relations] == [
        ("Anna", "IBM", "Work_For"), ("Zoë", "Québec", "Live_In")]
    with ScriptedOpenAI(handler) as llm:  # within the limit: every ordered pair, the whole text
        [whole] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_chars=0), rl, task="re").annotate(
            [Example("s", "Anna works for IBM.", ents[:2])])
        assert len(llm.requests) == 2 and "pairs_not_asked" not in whole.annotation


def test_a_text_with_more_entity_pairs_than_max_pairs_fails_before_any_request():
    """Before, a long document in a relations project listed every ordered pair (a 1 MB task: tens of GB, the
    worker killed) and asked each one within its piece: 33,859 requests for a 100,000-character text."""
    rl = LabelSet(("Peop", "Loc"), ("Live_In",))
    text = " ".join(f"P{i} lives in L{i}." for i in range(20))
    ents = tuple(Span(m.start(), m.end(), "Peop" if m.group()[0] == "P" else "Loc")
                 for m in re.finditer(r"[PL]\d+", text))
    with ScriptedOpenAI(lambda req, n: "no_relation") as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_pairs=100), rl, task="re")
        [out] = t.annotate([Example("long", text, ents)])
        assert llm.requests == []
    assert out.failed and "40 entities make 1560 entity pairs to ask, more than LLM_MAX_PAIRS=100" in out.annotation["error"]
    assert out.entities == ents  # the given entities are kept
    with ScriptedOpenAI(lambda req, n: "no_relation") as llm:  # pairs listed by the user count as listed
        listed = Example("long", text, ents, extra={"pairs": [[0, 1], [2, 3]]})
        [ok] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_pairs=100), rl, task="re").annotate([listed])
        assert len(llm.requests) == 2 and not ok.failed
    # pairs split across a long text's pieces are not asked, so they do not count: 20 sentences of 2 entities,
    # one piece each, are 40 pairs to ask, not 1,560
    with ScriptedOpenAI(lambda req, n: "no_relation") as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_pairs=100, max_chars=20), rl, task="re")
        [pieced] = t.annotate([Example("long", text, ents)])
        assert len(llm.requests) == 40 and not pieced.failed
    # ... but every pair is still listed, those across pieces kept as unknown: memory quadratic in the entities
    with ScriptedOpenAI(lambda req, n: "no_relation") as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", max_pairs=60, max_chars=20), rl, task="re")
        [many] = t.annotate([Example("long", text, ents)])
        assert llm.requests == []
    assert many.failed and "40 entities make 1560 ordered pairs, more than 25 x LLM_MAX_PAIRS=60" in many.annotation["error"]


def test_re_pairs_seen_asks_only_type_combinations_of_gold_relations():
    rl = LabelSet(("Peop", "Org", "Loc"), ("Work_For", "Live_In"))
    gold = [Example(f"g{i}", "Bob works for Acme.", (Span(0, 3, "Peop"), Span(14, 18, "Org")), (Relation(0, 1, "Work_For"),))
            for i in range(SEEN_PAIRS_MIN_RELATIONS)]
    ex = Example("r", "Anna of IBM met Zoë in Oslo.",
                 (Span(0, 4, "Peop"), Span(8, 11, "Org"), Span(16, 19, "Peop"), Span(23, 27, "Loc")))

    def handler(req, n):
        q = last_user_message(req)
        return "Work_For" if "Head: Anna" in q and "Tail: IBM" in q else "no_relation"

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", re_pairs="seen"), rl,
                       DemoIndex(examples=gold, mode="random"), task="re", k=1)
        [out] = t.annotate([ex])
        asked = [last_user_message(r) for r in llm.requests]
    assert len(asked) == 2 and all("(Peop)" in q.split("Tail:")[0] and "Tail:" in q for q in asked)  # Peop -> Org only
    assert out.annotation["pairs_not_asked"] == {"unseen_types": 10}
    assert "unlabeled_pairs" not in out.annotation  # no gold relation joins those types: no_relation, trained as such
    assert t.last_summary.pairs_not_asked == {"unseen_types": 10} and "pairs not asked: 10 unseen_types" in t.last_summary.line()
    assert [(r.head, r.tail, r.label) for r in out.relations] == [(0, 1, "Work_For")]
    # a human annotation with a new type pair widens the set on the next call
    t.demo_index.add([Example("human", "Eve lives in Rome.", (Span(0, 3, "Peop"), Span(13, 17, "Loc")), (Relation(0, 1, "Live_In"),))])
    with ScriptedOpenAI(handler) as llm:
        t.config = LLMConfig(base_url=llm.base_url, model="m", re_pairs="seen")
        [again] = t.annotate([ex])
        assert len(llm.requests) == 4 and again.annotation["pairs_not_asked"] == {"unseen_types": 8}
    # too few gold relations to tell which types never relate: every pair is asked
    with ScriptedOpenAI(handler) as llm:
        few = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", re_pairs="seen"), rl,
                         DemoIndex(examples=gold[:3], mode="random"), task="re", k=1)
        [all_asked] = few.annotate([ex])
        assert len(llm.requests) == 12 and "pairs_not_asked" not in all_asked.annotation
    with pytest.raises(ValueError, match="LLM_RE_PAIRS='typed'"):
        LLMTeacher(LLMConfig(re_pairs="typed"), rl, task="re")


def _completion_body(content, finish_reason):
    """A raw chat completion with a chosen finish_reason (the stub's own replies always say "stop")."""
    return json.dumps({"choices": [{"index": 0, "finish_reason": finish_reason,
                                    "message": {"role": "assistant", "content": content}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5}})


def test_an_answer_cut_off_at_max_tokens_inside_its_json_is_a_failure_not_a_partial_annotation(tmp_path):
    cut = '[{"span": "Anna", "type": "PER"}, {"span": "Pa'  # the parser alone would salvage Anna
    db = tmp_path / "cache.sqlite"
    with ScriptedOpenAI([Reply(body=_completion_body(cut, "length"))]) as llm:
        t = teacher(llm, cache=db, max_tokens=12)
        [out] = t.annotate([PARIS])
        reask = llm.requests[1]["messages"][-1]["content"]
    assert out.failed and out.entities == ()
    assert out.annotation["error"].startswith("truncated answer: the answer was cut off at max_tokens=12")
    assert "larger LLM_MAX_TOKENS" in out.annotation["error"]
    assert "cut off at max_tokens=12" in reask and "LLM_MAX_TOKENS" not in reask and out.annotation["reasks"] == 1
    assert t.last_summary.failures == {"truncated answer": 1}
    with ScriptedOpenAI([Reply(status=500)]) as llm:  # the cache remembers the cut: still a failure, not a success
        t = teacher(llm, cache=ResponseCache(db), max_tokens=12)
        [again] = t.annotate([PARIS])
        assert llm.requests == []
    assert again.failed and again.annotation["error"].startswith("truncated answer") and again.entities == ()


def test_a_cut_off_answer_whose_json_closed_and_a_cut_off_relation_label_are_kept():
    rambling = '[{"span": "Anna", "type": "PER"}]\nExplanation: Anna is a [person] and'
    with ScriptedOpenAI([Reply(body=_completion_body(rambling, "length"))]) as llm:
        [out] = teacher(llm).annotate([PARIS])
        assert len(llm.requests) == 1
    assert labeled(out) == [("Anna", "PER")] and not out.failed
    rl = LabelSet(("Peop", "Org"), ("Work_For",))
    ex = Example("r1", "Anna works for IBM.", (Span(0, 4, "Peop"), Span(15, 18, "Org")))
    with ScriptedOpenAI([Reply(body=_completion_body("Work_For\n\nExplanation: Anna is employed", "length"))]) as llm:
        [rel] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", reasks=0), rl, task="re").annotate([ex])
    assert not rel.failed and [(r.head, r.tail, r.label) for r in rel.relations] == [(0, 1, "Work_For"), (1, 0, "Work_For")]


def test_a_cache_file_from_before_finish_reasons_still_serves_its_answers(tmp_path):
    import sqlite3

    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as con:  # the schema the cache had before it kept finish reasons
        con.execute("CREATE TABLE responses (key TEXT PRIMARY KEY, model TEXT, answer TEXT NOT NULL, "
                    "prompt_tokens INTEGER, completion_tokens INTEGER, created REAL)")
        con.execute("INSERT INTO responses VALUES ('k', 'm', '[]', 3, 1, 0)")
    cache = ResponseCache(db)
    assert cache.get("k") == Completion("[]", 3, 1, None)
    cache.put("k2", Completion("x", 1, 2, "length"), "m")
    assert ResponseCache(db).get("k2") == Completion("x", 1, 2, "length")


def test_a_sentence_repeated_in_the_demo_pool_is_shown_once():
    bob = (Span(0, 3, "PER"),)
    pool = [Example(f"dup{i}", "Bob is here.", bob) for i in range(6)] + [
        Example("rome", "Eve is in Rome.", (Span(10, 14, "LOC"),)), Example("ibm", "IBM hired Li.", (Span(0, 3, "ORG"),))]
    with ScriptedOpenAI(["[]"]) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), LABELS, DemoIndex(examples=pool, mode="random"), k=3)
        [out] = t.annotate([PARIS])
        shown = [m["content"] for m in llm.requests[0]["messages"][1:-1:2]]
    assert len(shown) == 3 and len(set(shown)) == 3
    assert sum(i.startswith("dup") for i in out.annotation["demo_ids"]) == 1
    assert {"rome", "ibm"} <= set(out.annotation["demo_ids"])


def test_content_sent_as_a_list_of_parts_is_read_as_its_text_parts(tmp_path):
    """Mistral-style servers answer with content parts (a reasoning model's "thinking" part first);
    read as a list, the answer crashed the parser and could not even be cached."""
    parts = [{"type": "thinking", "thinking": [{"type": "text", "text": "Paris is [LOC]"}]},
             {"type": "text", "text": '[{"span": "Anna", '}, {"type": "text", "text": '"type": "PER"}]'}]
    db = tmp_path / "cache.sqlite"
    with ScriptedOpenAI([Reply(body=_completion_body(parts, "stop"))]) as llm:
        [out] = teacher(llm, cache=db).annotate([PARIS])
        assert len(llm.requests) == 1
    assert labeled(out) == [("Anna", "PER")] and not out.failed
    assert ResponseCache(db).get(next(iter(_cache_keys(db)))).text == '[{"span": "Anna", "type": "PER"}]'


def _cache_keys(db):
    import sqlite3

    with sqlite3.connect(db) as con:
        return [row[0] for row in con.execute("SELECT key FROM responses")]


def test_a_429_waits_as_long_as_retry_after_says_and_a_used_up_quota_fails_at_once():
    with ScriptedOpenAI([Reply(status=429, headers={"Retry-After": "1.2"}), '[{"span": "Anna", "type": "PER"}]']) as llm:
        t0 = time.perf_counter()
        [out] = teacher(llm, backoff_s=0.01).annotate([PARIS])
        waited = time.perf_counter() - t0
    assert labeled(out) == [("Anna", "PER")] and waited >= 1.2  # not the 0.01 s backoff
    quota = Reply(status=429, body='{"error": {"message": "You exceeded your current quota", "type": "insufficient_quota",'
                                   ' "code": "insufficient_quota"}}')
    with ScriptedOpenAI([quota]) as llm:
        [out] = teacher(llm, backoff_s=0.01).annotate([PARIS])
        assert len(llm.requests) == 1  # waiting does not refill a quota
    assert out.failed and "quota is used up" in out.annotation["error"] and "exceeded your current quota" in out.annotation["error"]
    with ScriptedOpenAI([Reply(status=429, headers={"Retry-After": "3600"})]) as llm:
        [out] = teacher(llm, backoff_s=0.01).annotate([PARIS])
        assert len(llm.requests) == 1
    assert out.failed and "asks to wait 3600 s" in out.annotation["error"]


def test_an_empty_answer_is_not_cached_so_a_healthy_server_is_asked_again(tmp_path):
    with ScriptedOpenAI([Reply(body=json.dumps({"choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": None}}], "usage": {"prompt_tokens": 5, "completion_tokens": 0}}))]) as llm:
        [out] = teacher(llm, cache=tmp_path / "c.sqlite", reasks=0).annotate([PARIS])
    assert out.failed
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}]']) as llm:
        [out] = teacher(llm, cache=tmp_path / "c.sqlite", reasks=0).annotate([PARIS])
        assert len(llm.requests) == 1
    assert labeled(out) == [("Anna", "PER")]


# --- found by reviewing how real OpenAI-compatible servers answer ---------------------------------------------


def test_a_rate_limit_pauses_every_request_instead_of_letting_the_queue_flood_the_server():
    """Before: a backing-off request freed its slot, so the queued ones took it: 300 examples sent 1,200 requests
    into a 429 and all failed. Now the first 429 pauses the client; the server sees one wave, then the answers."""
    start = time.monotonic()

    def limited(req, n):
        return Reply(status=429, headers={"Retry-After": "1"}) if time.monotonic() - start < 0.8 else \
            Reply('[{"span": "Anna", "type": "PER"}]')

    exs = [Example(f"e{i}", f"Anna met person {i}.") for i in range(40)]
    with ScriptedOpenAI(limited) as llm:
        out = teacher(llm, concurrency=8, backoff_s=0.05).annotate(exs)
        sent = len(llm.requests)
    assert not any(e.failed for e in out)
    assert sent <= 40 + 2 * 8  # each example once, plus at most the waves the limit turned away


def test_a_bad_key_fails_the_rest_at_once_unsent():
    exs = [Example(f"e{i}", f"Anna met person {i}.") for i in range(10)]
    with ScriptedOpenAI([Reply(status=401, body='{"error": {"message": "Incorrect API key"}}')]) as llm:
        out = teacher(llm, concurrency=1).annotate(exs)
        assert len(llm.requests) == 1
    assert all(e.failed and "check the API key" in e.annotation["error"] for e in out)


@pytest.mark.parametrize("refusal", [
    '{"error": "Input validation error: `logprobs` is not supported"}',  # TGI
    '{"detail": "logprobs is not supported"}',  # FastAPI servers
    "logprobs not supported",  # plain text
])
def test_a_logprobs_refusal_in_any_body_shape_is_asked_again_without_them(refusal):
    def server(req, n):
        return Reply(status=400, body=refusal) if req.get("logprobs") else Reply('[{"span": "Anna", "type": "PER"}]')

    with ScriptedOpenAI(server) as llm:
        [out] = teacher(llm).annotate([PARIS])
    assert labeled(out) == [("Anna", "PER")] and not out.failed


def test_a_model_that_takes_max_completion_tokens_and_no_temperature_is_asked_again_with_them():
    """OpenAI's reasoning models refuse max_tokens and a temperature other than their own (before: every example
    failed with the 400)."""
    def server(req, n):
        if "max_tokens" in req:
            return Reply(status=400, body='{"error": {"message": "Unsupported parameter: \'max_tokens\' is not supported '
                                          'with this model. Use \'max_completion_tokens\' instead."}}')
        if "temperature" in req:
            return Reply(status=400, body='{"error": {"message": "Unsupported value: \'temperature\' does not support 0 '
                                          'with this model."}}')
        return Reply('[{"span": "Anna", "type": "PER"}]')

    with ScriptedOpenAI(server) as llm:
        [out] = teacher(llm, max_tokens=64).annotate([PARIS])
        last = llm.requests[-1]
    assert labeled(out) == [("Anna", "PER")]
    assert last["max_completion_tokens"] == 64 and "temperature" not in last


def test_an_answer_cut_by_a_content_filter_inside_its_json_is_not_a_complete_annotation():
    cut = '[{"span": "Anna", "type": "PER"}, {"span": "Par'  # before: read as Anna alone, Paris lost silently
    with ScriptedOpenAI([Reply(body=_completion_body(cut, "content_filter"))]) as llm:
        [out] = teacher(llm, reasks=0).annotate([PARIS])
    assert out.failed and "cut off by the server (finish_reason 'content_filter')" in out.annotation["error"]


def test_a_relation_answer_cut_inside_its_reasoning_fails_at_once_with_the_reason():
    """Before: re-asked at the same cap (paid twice for the same cut) and recorded as "unparseable"."""
    rl = LabelSet(("PER", "ORG"), ("Work_For",))
    ex = Example("r1", "Anna works for IBM .", (Span(0, 4, "PER"), Span(15, 18, "ORG")))
    thinking = "<think>Anna works for IBM so the relation is Work_For, but maybe"
    with ScriptedOpenAI([Reply(body=_completion_body(thinking, "length"))]) as llm:
        [out] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="stub-model", backoff_s=0.01), rl,
                           task="re").annotate([ex])
        assert len(llm.requests) == 2  # one per ordered pair, no re-ask
    assert out.failed and "inside its reasoning" in out.annotation["error"] and "LLM_RE_MAX_TOKENS" in out.annotation["error"]


def test_an_invalid_byte_costs_a_character_not_the_paid_answer_and_missing_usage_is_estimated():
    body = ('{"choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": '
            '"[{\\"span\\": \\"Anna\\", \\"type\\": \\"PER\\", \\"note\\": \\"x').encode() + b"\xff" + b'\\"}]"}}]}'
    with ScriptedOpenAI([Reply(body=body)]) as llm:  # bytes: the \xff goes out as it is, not UTF-8 encoded
        t = teacher(llm)
        [out] = t.annotate([PARIS])
    assert labeled(out) == [("Anna", "PER")]
    assert t.last_summary.prompt_tokens > 0 and t.last_summary.completion_tokens > 0  # no usage sent: estimated


def test_a_tool_call_instead_of_text_says_so():
    body = json.dumps({"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
                                                               "function": {"name": "ner", "arguments": "{}"}}]}}]})
    with ScriptedOpenAI([Reply(body=body)]) as llm:
        [out] = teacher(llm).annotate([PARIS])
    assert out.failed and "tool call" in out.annotation["error"]


def test_the_relation_answer_cap_is_a_setting_for_models_that_reason_first():
    """The RE cap was a constant (32 tokens): a model that thinks before it answers failed every pair as cut off."""
    rl = LabelSet(("PER", "ORG"), ("Work_For",))
    ex = Example("r1", "Anna works for IBM .", (Span(0, 4, "PER"), Span(15, 18, "ORG")))
    answer = "<think>Anna is employed by IBM.</think>Work_For"
    with ScriptedOpenAI(lambda req, n: answer) as llm:
        [out] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="stub-model", re_max_tokens=400), rl,
                           task="re").annotate([ex])
        assert {r["max_tokens"] for r in llm.requests} == {400}
    assert not out.failed and {r.label for r in out.relations} == {"Work_For"}  # both ordered pairs, same stub answer
