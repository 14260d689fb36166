"""Reading the shapes NER answers come in: other key names, wrapper objects, label-keyed objects, swapped
pairs, plain-text lists and inline tags."""

import pytest

from llmaaa.annotate.alignment import align_mentions
from llmaaa.annotate.answer_errors import AnswerError, ParseStats
from llmaaa.annotate.parsing import parse_ner_answer

LABELS = ("PER", "ORG", "LOC", "MISC")


@pytest.mark.parametrize("answer", [
    '[{"mention": "Paris", "type": "LOC"}]',
    '[{"Text": "Paris", "Entity_Type": "LOC"}]',
    '[{"name": "Paris", "category": "LOC"}]',
    '[{"LOC": "Paris"}]',
    '<think>Is it [LOC] or {ORG}? Paris is a city.</think>\n[{"span": "Paris", "type": "LOC"}]',
    'Types used [PER, LOC, ORG, MISC]; answer: [{"span": "Paris", "type": "LOC"}]',
    '{"Paris": "LOC"}', '{"Paris": "location"}', '["Paris (LOC)"]', '["Paris: LOC"]',
    '[{"span": ["Paris"], "type": ["LOC"]}]',
])
def test_other_key_names_and_reasoning_blocks(answer):
    assert parse_ner_answer(answer, LABELS) == [("Paris", "LOC")]


@pytest.mark.parametrize("answer,expected", [
    ("Paris: LOC\nAnna: PER", [("Paris", "LOC"), ("Anna", "PER")]),
    ("Here are the entities:\n- **Paris** (LOC)\n- Anna - person\nDone.", [("Paris", "LOC"), ("Anna", "PER")]),
    ("LOC: Paris, Rome\nPER: Anna", [("Paris", "LOC"), ("Rome", "LOC"), ("Anna", "PER")]),
    ("1. Mission: Impossible (MISC)", [("Mission: Impossible", "MISC")]),
    ("None.", []), ("No entities found.", []), ("<think>hmm</think>There are no named entities in this sentence.", []),
    ("PER: Anna\nORG: ==NONE==\nLOC: Paris\nMISC: none", [("Anna", "PER"), ("Paris", "LOC")]),  # spacy-llm's format
    ("| Entity | Type |\n|---|---|\n| Paris | LOC |\n| Anna | PER |", [("Paris", "LOC"), ("Anna", "PER")]),
    ("{'span': 'Paris', 'type': 'LOC'}, {'span': 'Anna', 'type': 'PER'}", [("Paris", "LOC"), ("Anna", "PER")]),
    ("Paris\tLOC\nAnna\tPER", [("Paris", "LOC"), ("Anna", "PER")]),  # tab-separated, as in a CoNLL file
    # every label given no mention: used to be re-asked (the lines hold no item, and the whole is not "None")
    ("LOC: None\nPER: None", []), ("- LOC: none\n- PER: -\n- ORG:\n- MISC: N/A", []), ("Location: none", []),
    ("LOC: none\nPER: -\nORG: Acme", [("Acme", "ORG")]),  # "-" is no mention, not a PER named "-"
    ("null", []), ("Answer: none", []), ("**Entities:** None", []),
    ("Anna: None", None), ("Note: none", None),  # "none" after a word that is no label: re-asked
    # a lead-in before the items used to open the first mention ("Entities: Paris", found nowhere in the text)
    ("Entities: Paris [LOC], Anna [PER]", [("Paris", "LOC"), ("Anna", "PER")]),
    ("**Final answer:** Paris (LOC)", [("Paris", "LOC")]),
    ("ORG: Acme Inc., Foo Ltd.", [("Acme Inc.", "ORG"), ("Foo Ltd.", "ORG")]),  # an abbreviation keeps its dot
    ("ORG: Acme (Tokyo)", [("Acme (Tokyo)", "ORG")]),  # a bracket naming no label is the mention's own
    # several bracketed items joined by "and" (before: "Paris (LOC) and Anna" was one mention)
    ("Paris (LOC) and Anna (PER)", [("Paris", "LOC"), ("Anna", "PER")]),
    ("Anna (PER), Bob (PER) and Paris (LOC).", [("Anna", "PER"), ("Bob", "PER"), ("Paris", "LOC")]),
    ("张伟（PER）和北京（LOC）", [("张伟", "PER"), ("北京", "LOC")]),
    # "=" and "--" between mention and label
    ("LOC=Paris\nPER = Anna", [("Paris", "LOC"), ("Anna", "PER")]),
    ("PER=Anna, LOC=Paris", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Anna -- PER", [("Anna", "PER")]),
    # a lead-in sentence before the first item is not part of its mention (before: "The entities are: Anna")
    ("The entities are: Anna (PER) and Paris (LOC).", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Here are the named entities found: Anna (PER), Paris (LOC)", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Sure! Anna (PER), Paris (LOC).", [("Anna", "PER"), ("Paris", "LOC")]),
    ("The named entities in the text are Anna (PER) and Paris (LOC).", [("Anna", "PER"), ("Paris", "LOC")]),
    ("The entities are: none", []),
    ("Result Holdings: ORG", [("Result Holdings", "ORG")]),  # a mention that starts like a lead-in keeps it
])
def test_plain_text_lists_and_none_answers_are_understood(answer, expected):
    assert_read_or_reasked(answer, expected)


@pytest.mark.parametrize("answer,expected", [
    ("EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO", [("EU", "ORG"), ("German", "MISC")]),
    ("New\tB-LOC\nYork\tI-LOC\nis\tO", [("New York", "LOC")]),
    ("Anna\tB-PER\nSmith\tI-PER\nBob\tB-PER\nJones\tI-PER", [("Anna Smith", "PER"), ("Bob Jones", "PER")]),
    ("Anna\tB-PER\nParis\tI-LOC", [("Anna", "PER"), ("Paris", "LOC")]),  # an I- of another type starts its own
    ("New\tB-LOC\nYork\tE-LOC\nBob\tS-PER", [("New York", "LOC"), ("Bob", "PER")]),  # BIOES
    # the columns split by a space, not a tab; an O line ends the mention before it
    ("Anna B-PER\nSmith I-PER\nflew O\nNew B-LOC\nYork I-LOC", [("Anna Smith", "PER"), ("New York", "LOC")]),
    ("Anna B-PER\nsaw O\nSmith I-PER", [("Anna", "PER"), ("Smith", "PER")]),
    ("张 B-PER\n伟 I-PER\n去 O\n北 B-LOC\n京 I-LOC", [("张 伟", "PER"), ("北 京", "LOC")]),
])
def test_a_conll_style_token_per_line_answer_joins_inside_tags_to_one_mention(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer,expected", [
    ('[{"word": "New", "entity": "B-LOC"}, {"word": "York", "entity": "I-LOC"}]', [("New York", "LOC")]),
    ('[{"text": "Anna", "label": "B-PER"}, {"text": "Smith", "label": "E-PER"}, {"text": "Bob", "label": "S-PER"}]',
     [("Anna Smith", "PER"), ("Bob", "PER")]),
    ('[{"word": "Jo", "entity": "B-PER"}, {"word": "##hn", "entity": "I-PER"}]', [("John", "PER")]),  # word pieces
    # whole mentions are not tokens: an I- after one starts its own mention, as does an I- of another type
    ('[{"span": "Anna Smith", "type": "B-PER"}, {"span": "Bob", "type": "I-PER"}]', [("Anna Smith", "PER"), ("Bob", "PER")]),
    ('[{"span": "Anna", "type": "I-PER"}, {"span": "Paris", "type": "I-LOC"}]', [("Anna", "PER"), ("Paris", "LOC")]),
    # an object from token to tag, with the O tokens in it (before: re-asked, since "O" names no label)
    ('{"New": "B-LOC", "York": "I-LOC", "is": "O", "big": "O"}', [("New York", "LOC")]),
])
def test_per_token_json_joins_inside_tags_to_one_mention(answer, expected):
    """Before, "New York" tagged per token came back as two LOC spans, "New" and "York"."""
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer", [
    '[{"span": "Paris", "type": "I-LOC"}, {"span": "Berlin", "type": "I-LOC"}, {"span": "Anna", "type": "I-PER"},'
    ' {"span": "Bob", "type": "I-PER"}]',
    "Paris I-LOC\nBerlin I-LOC\nAnna I-PER\nBob I-PER",
    # a Hugging Face pipeline of an IOB1 CoNLL-03 model: I- on every token, the O tokens left out
    '[{"entity": "I-LOC", "word": "Paris", "start": 13, "end": 18}, {"entity": "I-LOC", "word": "Berlin", "start": 23,'
    ' "end": 29}, {"entity": "I-PER", "word": "Anna", "start": 34, "end": 38}, {"entity": "I-PER", "word": "Bob",'
    ' "start": 43, "end": 46}]',
])
def test_inside_tags_of_names_apart_in_the_text_stay_apart(answer):
    """IOB1 tags every entity token I-. Before, "Paris" I-LOC, "Berlin" I-LOC became "Paris Berlin", which is
    not in the text, and the example was saved with no entities."""
    text = "Leaders from Paris and Berlin met Anna and Bob."
    mentions = parse_ner_answer(answer, LABELS, text=text)
    assert mentions == [("Paris", "LOC"), ("Berlin", "LOC"), ("Anna", "PER"), ("Bob", "PER")]
    assert [text[s.start:s.end] for s in align_mentions(text, mentions)] == ["Paris", "Berlin", "Anna", "Bob"]


