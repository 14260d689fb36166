"""Turn an LLM's free-form answer into labels: ``(mention, label)`` pairs for NER, one label for RE.

The teacher asks for the paper's formats: NER, a JSON list ``[{"span": "...", "type": "LABEL"}]``;
RE, the relation label alone. An NER answer is read as ``LABEL: [...]`` lines, else as JSON
(``jsonrepair``, ``answer_shapes``), else as records, a plain-text list or inline tags (``answer_records``,
``answer_lines``), else as "None";
labels are resolved by ``labels.LabelResolver`` and each mention loses the punctuation it was copied
with (``alignment`` then maps it to exact offsets). An RE answer that names two labels is not read as
either. Everything we can repair without guessing is repaired; what cannot be is raised as
``AnswerError`` (the teacher re-asks with that message) or dropped and counted in ``ParseStats``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any, Sequence

from llmaaa.annotate.answer_errors import AnswerError, ParseStats
from llmaaa.annotate.answer_lines import (PLAIN_PUNCTUATION, _inline_items, _line_items, _none_per_label, _one_line_items,
                                          continues_mention, item_pair)
from llmaaa.annotate.answer_records import _MARKUP, xml_record_items
from llmaaa.annotate.answer_shapes import _NONE_ANSWER, _RELATION_KEYS, _as_items, _empty_value, _pick, says_no_entities
from llmaaa.annotate.jsonrepair import _loads, extract_json, json_candidates, strip_reasoning
from llmaaa.annotate.labels import LabelResolver, _norm_label, _stem_label
from llmaaa.data.schema import NO_RELATION
from llmaaa.data.scripts import NO_SPACE_SCRIPTS


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
    return m


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
            if _ADDITION.match(revised):
                return _json_items(before, resolve) + items  # "Wait, I also missed: [...]": both lists
            try:
                first_items = _json_items(before, resolve)
            except AnswerError:
                return items
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


def _corrected(before: list[Any], revised: list[Any], resolve: LabelResolver) -> list[Any]:
    """The answer after a revision: the revised list, or, when it only re-types some mentions of the first
    list ("Actually, Paris should be LOC: [Paris LOC]"), the first list with those mentions re-typed.

    A revised list that keeps any mention's type ("Wait, Monday is no entity. Final: [Anna PER, Paris LOC]")
    is the model's whole last word, removals included.
    """
    def key(item: Any) -> tuple[Any, Any]:
        mention, label = item_pair(item, resolve)
        return (mention.strip().casefold() if isinstance(mention, str) else mention,
                resolve(label) if isinstance(label, str) else None)

    old = {key(i)[0]: key(i)[1] for i in before}
    new = {key(i)[0]: key(i)[1] for i in revised}
    if not (len(revised) < len(before) and new.keys() <= old.keys() and all(old[m] != t for m, t in new.items())):
        return revised  # a mention kept with its type: the revised list is the whole answer, removals included
    by_mention = {key(i)[0]: i for i in revised}
    return [by_mention.get(key(i)[0], i) for i in before]


# also an "Answer:" heading after a draft: "Candidates: [...]. Monday is a date.\n\nAnswer: [...]"
_REVISION = re.compile(r"\b(?:final\s+(?:answer|list|output|result)|correct(?:ed|ion)|revised|updated|wait|actually)\b"
                       r"|^[\W_]*answer\s*[:：]", re.I | re.M)


_ADDITION = re.compile(r"[\W\s]*(?:i\s+|there\s+(?:is|are)\s+)?(?:also|additionally|plus|(?:have\s+)?(?:missed|forgot)|add)\b",
                       re.I)


def _revision(answer: str) -> tuple[str, str | None]:
    """The text before and after the last "Final answer" / "Correction" / "Wait" that follows some JSON and
    is followed by some, else ``(answer, None)``."""
    text = strip_reasoning(answer)
    first_json = min((i for i in (text.find("["), text.find("{")) if i >= 0), default=-1)
    last = None
    for m in _REVISION.finditer(text):
        head = text[: m.start()]
        # after a closed JSON value and outside its strings: "Correction Corp" inside a span is no revision
        if first_json >= 0 and m.start() > first_json and head.count('"') % 2 == 0 and head.rstrip()[-1:] not in "\"'":
            if any(ch in head[first_json:] for ch in "]}"):
                last = m
    if last is None or not any(ch in text[last.end():] for ch in "[{"):
        return answer, None
    return text[: last.start()], text[last.end():]


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


def parse_ner_answer(answer: str, labels: Sequence[str], stats: ParseStats | None = None) -> list[tuple[str, str]]:
    """``(mention, label)`` pairs in answer order; unknown labels dropped and counted in ``stats``.

    Raises ``AnswerError`` when the answer is not JSON or not list-of-objects shaped.
    """
    stats = stats if stats is not None else ParseStats()
    resolve = LabelResolver(labels)
    out: list[tuple[str, str]] = []
    items = _answer_items(answer, resolve)
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
        if token and out[-1][1] == canonical and _one_token(mention) and continues_mention(label, resolve):
            # per-token output ({"word": "New", "entity": "B-LOC"}, {"word": "York", "entity": "I-LOC"}): one mention
            out[-1] = (out[-1][0] + mention[2:] if mention.startswith("##") else f"{out[-1][0]} {mention}", canonical)
        elif mention:
            out.append((mention, canonical))
        token = bool(mention) and _one_token(mention)
    if malformed and len(malformed) == len(items):
        raise AnswerError(f'each list item must be an object with string "span" and "type", got {malformed[0]!r}')
    stats.malformed += len(malformed)
    return out


def _one_token(mention: str) -> bool:
    return bool(mention) and not any(ch.isspace() for ch in mention)


def parse_re_answer(answer: str, labels: Sequence[str]) -> str:
    """The relation label named in ``answer`` (case-insensitive; a JSON wrapper or prose tolerated).

    Prose that names several labels ("Located_In or OrgBased_In") is re-asked, not guessed; a label
    it negates ("there is no Work_For relation") does not count as named.
    """
    classes = [NO_RELATION, *[l for l in labels if l != NO_RELATION]]
    lookup = {_nfkc(c).casefold(): c for c in classes}
    text = _nfkc(strip_reasoning(answer)).strip()  # "Ｗｏｒｋ＿Ｆｏｒ" typed full width
    try:  # {"relation": "Work_For"} or "Work_For" in JSON mode
        data = extract_json(text) if text[:1] in "[{" or "```" in text else None
    except AnswerError:
        data = None
    if isinstance(data, (dict, list)) and not data:  # [] / {} in JSON mode: nothing holds
        return NO_RELATION
    if isinstance(data, dict):  # the relation's own key first: {"head": "Anna", "tail": "IBM", "relation": "Work_For"}
        value = _pick(data, _RELATION_KEYS)
        if isinstance(value, (str, list, dict)) and not (value.strip() if isinstance(value, str) else value):
            return NO_RELATION  # {"relation": ""} / {"relation": []}: the relation key given no relation
        text = str(value if value is not None else next(iter(data.values()), "")) if data else ""
    elif isinstance(data, list) and data:  # ["Work_For"], or a triple ["Anna", "Work_For", "IBM"]
        text = " ".join(map(str, data))
    token = text.strip().strip("`\"'.:").strip()
    if token in ("NA", "N.A.", "na"):  # the null label of DocRED / NYT-style data, answered as learned
        return NO_RELATION
    if token.casefold() in _OTHER_ANSWERS and token.casefold() not in lookup:
        return NO_RELATION  # SemEval's "Other", "Neither" of a yes/no-minded model: no relation the user has
    normed = {_norm_label(_nfkc(c)): c for c in classes}
    first_line = _RE_LEAD_IN.sub("", text.strip().split("\n", 1)[0]).strip("`\"'.:* ")
    first_line = first_line if re.fullmatch(r"[\w\s-]+", first_line) else ""  # not "Live_In?\nNo, Work_For"
    def label_of(candidate: str) -> str | None:
        if candidate.casefold() in lookup:
            return lookup[candidate.casefold()]
        return normed.get(_norm_label(candidate)) if _norm_label(candidate) else None  # "Work For", "WORK_FOR"

    if (hit := label_of(token)) is not None:
        return hit
    if (hit := label_of(first_line) if first_line else None) is not None:
        # "Work_For\n\nExplanation: ... located in ...": the label, then prose; "Live_In\nWork_For": two answers
        others = {label_of(line.strip().strip("`\"'.:* ")) for line in text.strip().splitlines()[1:]} - {None, hit}
        if others:
            raise AnswerError(f"the answer names {', '.join([hit, *sorted(others)])}; answer with exactly one of "
                              f"these labels and nothing else: {', '.join(classes)}")
        return hit
    if len(token.split()) <= 4:  # "works for", "lives in", "killed": the label as a verb, if only one fits
        stemmed = [c for c in classes if _stem_label(c) == _stem_label(token)]
        if len(stemmed) == 1:
            return stemmed[0]
    if _LEADING_NONE.match(text):  # "No relation. Work_For does not hold.": the answer, then why
        return NO_RELATION
    if _reversed(text, classes):
        raise AnswerError("the answer says the relation holds the other way round (from the tail to the head); answer "
                          "with the label that holds from the head to the tail as asked, or no_relation")
    found = _named_labels(text, classes)
    written = [c for c in found if _writes_label(text, c)]
    if len(found) > 1 and len(written) == 1:  # "Work_For. He works for a firm located in Boston": the label, then prose
        return written[0]
    cued = [c for c in found if _cued(text, c)]
    if len(found) > 1 and len(cued) == 1:  # "Work_For is wrong; the correct relation is Live_In"
        return cued[0]
    if (len(found) == 1 and not written and re.search(r"[\s_-]", found[0]) and len(text.split()) > 6
            and not cued):  # "Anna lives in Boston, which is located in Massachusetts": prose that says
        raise AnswerError(  # "located in", not an answer that names Located_In
            f"answer with exactly one of these labels and nothing else: {', '.join(classes)}")
    if len(found) > 1:
        raise AnswerError(f"the answer names {', '.join(found)}; answer with exactly one of these labels and "
                          f"nothing else: {', '.join(classes)}")
    if found:
        return found[0]
    if _NO_RELATION_WORDS.search(text):
        return NO_RELATION
    raise AnswerError(f"answer with exactly one of these labels and nothing else: {', '.join(classes)}")


# a whole answer that names no relation of the user's: SemEval-2010's catch-all "Other" and its kin, a bare "No"
# (asked for a label, a yes/no-minded model answers whether one holds); only when the
# user has no label of that name, and only as the whole answer ("Other: Work_For" is still read for its label)
_OTHER_ANSWERS = frozenset({"other", "others", "other relation", "neither", "no label", "none of them",
                            "none of these", "none of the above", "no", "not applicable", "其他", "其它", "その他"})
# a Chinese or Japanese model's "none": the words alone ("无", "なし"), and phrases found inside a sentence with no
# spaces around them ("二者无关", "無関係です"), where \b never holds
_CJK_NONE = "无|無|没有|沒有|なし"
_CJK_NONE_PHRASES = "无关系|無關係|無関係|関係なし|没有关系|沒有關係|无关|無關|無関"
_LEADING_NONE = re.compile(r"[\s\"'`*]*(?:(none|n/a|null|no[\s_-]?relation(ship)?s?|unrelated|not related|" + _CJK_NONE
                           + r")\b|" + _CJK_NONE_PHRASES + r")(?![\s_-]*(of|other|but|except)\b)", re.I)
_NO_RELATION_WORDS = re.compile(r"\b(none|n/a|null|no[\s_-]?(?:(?:direct|explicit|clear|obvious|apparent|such|known|stated|meaningful)\s+)?relation(ship)?s?|unrelated|not related|" + _CJK_NONE
                                + r")\b|" + _CJK_NONE_PHRASES, re.I)
# words between a negation and the label it negates: "no Work_For", "does not have a Live_In relation"
# (on the label's own line: "Work_For: No\nLive_In" does not negate Live_In)
_NEGATED = re.compile(r"(\bno|\bnot|n't|\bnor|\bneither)[^\S\n]+((a|an|the|any|have|has|hold|holds|express|expresses)[^\S\n]+)*$"
                      r"|(?:不是|并非|並非|不|非|没有|沒有|無|无)(?:是)?$", re.I)
# what follows a label to deny it: "Work_For: No", "Live_In? no", "Work_For - false", "Kill: ✗"
_DENIED_AFTER = re.compile(r"[^\S\n]*[:：?=-]?[^\S\n]*[*\"'`]*(?:no|false|none|n/a|✗|❌|×)(?=[^\S\n]*(?:$|[.,;!)*\n]))",
                           re.I | re.M)  # "Work_For: No", "Live_In? no." (not "No doubt: ...")
# an answer that says its label holds the other way round: "Work_For(e2,e1)", "Work_For (inverse)", "reversed"
_REVERSED = re.compile(r"\(\s*e2\s*,\s*e1\s*\)|\b(?:inverse|inverted|reversed?|opposite direction|other direction|"
                       r"the other way(?: round| around)?)\b", re.I)
# "not the other way around", "it is not the inverse": the direction confirmed, not reversed
_NOT_BEFORE = re.compile(r"(?:\bnot|n't|\bno)\s+(?:\w+\s+){0,3}$", re.I)


# "Relation: Located_In" as the answer's first line, the label after its lead-in
_RE_LEAD_IN = re.compile(r"^\W*(?:(?:the\s+)?(?:final\s+)?(?:relation(?:ship)?(?:\s+type)?|answer|label|output)\s*[:：]\s*)", re.I)
# the phrases that give the label as the answer in prose: "the correct relation is Live_In", "answer: Work_For"
_ANSWER_CUE = re.compile(r"(?:(?:relation(?:ship)?(?:\s+type)?|answer|label)\s*(?:is|would\s+be|=|->)|[:：])\s*[*\"'`]*$",
                         re.I)


def _reversed(text: str, classes: Sequence[str]) -> bool:
    """Whether ``text`` says its label holds the other way round ("Work_For(e2,e1)", "Work_For (inverse)"):
    not when negated ("not the other way around"), nor where the words belong to a label written in the
    answer ("Inverse_Of", "Cause-Effect(e2,e1)")."""
    inside = [(m.start(), m.end()) for c in classes
              for m in re.finditer(r"[\s_-]?".join(map(re.escape, re.split(r"[\s_-]+", _nfkc(c)))), text, re.I)]
    return any(not _NOT_BEFORE.search(text[: m.start()]) and not any(s <= m.start() and m.end() <= e for s, e in inside)
               for m in _REVERSED.finditer(text))


def _cued(text: str, label: str) -> bool:
    """Whether ``label`` appears right after a phrase that gives it as the answer ("the relation is ...")."""
    pattern = r"[\s_-]?".join(map(re.escape, re.split(r"[\s_-]+", _nfkc(label))))
    return any(_ANSWER_CUE.search(text[: m.start()]) for m in re.finditer(pattern, text, re.I))


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def _writes_label(text: str, label: str) -> bool:
    """Whether ``text`` writes ``label`` as the label itself ("Located_In"), not only as prose ("located in").

    Only a label with an inner separator can tell the two apart; "Kill" in prose is the label.
    """
    return bool(re.search(r"[\s_-]", label)) and re.search(r"(?<![\w])" + re.escape(_nfkc(label)) + r"(?![\w])",
                                                             text, re.I) is not None


def _named_labels(text: str, classes: Sequence[str]) -> list[str]:
    """The labels ``text`` names as whole words, in order; "_", "-" and spaces inside a label are
    interchangeable ("located in" names Located_In). A match inside a longer label's match (In in
    Located_In) and a negated one ("no Work_For relation", "not Live_In") are not named.
    """
    hits = []
    for c in classes:
        body = r"[\s_-]?".join(map(re.escape, re.split(r"[\s_-]+", _nfkc(c))))
        # a label in a script with no spaces has no word boundary around it: "两者的关系是位于"
        pattern = body if NO_SPACE_SCRIPTS.match(c[:1] or " ") else r"(?<![\w])" + body + r"(?![\w])"
        hits += [(m.start(), m.end(), c) for m in re.finditer(pattern, text, re.I)]
    out: list[str] = []
    for s, e, c in sorted(hits):
        inside = any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, _ in hits)
        if not inside and not _NEGATED.search(text[:s]) and not _DENIED_AFTER.match(text, e) and c not in out:
            out.append(c)
    return out
