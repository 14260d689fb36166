"""Long texts cut into LLM-sized pieces: sentence ends first, offsets of the original text."""

import unicodedata

import pytest

from llmaaa.data.segment import crop, segments
from llmaaa.data.schema import Example, Span


def pieces(text, n):
    return [text[s:e] for s, e in segments(text, n)]


def test_short_text_or_no_limit_is_one_piece():
    assert segments("Anna lives in Paris.", 2000) == [(0, 20)]
    assert segments("x" * 5000, 0) == [(0, 5000)]
    assert segments("", 10) == [] and segments(" \n ", 0) == []  # nothing to ask


def test_whole_sentences_are_packed_up_to_the_limit_and_cover_the_text():
    text = "Anna lives in Paris. Bob works at IBM! Is it? 王小明住在北京。他很好。\n\nNext para here."
    for limit in (10, 20, 30, 45, 60):
        got = segments(text, limit)
        assert all(e - s <= limit for s, e in got)
        assert "".join(text[s:e] for s, e in got) == text  # nothing lost, nothing repeated
        assert all(a[1] == b[0] for a, b in zip(got, got[1:]))
    assert pieces(text, 45) == ["Anna lives in Paris. Bob works at IBM! ", "Is it? 王小明住在北京。他很好。\n\nNext para here."]
    assert pieces(text, 30)[2].startswith("王小明住在北京。他很好。")  # CJK full stops end sentences


def test_a_sentence_longer_than_the_limit_is_cut_at_a_space_or_hard_in_cjk():
    assert pieces("aaaa bbbb cccc dddd", 10) == ["aaaa bbbb ", "cccc dddd"]
    assert pieces("北京" * 10, 7) == ["北京北京北京北", "京北京北京北京", "北京北京北京"]
    assert pieces("x" * 12, 5) == ["xxxxx", "xxxxx", "xx"]


def test_a_long_chinese_sentence_is_cut_after_a_clause_comma_not_inside_a_name():
    text = "张三在北京大学读书，李四去了上海工作，王五在广州" * 10  # no full stop: one 240-char sentence
    got = segments(text, 50)
    assert "".join(text[s:e] for s, e in got) == text and all(e - s <= 50 for s, e in got)
    assert all(text[e - 1] == "，" for s, e in got[:-1])
    assert got[:2] == [(0, 43), (43, 91)]
    assert pieces("北京、上海；广州：深圳" * 2, 8) == ["北京、上海；", "广州：深圳北京、", "上海；广州：深圳"]


def test_a_hard_cut_never_separates_combining_marks_or_emoji_sequences():
    nfd = "e\u0301" * 30  # "é" decomposed, 60 code points
    assert [len(p) for p in pieces(nfd, 25)] == [24, 24, 12]
    assert all(not unicodedata.combining(p[0]) for p in pieces(nfd, 25))
    family = "\U0001F469\u200d\U0001F469\u200d\U0001F467"  # one emoji of 5 code points
    assert pieces(family * 4, 12) == [family * 2, family * 2]
    thumbs = "\U0001F44D\U0001F3FD"  # thumbs up, medium skin tone
    assert pieces(thumbs * 5, 5) == [thumbs * 2, thumbs * 2, thumbs]


@pytest.mark.parametrize("name", ["J. R. R. Tolkien", "Mr. Smith", "U.S. Steel", "Dr. No", "Acme Inc. Berlin",
                                  "e.g. Paris", "Jan. 2020", "Ph.D. Anna"])
def test_a_dot_after_an_initial_acronym_or_title_ends_no_sentence(name):
    """At the default limit a piece once ended at "The author J. R. R. " and the next began "Tolkien"."""
    text = ("Word " * 390 + f"end. The author {name} was born in Bloemfontein in the Orange Free State. "
            "He moved to Oxford.")
    got = segments(text, 2000)
    assert len(got) == 2 and all(e - s <= 2000 for s, e in got)
    assert text[got[1][0]:].startswith("The author") and name in text[got[1][0]:]


def test_sentence_ends_next_to_abbreviation_rules_still_end_sentences():
    text = "It was no. He left example.com. Then 东京。他很好。Dr. 李 came. Plan B.\nMr.\nX"
    # "no." in lowercase, a domain and CJK full stops end sentences; a line break ends one even after "B." or "Mr."
    assert pieces(text, 21) == ["It was no. ", "He left example.com. ", "Then 东京。他很好。", "Dr. 李 came. Plan B.\n",
                                "Mr.\nX"]
    # no allowed break at all: still cut at a space within the limit
    assert all(e - s <= 30 for s, e in segments("Mr. A. B. C. D. E. F. G. H. I. J. K. L. M. N. O. P.", 30))


