"""Prompts: what the teacher is shown, and a project's own templates."""

import pytest

from llmaaa.annotate.prompts import PromptBuilder, TemplateError
from llmaaa.data.schema import Example, LabelSet, Span

EX = Example("a", "Anna works for IBM.", (Span(0, 4, "PER"), Span(15, 18, "ORG")))


def test_ner_system_lists_labels_with_descriptions():
    labels = LabelSet(("PER", "ORG"), descriptions={"ORG": "a company"})
    system = PromptBuilder("ner", labels).system()
    assert "- ORG: a company" in system and "- PER: a person's name" in system
    assert '[{"span": "<exact text>", "type": "<TYPE>"}' in system


def test_re_prompt_without_descriptions_names_labels_only():
    labels = LabelSet(("Peop", "Org"), ("Work_For",))
    with_desc = PromptBuilder("re", labels).system()
    bare = PromptBuilder("re", labels, descriptions=False).system()
    assert "- Work_For: the head person works for" in with_desc
    assert "- Work_For\n" in bare + "\n" and "- no_relation" in bare and "works for" not in bare
    q = PromptBuilder("re", labels).re_query(EX, 0, 1)
    assert "Head: Anna (PER)" in q and "Tail: IBM (ORG)" in q


def test_project_template_override(tmp_path):
    (tmp_path / "ner_query.txt").write_text("Sentence «$text»\n", encoding="utf-8")
    b = PromptBuilder("ner", LabelSet(("PER",)), template_dir=tmp_path)
    msgs = b.ner_messages(Example("q", "北京 😀"), [EX])
    assert msgs[-1]["content"] == "Sentence «北京 😀»"
    assert msgs[2]["content"] == '[{"span": "Anna", "type": "PER"}, {"span": "IBM", "type": "ORG"}]'
    assert "expert annotator" in msgs[0]["content"]  # the system template was not overridden


def test_unknown_placeholder_is_a_clear_error(tmp_path):
    (tmp_path / "ner_query.txt").write_text("$sentence", encoding="utf-8")
    with pytest.raises(TemplateError, match=r"\$text"):
        PromptBuilder("ner", LabelSet(("PER",)), template_dir=tmp_path).ner_query(EX)