def test_inside_tags_of_one_name_still_join_given_the_text():
    text = "She flew to New York and met 张伟。"
    answer = "New I-LOC\nYork I-LOC\n张 B-PER\n伟 I-PER"
    assert parse_ner_answer(answer, LABELS, text=text) == [("New York", "LOC"), ("张 伟", "PER")]


def test_a_label_that_looks_like_an_inside_tag_starts_its_own_mention():
    answer = '[{"span": "a@b.c", "type": "E_MAIL"}, {"span": "d@e.f", "type": "E_MAIL"}]'
    assert parse_ner_answer(answer, ("E_MAIL",)) == [("a@b.c", "E_MAIL"), ("d@e.f", "E_MAIL")]


def test_a_token_per_line_answer_in_chinese_aligns_to_the_whole_name():
    text = "我住在北京市。"
    mentions = parse_ner_answer("我\tO\n住\tO\n在\tO\n北\tB-LOC\n京\tI-LOC\n市\tI-LOC\n。\tO", LABELS)
    assert [(text[s.start:s.end], s.label) for s in align_mentions(text, mentions)] == [("北京市", "LOC")]


@pytest.mark.parametrize("answer,expected", [
    ("LOC：東京，大阪。", [("東京", "LOC"), ("大阪", "LOC")]),
    ("LOC: 東京、大阪", [("東京", "LOC"), ("大阪", "LOC")]),
    ("東京：LOC\n大阪：LOC", [("東京", "LOC"), ("大阪", "LOC")]),
    ("东京（LOC）、大阪（LOC）", [("东京", "LOC"), ("大阪", "LOC")]),
    ("PER：张伟；LOC：北京", [("张伟", "PER"), ("北京", "LOC")]),
    ("LOC：无\nPER：无", []), ("无", []), ("なし", []),
])
def test_plain_text_answers_with_full_width_punctuation(answer, expected):
    """A CJK model's plain list: full-width colons, commas and brackets, the ideographic comma, and its "none".
    These used to be re-asked, or read as one mention "東京、大阪" that no text holds."""
    assert parse_ner_answer(answer, LABELS) == expected


def test_a_mention_with_full_width_brackets_aligns_to_the_texts_own_characters():
    text = "株式会社（東京）の社員"
    mentions = parse_ner_answer("ORG：株式会社（東京）", LABELS)
    assert [(text[s.start:s.end], s.label) for s in align_mentions(text, mentions)] == [("株式会社（東京）", "ORG")]


