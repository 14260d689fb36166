"""Finding the JSON in an answer and repairing its slips: fences, prose, reasoning blocks, comments,
typographic quotes, broken items and answers cut off inside their JSON."""

import pytest

from llmaaa.annotate.answer_errors import AnswerError, ParseStats
from llmaaa.annotate.jsonrepair import extract_json, json_closed
from llmaaa.annotate.parsing import parse_ner_answer, parse_re_answer

LABELS = ("PER", "ORG", "LOC", "MISC")


@pytest.mark.parametrize("answer", [
    '[{"span": "Paris", "type": "LOC"}]',
    '```json\n[{"span": "Paris", "type": "LOC"}]\n```',
    'Sure! Here are the entities:\n[{"span": "Paris", "type": "LOC"}]\nLet me know [if] you need more.',
    "[{'span': 'Paris', 'type': 'LOC'},]",
    '{"entities": [{"span": "Paris", "type": "LOC"}]}',
    '{"LOC": ["Paris"]}',
])
def test_tolerant_json_shapes(answer):
    assert parse_ner_answer(answer, LABELS) == [("Paris", "LOC")]


@pytest.mark.parametrize("answer", ["[" * 5000 + "]" * 5000, "[x] {y} " * 2000, "{" * 3000 + '"a": 1' + "}" * 3000,
                                    "{{1: 2}}", "{set()}"])
def test_pathological_answers_are_answer_errors_not_crashes(answer):
    with pytest.raises(AnswerError):
        parse_ner_answer(answer, LABELS)
    with pytest.raises(AnswerError):
        parse_re_answer(answer, ("Work_For",))


def test_empty_list_means_no_entities():
    assert parse_ner_answer("[]", LABELS) == []
    assert extract_json("```\n[]\n```") == []


# --- answers real models give that used to lose labels (each case found by probing the parser)


@pytest.mark.parametrize("answer", [
    '[{"span": "Paris", "type": "LOC"}, // a city\n {"span": "Anna", "type": "PER"}]',
    '[{"span": "Paris", "type": "LOC"}, /* city */ {"span": "Anna", "type": "PER"}]',
    '[{"span": "Paris", "type": "LOC"}, # a city\n {"span": "Anna", "type": "PER"}]',
    '[{\u201cspan\u201d: \u201cParis\u201d, \u201ctype\u201d: \u201cLOC\u201d}, {"span": "Anna", "type": "PER"}]',
    '[{"span": "Paris", "type": "LOC"}\uff0c{"span"\uff1a"Anna", "type": "PER"}]',  # full-width ，：
    '{"span": "Paris", "type": "LOC"}\n{"span": "Anna", "type": "PER"}',  # one object per line
    '[\n  {"span": "Paris", "type": "LOC"}\n  {"span": "Anna", "type": "PER"}\n]',  # commas forgotten
    '[{"span": "Paris", "type": "LOC"} // city\n {"span": "Anna", "type": "PER"}]',
    '[{span: "Paris", type: LOC}, {span: "Anna", type: "PER"}]',  # JavaScript-style bare keys and label
])
def test_json_slips_are_repaired_without_losing_items(answer):
    assert parse_ner_answer(answer, LABELS) == [("Paris", "LOC"), ("Anna", "PER")]


def test_json_repair_leaves_strings_alone():
    answer = '[{"span": "http://a.org/#x", "type": "MISC"}, // link\n {"span": "He said \u201chi\u201d", "type": "MISC"}]'
    assert parse_ner_answer(answer, LABELS) == [("http://a.org/#x", "MISC"), ("He said \u201chi\u201d", "MISC")]
    # an object after the answer is not an entity: the first object alone is the answer
    assert parse_ner_answer('{"entities": [{"span": "Paris", "type": "LOC"}]}\n{"note": "x"}', LABELS) == [
        ("Paris", "LOC")]


@pytest.mark.parametrize("answer", [
    '<thinking>[{"span": "Rome", "type": "LOC"}]</thinking>\n[{"span": "Paris", "type": "LOC"}]',
    '<reasoning>Rome: LOC?</reasoning>[{"span": "Paris", "type": "LOC"}]',
    # R1-style chat templates put <think> in the prompt: the answer holds only the closing tag
    'Rome could be [{"span": "Rome", "type": "LOC"}] but no.\n</think>\n\n[{"span": "Paris", "type": "LOC"}]',
])
def test_other_reasoning_tags_and_a_lone_closing_tag_hide_decoy_json(answer):
    assert parse_ner_answer(answer, LABELS) == [("Paris", "LOC")]


@pytest.mark.parametrize("answer, closed", [
    ('[{"span": "Anna", "type": "PER"}]\nThe entity [Anna] is', True),  # cut in the prose after the list
    ('{"entities": [{"span": "a]b}", "type": "MISC"}]}', True),  # brackets inside a string do not count
    ('[{"span": "Anna", "type": "PER"}, {"span": "Pa', False),
    ('[{"span": "Anna \\" ]", "type": "PER"}', False),  # an escaped quote keeps the string open
    ('<think>[x]</think>[{"span": "Anna", "type": "PER"}, ', False),
    ('<think>I will answer [{"span": "Anna"}]', False),  # cut while thinking: no answer at all
    ("Anna: PER\nBob: P", False),  # no JSON: nothing shows the list ended
])
def test_json_closed_tells_a_complete_json_answer_from_one_cut_inside_it(answer, closed):
    assert json_closed(answer) is closed


# --- found by an adversarial review of the parser (each used to lose or mislabel entities)


def test_one_broken_item_costs_that_item_not_the_rest_of_the_list():
    stats = ParseStats()
    answer = ('[{"span": "Anna", "type": "PER"}, {"span": "Dwayne "The Rock" Johnson", "type": "PER"}, '
              '{"span": "Miami", "type": "LOC"}, {"span": "Florida", "type": "LOC"}]')
    assert parse_ner_answer(answer, LABELS, stats) == [("Anna", "PER"), ("Miami", "LOC"), ("Florida", "LOC")]
    assert stats.malformed == 1  # counted, not silent
    stats = ParseStats()
    assert parse_ner_answer('[{"span": "C:\\Users", "type": "MISC"}, {"span": "Oslo", "type": "LOC"}]',
                            LABELS, stats) == [("Oslo", "LOC")] and stats.malformed == 1
