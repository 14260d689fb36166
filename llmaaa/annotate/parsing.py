"""Turn an LLM's free-form answer into labels: ``(mention, label)`` pairs for NER, one label for RE.

The teacher asks for the paper's formats: NER, a JSON list ``[{"span": "...", "type": "LABEL"}]``;
RE, the relation label alone. An NER answer is read as ``LABEL: [...]`` lines, else as JSON
(``jsonrepair``, ``answer_shapes``; a revised draft by its last list, ``answer_revisions``), else as
records, a plain-text list or inline tags (``answer_records``, ``answer_lines``), else as "None";
labels are resolved by ``labels.LabelResolver`` and each mention loses the punctuation it was copied
with (``alignment`` then maps it to exact offsets). An RE answer is read by ``relation_answer``.
Everything we can repair without guessing is repaired; what cannot be is raised as ``AnswerError``
(the teacher re-asks with that message) or dropped and counted in ``ParseStats``.
"""

from __future__ import annotations

import json
import re
from typing import Any, Sequence

from llmaaa.annotate.alignment import FoldedText, find_occurrences
from llmaaa.annotate.answer_errors import AnswerError, ParseStats
from llmaaa.annotate.answer_lines import (PLAIN_PUNCTUATION, _inline_items, _line_items, _none_per_label, _one_line_items,
                                          continues_mention, item_pair)
from llmaaa.annotate.answer_records import _MARKUP, xml_record_items
from llmaaa.annotate.answer_revisions import _adds, _corrected, _revision
from llmaaa.annotate.answer_shapes import _as_items, _empty_value, says_no_entities
from llmaaa.annotate.jsonrepair import _loads, json_candidates, strip_reasoning
from llmaaa.annotate.labels import LabelResolver
from llmaaa.annotate.relation_answer import parse_re_answer  # noqa: F401  (its reading lives there)


_SEPARATORS = ",;:*，、；：。！？"  # CJK stops never end a name
# German „…“, French «…» and Japanese 『…』 quotes too: a model quoting a mention in the text's own style
_BRACKETS = ("()", "[]", "{}", "「」", "《》", "（）", "【】", "“”", "‘’", "„“", "„”", "‚‘", "«»", "»«", "‹›", "『』", "〈〉")
_QUOTES = "\"'`"


def trim_mention(mention: str) -> str:
    """A mention without the separators and enclosing brackets an LLM copied with it.

    ``"Paris,"`` / ``"(Berlin)"`` / ``"「東京」"`` / ``"Rome."`` lose them; ``"Berlin (Germany)"`` keeps
    its balanced bracket, and abbreviations keep their final dot ("U.S.", "J.", "Acme Inc.").
    """
    prev = None
    m = mention.strip()
    while m != prev:
        prev = m
        m = m.strip(_SEPARATORS + " \t\n")
        for o, c in _BRACKETS:
            if m[:1] == o and m[-1:] == c and m[1:-1].count(o) == m[1:-1].count(c):
                m = m[1:-1]
            elif m[-1:] == c and m.count(c) > sum(m.count(o2) for o2, c2 in _BRACKETS if c2 == c):
                m = m[:-1]  # every opener of that closer counts: "„" and "“" both open "”"
            elif m[:1] == o and m.count(o) > sum(m.count(c2) for o2, c2 in _BRACKETS if o2 == o):
                m = m[1:]
        for q in _QUOTES:  # '"Weird Al" Yankovic' keeps its quotes; '"Paris"' and 'Paris"' lose them
            if len(m) > 1 and m[0] == q == m[-1]:
                m = m[1:-1]
            elif m.count(q) % 2 and m[:1] == q:
                m = m[1:]
            elif m.count(q) % 2 and m[-1:] == q:
                m = m[:-1]
        if m.endswith(".") and not _abbreviation(m):  # a sentence's full stop copied with the last name
            m = m[:-1]
    return m if m == mention.strip() else TrimmedMention(m, mention.strip())