def test_yaml_like_records_are_read_as_records_not_as_key_value_items():
    """Each line read alone as "mention: label" made the key "type" a PER mention, which a text
    holding the word "type" would have been labeled with."""
    text = "- span: José Müller\n  type: PER\n- span: Bonn\n  type: location"
    assert parse_ner_answer(text, LABELS) == [("José Müller", "PER"), ("Bonn", "LOC")]
    numbered = "Entities:\n1. Entity: 北京\n   Type: LOC\n\n2. Entity: \"Anna\"\n   Type: PER\n"
    assert parse_ner_answer(numbered, LABELS) == [("北京", "LOC"), ("Anna", "PER")]
    # a record on one line, its keys in bold or with "="; the mention keeps its own commas
    assert parse_ner_answer("1. Entity: Washington, D.C., Type: LOC\n2. Entity: Anna, Type: PER", LABELS) == [
        ("Washington, D.C.", "LOC"), ("Anna", "PER")]
    assert parse_ner_answer("- **Entity:** Paris; **Entity Type:** LOC", LABELS) == [("Paris", "LOC")]
    assert parse_ner_answer("text=Paris | label=LOC", LABELS) == [("Paris", "LOC")]
    # a label as the key is the plain list, and an echoed "Text:" line is no record
    assert parse_ner_answer("Text: Anna met Bob.\nPER: Anna, Bob", LABELS) == [("Anna", "PER"), ("Bob", "PER")]


@pytest.mark.parametrize("answer,expected", [
    ("<PER>Anna</PER> flew to <LOC>Paris</LOC> .", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Sure: <person>Anna Schmidt</person> met <org>Acme</org>.", [("Anna Schmidt", "PER"), ("Acme", "ORG")]),
    ("[Anna](PER) flew to [Paris](LOC).", [("Anna", "PER"), ("Paris", "LOC")]),
    ("- [Anna](PER) and [Paris](LOC)", [("Anna", "PER"), ("Paris", "LOC")]),  # was one "mention (LABEL)" line
    ('<entities><entity type="PER">Anna</entity> <entity label=\'LOC\' id="2">Paris</entity></entities>',
     [("Anna", "PER"), ("Paris", "LOC")]),
    ('<span class="location">北京</span> and <LOC>Paris</LOC>', [("北京", "LOC"), ("Paris", "LOC")]),  # answer order
    ("<b>Anna</b> flew to [Paris](https://example.org).", None),  # HTML and links name no label: re-asked
    # CoNLL's bracket notation and a pipe inside brackets (before: re-asked)
    ("[PER Anna Smith] flew to [LOC New York] .", [("Anna Smith", "PER"), ("New York", "LOC")]),
    ("[Anna|PER] flew to [Paris | location]", [("Anna", "PER"), ("Paris", "LOC")]),
    ("[LOC|東京]で[PER|张伟]に会った", [("東京", "LOC"), ("张伟", "PER")]),
    ("We met [the team] in [Paris|Rome].", None),  # brackets that name no label
    # word/TAG tokens (the Penn Treebank's notation), BIO or IO; only a line whose every token is tagged
    ("Anna/B-PER Smith/I-PER met/O Bob/B-PER in/O New/B-LOC York/I-LOC",
     [("Anna Smith", "PER"), ("Bob", "PER"), ("New York", "LOC")]),
    ("Anna/PER flew/O to/O New/LOC York/LOC", [("Anna", "PER"), ("New York", "LOC")]),
    ("Anna/PER flew to Paris/LOC", None),  # untagged words: the left edge of a mention is unknown
    ("See a/b or 1/2", None),
])
def test_sentences_rewritten_with_inline_tags(answer, expected):
    assert_read_or_reasked(answer, expected)


def assert_read_or_reasked(answer, expected):
    """``expected`` items, or None: the answer is re-asked (AnswerError)."""
    if expected is None:
        with pytest.raises(AnswerError):
            parse_ner_answer(answer, LABELS)
    else:
        assert parse_ner_answer(answer, LABELS) == expected


def test_empty_values_in_object_answers_mean_no_entities():
    assert parse_ner_answer('{"entities": null}', LABELS) == []
    assert parse_ner_answer('{"entities": "none"}', LABELS) == []
    assert parse_ner_answer('{"PER": "N/A", "LOC": ["Paris"]}', LABELS) == [("Paris", "LOC")]
    with pytest.raises(AnswerError):
        parse_ner_answer('{"entities": "Paris"}', LABELS)  # a value that is not "none" is still no answer


def test_mention_type_pairs_are_accepted():
    assert parse_ner_answer('[["Paris", "LOC"], ["Bob", "per"]]', LABELS) == [("Paris", "LOC"), ("Bob", "PER")]


# --- answers real models give that used to lose labels (each case found by probing the parser)


def test_json_mode_empty_entities_object_means_no_entities():
    # the prompt's own JSON-mode "none" answer; it used to be re-asked
    assert parse_ner_answer('{"entities": []}', LABELS) == []
    assert parse_ner_answer('```json\n{"entities": []}\n```', LABELS) == []
    assert parse_ner_answer('{"entities": [], "explanation": "No named entities."}', LABELS) == []
    assert parse_ner_answer("{}", LABELS) == []  # an empty object, as JSON mode may send
    with pytest.raises(AnswerError):  # a stray object with an empty list is still no answer
        parse_ner_answer('{"type": "json", "data": []}', LABELS)
    with pytest.raises(AnswerError):  # SmolLM2 echoing a format template: re-asked, not read as its items
        parse_ner_answer('JSON:\n{"type": "json", "data": [{"name": "<text>", "description": "JAPAN WIN"},'
                         ' {"span": "...", "type": "..."}]}', LABELS)


@pytest.mark.parametrize("answer,expected", [
    ('{"entities": [{"span": "Paris", "type": "LOC"}], "count": 1}', [("Paris", "LOC")]),
    ('{"result": [{"span": "Paris", "type": "LOC"}], "explanation": "a city"}', [("Paris", "LOC")]),
    ('{"entities": {"PER": ["Anna"], "LOC": ["Paris"]}}', [("Anna", "PER"), ("Paris", "LOC")]),
    ('{"LOC": "Paris", "PER": null}', [("Paris", "LOC")]),  # used to invent the mention 'PER": null'
    ('{"Paris": ["LOC"]}', [("Paris", "LOC")]),
    ('{"result": {"entities": [{"name": "Paris", "category": "LOC"}]}}', [("Paris", "LOC")]),  # a wrapper in a wrapper
    # a joint answer's entity list beside its relation list; a label's mentions given as objects
    ('{"entities": [{"entity": "Anna", "label": "PER"}], "relations": []}', [("Anna", "PER")]),
    ('{"entities": {"PER": [{"text": "Anna"}], "LOC": []}}', [("Anna", "PER")]),
    ('{"PER": [{"text": "Anna", "start": 0}], "LOC": [{"text": "Paris"}]}', [("Anna", "PER"), ("Paris", "LOC")]),
    ('{"PER": [{"text": "Anna", "start": 0}]}', [("Anna", "PER")]),
])
def test_wrapper_objects_with_side_keys_nesting_or_nulls(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer,expected", [
    ('[["LOC", "Paris"], ["Anna", "PER"]]', [("Paris", "LOC"), ("Anna", "PER")]),
    ('[{"Paris": "LOC"}, {"Anna": "PER"}]', [("Paris", "LOC"), ("Anna", "PER")]),
    ('[{"text": "Paris", "type": "entity", "label": "LOC"}]', [("Paris", "LOC")]),  # "type" is not the type here
    ('[{"word": "Paris", "entity_group": "LOC"}]', [("Paris", "LOC")]),  # Hugging Face pipeline keys
    ('[{"entity_name": "Paris", "entity_type": "LOC"}]', [("Paris", "LOC")]),
    ('[{"span": "Paris", "type": "b-loc"}, {"span": "Anna", "type": "i-per"}]', [("Paris", "LOC"), ("Anna", "PER")]),
])
def test_swapped_pairs_other_keys_and_lowercase_bio_prefixes(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


def test_keyed_objects_are_never_swapped_and_unknown_pairs_stay_dropped():
    stats = ParseStats()
    assert parse_ner_answer('[{"span": "LOC", "type": "Paris"}, ["DATE", "Monday"]]', LABELS, stats) == []
    assert stats.unknown_labels == {"Paris": 1, "Monday": 1}


@pytest.mark.parametrize("answer,expected", [
    ("PER: Anna; LOC: Paris", [("Anna", "PER"), ("Paris", "LOC")]),
    ("PER: Anna | LOC: Paris", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Anna (PER), Paris (LOC)", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Smith, John (PER), Paris (LOC)", [("Smith, John", "PER"), ("Paris", "LOC")]),
    ("Anna: PER, Paris: LOC", [("Anna", "PER"), ("Paris", "LOC")]),
    ("PER: Anna, Bob; LOC: Paris", [("Anna", "PER"), ("Bob", "PER"), ("Paris", "LOC")]),
    ("Washington, D.C. (LOC)", [("Washington, D.C.", "LOC")]),  # not split: "Washington" alone is no item
    ("There are no entities of type PER.\nParis: LOC", [("Paris", "LOC")]),  # the items beat the "none" reading
    ("Anna (PER) - Paris (LOC)", [("Anna", "PER"), ("Paris", "LOC")]),  # was one mention "Anna (PER) - Paris"
    ("Named entities: Anna (person); Paris (location).", [("Anna", "PER"), ("Paris", "LOC")]),
])
def test_several_items_on_one_line(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer,expected", [
    ("Paris, LOC\nAnna, PER", [("Paris", "LOC"), ("Anna", "PER")]),  # CSV-like rows
    ("Washington, D.C., LOC", [("Washington, D.C.", "LOC")]),  # the label after the last comma
    ("Paris (LOC) - capital of France", [("Paris", "LOC")]),  # an item, then a note about it
    ("Paris (LOC, city)", None),  # used to be read as a pair: a LOC named "city"
    ("Note: the types are PER, LOC", None),  # a note naming labels is no row
])
def test_rows_with_commas_and_notes(answer, expected):
    assert_read_or_reasked(answer, expected)


