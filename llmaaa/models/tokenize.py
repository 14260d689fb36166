"""Char spans <-> sub-token BIO tags through a fast tokenizer's offset mapping, with sliding windows.

Why per sub-token offsets: the student sees sub-tokens, the user sees char spans. We tokenize the
whole text once (no special tokens, no truncation) and keep each sub-token's ``(start, end)`` char
offsets (trimmed of whitespace) and its tagging unit, called a *word* below: what the tokenizer's
pre-tokenizer splits on (whitespace, punctuation, and every CJK character on its own for BERT
tokenizers), cut further at CJK and punctuation sub-tokens for tokenizers that keep them inside a word
(XLM-R, DeBERTa, byte-level BPE). Chinese text without spaces gets one tag per character (or per
sub-token), and accents or emoji (``[UNK]``) keep exact offsets.

Training labels: the first sub-token of each word gets a BIO tag (``B-X`` on the first word that
overlaps a span, ``I-X`` on the rest), continuation sub-tokens get ``-100`` (ignored by the loss).
Decoding: the tag of a word's first sub-token is the word's tag; a span runs from its first word's
start to its last word's end (lenient BIO: an ``I-X`` after ``O`` or another type opens a span).

Texts longer than the encoder's limit are cut into overlapping windows of sub-tokens; at prediction
time each sub-token keeps the prediction of the window in which it is most central.
"""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from llmaaa.data.schema import Span
from llmaaa.data.scripts import NO_SPACE_SCRIPTS

log = logging.getLogger(__name__)

IGNORE = -100


@dataclass(frozen=True)
class Encoded:
    """One text as sub-tokens: ids, char offsets, word index per sub-token, first-of-word flags."""

    ids: list[int]
    offsets: list[tuple[int, int]]
    words: list[int]
    first: list[bool]


class TokenizerError(ValueError):
    """A tokenizer the NER student cannot use (no char offsets, no special tokens), said before training."""


def check_tokenizer(tokenizer) -> None:
    """Refuse a tokenizer the NER student cannot read spans through, with what to do."""
    if not getattr(tokenizer, "is_fast", False):
        raise TokenizerError(f"the NER student needs a fast tokenizer (with char offsets); {type(tokenizer).__name__} "
                             "is Python-only: pick a model with a tokenizer.json (most have one), or convert this one")
    if (tokenizer.cls_token_id if tokenizer.cls_token_id is not None else tokenizer.bos_token_id) is None or \
            (tokenizer.sep_token_id if tokenizer.sep_token_id is not None else tokenizer.eos_token_id) is None:
        raise TokenizerError("the tokenizer has neither [CLS]/[SEP] nor BOS/EOS tokens, which frame every window: "
                             "set tokenizer.cls_token and tokenizer.sep_token (or bos/eos) and save it again")


def _breaks(ch: str) -> bool:
    """A character that is a tagging unit of its own even inside a pre-tokenizer word: one of a script written
    without spaces (XLM-R reads a whole Chinese sentence as one word) or punctuation (``Seattle.``)."""
    return bool(NO_SPACE_SCRIPTS.match(ch)) or unicodedata.category(ch).startswith("P")


