"""Tag schemes: every scheme round trips, invalid sequences decode the way seqeval does, offsets are exact."""

import random

import pytest
from seqeval.metrics.sequence_labeling import get_entities

from llmaaa.data.tags import (
    TagError,
    convert_tags,
    join_tokens,
    tags_to_token_spans,
    token_spans_to_tags,
)

SPANS = [(0, 2, "PER"), (2, 3, "PER"), (4, 5, "LOC"), (5, 8, "ORG")]


@pytest.mark.parametrize(
    "scheme, expected",
    [
        ("iob1", ["I-PER", "I-PER", "B-PER", "O", "I-LOC", "I-ORG", "I-ORG", "I-ORG", "O"]),
        ("iob2", ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"]),
        ("bio", ["B-PER", "I-PER", "B-PER", "O", "B-LOC", "B-ORG", "I-ORG", "I-ORG", "O"]),
        ("bilou", ["B-PER", "L-PER", "U-PER", "O", "U-LOC", "B-ORG", "I-ORG", "L-ORG", "O"]),
        ("bioes", ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "I-ORG", "E-ORG", "O"]),
        ("bmes", ["B-PER", "E-PER", "S-PER", "O", "S-LOC", "B-ORG", "M-ORG", "E-ORG", "O"]),
    ],
)
def test_each_scheme_encodes_and_decodes_adjacent_same_type_entities(scheme, expected):
    assert token_spans_to_tags(SPANS, 9, scheme) == expected
    assert tags_to_token_spans(expected, scheme) == SPANS


def test_bmes_round_trip_on_chinese_characters():
    chars = list("张三在北京市工作")
    text, offsets = join_tokens(chars, "")
    assert text == "张三在北京市工作"
    tags = ["B-PER", "E-PER", "O", "B-LOC", "M-LOC", "E-LOC", "O", "O"]
    spans = tags_to_token_spans(tags, "bmes")
    assert [text[offsets[s][0] : offsets[e - 1][1]] for s, e, _ in spans] == ["张三", "北京市"]
    assert token_spans_to_tags(spans, len(chars), "bmes") == tags


def test_lenient_decoding_starts_an_entity_at_an_orphan_inside_tag():
    # An I- after O, or after another type, starts an entity (seqeval's default, non-strict mode).
    assert tags_to_token_spans(["O", "I-PER", "I-PER", "I-LOC", "O"], "iob2") == [(1, 3, "PER"), (3, 4, "LOC")]
    # A BMES sequence missing its E still yields the entity (the reference decoder tolerates it too).
    assert tags_to_token_spans(["B-LOC", "M-LOC", "O", "E-ORG"], "bmes") == [(0, 2, "LOC"), (3, 4, "ORG")]


def test_decoding_matches_seqeval_on_random_invalid_sequences():
    rng = random.Random(0)
    pool = ["O", "B-A", "I-A", "E-A", "S-A", "B-B", "I-B", "E-B", "S-B"]
    for _ in range(500):
        tags = [rng.choice(pool) for _ in range(rng.randint(1, 10))]
        ours = [(label, s, e - 1) for s, e, label in tags_to_token_spans(tags, "bioes")]
        assert ours == get_entities(tags), tags


def test_bilou_converts_to_iob2():
    assert convert_tags(["U-Peop", "O", "B-Org", "L-Org"], "bilou", "iob2") == ["B-Peop", "O", "B-Org", "I-Org"]


def test_overlapping_spans_and_unknown_tags_are_refused_with_a_clear_message():
    with pytest.raises(TagError, match="overlaps"):
        token_spans_to_tags([(0, 3, "A"), (1, 2, "B")], 4, "iob2")
    with pytest.raises(TagError, match="prefix"):
        tags_to_token_spans(["X-PER"], "iob2")
    with pytest.raises(TagError, match="unknown tag scheme"):
        tags_to_token_spans(["O"], "iobx")


def test_join_tokens_keeps_exact_offsets_with_accents_and_emoji():
    tokens = ["José", "🎉", "Zoë", "👩‍💻", "naïve", "王小明"]
    text, offsets = join_tokens(tokens)
    assert text == "José 🎉 Zoë 👩‍💻 naïve 王小明"
    assert [text[s:e] for s, e in offsets] == tokens


def test_lowercase_tags_decode_like_uppercase():
    assert tags_to_token_spans(["b-per", "i-per", "o", "s-loc"], "bioes") == [(0, 2, "per"), (3, 4, "loc")]
