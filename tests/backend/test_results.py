"""Examples <-> Label Studio results: offsets in any script, label mapping, relations, validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from label_studio_sdk.label_interface import LabelInterface

from llmaaa.data.schema import Example, Relation, Span
from ml_backend.labeling import SchemaCache, UnsupportedConfig, parse_config
from ml_backend.predictions import example_to_results, prediction_for
from ml_backend.results import results_to_example

from tests.backend.conftest import NER, NER_RE, region, relation

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_configs_parse_with_their_hints():
    for name in ("ner.xml", "ner_re.xml", "re.xml"):
        s = parse_config((ROOT / "label_config" / name).read_text(encoding="utf-8"))
        assert (s.from_name, s.to_name, s.value_key) == ("label", "text", "text")
        assert all(s.descriptions.get(l) for l in s.entity_labels), name
    ner_re = parse_config(NER_RE)
    assert ner_re.task == "ner_re" and "Work_For" in ner_re.relation_labels
    assert "organization" in ner_re.descriptions["Work_For"]  # relation hints reach the prompt's LabelSet
    assert ner_re.labels.describe("Peop") == "a person, by name"


def test_labels_map_case_insensitively_and_through_predicted_values():
    s = parse_config(NER)
    assert s.map_entity("per") == "PER" and s.map_entity("Person") == "PER" and s.map_entity("organisation") == "ORG"
    assert s.map_entity("PLANET") is None


def test_unicode_offsets_round_trip_and_validate():
    s, li = parse_config(NER_RE), LabelInterface(NER_RE)
    text = "🙂 王小明 works for Siemens AG in München ."
    ex = Example("7", text, (Span(2, 5, "peop", 0.9), Span(16, 26, "ORG", 0.4), Span(30, 37, "Loc"),
                             Span(0, 1, "PLANET")), (Relation(0, 1, "work_for"), Relation(1, 3, "Work_For")))
    results = example_to_results(ex, s)
    spans = [r for r in results if r["type"] == "labels"]
    assert [r["value"]["text"] for r in spans] == ["王小明", "Siemens AG", "München"]
    assert [r["value"]["labels"] for r in spans] == [["Peop"], ["Org"], ["Loc"]]  # PLANET dropped
    rels = [r for r in results if r["type"] == "relation"]
    assert rels == [relation("7-e0", "7-e1", "Work_For")]  # the relation to the dropped span is dropped too
    assert li.validate_prediction({"result": results}, return_errors=True) == []

    back = results_to_example(Example("7", text), results, s)
    assert [(text[x.start:x.end], x.label) for x in back.entities] == [("王小明", "Peop"), ("Siemens AG", "Org"), ("München", "Loc")]
    assert [(r.head, r.tail, r.label) for r in back.relations] == [(0, 1, "Work_For")]


def test_utf16_offsets_from_an_old_frontend_are_realigned():
    s = parse_config(NER)
    text = "😀😀 Paris"
    # UTF-16: each emoji counts 2 units, so "Paris" is at 5..10; in code points it is 3..8
    ex = results_to_example(Example("1", text), [region("a", 5, 10, "Paris", "LOC")], s)
    assert [(text[x.start:x.end], x.label) for x in ex.entities] == [("Paris", "LOC")]


def test_a_region_whose_saved_text_has_its_spaces_collapsed_keeps_its_offsets_and_is_gold():
    """Label Studio saves a region's text with runs of spaces collapsed while its offsets count every one: the
    annotation was thrown out as no gold ("none of its regions has a label of the config", which it had)."""
    from ml_backend.results import unusable_gold

    s = parse_config(NER)
    text = "Text: Berlin,  Germany. Anna  Smith lives\tthere."
    results = [region("a", 6, 22, "Berlin, Germany", "LOC"), region("b", 24, 35, "Anna Smith", "PER")]
    ex = results_to_example(Example("1", text), results, s)
    assert [(text[x.start:x.end], x.label) for x in ex.entities] == [("Berlin,  Germany", "LOC"), ("Anna  Smith", "PER")]
    assert unusable_gold(ex, results, s) is None
    # a region of a label of the config whose offsets are past the text is said to be that, not a missing label
    off = [region("a", 50, 60, "Somewhere", "LOC")]
    why = unusable_gold(results_to_example(Example("2", "Anna ran ."), off, s), off, s)
    assert why.startswith("1 of its 1 region(s) no longer fit the task's text")


def test_foreign_regions_and_bad_offsets_are_ignored():
    s = parse_config(NER)
    results = [region("a", 0, 3, "Bob", "PER"), {**region("b", 0, 3, "Bob", "PER"), "from_name": "other"},
               region("c", 50, 60, None, "PER"), region("d", 0, 3, "Bob", "NOPE"), "junk"]
    ex = results_to_example(Example("1", "Bob ran ."), results, s)
    assert [(x.start, x.end, x.label) for x in ex.entities] == [(0, 3, "PER")]


def test_prediction_for_sets_version_and_score():
    s, li = parse_config(NER), LabelInterface(NER)
    p = prediction_for(Example("1", "Bob ran .", (Span(0, 3, "PER", 0.3),)), s, li, version="llmaaa-4")
    assert p["model_version"] == "llmaaa-4" and p["score"] == pytest.approx(0.3)
    assert prediction_for(Example("2", "nothing"), s, li, version="v", score=0.5)["result"] == []


def test_schema_cache_parses_once_and_remembers_refusals():
    cache = SchemaCache()
    assert cache.get(NER) is cache.get(NER)
    with pytest.raises(UnsupportedConfig):
        cache.get("<View/>")
    with pytest.raises(UnsupportedConfig, match="needs a <Labels"):
        cache.get("<View/>")


def test_a_label_alias_is_what_predictions_carry_and_what_annotations_map_back_from():
    """Label Studio stores ``alias`` in results: a prediction with the plain value fails validation and was dropped."""
    xml = ('<View><Labels name="label" toName="text">'
           '<Label value="Person Name" alias="PER" background="red" hotkey="p"/><Label value="Café &amp; Bar"/>'
           '<Label value="地名"/><Label value="地名"/></Labels><Text name="text" value="$text"/></View>')
    s, li = parse_config(xml), LabelInterface(xml)
    assert s.entity_labels == ("Person Name", "Café & Bar", "地名")  # the duplicate <Label> counted once
    text = "Bob at Café Luna in 北京"
    ex = Example("1", text, (Span(0, 3, "Person Name"), Span(7, 16, "Café & Bar"), Span(20, 22, "地名")))
    p = prediction_for(ex, s, li, version="v")
    assert [r["value"]["labels"] for r in p["result"]] == [["PER"], ["Café & Bar"], ["地名"]]
    assert li.validate_prediction(p, return_errors=True) == []
    back = results_to_example(Example("1", text), p["result"], s)
    assert [(x.start, x.end, x.label) for x in back.entities] == [(0, 3, "Person Name"), (7, 16, "Café & Bar"),
                                                                 (20, 22, "地名")]


def test_a_text_loaded_from_a_url_is_refused_instead_of_annotating_the_link():
    xml = '<View><Labels name="l" toName="t"><Label value="A"/></Labels><Text name="t" value="$doc" valueType="url"/></View>'
    with pytest.raises(UnsupportedConfig, match='remove valueType="url" and import tasks as {"doc": "the text"}'):
        parse_config(xml)


def test_a_labels_own_name_is_never_taken_by_another_labels_predicted_values():
    xml = ('<View><Labels name="label" toName="text"><Label value="LOC" predicted_values="GPE,location"/>'
           '<Label value="GPE"/><Label value="Person" predicted_values="per"/><Label value="PER"/></Labels>'
           '<Text name="text" value="$text"/></View>')
    s = parse_config(xml)
    assert (s.map_entity("GPE"), s.map_entity("location"), s.map_entity("gpe")) == ("GPE", "LOC", "GPE")
    assert (s.map_entity("PER"), s.map_entity("per"), s.map_entity("person")) == ("PER", "PER", "Person")
    text = "Ann flew to Paris ."
    back = results_to_example(Example("1", text), [region("a", 12, 17, "Paris", "GPE")], s)
    assert [x.label for x in back.entities] == ["GPE"]  # a human's GPE annotation stays GPE (gold)


def test_labels_grouped_in_a_view_inside_labels_are_all_served():
    xml = ('<View><Labels name="label" toName="text"><Label value="PER"/><View style="display:flex">'
           '<Header value="Places"/><Label value="LOC"/><Label value="GPE"/></View></Labels>'
           '<Text name="text" value="$text"/></View>')
    s, li = parse_config(xml), LabelInterface(xml)
    assert s.entity_labels == tuple(li.get_control("label").labels) == ("PER", "LOC", "GPE")
    only_nested = xml.replace('<Label value="PER"/>', "")
    assert parse_config(only_nested).entity_labels == ("LOC", "GPE")


def test_tag_and_attribute_names_in_any_case_and_an_xml_declaration_are_served():
    """Label Studio's frontend reads <labels toname=...> as <Labels toName=...>; lxml refuses a declared encoding
    in a str, so the SDK's LabelInterface gets the config without it."""
    lower = ('<view><labels name="label" toname="text"><label value="PER"/></labels>'
             '<text name="text" value="$text"/></view>')
    s = parse_config(lower)
    assert (s.from_name, s.to_name, s.value_key, s.entity_labels) == ("label", "text", "text", ("PER",))
    # the regions predicted for it validate: before, the SDK saw no control in <labels> and every one was dropped
    li = SchemaCache().interface(lower)
    p = prediction_for(Example("1", "Ann ran .", (Span(0, 3, "PER"),)), s, li, version="v")
    assert len(p["result"]) == 1 and li.validate_prediction(p, return_errors=True) == []
    declared = '<?xml version="1.0" encoding="UTF-8"?>\n' + NER
    s, li = parse_config(declared), SchemaCache().interface(declared)
    p = prediction_for(Example("1", "Ann ran .", (Span(0, 3, "PER"),)), s, li, version="v")
    assert li.validate_prediction(p, return_errors=True) == []


def test_dynamic_labels_are_refused_with_what_to_do():
    xml = '<View><Labels name="label" toName="text" value="$labels"/><Text name="text" value="$text"/></View>'
    with pytest.raises(UnsupportedConfig, match=r"dynamic labels.*list the labels as <Label value=\.\.\.> tags"):
        parse_config(xml)