@pytest.mark.parametrize("answer,expected", [
    ('("Paris", "LOC"), ("Anna", "PER")', [("Paris", "LOC"), ("Anna", "PER")]),
    ("[('Washington, D.C.', 'LOC'), ('北京', 'LOC')]", [("Washington, D.C.", "LOC"), ("北京", "LOC")]),
    ("[Paris, LOC], [Anna, PER]", [("Paris", "LOC"), ("Anna", "PER")]),
    ("(LOC, Paris)", [("Paris", "LOC")]),  # the other way round
    ("[Paris, Rome]", None),  # a pair that names no label is no item: re-asked
])
def test_python_style_pairs(answer, expected):
    assert_read_or_reasked(answer, expected)


def test_the_hugging_face_pipelines_token_output_keeps_the_label_under_entity():
    answer = '[{"entity": "B-PER", "score": 0.99, "word": "Anna"}, {"entity": "B-LOC", "word": "Paris", "start": 14}]'
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC")]
    # "entity" is still the mention where no other key holds one
    assert parse_ner_answer('[{"entity": "Paris", "label": "LOC"}]', LABELS) == [("Paris", "LOC")]


@pytest.mark.parametrize("answer,expected", [
    ('{"data": {"items": [{"text": "Paris", "label": "LOC"}]}}', [("Paris", "LOC")]),
    ('{"status": "ok", "data": {"entities": []}}', []),
    ('{"status": "ok", "data": {"PER": ["Anna"]}}', [("Anna", "PER")]),
    ('{"response": {"data": [{"word": "Anna", "tag": "PER"}]}, "model": "x"}', [("Anna", "PER")]),
    # a list beside an object of metadata used to be re-asked
    ('{"entities": [{"span": "Anna", "type": "PER"}], "meta": {"tokens": 3}}', [("Anna", "PER")]),
])
def test_an_envelope_around_the_entity_list_is_opened(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer", [
    '{"type": "json", "data": [{"span": "...", "type": "..."}]}',  # a template echo names no user label
    '{"a": {"entities": [{"span": "Anna", "type": "PER"}]}, "b": {"entities": []}}',  # two lists: no guessing
])
def test_an_envelope_with_no_single_entity_list_is_still_reasked(answer):
    with pytest.raises(AnswerError):
        parse_ner_answer(answer, LABELS)