class TrimmedMention(str):
    """A trimmed mention that keeps the string the LLM wrote (``copied``): where the text writes that one as a
    whole word and only leading characters were trimmed ("'Ndrangheta", "*NSYNC"), they were the name's own, and
    ``alignment.find_occurrences`` takes it. Equal to the trimmed string everywhere else."""

    def __new__(cls, trimmed: str, copied: str = "") -> "TrimmedMention":  # pickle passes ``trimmed`` alone
        self = super().__new__(cls, trimmed)
        self.copied = copied or trimmed
        return self


_ABBREVIATIONS = frozenset(
    "inc ltd co corp plc llc bros jr sr st mt ft dr mr mrs ms prof gen col lt capt sgt rev hon univ dept no vs "
    "ag sa nv bv spa oy ab as kg".split())


def _abbreviation(m: str) -> bool:
    word = re.split(r"[\s(]", m[:-1])[-1]
    return "." in word or len(word) <= 1 or word.casefold() in _ABBREVIATIONS


def _answer_items(answer: str, resolve: LabelResolver) -> list[Any]:
    """The answer's entity items: ``LABEL: [...]`` lines, else JSON, else XML records, a plain-text list or
    inline tags, else ``[]`` for an answer that says there are none; ``AnswerError`` when it is none of these.

    Items come before the "none" reading: "There are no entities of type PER.\nParis: LOC" lists Paris.
    """
    answer = _unquoted(answer)
    plain = strip_reasoning(answer).strip().translate(PLAIN_PUNCTUATION)
    listed = _label_list_lines(plain, resolve)
    if listed is not None:
        return listed
    try:
        return _json_items(answer, resolve)
    except AnswerError:
        items = xml_record_items(plain, resolve) or _line_items(plain, resolve) or _inline_items(plain, resolve)
        if items:
            return items
        if says_no_entities(plain, resolve) or _none_per_label(plain, resolve):
            return []  # "None." / "No entities found" / "LOC: None" per label: a small model's way of saying []
        raise


def _unquoted(answer: str) -> str:
    """The answer inside a whole answer sent as one JSON string (``"[{\"span\": \"Anna\", ...}]"``), else ``answer``.

    Some APIs and agents return the model's JSON encoded once more; its escaped quotes parse as nothing.
    """
    text = strip_reasoning(answer).strip()
    if len(text) > 1 and text[0] == text[-1] == '"':
        try:
            inner = json.loads(text)
        except ValueError:
            return answer
        if isinstance(inner, str) and inner.strip()[:1] in "[{":
            return inner
    return answer


def _json_items(answer: str, resolve: LabelResolver) -> list[Any]:
    """The items of the first JSON value in ``answer`` that names one of the user's labels, else of the first
    one that reads as items: an answer that echoes the prompt's format (``[{"span": "<exact text>",
    "type": "<LABEL>"}]``) before its own list is read by its list. An answer of one JSON list per line
    gives the items of all its lines."""
    lines = [line.strip().rstrip(",") for line in strip_reasoning(answer).strip().strip("`").splitlines()]
    lines = [line for line in lines if line and line.casefold() != "json"]
    if len(lines) > 1 and all(line.startswith("[") and line.endswith("]") for line in lines):
        try:  # one JSON list per line, as a model writing JSON Lines does: every line's items, not the first's
            return [item for line in lines for item in _line_list(_loads(line), resolve)]
        except AnswerError:
            pass
    before, revised = _revision(answer)
    if revised is not None:  # "Draft: [...] Wait, Monday is no entity. Final answer: [...]": the model's last word
        try:
            items = _json_items(revised, resolve)
        except AnswerError:
            items = None
        if items is not None and any(isinstance(label, str) and resolve(label) is not None
                                     for label in (item_pair(item, resolve)[1] for item in items)):
            try:
                first_items = _json_items(before, resolve)
            except AnswerError:
                return items
            if _adds(revised, first_items, items, resolve):  # "Wait, I also missed: [...]": both lists
                return _corrected(first_items, items, resolve, keep_rest=True)
            return _corrected(first_items, items, resolve)
    first: list[Any] | None = None
    saw_json = False
    for value in json_candidates(answer):
        saw_json = True
        try:
            items = _as_items(value, resolve)
        except AnswerError:
            continue
        if any(isinstance(label, str) and resolve(label) is not None
               for label in (item_pair(item, resolve)[1] for item in items)):
            return items
        if first is None:
            first = items
    if first is None:
        if saw_json:
            raise AnswerError('the JSON in the answer is not a list of entities; reply with only a JSON list like '
                              '[{"span": "...", "type": "..."}] using the allowed types')
        raise AnswerError('the answer holds no JSON; reply with only a JSON list like [{"span": "...", "type": "..."}]')
    return first


