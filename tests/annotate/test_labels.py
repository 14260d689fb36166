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


def test_label_synonyms_in_the_language_of_the_text_map_to_the_users_labels():
    # a model asked in English about a Chinese or Spanish sentence often names the type in that language
    assert parse_ner_answer("地点：東京\n人名：张伟", LABELS) == [("東京", "LOC"), ("张伟", "PER")]
    assert parse_ner_answer("东京（地点）、阿里巴巴（公司）", LABELS) == [("东京", "LOC"), ("阿里巴巴", "ORG")]
    assert parse_ner_answer('[{"span": "Madrid", "type": "Lugar"}, {"span": "Ana", "type": "Persona"},'
                            ' {"span": "Renault", "type": "Organisation"}]', LABELS) == [
        ("Madrid", "LOC"), ("Ana", "PER"), ("Renault", "ORG")]
    assert parse_ner_answer('[{"span": "ソニー", "type": "組織名"}]', LABELS) == [("ソニー", "ORG")]
    # the user's own Chinese labels are taken as they are, and the English names map to them
    assert parse_ner_answer('[{"span": "東京", "type": "地名"}, {"span": "张伟", "type": "PERSON"}]',
                            ("人名", "地名")) == [("東京", "地名"), ("张伟", "人名")]
    # two user labels of the place kind: 地点 is ambiguous and dropped
    stats = ParseStats()
    assert parse_ner_answer('[{"span": "東京", "type": "地点"}]', ("地名", "位置"), stats) == []
    assert stats.unknown_labels == {"地点": 1}


def test_a_type_given_as_an_object_is_read_by_its_name():
    answer = ('[{"span": "Anna", "type": {"name": "PER"}}, {"text": "Paris", "label": {"id": 2, "label": "LOC"}},'
              ' {"span": "Acme", "type": {"id": 3, "name": "Organization", "color": "#f00"}}]')
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC"), ("Acme", "ORG")]


def test_label_case_is_fixed_and_unknown_labels_are_dropped_and_counted():
    stats = ParseStats()
    out = parse_ner_answer('[{"span": "Paris", "type": "loc"}, {"span": "Monday", "type": "DATE"},'
                           ' {"span": "Bob", "type": "Per"}]', LABELS, stats)
    assert out == [("Paris", "LOC"), ("Bob", "PER")]
    assert stats.unknown_labels == {"DATE": 1}


def test_a_label_written_with_a_note_a_field_name_or_as_a_plural_is_the_label():
    # before: every entity dropped as an unknown label, and the answer taken as "no entities"
    answer = ('[{"span": "Anna", "type": "PER (a person\'s name)"}, {"span": "Paris", "type": "Location (city)"},'
              ' {"span": "Acme", "type": "type: ORG"}]')
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC"), ("Acme", "ORG")]
    assert parse_ner_answer('{"DRUGS": ["aspirin"], "Diseases": ["flu"]}', ("DRUG", "DISEASE")) == [
        ("aspirin", "DRUG"), ("flu", "DISEASE")]
    assert parse_ner_answer('{"people": ["Anna"], "places": ["Paris"]}', LABELS) == [("Anna", "PER"), ("Paris", "LOC")]
    assert parse_ner_answer("- Anna: PER (Person)\n- Paris: LOC (capital of France)", LABELS) == [
        ("Anna", "PER"), ("Paris", "LOC")]
    # a mention with its label in brackets stays a mention, not a label
    assert parse_ner_answer('["Paris (LOC)"]', LABELS) == [("Paris", "LOC")]


def test_label_synonyms_without_accents_and_for_chinese_organisation_labels():
    assert parse_ner_answer('[{"span": "Madrid", "type": "Ubicacion"}, {"span": "Renault", "type": "Entreprise"}]',
                            LABELS) == [("Madrid", "LOC"), ("Renault", "ORG")]
    assert parse_ner_answer('[{"span": "阿里巴巴", "type": "ORG"}, {"span": "腾讯", "type": "组织"}]',
                            ("人名", "地名", "机构名")) == [("阿里巴巴", "机构名"), ("腾讯", "机构名")]


def test_a_generic_type_never_maps_to_a_narrower_user_label():
    """Before, "Organization" for MIT became Company: "company" was on the organization list and University
    was not, so Company counted as the one label of that kind."""
    stats = ParseStats()
    labels = ("Company", "University", "Person")
    assert parse_ner_answer('[{"span": "MIT", "type": "Organization"}, {"span": "Acme", "type": "company"}]',
                            labels, stats) == [("Acme", "Company")]
    assert stats.unknown_labels == {"Organization": 1}
    # a narrow answer still maps to the user's generic label, in any language
    assert parse_ner_answer('[{"span": "Acme", "type": "Company"}, {"span": "阿里巴巴", "type": "公司"},'
                            ' {"span": "MIT", "type": "institution"}]', LABELS) == [
        ("Acme", "ORG"), ("阿里巴巴", "ORG"), ("MIT", "ORG")]
    # and to the user's label of that narrow kind, named in another language
    assert parse_ner_answer('[{"span": "Acme", "type": "Empresa"}]', ("Company", "ORG")) == [("Acme", "Company")]


def test_a_generic_place_maps_to_gpe_in_an_ace_style_label_set():
    """GPE stands for every place in label sets without LOC; a first version of the generic/narrow rule dropped
    LOC, location, 地点 and Lugar answers there."""
    for labels in (("PER", "ORG", "GPE"), ("PERSON", "ORGANIZATION", "GPE", "FAC")):
        answer = '[{"span": "Oslo", "type": "LOC"}, {"span": "Rome", "type": "location"}, {"span": "Lima", "type": "Lugar"}]'
        assert parse_ner_answer(answer, labels) == [("Oslo", "GPE"), ("Rome", "GPE"), ("Lima", "GPE")]


def test_generic_place_names_map_to_loc_where_both_loc_and_gpe_are_labels():
    """OntoNotes-style sets have both: "location" is LOC, "geopolitical entity" GPE (before: both dropped)."""
    answer = '[{"span": "Alps", "type": "location"}, {"span": "Oslo", "type": "geopolitical entity"}]'
    assert parse_ner_answer(answer, ("GPE", "LOC", "PER")) == [("Alps", "LOC"), ("Oslo", "GPE")]