def _wordpiece(tokenizer) -> bool:
    """Whether the tokenizer is BERT's WordPiece, whose pre-tokenizer already makes every CJK character and
    punctuation mark a word: its units stay exactly its words (students trained on them read the same)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return type(getattr(backend, "model", None)).__name__ == "WordPiece"


def encode_text(tokenizer, text: str) -> Encoded:
    """Sub-tokens of ``text`` without special tokens, each with char offsets and a tagging unit (``words``).

    Offsets are trimmed of whitespace: Metaspace and byte-level tokenizers (DeBERTa-v2/v3, ModernBERT,
    SentencePiece BPE) count the space before a word into its first token, so a span read from them
    would start with a space and never match. A token of nothing but whitespace (a lone ``▁`` or ``Ġ``)
    stays in the input, with no characters, as part of the unit before it. Combining marks no token
    covers (an uncased tokenizer strips NFD accents and Thai vowel signs) join the token before them.
    A unit is a pre-tokenizer word; for tokenizers other than WordPiece it is cut further at sub-tokens
    of CJK, kana, Hangul, Thai and punctuation (see ``_breaks``), where BERT's pre-tokenizer cuts CJK and
    punctuation itself: XLM-R reads a whole unspaced Chinese sentence, or ``Seattle.``, as one word.
    """
    unglued = _unglued(text)
    source, back = unglued if unglued is not None else (text, None)
    enc = tokenizer(source, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False)
    raw = enc["offset_mapping"] if back is None else [_mapped_back(int(s), int(e), source, back, len(text))
                                                      for s, e in enc["offset_mapping"]]
    word_ids = enc.word_ids()
    pieces = enc.tokens()
    cut = not _wordpiece(tokenizer)
    ids: list[int] = []
    offsets: list[tuple[int, int]] = []
    words: list[int] = []
    unit, last_word = -1, None
    for tid, (s, e), w, piece in zip(enc["input_ids"], raw, word_ids, pieces):
        s, e = int(s), int(e)
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e <= s or not piece.strip("\u2581\u0120 "):
            # whitespace only (``▁`` may carry the offsets of the character after it), or no characters:
            # input the model expects, no unit of its own
            if ids:
                end = offsets[-1][1]
                ids.append(int(tid))
                offsets.append((end, end))
                words.append(unit)
            continue
        new_word = w is None or w != last_word
        # a cut needs a new character: pieces of one character (a byte-level BPE's bytes of a CJK character,
        # jamo of a Hangul syllable) are one unit
        if new_word or (cut and s >= offsets[-1][1] and (_breaks(text[s]) or _breaks(text[offsets[-1][1] - 1]))):
            unit += 1
        ids.append(int(tid))
        offsets.append((s, e))
        words.append(unit)
        last_word = w
    _cover_marks(text, offsets)
    for i in range(1, len(offsets)):  # a no-character token sits where the token before it now ends
        if offsets[i][0] == offsets[i][1]:
            offsets[i] = (offsets[i - 1][1], offsets[i - 1][1])
    first = [i == 0 or words[i] != words[i - 1] for i in range(len(ids))]
    return Encoded(ids, offsets, words, first)


# what continues a symbol run besides combining marks (variation selectors, the keycap): the zero-width joiner
# of emoji sequences and the tag characters of flag sequences
_SYMBOL_TAIL = frozenset("\u200d") | frozenset(map(chr, range(0xE0020, 0xE0080)))
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")  # "1️⃣": an ASCII base made an emoji by the marks after it


def _symbol(ch: str) -> bool:
    """A non-ASCII symbol (emoji, ™, ±, €): BERT's pre-tokenizer does not cut at it (only at punctuation and
    ASCII symbols), so one glued to a word ("Paris😍") makes the whole word one ``[UNK]``."""
    return ch >= "\x80" and unicodedata.category(ch).startswith("S")


def _unglued(text: str) -> tuple[str, list[int]] | None:
    """``text`` with a space between each run of symbols and a word glued to it, and for each character of
    that text the index of its character in ``text`` (an inserted space: the character after it); None when
    no symbol is glued to anything, which is nearly every text, so their tokens stay as they were.

    Why: "Loving Paris😍" was one ``[UNK]`` to a WordPiece student (the name lost to it) and a span of
    "Paris" came back as "Paris😍"; "©Apple" tagged as "©Apple". Other tokenizers already cut there (at
    worst they read one more ``▁`` or ``Ġ`` token where the space went in).
    """
    if text.isascii():  # no symbol BERT does not already cut at
        return None
    out: list[str] = []
    back: list[int] = []
    prev = "none"  # what the last character was: "space", "symbol" or "word"
    changed = False
    for i, ch in enumerate(text):
        joins = prev == "symbol" and (ch in _SYMBOL_TAIL or unicodedata.category(ch) in ("Mn", "Me"))
        keycap = ch in "0123456789#*" and _KEYCAP.match(text, i)
        kind = "symbol" if _symbol(ch) or joins or keycap else "space" if ch.isspace() else "word"
        if {prev, kind} == {"symbol", "word"}:
            out.append(" ")
            back.append(i)
            changed = True
        out.append(ch)
        back.append(i)
        prev = kind
    return ("".join(out), back) if changed else None


def _mapped_back(s: int, e: int, source: str, back: list[int], n: int) -> tuple[int, int]:
    """A token's offsets in the unglued text as offsets in the user's text (whitespace trimmed first, so an
    inserted space never counts)."""
    while s < e and source[s].isspace():
        s += 1
    while e > s and source[e - 1].isspace():
        e -= 1
    if e <= s:
        at = back[s] if s < len(back) else n
        return at, at
    return back[s], back[e - 1] + 1


def _cover_marks(text: str, offsets: list[tuple[int, int]]) -> None:
    """Extend each token's end over the combining marks after it that no token covers (in place)."""
    nxt = len(text)
    for i in range(len(offsets) - 1, -1, -1):
        s, e = offsets[i]
        if e > s:
            grown = e
            while grown < nxt and unicodedata.category(text[grown]).startswith("M"):
                grown += 1
            offsets[i] = (s, grown)
            nxt = s


