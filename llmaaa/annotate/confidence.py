"""How sure the LLM was of each label it wrote: its token log-probabilities mapped onto the answer's items.

Why: Label Studio shows one score per region, and an annotator who sees which pre-annotations the
LLM doubted checks those first; without a score every suggestion looks equally certain. Confidence
the model states in words tracks correctness worst (Refuel's study of LLM labeling); the
probabilities it gave the tokens it wrote are the measured signal, and OpenAI-compatible servers
(OpenAI, vLLM, llama.cpp, ...) return them with ``logprobs`` at no extra token cost.

An NER item's confidence is the joint probability of the tokens that wrote it, from the opening of
its JSON object (or its line) to the close: the mention *and* its type count, whichever comes
first, and the structural tokens around them (``{"span": "``) are near-certain and cost nothing.
The characters of a mention after its first token are copied from the text and near-certain too,
so the score is mostly the two decisions "an entity starts here" and "of this type". A relation's
confidence is the probability of the tokens of the label it answered. A mention or label that does
not appear verbatim in the answer (JSON escapes, a synonym the parser mapped) gets no score rather
than a guess, and so does every item of a server that sent no log-probabilities.
"""

from __future__ import annotations

import math
import re
from typing import Any, Sequence

from llmaaa.annotate.jsonrepair import reasoning_end

# (char start, char end, logprob) of each answer token, offsets into the answer text
TokenLogprobs = tuple[tuple[int, int, float], ...]

_MAX_ITEM_CHARS = 300  # an item "region" longer than this is prose, not one list item: the mention alone counts


def token_offsets(text: str, content: Any) -> TokenLogprobs | None:
    """Char offsets into ``text`` of the tokens in a chat completion's ``logprobs.content``; None when unusable.

    Token strings of a character split over several tokens (CJK, emoji) are not valid text on their
    own; their ``bytes`` (OpenAI, vLLM) place them exactly. Servers that send no bytes (llama.cpp)
    are placed by their strings (:func:`_by_strings`).
    """
    if not isinstance(content, list) or not content:
        return None
    try:
        lps = [float(t["logprob"]) for t in content]
        if any(math.isnan(lp) for lp in lps):
            return None  # a NaN would reach Label Studio as an invalid JSON score
        if all(isinstance(t.get("bytes"), list) for t in content):
            return _by_bytes(text, [bytes(t["bytes"]) for t in content], lps)
        tokens = [str(t["token"]) for t in content]
    except (KeyError, TypeError, ValueError):
        return None
    return _by_strings(text, tokens, lps)


def _by_strings(text: str, tokens: list[str], lps: list[float]) -> TokenLogprobs | None:
    """Tokens placed by their strings, which spell ``text`` except where a character was split.

    llama.cpp sends each part of a character split over several tokens (a CJK character, an emoji)
    as an empty or U+FFFD string and no bytes. Such tokens take the gap up to the next token that
    spells text, all of them the whole gap: a span overlapping it counts them all, which is right
    for the character they make up together. Tokens that spell nothing where the text goes on (a
    control token) are left out. Tokens that do not spell the text: None.
    """
    out: list[tuple[int, int, float]] = []
    pending: list[float] = []  # logprobs of unspelled tokens since ``pos``
    pos = 0
    for tok, lp in zip(tokens, lps):
        if not tok or "\ufffd" in tok:
            pending.append(lp)
            continue
        at = text.find(tok, pos) if pending else (pos if text.startswith(tok, pos) else -1)
        if at < 0:
            return None
        out += [(pos, at, p) for p in pending if at > pos]  # none when they spelled nothing (a control token)
        pending = []
        out.append((at, at + len(tok), lp))
        pos = at + len(tok)
    out += [(pos, len(text), p) for p in pending if pos < len(text)]
    return tuple(out) if out and out[-1][1] == len(text) else None