def _line_list(value: Any, resolve: LabelResolver) -> list[Any]:
    """The items of one line of a JSON Lines answer; ``["Paris", "LOC"]`` on a line of its own is one pair."""
    if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)
            and any(resolve(v) is not None for v in value)):
        return [value]
    return _as_items(value, resolve)


_LABEL_LIST_LINE = re.compile(r"^\s*(?:[-*•]\s+)?(?P<label>[^:\[\]{}]+?)\s*:\s*(?P<list>\[.*\])\s*,?\s*$")


_FENCE_LINE = re.compile(r"^\s*```[\w-]*\s*$")


def _joined_label_blocks(answer: str) -> list[str]:
    """The answer's lines, a label heading joined with the JSON list under it (fences dropped)::

        **Persons:**            ->  **Persons:** ["Anna"]
        ```json
        ["Anna"]
        ```
    """
    lines = [line for line in answer.splitlines() if not _FENCE_LINE.match(line)]
    out: list[str] = []
    for line in lines:
        stripped = line.strip()
        if (stripped.startswith("[") and out and out[-1].rstrip().rstrip("*_").endswith((":", "："))
                and "[" not in out[-1]):
            out[-1] = f"{out[-1].rstrip().strip('*_#').strip()} {stripped}"
        elif stripped:
            out.append(line)
    return out


def _label_list_lines(answer: str, resolve: LabelResolver) -> list[list[str]] | None:
    """``[mention, label]`` items of an answer written as ``LABEL: [mentions]`` lines, None for another answer.

    ``PER: []\nLOC: ["Paris"]`` must be read line by line: as JSON its first ``[]`` would pass for the
    whole answer and drop Paris. An answer with objects (``{``) is JSON and left to the JSON reading.
    """
    if "{" in answer:
        return None
    found: list[list[str]] | None = None
    for line in _joined_label_blocks(answer):
        m = _LABEL_LIST_LINE.match(line)
        label = m.group("label").strip(_MARKUP) if m else ""
        if not label or resolve(label) is None:
            continue
        try:
            mentions = _loads(m.group("list"))
        except AnswerError:  # LOC: [Paris, Rome], unquoted
            mentions = [x for x, _ in _one_line_items(f"{label}: {m.group('list')[1:-1]}", resolve)]
        if isinstance(mentions, list) and all(isinstance(x, str) for x in mentions):
            found = (found or []) + [[x, label] for x in mentions if not _empty_value(x)]
    return found