def span_tags(enc: Encoded, spans: Sequence[Span], tag2id: dict[str, int],
              stats: Counter | None = None) -> list[int]:
    """BIO tag id per sub-token (``-100`` on continuation sub-tokens); spans with unknown labels are skipped.

    BIO cannot nest: a span overlapping one already tagged (outer spans come first) is skipped and
    counted in ``stats["overlapping"]``, where it used to overwrite part of the other span's tags.
    A span that starts or ends inside a word (``Paris`` in ``Parisian``, ``Zoë`` in an ``[UNK]`` word
    ``Zoëλ`` of a vocabulary without ``λ``) is learned as its whole words and counted in ``stats["widened"]``; one
    over no sub-token at all (only spaces) in ``stats["no_token"]``.
    """
    stats = Counter() if stats is None else stats
    tags = [tag2id["O"] if f else IGNORE for f in enc.first]
    taken: set[int] = set()
    starts, ends = [s for s, _ in enc.offsets], [e for _, e in enc.offsets]  # increasing: bisect, not a scan per span
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if f"B-{span.label}" not in tag2id:
            continue
        inside = range(bisect.bisect_right(ends, span.start), bisect.bisect_left(starts, span.end))
        heads = sorted({_word_head(enc, i) for i in inside})
        if not heads:
            stats["no_token"] += 1
            continue
        if taken.intersection(heads):
            stats["overlapping"] += 1
            continue
        if enc.offsets[heads[0]][0] != span.start or word_end(enc, heads[-1]) != span.end:
            stats["widened"] += 1
        for k, i in enumerate(heads):
            tags[i] = tag2id[("I-" if k else "B-") + span.label]
        taken.update(heads)
    return tags


def _word_head(enc: Encoded, i: int) -> int:
    """The first sub-token of the word holding sub-token ``i`` (the one that carries the word's tag)."""
    while not enc.first[i]:
        i -= 1
    return i


def word_end(enc: Encoded, i: int) -> int:
    """Char end of the word whose first sub-token is ``i``."""
    j = i
    while j + 1 < len(enc.ids) and enc.words[j + 1] == enc.words[i]:
        j += 1
    return enc.offsets[j][1]


def decode_tags(enc: Encoded, tags: Sequence[str], confidences: Sequence[float] | None = None) -> list[Span]:
    """Char spans from per-sub-token tags (only first-of-word sub-tokens are read).

    A span's ``score`` is the mean of its words' confidences (the max tag probability), which ranks
    spans like the per-token least-confidence the samplers use; ``None`` when no confidences given.
    """
    spans: list[Span] = []
    cur: tuple[str, int, int, list[float]] | None = None  # label, start, end, confidences

    def close() -> None:
        if cur is not None:
            label, s, e, cs = cur
            spans.append(Span(s, e, label, float(sum(cs) / len(cs)) if confidences is not None else None))

    for i, tag in enumerate(tags):
        if not enc.first[i]:
            continue
        conf = confidences[i] if confidences is not None else 0.0
        prefix, _, label = tag.partition("-")
        if prefix == "I" and cur is not None and cur[0] == label:
            cur = (label, cur[1], word_end(enc, i), cur[3] + [conf])
            continue
        close()
        cur = (label, enc.offsets[i][0], word_end(enc, i), [conf]) if prefix in ("B", "I") else None
    close()
    return spans


def windows(n: int, size: int, stride: int) -> list[tuple[int, int]]:
    """Overlapping ``[start, end)`` windows of at most ``size`` sub-tokens covering ``n``; step ``stride``."""
    if n <= size:
        return [(0, n)]
    out, start = [], 0
    while True:
        end = min(start + size, n)
        out.append((start, end))
        if end == n:
            return out
        start += stride


def most_central(n: int, wins: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """For each sub-token, ``(window index, position in window)`` of the window where it is most central."""
    best: list[tuple[int, int, int]] = [(-1, -1, 0)] * n  # (distance to nearest edge, window, pos)
    for w, (s, e) in enumerate(wins):
        for t in range(s, e):
            d = min(t - s, e - 1 - t)
            if d > best[t][0]:
                best[t] = (d, w, t - s)
    return [(w, p) for _, w, p in best]