def _by_bytes(text: str, pieces: list[bytes], lps: list[float]) -> TokenLogprobs | None:
    if b"".join(pieces) != text.encode("utf-8"):
        return None
    char_at = []  # char index of each byte of the UTF-8 text
    for i, ch in enumerate(text):
        char_at += [i] * len(ch.encode("utf-8"))
    out, pos = [], 0
    for piece, lp in zip(pieces, lps):
        if piece:
            out.append((char_at[pos], char_at[pos + len(piece) - 1] + 1, lp))
        pos += len(piece)
    return tuple(out)


def probability(logprobs: TokenLogprobs, start: int, end: int) -> float | None:
    """Joint probability of the tokens overlapping ``[start, end)`` of the answer; None if none do."""
    lps = [lp for s, e, lp in logprobs if s < end and start < e]
    return math.exp(sum(lps)) if lps else None


def _find(answer: str, needle: str, start: int) -> int:
    """``needle``'s first position in ``answer`` from ``start``, exact, else ignoring case (indices kept)."""
    pos = answer.find(needle, start)
    if pos >= 0:
        return pos
    m = re.compile(re.escape(needle), re.IGNORECASE).search(answer, start)
    return m.start() if m else -1


def _item_region(answer: str, pos: int, end: int, lower: int, upper: int) -> tuple[int, int]:
    """The chars that wrote the item whose mention is ``answer[pos:end]``, within ``[lower, upper)``.

    Its JSON object (``{...}``, in any key order, pretty-printed or not), else its inner list
    (``["Paris", "LOC"]``), else its line (``LOC: Paris``); the neighbouring items' mentions bound it.
    """
    for open_, close in (("{", "}"), ("[", "]")):
        o = answer.rfind(open_, lower, pos)
        if o >= 0 and close not in answer[o + 1 : pos]:
            c = answer.find(close, end, upper)
            lo, hi = o, (c + 1 if c >= 0 else upper)
            break
    else:
        lo = max(answer.rfind("\n", lower, pos) + 1, lower)
        c = answer.find("\n", end, upper)
        hi = c if c >= 0 else upper
    return (pos if pos - lo > _MAX_ITEM_CHARS else lo), (end if hi - end > _MAX_ITEM_CHARS else hi)


def item_scores(answer: str, logprobs: TokenLogprobs | None, mentions: Sequence[tuple[str, str]]
                ) -> list[float | None]:
    """A confidence per ``(mention, label)`` item of a parsed NER answer, in order (see the module doc).

    Mentions are looked up in answer order, each after the previous one, so a mention listed twice
    is scored at each listing.
    """
    if logprobs is None:
        return [None] * len(mentions)
    found: list[tuple[int, int] | None] = []
    cursor = _answer_start(answer)
    for mention, _ in mentions:
        pos = _find(answer, mention, cursor) if mention else -1
        found.append(None if pos < 0 else (pos, pos + len(mention)))
        cursor = pos + len(mention) if pos >= 0 else cursor
    scores: list[float | None] = []
    lower = _answer_start(answer)
    for i, where in enumerate(found):
        if where is None:
            scores.append(None)
            continue
        upper = next((f[0] for f in found[i + 1 :] if f is not None), len(answer))
        scores.append(probability(logprobs, *_item_region(answer, *where, lower, upper)))
        lower = where[1]
    return scores


_JSON_OPEN = re.compile(r"""[\[{]\s*["'{\[]""")


def _answer_start(answer: str) -> int:
    """Where the items are written: the first JSON list or object after any reasoning (prose before it,
    such as the text echoed back, holds the mentions too, written by other tokens), else the reasoning's end."""
    start = reasoning_end(answer)
    m = _JSON_OPEN.search(answer, start)
    return m.start() if m else start


def label_score(answer: str, logprobs: TokenLogprobs | None, label: str) -> float | None:
    """The probability of the tokens that wrote ``label`` in an RE answer (its first mention after any reasoning)."""
    if logprobs is None or not label:
        return None
    pos = _find(answer, label, reasoning_end(answer))
    return None if pos < 0 else probability(logprobs, pos, pos + len(label))