def parse_ner_answer(answer: str, labels: Sequence[str], stats: ParseStats | None = None,
                     text: str | None = None) -> list[tuple[str, str]]:
    """``(mention, label)`` pairs in answer order; unknown labels dropped and counted in ``stats``.

    Per-token answers ("New" B-LOC, "York" I-LOC) are joined into one mention. With ``text``, a token is
    joined to the one before only where the text holds the two together: an IOB1 tagger (CoNLL-03's own
    scheme, and Hugging Face pipelines of its models) tags *every* entity token I-, so "Paris" I-LOC,
    "Berlin" I-LOC listed without the words between are two names, not "Paris Berlin".

    Raises ``AnswerError`` when the answer is not JSON or not list-of-objects shaped.
    """
    stats = stats if stats is not None else ParseStats()
    resolve = LabelResolver(labels)
    out: list[tuple[str, str]] = []
    items = _answer_items(answer, resolve)
    folded = FoldedText(text) if text is not None else None
    malformed = []
    token = False  # whether the last item read was one token, which an "I-" token after it continues
    for item in items:
        mention, label = item_pair(item, resolve)
        if not isinstance(mention, str) or not isinstance(label, str):
            malformed.append(item)  # one bad item costs that item, not the whole answer
            token = False
            continue
        canonical = resolve(label)
        if canonical is None and isinstance(item, dict):  # {"type": "PER: a person's name"}: the prompt's line copied
            canonical = resolve.described(label)
        if canonical is None:
            stats.unknown_labels[label] += 1
            token = False
            continue
        if canonical.casefold() != label.strip().casefold():
            stats.synonym_labels += 1
        mention = trim_mention(mention)
        joined = None
        if token and out[-1][1] == canonical and _one_token(mention) and continues_mention(label, resolve):
            # per-token output ({"word": "New", "entity": "B-LOC"}, {"word": "York", "entity": "I-LOC"}): one mention
            joined = out[-1][0] + mention[2:] if mention.startswith("##") else f"{out[-1][0]} {mention}"
            if folded is not None and not find_occurrences(text, joined, folded)[0]:
                joined = None  # IOB1 names apart in the text: two mentions
        if joined is not None:
            out[-1] = (joined, canonical)
        elif mention:
            out.append((mention, canonical))
        token = bool(mention) and _one_token(mention)
    if malformed and len(malformed) == len(items):
        raise AnswerError(f'each list item must be an object with string "span" and "type", got {malformed[0]!r}')
    stats.malformed += len(malformed)
    if folded is not None:
        out = [(_without_lead_in(text, mention, folded), label) for mention, label in out]
    return out


# where a line's lead-in ends: "Found 2 entities: Anna (PER)", "Here they are - Anna (PER)", "实体如下：Anna"
# "There are no entities. Monday: MISC": a sentence before it
_LEAD_IN_END = re.compile(r"[:：]\s*|\s[-–—]\s+|[.!?]\s+|[。！？]\s*")


def _without_lead_in(text: str, mention: str, folded: FoldedText) -> str:
    """``mention`` without a lead-in the model wrote on the same line as its first entity ("Found 2 entities:
    Anna (PER), Paris (LOC)" reads "Found 2 entities: Anna" as the first mention): the part after the last
    colon, dash or sentence end, when only that part is in the text and the part before reads as prose. The
    few fixed lead-ins are stripped before; this catches the endless rest ("I found the following entities:",
    "Extracted entities:"). A name the text writes otherwise ("Star Wars: Episode IV" for "Star Wars :
    Episode IV", "U.S. Steel" for "US Steel") keeps its whole form, not found, and is re-asked: its first
    part is in the text, or is no prose."""
    if find_occurrences(text, mention, folded)[0]:
        return mention
    cut = None
    for cut in _LEAD_IN_END.finditer(mention):
        pass
    if cut is None:
        return mention
    lead, rest = mention[: cut.start()].strip(), mention[cut.end():]
    if not rest.strip() or not find_occurrences(text, rest, folded)[0] or not _prose_lead(lead):
        return mention
    return mention if find_occurrences(text, lead, folded)[0] else rest


# a lead-in's words: "Found 2 entities", "I found the following", "Here they are", "实体如下"
_LEAD_IN_WORDS = re.compile(r"\b(?:entit(?:y|ies)|answers?|results?|outputs?|found|following|extracted|identified|"
                            r"here|there|these|are|is)\b|实体|實體|エンティティ|结果|結果|答案|如下", re.I)


def _prose_lead(lead: str) -> bool:
    """Whether the words before a cut read as a lead-in: its own words, two words or more with one in lower
    case, or one word of letters ("NER:", "List:", "Done."); not "U.S" of "U.S. Steel"."""
    words = lead.split()
    return (bool(_LEAD_IN_WORDS.search(lead)) or (len(words) >= 2 and any(w.islower() for w in words))
            or (len(words) == 1 and words[0].isalpha()))


def _one_token(mention: str) -> bool:
    return bool(mention) and not any(ch.isspace() for ch in mention)