@pytest.mark.parametrize("answer,expected", [
    ("【LOC】東京", [("東京", "LOC")]),
    ("【LOC】東京、【PER】张伟", [("東京", "LOC"), ("张伟", "PER")]),
    ("[LOC] Paris\n[PER] Anna", [("Paris", "LOC"), ("Anna", "PER")]),
    ("- [LOC] Paris, Rome", [("Paris", "LOC"), ("Rome", "LOC")]),
    ("[LOC]: Paris", [("Paris", "LOC")]),
])
def test_a_bracketed_label_before_its_mention_is_read(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer,expected", [
    ("PER\n- Anna\nLOC\n- Paris", [("Anna", "PER"), ("Paris", "LOC")]),
    ("### PER\n- Anna\n### LOC\n- Paris", [("Anna", "PER"), ("Paris", "LOC")]),
    # a blank line after a section's mentions closes it: the closing sentence is no mention
    ("**PER:**\n\n- Anna\n- Bob\n\n**LOC:**\n- Paris, Rome\n\nThese are all the entities.",
     [("Anna", "PER"), ("Bob", "PER"), ("Paris", "LOC"), ("Rome", "LOC")]),
    ("PER:\n- None\nLOC:\n- Paris", [("Paris", "LOC")]),
    ("Persons:\n- Anna", [("Anna", "PER")]),  # a synonym as the heading
    ("PER:\n- None\nLOC:\n- None", []),
    ("### PER\nNone\n### LOC\n-", []),
])
def test_mentions_grouped_under_label_headings_are_read(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


def test_a_lone_label_word_is_still_reasked():
    with pytest.raises(AnswerError):
        parse_ner_answer("Persons", LABELS)


@pytest.mark.parametrize("answer", [
    '[{"text": "Anna", "labels": ["PER"]}]',
    '[{"from_name": "label", "to_name": "text", "type": "labels",'
    ' "value": {"start": 0, "end": 4, "text": "Anna", "labels": ["PER"]}}]',
])
def test_label_studio_result_shapes_are_read(answer):
    # a model shown Label Studio's own JSON answers in it
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER")]


@pytest.mark.parametrize("answer,expected", [
    ('[{"span": "Anna", "type": "PER"}]\n[{"span": "Paris", "type": "LOC"}]', [("Anna", "PER"), ("Paris", "LOC")]),
    ('```json\n[{"span": "Anna", "type": "PER"}],\n[{"span": "Paris", "type": "LOC"}]\n```',
     [("Anna", "PER"), ("Paris", "LOC")]),
    ('["Anna", "PER"]\n["Paris", "LOC"]', [("Anna", "PER"), ("Paris", "LOC")]),
    ("[]\n[]", []),
    # prose between two lists is not JSON Lines; after "Wait", "Correction" or "Final answer" the later list is the
    # model's last word (before: the first list was read)
    ('[{"span": "Anna", "type": "PER"}]\nWait: [{"span": "Anna", "type": "ORG"}]', [("Anna", "ORG")]),
    ('Draft: [{"span": "Anna", "type": "PER"}, {"span": "Monday", "type": "MISC"}]\nWait, Monday is a date, not a '
     'named entity. Final answer:\n[{"span": "Anna", "type": "PER"}]', [("Anna", "PER")]),
    ('[{"span": "Anna", "type": "PER"}]\nWait, I missed one: [{"span": "Paris", "type": "LOC"}]',
     [("Anna", "PER"), ("Paris", "LOC")]),  # an addition, not a replacement
    # a correction that re-types one mention keeps the rest (before: only the corrected one was left)
    ('[{"span": "Anna", "type": "PER"}, {"span": "Bob", "type": "PER"}, {"span": "Paris", "type": "ORG"}]\nActually, '
     'Paris should be LOC: [{"span": "Paris", "type": "LOC"}]', [("Anna", "PER"), ("Bob", "PER"), ("Paris", "LOC")]),
    ('[{"span": "Anna", "type": "PER"}]\nActually there is also [{"span": "Paris", "type": "LOC"}]',
     [("Anna", "PER"), ("Paris", "LOC")]),
    # a revised list that keeps a mention's type is the whole answer: what it leaves out was removed
    ('[{"span": "Anna", "type": "PER"}, {"span": "Paris", "type": "ORG"}, {"span": "Monday", "type": "MISC"}]\nWait, '
     'Monday is a date. Final answer: [{"span": "Anna", "type": "PER"}, {"span": "Paris", "type": "LOC"}]',
     [("Anna", "PER"), ("Paris", "LOC")]),
    ('[{"span": "Anna", "type": "PER"}, {"span": "Monday", "type": "MISC"}]\nWait, we also have to drop Monday: '
     '[{"span": "Anna", "type": "PER"}]', [("Anna", "PER")]),
    # a marker word inside a mention is no revision
    ('[{"span": "Correction Corp", "type": "ORG"}, {"span": "Paris", "type": "LOC"}]',
     [("Correction Corp", "ORG"), ("Paris", "LOC")]),
    ('[{"span": "Anna", "type": "PER"}]\nThis is the correct answer.', [("Anna", "PER")]),
])
def test_one_json_list_per_line_reads_every_line(answer, expected):
    assert parse_ner_answer(answer, LABELS) == expected


@pytest.mark.parametrize("answer,expected,unknown", [
    ('{"Anna": "PER", "Paris": "LOC", "Monday": "DATE"}', [("Anna", "PER"), ("Paris", "LOC")], {"DATE": 1}),
    ('{"Anna": "PER", "Paris": "LOC", "Monday": null}', [("Anna", "PER"), ("Paris", "LOC")], {}),
    ('{"entities": ["Anna (PER)", "Paris (LOC)"]}', [("Anna", "PER"), ("Paris", "LOC")], {}),
    ('{"PER": ["Anna"], "LOC": ["Paris"], "count": 2}', [("Anna", "PER"), ("Paris", "LOC")], {}),
])
def test_json_mode_objects_with_a_stray_type_a_null_or_a_count_are_read(answer, expected, unknown):
    """JSON mode forces an object; these were re-asked and, repeated, failed the example."""
    stats = ParseStats()
    assert parse_ner_answer(answer, LABELS, stats) == expected
    assert dict(stats.unknown_labels) == unknown

@pytest.mark.parametrize("answer,expected", [
    ("<entities><entity><text>Anna</text><type>PER</type></entity>"
     "<entity><text>AT&amp;T</text><type>ORG</type></entity></entities>", [("Anna", "PER"), ("AT&T", "ORG")]),
    ("<entity>\n  <name>Zoë Müller</name>\n  <label>person</label>\n</entity>", [("Zoë Müller", "PER")]),
    ("<result><span>北京</span><type>LOC</type></result>", [("北京", "LOC")]),
    ("<text>Anna met Bob</text>\n<type>greeting</type>", None),  # fields, but no user label: re-asked
])
def test_xml_records_are_read_by_their_fields(answer, expected):
    """A model prompted in XML answers in XML records; before, the fields' own tags named no label and
    the answer was re-asked."""
    assert_read_or_reasked(answer, expected)


CJK_LABELS = ("人名", "地名", "机构名")


@pytest.mark.parametrize("answer,expected", [
    # a Chinese lead-in is not part of the first mention (before: "实体:张伟", which no text holds)
    ("实体：张伟（人名）；北京（地名）", [("张伟", "人名"), ("北京", "地名")]),
    ("答案: 张伟: 人名", [("张伟", "人名")]),
    ("<人名>张伟</人名>在<地名>北京</地名>", [("张伟", "人名"), ("北京", "地名")]),  # tags in any script
    ("[人名 张伟]去了[地名 北京]", [("张伟", "人名"), ("北京", "地名")]),
    # "no entities" in Chinese and Japanese (before: re-asked)
    ("没有实体", []), ("无实体。", []), ("该句子中没有实体。", []), ("文本中未发现实体", []), ("未发现任何命名实体。", []), ("答案：没有实体", []), ("エンティティはありません。", []),
    ("地名：无\n张伟（人名）", [("张伟", "人名")]),  # a label with none, then an item: the item is read
])
def test_answers_written_in_chinese_and_japanese(answer, expected):
    assert parse_ner_answer(answer, CJK_LABELS) == expected


@pytest.mark.parametrize("answer,expected", [
    ("Anna is a PER. Paris is a LOC.", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Anna is a person and Paris is a location.", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Procter and Gamble is an ORG.", [("Procter and Gamble", "ORG")]),  # "and" inside a mention stays
    ('"Anna Smith" is a **PER** entity.\nZoë is an entity of type PER', [("Anna Smith", "PER"), ("Zoë", "PER")]),
    ("1. Anna is a PER\n2. Paris is a LOC", [("Anna", "PER"), ("Paris", "LOC")]),
    ("I think Anna is a person.", [("Anna", "PER")]),  # the hedge is not part of the mention
    ("张伟是人名，北京是地点。", [("张伟", "PER"), ("北京", "LOC")]),
    ("東京は地名です。ソニーは組織名です。", [("東京", "LOC"), ("ソニー", "ORG")]),
    ("この文にはエンティティはありません。", []),  # は in prose is no clause: the "none" reading still holds
    # re-asked: a clause that names no label, an explanation after the label, the answer as the subject
    ("Anna is a PER and Paris is a city.", None),
    ("Paris is a LOC because it is a city.", None),
    ("The answer is PER", None),
    ("答案是人名", None),
])
def test_prose_that_names_each_mentions_type_is_read(answer, expected):
    """"Anna is a PER." was re-asked before; the subject of each clause is the mention (its left edge is the
    clause's start, unlike a sentence echoed with inline labels), and every clause must name a user label."""
    assert_read_or_reasked(answer, expected)


@pytest.mark.parametrize("answer,expected", [
    # JSON sent once more as a JSON string, whole or under a wrapper key (before: re-asked)
    ('"[{\\"span\\": \\"Anna\\", \\"type\\": \\"PER\\"}]"', [("Anna", "PER")]),
    ('{"entities": "[{\\"span\\": \\"Paris\\", \\"type\\": \\"LOC\\"}]"}', [("Paris", "LOC")]),
    # a remark beside a mention-keyed or label-keyed object is no mention (before: re-asked / an unknown label)
    ('{"Anna": "PER", "Paris": "LOC", "explanation": "Anna is a person."}', [("Anna", "PER"), ("Paris", "LOC")]),
    ('{"PER": ["Anna"], "notes": "one person", "confidence": 0.9}', [("Anna", "PER")]),
    # mentions keyed to an object holding their type (before: re-asked)
    ('{"Anna": {"type": "PER", "confidence": 0.9}, "Paris": {"label": "LOC"}}', [("Anna", "PER"), ("Paris", "LOC")]),
    # mentions in the quotes of the text's language lose them, as “Paris” does
    ('[{"span": "„Anna“", "type": "PER"}, {"span": "«Paris»", "type": "LOC"}, {"span": "『東京』", "type": "LOC"}]',
     [("Anna", "PER"), ("Paris", "LOC"), ("東京", "LOC")]),
    ('{"Anna": "PER", "note": "not JSON"}', [("Anna", "PER")]),
    ('{"text": "\\"not json\\"", "comment": "x"}', None),  # nothing names a label: still re-asked
])
def test_json_sent_as_a_string_remarks_and_mention_keyed_objects(answer, expected):
    assert_read_or_reasked(answer, expected)


def test_a_user_label_named_like_a_remark_is_still_a_label():
    assert parse_ner_answer('{"Comment": ["great product"], "PRODUCT": ["Kindle"]}', ("Comment", "PRODUCT")) == [
        ("great product", "Comment"), ("Kindle", "PRODUCT")]


@pytest.mark.parametrize("answer,expected", [
    # list markers with no space after them, as CJK lists write them, and emoji or arrow bullets (before: the marker
    # stayed in the mention, which no text holds)
    ("・東京（LOC）\n・トヨタ（ORG）", [("東京", "LOC"), ("トヨタ", "ORG")]),
    ("1、张伟：PER\n2、北京：LOC", [("张伟", "PER"), ("北京", "LOC")]),
    ("① Anna: PER\n② Paris: LOC", [("Anna", "PER"), ("Paris", "LOC")]),
    ("👤 Anna (PER)\n📍 Paris (LOC)", [("Anna", "PER"), ("Paris", "LOC")]),
    ("✅ Anna - PER\n➤ Paris: LOC", [("Anna", "PER"), ("Paris", "LOC")]),
    # markdown tables of three or more columns, by their header or by the one cell that is a label (before: re-asked)
    ("| Entity | Type | Explanation |\n|---|---|---|\n| Anna | PER | a person |\n| Paris | LOC | a city |",
     [("Anna", "PER"), ("Paris", "LOC")]),
    ("| # | Entity | Type |\n|---|---|---|\n| 1 | Anna | PER |\n| 2 | New York | LOC |",
     [("Anna", "PER"), ("New York", "LOC")]),
    ("| Text | Entity Type | Start |\n|--|--|--|\n| Paris | LOC | 10 |", [("Paris", "LOC")]),
    ("| 1 | Anna | PER |\n| 2 | Paris | LOC |", [("Anna", "PER"), ("Paris", "LOC")]),
    # the label under a mention key, the mention under another (before: a malformed item, re-asked)
    ('[{"text": "Anna", "entity": "PER"}, {"word": "Paris", "entity": "LOC", "score": 0.9}]',
     [("Anna", "PER"), ("Paris", "LOC")]),
    # a name's suffix after a comma stays with it in a "LABEL: a, b" list (before: "Jr." was a person of its own)
    ("PER: Martin Luther King, Jr., Anna", [("Martin Luther King, Jr.", "PER"), ("Anna", "PER")]),
    ("LOC: Washington, D.C., Paris\nORG: Acme, Inc.", [("Washington, D.C.", "LOC"), ("Paris", "LOC"), ("Acme, Inc.", "ORG")]),
])
def test_bullets_tables_label_under_a_mention_key_and_name_suffixes(answer, expected):
    assert_read_or_reasked(answer, expected)


@pytest.mark.parametrize("answer,expected", [
    # one list per label under its own heading, fenced or not (before: only the first list was read)
    ('**Persons:**\n```json\n["Anna"]\n```\n**Locations:**\n```json\n["Berlin", "Paris"]\n```',
     [("Anna", "PER"), ("Berlin", "LOC"), ("Paris", "LOC")]),
    ('PER:\n["Anna"]\n\nLOC:\n["Paris"]', [("Anna", "PER"), ("Paris", "LOC")]),
    ('### ORG:\n[]\n### LOC:\n["Paris"]', [("Paris", "LOC")]),
])
def test_one_json_list_per_label_heading(answer, expected):
    assert_read_or_reasked(answer, expected)


def test_an_envelope_with_the_sentence_and_a_task_type_is_read_by_its_entity_list():
    # before: the envelope itself was one entity of the unknown type "NER", and the answer read as no entities
    answer = '{"text": "Anna flew to Paris.", "type": "NER", "entities": [{"span": "Anna", "type": "PER"}]}'
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER")]


def test_a_sentence_beside_the_mention_does_not_take_its_place():
    """{"entity": ..., "text": <the sentence>}: the sentence was read as one span and swallowed every entity."""
    answer = ('[{"entity": "Anna", "type": "PER", "text": "Anna met Bob in Paris."}, '
              '{"entity": "Paris", "type": "LOC", "text": "Anna met Bob in Paris."}]')
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC")]
    assert parse_ner_answer('[{"text": "Anna", "label": "PER", "name": "A"}]', LABELS) == [("Anna", "PER")]
    assert parse_ner_answer('[{"span": "Anna Smith", "type": "PER", "name": "Anna"}]', LABELS) == [("Anna Smith", "PER")]



@pytest.mark.parametrize("answer", [
    'Thinking: the candidates are [{"span": "Monday", "type": "MISC"}, {"span": "Anna", "type": "PER"}]. Monday is a '
    'date.\n\nAnswer: [{"span": "Anna", "type": "PER"}, {"span": "Bob", "type": "PER"}]',
    '<|channel|>analysis<|message|>Draft [{"span": "Monday", "type": "MISC"}]<|end|><|start|>assistant<|channel|>final'
    '<|message|>[{"span": "Anna", "type": "PER"}, {"span": "Bob", "type": "PER"}]<|return|>',
    '◁think▷Draft [{"span": "Monday", "type": "MISC"}]◁/think▷[{"span": "Anna", "type": "PER"}, {"span": "Bob", "type": "PER"}]',
])
def test_the_answer_after_a_draft_is_read_not_the_draft(answer):
    """An "Answer:" heading after a draft list, gpt-oss channels passed on raw, Kimi's think block: the draft was read."""
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Bob", "PER")]


@pytest.mark.parametrize("answer", [
    "Found 2 entities: Anna (PER), Paris (LOC).",
    "I found the following entities: Anna (PER) and Paris (LOC).",
    "Extracted entities: Anna (PER), Paris (LOC)",
    "Here they are - Anna (PER), Paris (LOC)",
])
def test_a_lead_in_on_the_first_entitys_line_is_not_part_of_its_name(answer):
    """Before, "Found 2 entities: Anna" was the first mention: not in the text, so Anna was lost without a
    re-ask (Paris still matched)."""
    text = "Anna flew to Paris on Monday."
    assert parse_ner_answer(answer, LABELS, text=text) == [("Anna", "PER"), ("Paris", "LOC")]


@pytest.mark.parametrize("mention,text", [
    ("Star Wars: Episode IV", "He saw Star Wars : Episode IV ."), ("Mission: Impossible", "He saw Mission Impossible ."),
    ("St. Louis", "He went to St Louis ."), ("U.S. Steel", "He joined US Steel ."),
    ("Yahoo! Japan", "He joined Yahoo Japan ."), ("Coca-Cola - Japan", "Japan bought Coca-Cola."),
])
def test_a_name_the_text_writes_otherwise_is_not_cut_to_its_last_part(mention, text):
    """A first version of the lead-in cut made "Episode IV", "Louis" or "Japan" of these: wrong spans, no re-ask."""
    assert parse_ner_answer(f'[{{"span": "{mention}", "type": "MISC"}}]', LABELS, text=text) == [(mention, "MISC")]


def test_a_name_with_a_colon_that_the_text_holds_keeps_it():
    text = "She watched Star Wars: Episode IV in Paris."
    answer = '[{"span": "Star Wars: Episode IV", "type": "MISC"}]'
    assert parse_ner_answer(answer, LABELS, text=text) == [("Star Wars: Episode IV", "MISC")]


@pytest.mark.parametrize("cue", ["Wait, Berlin should be included too:", "Correction: Berlin is missing:",
                                 "Actually, Berlin is also a location:", "Wait, I also missed Berlin:"])
def test_a_revision_that_adds_a_name_keeps_the_first_list(cue):
    """Before, only "also"/"missed" right after the cue word counted as an addition: the other wordings
    replaced [Anna, Paris] by [Berlin]."""
    answer = f'[{{"span": "Anna", "type": "PER"}}, {{"span": "Paris", "type": "ORG"}}]\n{cue} ' \
             '[{"span": "Berlin", "type": "LOC"}, {"span": "Paris", "type": "LOC"}]'
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC"), ("Berlin", "LOC")]


@pytest.mark.parametrize("cue", ["Final answer, after another check Monday should go:",
                                 "Hmm, the '90s is no entity. Final answer:", "'cause Monday is a day. Final answer:",
                                 "Wait, Berlin was left out, and Monday is wrong:"])
def test_a_revision_that_drops_a_name_is_read_whatever_words_come_before_it(cue):
    """A first version of the addition and string rules kept Monday: "another" counted as an addition, and the
    apostrophe of "'90s" opened a string that hid the revision."""
    first = '[{"span": "Anna", "type": "PER"}, {"span": "Monday", "type": "MISC"}, {"span": "Paris", "type": "LOC"}]'
    answer = f"{first}\n{cue} [{{'span': 'Anna', 'type': 'PER'}}, {{'span': 'Paris', 'type': 'LOC'}}]"
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Paris", "LOC")]


@pytest.mark.parametrize("cue,name", [
    ("Wait, I also missed Go:", "Go"), ("Wait, I also missed Only Fools:", "Only Fools"),
    ("Wait, I also missed No Doubt:", "No Doubt"), ("Wait, I also missed Paris, which is not a person:", "Paris"),
    ("(the '90s style) Wait, I also missed Paris:", "Paris"),
])
def test_an_addition_is_read_whatever_the_added_name_or_the_prose_holds(cue, name):
    """A first version took "Go", "Only", "No", "not" for removals, and a parenthesis in prose for a literal."""
    first = '[{"span": "Anna", "type": "PER"}, {"span": "Bob", "type": "PER"}]'
    answer = f'{first}\n{cue} [{{"span": "{name}", "type": "MISC"}}]'
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), ("Bob", "PER"), (name, "MISC")]


