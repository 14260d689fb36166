"""LLM label confidence from token log-probabilities: the mapping onto answer items, and the teacher end to end."""

import math

from openai_stub import Reply, ScriptedOpenAI, last_user_message, word_logprobs

from llmaaa.annotate.cache import ResponseCache
from llmaaa.annotate.client import Completion, LLMConfig
from llmaaa.annotate.confidence import item_scores, label_score, token_offsets
from llmaaa.annotate.teacher import LLMTeacher
from llmaaa.data.schema import Example, LabelSet, Span

LABELS = LabelSet(("PER", "ORG", "LOC"))
SURE, DOUBT = math.log(0.9), math.log(0.4)


def offsets(answer, doubtful):
    return token_offsets(answer, [{"token": t, "logprob": lp} for t, lp in word_logprobs(answer, doubtful)])


def close(a, b):
    return a is not None and abs(a - b) < 1e-9


def test_a_json_item_scores_its_mention_and_its_type_in_either_key_order():
    answer = '[{"span": "Anna", "type": "PER"}, {"type": "LOC", "span": "Paris"}]'
    lp = offsets(answer, {"Anna": SURE, "PER": SURE, "LOC": DOUBT, "Paris": SURE})
    a, p = item_scores(answer, lp, [("Anna", "PER"), ("Paris", "LOC")])
    assert close(a, 0.81) and close(p, 0.36)


def test_pretty_printed_json_lines_and_inner_lists_are_items_too():
    pretty = '[\n  {\n    "span": "Anna",\n    "type": "PER"\n  },\n  {\n    "span": "IBM",\n    "type": "ORG"\n  }\n]'
    lp = offsets(pretty, {"Anna": SURE, "PER": DOUBT, "IBM": SURE, "ORG": SURE})
    assert [round(s, 6) for s in item_scores(pretty, lp, [("Anna", "PER"), ("IBM", "ORG")])] == [0.36, 0.81]
    lines = "PER: Anna\nORG: IBM"
    lp = offsets(lines, {"PER": DOUBT, "Anna": SURE, "IBM": SURE})
    assert [round(s, 6) for s in item_scores(lines, lp, [("Anna", "PER"), ("IBM", "ORG")])] == [0.36, 0.9]
    nested = '[["Anna", "PER"], ["IBM", "ORG"]]'
    lp = offsets(nested, {"PER": DOUBT, "ORG": SURE})
    assert [round(s, 6) for s in item_scores(nested, lp, [("Anna", "PER"), ("IBM", "ORG")])] == [0.4, 0.9]


def test_a_mention_listed_twice_is_scored_at_each_listing_and_reasoning_is_skipped():
    answer = ('<think>Paris could be a person here.</think>'
              '[{"span": "Paris", "type": "PER"}, {"span": "Paris", "type": "LOC"}]')
    toks = word_logprobs(answer)
    # the reasoning mentions Paris too; only the listings count: PER doubtful, LOC sure
    types = iter([DOUBT, SURE])
    toks = [(t, next(types) if t in ("PER", "LOC") else (math.log(0.1) if t == "person" else lp)) for t, lp in toks]
    lp = token_offsets(answer, [{"token": t, "logprob": v} for t, v in toks])
    assert [round(s, 6) for s in item_scores(answer, lp, [("Paris", "PER"), ("Paris", "LOC")])] == [0.4, 0.9]


def test_what_cannot_be_placed_gets_no_score_rather_than_a_guess():
    answer = '[{"span": "O\\"Neil", "type": "PER"}, {"span": "IBM", "type": "ORG"}]'
    lp = offsets(answer, {"IBM": SURE})
    # the parser unescapes O"Neil, which the answer spells O\"Neil: not found, so no score
    assert item_scores(answer, lp, [('O"Neil', "PER"), ("IBM", "ORG")]) == [None, 0.9]
    assert item_scores(answer, None, [("IBM", "ORG")]) == [None]
    # tokens that do not spell the answer (a server that trims or re-encodes) are not used at all
    assert token_offsets("abc", [{"token": "ab", "logprob": 0.0}]) is None
    assert token_offsets("abc", None) is None and token_offsets("abc", [{"token": "abc"}]) is None
    assert token_offsets("abc", [{"token": "abc", "logprob": None}]) is None
    assert token_offsets("abc", [{"token": "abc", "logprob": float("nan")}]) is None


def test_token_bytes_place_a_character_split_across_tokens():
    answer = '[{"span": "北京", "type": "LOC"}] 👍'
    raw = answer.encode("utf-8")
    i = raw.index("北".encode("utf-8"))
    pieces = [raw[:i], raw[i : i + 2], raw[i + 2 : i + 6], raw[i + 6 : -2], raw[-2:]]  # 北 and 👍 split mid-character
    content = [{"token": p.decode("utf-8", "replace"), "logprob": math.log(0.5), "bytes": list(p)} for p in pieces]
    lp = token_offsets(answer, content)
    k = answer.index("北")
    assert lp is not None and [t[:2] for t in lp[1:3]] == [(k, k + 1), (k, k + 2)]  # both hold a part of 北
    assert lp[-1][:2] == (len(answer) - 1, len(answer))  # the emoji's last bytes still end at its char
    assert close(label_score(answer, lp, "LOC"), 0.5)
    assert close(item_scores(answer, lp, [("北京", "LOC")])[0], 0.5**4)