@pytest.mark.parametrize("text,first", [
    ("We shipped apples, pears etc. Jean Dupont runs Acme Corp in Paris.", "We shipped apples, pears etc. "),
    ("Anna Smith took vitamin C. Maria Lopez lives in New York City now.", "Anna Smith took vitamin C. "),
    ("He fought in World War I. Barack Obama visited New York City then.", "He fought in World War I. "),
    ("Revenue rose at Smith & Co. Jean Dupont runs Acme Corp in Paris.", "Revenue rose at Smith & Co. "),
    ("Hi. We shipped apples, pears etc. Jean Dupont runs Acme Corp in Paris.", "Hi. We shipped apples, pears etc. "),
])
def test_a_sentence_too_long_for_a_piece_is_cut_after_an_abbreviation_before_a_space(text, first):
    """A dot after "etc", "C", "I" or "Co" ended no sentence at all, so a piece of 40 was cut at its last space:
    "...pears etc. Jean " and "Dupont runs...", the name in two pieces. Such a dot before a capital is a weak end."""
    assert pieces(text, 40)[0] == first
    assert "".join(pieces(text, 40)) == text


def test_whitespace_only_pieces_are_left_out():
    assert [p.strip() for p in pieces("Anna." + "\n" * 12 + "Bob.", 6)] == ["Anna.", "Bob."]
    assert segments(" " * 50, 10) == []


def test_crop_keeps_the_spans_inside_and_shifts_them():
    ex = Example("d", "Anna met Bob. Zoë flew to Québec.", (Span(0, 4, "PER"), Span(9, 12, "PER"),
                                                           Span(14, 17, "PER"), Span(26, 32, "LOC")))
    part = crop(ex, 14, len(ex.text), suffix="#1")
    assert part.id == "d#1" and part.text == "Zoë flew to Québec."
    assert [(part.mention(s), s.label) for s in part.entities] == [("Zoë", "PER"), ("Québec", "LOC")]
    assert crop(ex, 2, 11).entities == ()  # a span cut in half is left out, never truncated


@pytest.mark.parametrize("limit", [7, 25, 100])
def test_every_span_of_a_real_paragraph_lands_in_exactly_one_piece_when_sentences_fit(limit):
    sents = ["Angela Merkel met Emmanuel Macron in Berlin.", "The talks lasted two days!",
             "東京で会議があった。", "Zoë 🙂 stayed in Québec?"]
    text = " ".join(sents)
    got = segments(text, max(limit, max(len(s) + 1 for s in sents)))
    for s in sents:
        i = text.index(s)
        assert any(a <= i and i + len(s) <= b for a, b in got)


def test_crop_pair_gives_the_piece_holding_both_entities_with_new_indices():
    from llmaaa.data.segment import crop_pair

    ex = Example("d", "Anna works for IBM. Zoë lives in Québec.",
                 (Span(0, 4, "Peop"), Span(15, 18, "Org"), Span(20, 23, "Peop"), Span(33, 39, "Loc")))
    part, h, t = crop_pair(ex, 3, 2, 25)
    assert part.text == "Zoë lives in Québec." and (part.mention(part.entities[h]), part.mention(part.entities[t])) == ("Québec", "Zoë")
    assert crop_pair(ex, 0, 3, 25) is None  # different sentences
    assert crop_pair(ex, 0, 3, 100) == (ex, 0, 3)  # short text: unchanged


def test_concat_joins_sentences_into_a_document_with_every_label_in_place():
    from llmaaa.data.schema import Relation
    from llmaaa.data.segment import concat

    a = Example("a", "Zoë lives in Québec.", (Span(0, 3, "Peop"), Span(13, 19, "Loc")), (Relation(0, 1, "Live_In"),))
    b = Example("b", "王小明在北京工作。", (Span(0, 3, "Peop"), Span(4, 6, "Loc")), (Relation(0, 1, "Work_In"),))
    doc = concat([a, b], "doc")
    assert doc.text == "Zoë lives in Québec. 王小明在北京工作。"
    assert [doc.mention(s) for s in doc.entities] == ["Zoë", "Québec", "王小明", "北京"]
    assert [(r.head, r.tail, r.label) for r in doc.relations] == [(0, 1, "Live_In"), (2, 3, "Work_In")]


@pytest.mark.parametrize("name", ["J. R. R. Tolkien", "Mr. Smith", "Dr. Lee"])
def test_a_sentence_too_long_for_a_piece_is_never_cut_inside_an_initials_or_titles_name(name):
    """A first version of the weak breaks cut an over-long sentence at "J. R. R. | Tolkien" and "Mr. | Smith"."""
    text = " ".join(["word"] * 8) + f" and then {name} wrote " + " ".join(["word"] * 40) + "."
    assert any(name in piece for piece in pieces(text, 150))