@pytest.mark.parametrize("answer", ["NER: Anna (PER), Paris (LOC)", "Done. Anna (PER), Paris (LOC)"])
def test_a_one_word_lead_in_is_cut_too(answer):
    assert parse_ner_answer(answer, LABELS, text="Anna flew to Paris.") == [("Anna", "PER"), ("Paris", "LOC")]


def test_a_revision_that_removes_is_still_the_whole_answer():
    answer = ('[{"span": "Anna", "type": "PER"}, {"span": "Monday", "type": "MISC"}]\n'
              'Wait, Monday is not an entity, only Anna: [{"span": "Anna", "type": "PER"}]')
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER")]


@pytest.mark.parametrize("answer,name", [
    ("[{'span': 'Anna', 'type': 'PER'}, {'span': 'The Revised Standard Version', 'type': 'MISC'}, "
     "{'span': 'Paris', 'type': 'LOC'}]", "The Revised Standard Version"),
    ("[{'span': 'Anna', 'type': 'PER'}, {'span': 'Burger King Wait Staff Union', 'type': 'MISC'}, "
     "{'span': 'Paris', 'type': 'LOC'}]", "Burger King Wait Staff Union"),
    ('[{"span": "Anna", "type": "PER"}, {"span": "O\'Neill\'s Updated Guide", "type": "MISC"}, '
     '{"span": "Paris", "type": "LOC"}]', "O'Neill's Updated Guide"),
])
def test_a_revision_word_inside_a_single_quoted_name_is_no_revision(answer, name):
    """Before, only double quotes counted as a string: "Revised" inside a Python-style answer started a
    revision and only the list after it (Paris) was kept."""
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER"), (name, "MISC"), ("Paris", "LOC")]