def test_the_teacher_gives_each_span_its_confidence_and_the_cache_keeps_it(tmp_path):
    ex = Example("a", "Anna flew to Paris.")
    answer = '[{"span": "Anna", "type": "PER"}, {"span": "Paris", "type": "LOC"}]'
    reply = Reply(answer, logprobs=word_logprobs(answer, {"Anna": SURE, "Paris": DOUBT}))
    db = tmp_path / "cache.sqlite"
    with ScriptedOpenAI([reply]) as llm:
        [out] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), LABELS, cache=db).annotate([ex])
        assert llm.requests[0]["logprobs"] is True and llm.requests[0]["top_logprobs"] == 1
    assert [(ex.text[s.start : s.end], round(s.score, 6)) for s in out.entities] == [("Anna", 0.9), ("Paris", 0.4)]
    with ScriptedOpenAI([Reply(status=500)]) as llm:  # would fail if asked
        [again] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), LABELS, cache=ResponseCache(db)).annotate([ex])
    assert again.entities == out.entities and again.annotation["cached"]
    assert Span.from_dict(out.entities[1].to_dict()) == out.entities[1]  # the score travels with the label


def test_a_relation_gets_the_probability_of_its_label():
    rl = LabelSet(("Peop", "Org"), ("Work_For", "Live_In"))
    ex = Example("r", "Anna works for IBM.", (Span(0, 4, "Peop"), Span(15, 18, "Org")))

    def handler(req, n):
        if "Head: Anna" in last_user_message(req):
            return Reply("Work_For", logprobs=[("Work", math.log(0.7)), ("_For", math.log(0.9))])
        return Reply("no_relation", logprobs=[("no_relation", 0.0)])

    with ScriptedOpenAI(handler) as llm:
        [out] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, task="re").annotate([ex])
    [r] = out.relations
    assert (r.head, r.tail, r.label) == (0, 1, "Work_For") and close(r.score, 0.63)


def test_a_server_that_refuses_logprobs_is_asked_again_without_and_no_longer_asked_for_them():
    ex = Example("a", "Anna flew to Paris.")

    def handler(req, n):
        if req.get("logprobs"):
            return Reply(status=400, body='{"error": {"message": "logprobs is not supported with this model", '
                                          '"type": "invalid_request_error"}}')
        return '[{"span": "Anna", "type": "PER"}]'

    with ScriptedOpenAI(handler) as llm:
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", backoff_s=0.01), LABELS)
        [out] = t.annotate([ex])
        [again] = t.annotate([Example("b", "Bob met Anna.")])
        asked = [bool(r.get("logprobs")) for r in llm.requests]
    assert [(s.label, s.score) for s in out.entities] == [("PER", None)] and not out.failed
    assert again.entities and not again.failed
    assert asked == [True, False, False]  # refused once; the teacher's next batch does not ask again


def test_logprobs_can_be_switched_off_and_an_old_cache_row_has_none(tmp_path):
    with ScriptedOpenAI(['[{"span": "Anna", "type": "PER"}]']) as llm:
        [out] = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", logprobs=False), LABELS).annotate(
            [Example("a", "Anna ran.")])
        assert "logprobs" not in llm.requests[0] and out.entities[0].score is None
    cache = ResponseCache(tmp_path / "c.sqlite")
    cache.put("k", Completion("x", 1, 1, "stop", ((0, 1, -0.5),)), "m")
    cache.put("k0", Completion("y", 1, 1, "stop"), "m")
    assert ResponseCache(tmp_path / "c.sqlite").get("k").logprobs == ((0, 1, -0.5),)
    assert ResponseCache(tmp_path / "c.sqlite").get("k0").logprobs is None


def test_a_server_without_token_bytes_still_places_a_split_character():
    """llama.cpp sends the parts of a split character as empty strings and no bytes."""
    answer = '[{"span": "李雷", "type": "PER"}]'
    content = [{"token": t, "logprob": lp} for t, lp in
               [('[{"span": "', 0.0), ("", math.log(0.5)), ("", 0.0), ("雷", math.log(0.8)), ('", "type": "', 0.0),
                ("PER", math.log(0.9)), ('"}]', 0.0), ("", -9.0)]]  # a trailing control token spells nothing
    lp = token_offsets(answer, content)
    k = answer.index("李")
    assert lp is not None and [t[:2] for t in lp[1:4]] == [(k, k + 1), (k, k + 1), (k + 1, k + 2)]
    assert close(item_scores(answer, lp, [("李雷", "PER")])[0], 0.5 * 0.8 * 0.9)
    assert token_offsets(answer, [{"token": "[{", "logprob": 0.0}, {"token": "x", "logprob": 0.0}]) is None


def test_the_text_echoed_before_the_json_does_not_score_the_items():
    answer = 'Entities in "Anna flew to Paris":\n[{"span": "Paris", "type": "LOC"}, {"span": "Anna", "type": "PER"}]'
    lp = offsets(answer, {"LOC": DOUBT})
    paris, anna = item_scores(answer, lp, [("Paris", "LOC"), ("Anna", "PER")])
    assert paris < 0.5 < anna  # the doubt about LOC is Paris's, in the list, not the echo's


def test_every_request_in_flight_when_logprobs_are_refused_is_asked_again():
    """The first refusal turns log-probabilities off; the requests already sent with them are refused too."""
    def handler(req, n):
        if req.get("logprobs"):
            return Reply(status=400, delay=0.2, body='{"error": {"message": "logprobs are not supported with '
                                                     'reasoning models", "type": "invalid_request_error"}}')
        return '[{"span": "Anna", "type": "PER"}]'

    pool = [Example(str(i), f"Anna flew to Paris {i}.") for i in range(12)]
    with ScriptedOpenAI(handler) as llm:
        out = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m", backoff_s=0.01, concurrency=8), LABELS).annotate(pool)
    assert not any(ex.failed for ex in out) and all(ex.entities for ex in out)
