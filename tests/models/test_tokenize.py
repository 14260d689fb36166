"""Char spans survive the trip to sub-token BIO tags and back, in any script, in long texts."""

from collections import Counter

import pytest

from llmaaa.models.tokenize import IGNORE, decode_tags, encode_text, most_central, span_tags, windows
from llmaaa.data.schema import Span
from llmaaa.models.ner import bio_tags

from student_cases import LABELS, ex

TAGS = bio_tags(LABELS)
TAG2ID = {t: i for i, t in enumerate(TAGS)}

CASES = [
    ex("en", "Angela Merkel visited Paris on Monday.", ("Angela Merkel", "PER"), ("Paris", "LOC")),
    ex("zh", "李明昨天在北京大学见到了王芳。", ("李明", "PER"), ("北京大学", "LOC"), ("王芳", "PER")),
    ex("accents", "José Müller-Lüdenscheidt moved to Zürich.", ("José Müller-Lüdenscheidt", "PER"), ("Zürich", "LOC")),
    ex("emoji", "😀 Greta 🌍 flew to Oslo 🇳🇴 today", ("Greta", "PER"), ("Oslo", "LOC")),
    ex("emoji-glued", "Loving Paris😍 with Anna👍🏽 and 👨‍👩‍👧Bob", ("Paris", "LOC"), ("Anna", "PER"), ("Bob", "PER")),
    ex("symbol-glued", "©Apple sued Zoë™ in 北京😀.", ("Apple", "LOC"), ("Zoë", "PER"), ("北京", "LOC")),
    ex("punct", "He lives in the U.S. now; Dr. O'Neil too.", ("U.S.", "LOC"), ("O'Neil", "PER")),
    ex("mixed", "Obama访问了上海 and 東京.", ("Obama", "PER"), ("上海", "LOC"), ("東京", "LOC")),
]


@pytest.mark.parametrize("example", CASES, ids=lambda e: e.id)
def test_spans_round_trip_through_tags(tokenizer, example):
    enc = encode_text(tokenizer, example.text)
    tags = span_tags(enc, example.entities, TAG2ID)
    decoded = decode_tags(enc, [TAGS[t] if t != IGNORE else "O" for t in tags])
    assert [(s.start, s.end, s.label) for s in decoded] == [(s.start, s.end, s.label) for s in example.entities]


def test_a_name_with_an_emoji_glued_to_it_is_read_not_unknown(tokenizer):
    """BERT's pre-tokenizer cuts at punctuation, not at emoji: "Paris😍" was one [UNK], the name lost to the
    student, and a span of "Paris" came back as "Paris😍"."""
    text = "Loving Paris😍 so much"
    enc = encode_text(tokenizer, text)
    assert tokenizer.convert_ids_to_tokens(enc.ids) == ["loving", "paris", "[UNK]", "so", "much"]
    assert [text[s:e] for s, e in enc.offsets] == ["Loving", "Paris", "😍", "so", "much"]
    # a text with no glued symbol is tokenized as it is (the same tokens as before)
    plain = "Loving Paris 😍 so much"
    assert encode_text(tokenizer, plain).ids == tokenizer(plain, add_special_tokens=False)["input_ids"]


def test_a_keycap_emoji_glued_to_a_word_is_cut_off_like_any_emoji(tokenizer):
    text = "Go 1\ufe0f\u20e3Paris and 😀\u0301Bar"  # a keycap, and an emoji with a combining mark
    enc = encode_text(tokenizer, text)
    spans = [Span(text.index("Paris"), text.index("Paris") + 5, "LOC"), Span(len(text) - 3, len(text), "PER")]
    tags = span_tags(enc, spans, TAG2ID)
    assert decode_tags(enc, [TAGS[t] if t != IGNORE else "O" for t in tags]) == spans


def test_each_chinese_character_is_a_word(tokenizer):
    enc = encode_text(tokenizer, "李明在北京")
    assert enc.offsets == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5)]
    assert all(enc.first)


def test_continuation_subtokens_are_ignored(tokenizer):
    e = ex("x", "Schwarzenegger spoke", ("Schwarzenegger", "PER"))
    enc = encode_text(tokenizer, e.text)
    tags = span_tags(enc, e.entities, TAG2ID)
    assert tags[0] == TAG2ID["B-PER"] and IGNORE in tags  # one word, several sub-tokens


def test_unknown_labels_are_not_tagged(tokenizer):
    e = ex("x", "Paris is big", ("Paris", "MISC"))
    enc = encode_text(tokenizer, e.text)
    assert set(span_tags(enc, e.entities, TAG2ID)) <= {TAG2ID["O"], IGNORE}


def test_windows_cover_everything_and_overlap():
    wins = windows(25, 10, 5)
    assert wins[0] == (0, 10) and wins[-1][1] == 25
    covered = set()
    for s, e in wins:
        assert e - s <= 10
        covered.update(range(s, e))
    assert covered == set(range(25))
    picks = most_central(25, wins)
    for t, (w, p) in enumerate(picks):
        s, e = wins[w]
        assert s + p == t
    assert picks[8][0] == 1  # token 8 is near the edge of window 0 (0..10), central in window 1 (5..15)


def test_long_text_round_trip_through_windows(tokenizer):
    """A text far longer than max_length: window labels merged back equal the whole-text labels."""
    from llmaaa.models.ner import NerModel

    text = " ".join(f"Anna met Bob in Rome on day {i}." for i in range(40)) + " 李明在北京。"
    spans = []
    for mention, label in (("Anna", "PER"), ("Rome", "LOC")):
        start = 0
        while (start := text.find(mention, start)) != -1:
            spans.append((start, start + len(mention), label))
            start += 1
    from llmaaa.data.schema import Example, Span

    e = Example("long", text, tuple(Span(*s) for s in sorted(spans)) + (Span(len(text) - 6, len(text) - 4, "PER"),))
    model = NerModel.__new__(NerModel)
    model.tokenizer, model.labels, model.tags, model.tag2id = tokenizer, LABELS, TAGS, TAG2ID
    model.max_length, model.stride = 32, 15
    feats = model.features([e])
    enc = encode_text(tokenizer, text)
    assert len(enc.ids) > 300 and len(feats) > 10
    assert all(len(f["input_ids"]) <= 32 for f in feats)
    wins = model._windows(enc)
    merged = [feats[w]["labels"][1 + p] for w, p in most_central(len(enc.ids), wins)]
    decoded = decode_tags(enc, [TAGS[t] if t != IGNORE else "O" for t in merged])
    assert [(s.start, s.end, s.label) for s in decoded] == [(s.start, s.end, s.label) for s in e.entities]


def test_nested_spans_are_skipped_and_partial_words_widened_with_counts(tokenizer):
    # before: the inner PER overwrote half of the outer LOC's tags and the widening was silent
    text = "Café😀Bar Parisian 北京大学"
    enc = encode_text(tokenizer, text)
    spans = [Span(0, 4, "LOC"), Span(9, 14, "LOC"), Span(18, 22, "LOC"), Span(18, 20, "PER"), Span(8, 9, "PER")]
    stats = Counter()
    tags = span_tags(enc, spans, TAG2ID, stats)
    decoded = decode_tags(enc, [TAGS[t] if t != IGNORE else "O" for t in tags])
    # "Café" is exact since an emoji glued to a word is a unit of its own ("Café😀Bar" was one [UNK], widened)
    assert [(text[s.start:s.end], s.label) for s in decoded] == [("Café", "LOC"), ("Parisian", "LOC"), ("北京大学", "LOC")]
    assert stats == Counter({"widened": 1, "overlapping": 1, "no_token": 1})
