"""Resolving the labels an LLM names to the user's: case, BIO prefixes, separators and synonyms that map
only when they are unambiguous."""

from llmaaa.annotate.answer_errors import ParseStats
from llmaaa.annotate.parsing import parse_ner_answer

LABELS = ("PER", "ORG", "LOC", "MISC")


def test_label_synonyms_map_only_when_one_user_label_is_of_that_kind():
    stats = ParseStats()
    answer = ('[{"span": "Anna", "type": "PERSON"}, {"span": "Acme", "type": "Organisation"}, '
              '{"span": "Oslo", "type": "GPE"}, {"span": "Rome", "type": "B-LOC"}, {"span": "Monday", "type": "DATE"}]')
    assert parse_ner_answer(answer, LABELS, stats) == [("Anna", "PER"), ("Acme", "ORG"), ("Oslo", "LOC"), ("Rome", "LOC")]
    assert stats.synonym_labels == 4 and stats.unknown_labels == {"DATE": 1}
    # CoNLL04's own names, and labels spelled with other separators
    assert parse_ner_answer('[{"span": "Anna", "type": "person"}, {"span": "x", "type": "other"}]',
                            ("Peop", "Loc", "Org", "Other")) == [("Anna", "Peop"), ("x", "Other")]
    assert parse_ner_answer('[{"span": "Acme", "type": "product name"}]', ("PRODUCT_NAME",)) == [("Acme", "PRODUCT_NAME")]
    assert parse_ner_answer('[{"span": "a@b.c", "type": "E-MAIL"}, {"span": "Bo", "type": "I-PER"}]',
                            ("E_MAIL", "PER")) == [("a@b.c", "E_MAIL"), ("Bo", "PER")]
    # two user labels of the "location" kind: a GPE answer is ambiguous and dropped, never guessed
    stats = ParseStats()
    assert parse_ner_answer('[{"span": "Oslo", "type": "GPE"}]', ("LOC", "PLACE", "PER"), stats) == []
    assert stats.unknown_labels == {"GPE": 1}
    # subtypes are not synonyms: with a COUNTRY label of its own, LOCATION still means LOC
    assert parse_ner_answer('[{"span": "Oslo", "type": "location"}, {"span": "Peru", "type": "country"}]',
                            ("LOC", "COUNTRY")) == [("Oslo", "LOC"), ("Peru", "COUNTRY")]


def test_label_case_is_fixed_and_unknown_labels_are_dropped_and_counted():
    stats = ParseStats()
    out = parse_ner_answer('[{"span": "Paris", "type": "loc"}, {"span": "Monday", "type": "DATE"},'
                           ' {"span": "Bob", "type": "Per"}]', LABELS, stats)
    assert out == [("Paris", "LOC"), ("Bob", "PER")]
    assert stats.unknown_labels == {"DATE": 1}