def test_a_revision_after_prose_with_an_apostrophe_is_still_read():
    answer = ('[{"span": "Anna", "type": "PER"}, {"span": "Monday", "type": "MISC"}]\n'
              "Monday isn't a name. Final answer: [{'span': 'Anna', 'type': 'PER'}]")
    assert parse_ner_answer(answer, LABELS) == [("Anna", "PER")]


@pytest.mark.parametrize("answer", [
    "The sentence does not contain any named entities.", "The text does not contain any entities.",
    "This text doesn't contain any named entities.", "There aren't any entities in the text.",
    "Empty list.", "Nothing to extract.",
])
def test_more_ways_of_saying_no_entities_are_read_as_none(answer):
    """Before, each was re-asked, and a model that said it again failed the example."""
    assert parse_ner_answer(answer, LABELS) == []


def test_a_does_not_contain_sentence_with_an_exception_is_not_none():
    with pytest.raises(AnswerError):
        parse_ner_answer("The text does not contain any entities except Anna.", LABELS)


@pytest.mark.parametrize("answer", [
    '[{"texto": "Anna Smith", "tipo": "PER"}, {"texto": "Paris", "tipo": "LOC"}]',
    '{"实体": [{"文本": "Anna Smith", "类型": "PER"}, {"文本": "Paris", "类型": "LOC"}]}',
    '{"entités": [{"texte": "Anna Smith", "étiquette": "PER"}, {"texte": "Paris", "étiquette": "LOC"}]}',
    '[[{"span": "Anna Smith", "type": "PER"}], [{"span": "Paris", "type": "LOC"}]]',
])
def test_keys_in_the_texts_language_and_nested_lists_are_read(answer):
    """Before, each was re-asked: a model asked about a Spanish or Chinese text often names the keys in it."""
    assert parse_ner_answer(answer, LABELS) == [("Anna Smith", "PER"), ("Paris", "LOC")]
