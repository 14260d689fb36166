"""Turn an LLM's free-form answer into labels: tolerant JSON extraction and exact char alignment.

The teacher asks for the paper's formats: NER, a JSON list ``[{"span": "...", "type": "LABEL"}]``;
RE, the relation label alone. Small and large models alike wrap JSON in code fences, prose or
``<think>`` blocks, rename the keys ("mention", "entity_type"), answer with a plain list ("Paris: LOC")
or "None", call the user's label by another name ("PERSON" for PER, "B-LOC"), invent labels, and quote
mentions with different spacing or case; their JSON has comments, typographic quotes, full-width
punctuation or one object per line. Everything we can repair without guessing is repaired (a
synonym maps only when exactly one user label is of that kind; an RE answer that names two labels
is not read as either); what cannot be is raised as
``AnswerError`` (the teacher re-asks with that message) or dropped and *counted* in ``ParseStats``
so a user sees what was lost.

Alignment rule for a mention string that occurs several times in the text (decided here, tested in
tests/annotate/test_parsing.py):
- all listings of the string carry one type -> *every* occurrence gets that type. LLMs list a
  repeated entity once ("Germany" twice in a sentence comes back once), and gold annotation labels
  every occurrence, so labeling only the first would cost recall on exactly the easy cases;
- listings with different types (``Washington`` PER, then ``Washington`` LOC) -> the i-th listing
  labels the i-th occurrence, in order; the answer order is the only signal which one was meant.
Matching first tries the exact string, then whitespace- and case-insensitive, then insensitive to
Unicode normalization, full width and typographic quotes/dashes (NFD text vs an NFC answer,
"Ｔｏｋｙｏ" vs "Tokyo"), then without the mention's edge punctuation ("Paris,"), and last without
accents ("Jose Alvarez" for "José Álvarez", counted as fuzzy like the tiers before it); the span is
always mapped back to the user's exact characters. In scripts written with spaces a match must
sit on word boundaries ("US" never matches inside "USA"), while in CJK (and Thai) text, which has
no spaces, any position is allowed. Overlapping spans: the longer wins;
the same span with two types keeps the first listed (a counted conflict).
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from llmaaa.data.schema import NO_RELATION, Span


class AnswerError(ValueError):
    """An answer that cannot be used at all; the message is sent back to the LLM on re-ask."""


class TruncatedAnswer(AnswerError):
    """An answer the server cut off at ``max_tokens`` (``finish_reason="length"``) inside its JSON.

    What parses of it is a prefix: the entities after the cut were never written, so taking it would
    pass part of a text's entities off as all of them.
    """


@dataclass
class ParseStats:
    """What parsing dropped or repaired for one answer (summed over a run by the teacher)."""

    unknown_labels: Counter = field(default_factory=Counter)  # label -> times dropped
    not_in_text: int = 0  # mentions that occur nowhere in the text
    overlaps: int = 0  # spans dropped because a longer one overlapped them
    conflicts: int = 0  # the same span returned with two types
    fuzzy_matches: int = 0  # mentions found only case/whitespace-insensitively
    malformed: int = 0  # list items without a string span and type
    synonym_labels: int = 0  # labels taken by synonym or BIO prefix ("PERSON" -> PER, "B-LOC" -> LOC)

    def add(self, other: "ParseStats") -> None:
        self.unknown_labels.update(other.unknown_labels)
        self.not_in_text += other.not_in_text
        self.overlaps += other.overlaps
        self.conflicts += other.conflicts
        self.fuzzy_matches += other.fuzzy_matches
        self.malformed += other.malformed
        self.synonym_labels += other.synonym_labels

    def to_dict(self) -> dict[str, Any]:
        return {"unknown_labels": dict(self.unknown_labels), "not_in_text": self.not_in_text,
                "overlaps": self.overlaps, "conflicts": self.conflicts, "fuzzy_matches": self.fuzzy_matches,
                "malformed": self.malformed, "synonym_labels": self.synonym_labels}


_NONE_ANSWER = re.compile(
    r"^\W*(none|nothing|n/?a|no (named )?entit(y|ies)( (were )?(found|detected|identified|present))?"
    r"|there are no (named )?entities\b.*)\W*$", re.I | re.S)
_FENCE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)```", re.S)
_TRAILING_COMMA = re.compile(r",\s*([\]}])")


# One token of a JSON-ish text: a string (double, single or typographic quotes), a comment, or other text.
_JSON_TOKEN = re.compile("|".join((
    # strings; one left open runs to the end of its line (text), so that a run of quotes and backslashes
    # is one token instead of a rescan from every quote (quadratic: seconds on a few kilobytes)
    r'"(?:[^"\\]|\\.)*(?:"|$)', r"'(?:[^'\\\n]|\\.)*(?:'|$)", "\u201c[^\u201d\n]*\u201d",
    r"//[^\n]*", r"/\*.*?(?:\*/|$)", r"#[^\n]*",  # comments
    "[^\"'\u201c/#]+", ".")), re.S)
_FULL_WIDTH_PUNCT = str.maketrans("，：［］｛｝", ",:[]{}")
_BARE_KEY = re.compile(r"([{,]\s*)([A-Za-z_][\w-]*)(\s*:)")
_BARE_VALUE = re.compile(r"(:\s*)(?!(?:true|false|null|True|False|None)\b)([A-Za-z_][\w-]*)(\s*[,}\]])")
_MISSING_COMMA = re.compile(r"(})(\s*)(?={)")


def repair_json(text: str) -> str:
    """``text`` with the JSON slips models make outside strings undone, strings left as they are.

    ``// comments``, ``/* */`` and ``#`` comments dropped; Chinese full-width ``，：`` and brackets made
    ASCII (models answering Chinese text type them); ``“typographic”`` quotes around keys and values
    made straight; a missing comma between objects (one object per line) added; bare keys and bare
    label values (``{span: "Paris", type: LOC}``) quoted. Only tried after the text failed to parse.
    """
    # two passes: a comment between two objects must be gone before the missing comma is seen
    return _outside_strings(_outside_strings(text, str), _fix_outside_strings)


def _outside_strings(text: str, fix: Callable[[str], str]) -> str:
    """``text`` with comments dropped, typographic strings made JSON strings and ``fix`` applied elsewhere."""
    out = []
    for m in _JSON_TOKEN.finditer(text):
        tok = m.group()
        if tok[0] in "\"'":
            out.append(tok)
        elif tok[0] == "\u201c" and len(tok) > 1:
            out.append(json.dumps(tok[1:-1], ensure_ascii=False))
        elif not tok.startswith(("//", "/*", "#")):
            out.append(fix(tok))
    return "".join(out)


def _fix_outside_strings(tok: str) -> str:
    tok = tok.translate(_FULL_WIDTH_PUNCT)
    tok = _BARE_VALUE.sub(r'\1"\2"\3', _BARE_KEY.sub(r'\1"\2"\3', tok))
    return _MISSING_COMMA.sub(r"\1,\2", tok)


def _loads(text: str, repair: bool = False) -> Any:
    """``text`` as JSON, else as a Python literal; with ``repair``, also after ``repair_json``.

    Objects one per line become a list only when each is an entity: ``{"entities": [...]}`` followed
    by a ``{"note": ...}`` object is the first object alone (the caller tries the shorter slice).
    """
    try:
        return _loads_once(text)
    except AnswerError:
        if not repair or (fixed := repair_json(text)) == text:
            raise
    value = _loads_once(fixed)
    if text.lstrip()[:1] == "{" and isinstance(value, list) and not all(
            isinstance(v, dict) and _pick(v, _SPAN_KEYS) is not None and _pick(v, _TYPE_KEYS) is not None
            for v in value):
        raise AnswerError("the answer is not valid JSON")
    return value


def _loads_once(text: str) -> Any:
    fixed = _TRAILING_COMMA.sub(r"\1", text)
    for candidate in (text, fixed):
        try:
            return json.loads(candidate)
        except RecursionError:  # "[[[[..." thousands deep: no answer nests like that
            raise AnswerError("the answer is not valid JSON (nested too deeply)") from None
        except json.JSONDecodeError:
            pass
    try:  # single quotes, True/False/None: Python literal syntax
        value = ast.literal_eval(f"({fixed}\n)")  # parenthesized: objects one per line, without the list
        return list(value) if isinstance(value, tuple) else value  # "{...}, {...}": objects without the list
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # TypeError: {{1: 2}}, unhashable
        raise AnswerError("the answer is not valid JSON") from None


_THINK = re.compile(r"<(think|thinking|reasoning)>.*?(</\1>|$)", re.S | re.I)
_THINK_END = re.compile(r"</(?:think|thinking|reasoning)>", re.I)
_MAX_STARTS = 16  # opening brackets tried per candidate text; prose rarely has more before the JSON
_MAX_ATTEMPTS = 256  # parses tried per answer, over all starts and ends


def strip_reasoning(answer: str) -> str:
    """``answer`` without ``<think>...</think>`` blocks (reasoning models put brackets and labels there).

    A closing tag left without its opening one (chat templates of R1-style models put ``<think>`` in
    the prompt, so the answer starts inside the block) ends the reasoning: only what follows it counts.
    """
    if "<" not in answer:
        return answer
    answer = _THINK.sub("", answer)
    ends = list(_THINK_END.finditer(answer))
    return answer[ends[-1].end():] if ends else answer


def reasoning_end(answer: str) -> int:
    """Where the answer proper starts: after the last closing reasoning tag (0 when there is none)."""
    ends = list(_THINK_END.finditer(answer)) if "<" in answer else []
    return ends[-1].end() if ends else 0


def json_closed(answer: str) -> bool:
    """Whether ``answer`` (reasoning blocks left out) opens a JSON bracket and closes every one it opens.

    Tells a cut-off answer whose JSON was complete (a model that rambled on after the list) from one
    cut off inside it. Double-quoted strings are skipped, so a "]" inside a mention does not count.
    """
    depth, opened, in_string, escaped = 0, False, False, False
    for ch in strip_reasoning(answer):
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth, opened = depth + 1, True
        elif ch in "]}":
            depth = max(0, depth - 1)
    return opened and depth == 0 and not in_string


def extract_json(answer: str) -> Any:
    """The first JSON value in ``answer``: inside a code fence, else the first ``[...]``/``{...}`` that parses.

    Prose before the JSON may hold brackets of its own ("entities [PER, LOC]: [...]"), so each opening
    bracket is tried in turn, and for each the closing brackets from the last one backwards.
    """
    for value in json_candidates(answer):
        return value
    raise AnswerError(
        'the answer holds no JSON; reply with only a JSON list like [{"span": "...", "type": "..."}]'
    )


_FLAT_OBJECT = re.compile(r"\{[^{}]*\}")


def json_candidates(answer: str) -> Iterator[Any]:
    """Every JSON value ``extract_json`` would consider, in its order (at most ``_MAX_ATTEMPTS`` parses).

    A list of objects that does not parse as a whole because of one broken item (``"Dwayne "The
    Rock" Johnson"``, an invalid escape) is salvaged item by item before any object inside it is
    tried alone: the items that parse are kept, the broken one stays a string (a malformed item,
    counted), instead of the first inner object passing for the whole answer.
    """
    answer = strip_reasoning(answer)
    candidates = [m.group(1) for m in _FENCE.finditer(answer)] + [answer]
    attempts = _MAX_ATTEMPTS  # a long garbage answer full of brackets must not cost seconds
    for text in candidates:
        text = text.strip()
        starts = [i for i, ch in enumerate(text) if ch in "[{"][:_MAX_STARTS]
        inside = -1  # the end of the last value yielded: brackets before it are that value's own insides
        for start in starts:
            if start <= inside:
                continue
            close = "]" if text[start] == "[" else "}"
            end = last = text.rfind(close)
            while end > start and attempts > 0:
                attempts -= 1
                try:  # the widest slice is also tried repaired: a comment mid-list must not cut it short
                    value = _loads(text[start : end + 1], repair=end == last)
                except AnswerError:
                    end = text.rfind(close, start, end)  # prose after the JSON may contain the bracket
                    continue
                inside = end
                yield value
                break
            if close == "]" and inside < start and last > start:
                items = _salvage_items(text[start : last + 1])
                if items is not None:
                    inside = last
                    yield items


def _salvage_items(text: str) -> list[Any] | None:
    """The flat objects of a list that failed to parse: parsed where they parse, else their text;
    None unless at least two objects are there and one of them parses."""
    pieces = _FLAT_OBJECT.findall(text)
    if len(pieces) < 2:
        return None
    items: list[Any] = []
    for piece in pieces:
        try:
            items.append(_loads(piece, repair=True))
        except AnswerError:
            items.append(piece)
    return items if any(isinstance(i, dict) for i in items) else None


def _label_lookup(labels: Iterable[str]) -> dict[str, str]:
    return {l.casefold(): l for l in labels}


# Names LLMs use for the common entity types instead of the user's label (PERSON for PER, GPE for LOC).
_LABEL_FAMILIES = (
    frozenset({"per", "pers", "person", "persons", "people", "peop", "human", "individual", "personname"}),
    frozenset({"loc", "location", "locations", "place", "gpe", "geo", "geopolitical", "geopoliticalentity"}),
    frozenset({"org", "orgs", "organization", "organisation", "organizations", "organisations", "company",
               "institution"}),
    frozenset({"misc", "miscellaneous", "other"}),
)
_BIO_PREFIX = re.compile(r"^[BIESLU][-_](?=\w)", re.I)  # "B-PER", "i-per"


def _norm_label(label: str) -> str:
    """Case and separators dropped: "Work-For" -> "workfor", "product name" -> "productname"."""
    return re.sub(r"[\W_]+", "", label).casefold()


def _stem_label(label: str) -> str:
    """Words of a label without inflection: "lives in" and "Live_In" -> "livin", "killed" -> "kill".

    Crude on purpose (-ing/-ed/-s, then a final -e): it only compares an answer with a handful of
    user labels and is used when exactly one label matches.
    """
    out = []
    for w in re.split(r"[\W_]+", label.casefold()):
        for suffix in ("ing", "ed", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
        out.append(w[:-1] if w.endswith("e") and len(w) > 3 else w)
    return "".join(out)


class LabelResolver:
    """The user's label an LLM meant: exact (any case), then ignoring BIO prefixes and separators,
    then a common synonym ("PERSON", "Organisation", "GPE") when exactly one user label is of that kind.

    Only a match that is unambiguous is taken; anything else stays an unknown label (dropped, counted).
    """

    def __init__(self, labels: Iterable[str]) -> None:
        self.labels = list(labels)
        self.exact = _label_lookup(self.labels)
        normed: dict[str, list[str]] = {}
        for l in self.labels:
            normed.setdefault(_norm_label(l), []).append(l)
        self.normed = {k: v[0] for k, v in normed.items() if len(v) == 1}
        self.family: dict[frozenset, str] = {}
        for fam in _LABEL_FAMILIES:
            members = [l for l in self.labels if _norm_label(l) in fam]
            if len(members) == 1:
                self.family[fam] = members[0]

    def __call__(self, raw: str) -> str | None:
        hit = self.exact.get(raw.strip().casefold())
        if hit is not None:
            return hit
        keys = [_norm_label(raw)]
        if _BIO_PREFIX.match(raw.strip()):  # "B-PER"; tried second so a label like "E_MAIL" stays itself
            keys.append(_norm_label(_BIO_PREFIX.sub("", raw.strip())))
        for key in keys:
            hit = self.normed.get(key) or next((label for fam, label in self.family.items() if key in fam), None)
            if hit is not None:
                return hit
        return None


# keys LLMs use for the mention and its type, in order of preference (matched case-insensitively)
_RELATION_KEYS = ("relation", "relation_type", "label", "type", "answer", "predicate", "rel")
_SPAN_KEYS = ("span", "text", "entity", "mention", "name", "word", "entity_text", "phrase", "value", "entity_name",
              "named_entity", "entity_mention")
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "class", "entity_label", "ner_tag", "kind",
              "entity_group", "entity_category", "types")  # entity_group: the Hugging Face pipeline's key


def _pick(item: dict, keys: Sequence[str]) -> Any:
    folded = {str(k).casefold(): v for k, v in item.items()}
    return next((folded[k] for k in keys if k in folded), None)


def _as_items(data: Any, resolve: "LabelResolver") -> list[Any]:
    """Unwrap ``{"entities": [...]}`` (JSON mode forces an object) and ``{"PER": ["x"], ...}`` shapes.

    The label-keyed shape needs a key that names one of the user's labels: a stray object (a
    truncated answer's inner ``{"name": ..., "lang": ...}``) must be re-asked, not read as "no entities".
    """
    if isinstance(data, list):
        return data
    if isinstance(data, dict):
        if _pick(data, _SPAN_KEYS) is not None and _pick(data, _TYPE_KEYS) is not None:
            return [data]
        wrapped = _wrapped_list(data)
        if wrapped is not None:
            return wrapped  # {"entities": [...]}
        if len(data) == 1 and isinstance(inner := next(iter(data.values())), dict) and _entity_shaped(inner, resolve):
            return _as_items(inner, resolve)  # {"entities": {"PER": [...], "LOC": [...]}}
        if (data and all(isinstance(v, (list, str)) or v is None for v in data.values())
                and any(resolve(str(k)) is not None for k in data)):  # {"LABEL": [mentions]}, null for none
            return [{"span": m, "type": k} for k, v in data.items() if not _empty_value(v)
                    for m in ([v] if isinstance(v, str) else v) if m is not None]
        if (all(isinstance(_single(v), str) and resolve(_single(v)) is not None for v in data.values())
                and data and not any(resolve(str(k)) is not None for k in data)):  # {"Anna": "PER", "Paris": ["LOC"]}
            return [{"span": k, "type": _single(v)} for k, v in data.items()]
        if not data:
            return []
        if len(data) == 1 and _empty_value(next(iter(data.values()))):  # {"entities": null} / "none"
            return []
    raise AnswerError('expected a JSON list of objects like [{"span": "...", "type": "..."}]')


# keys under which a model wraps the entity list next to other keys ({"entities": [], "count": 0})
_WRAPPER_KEYS = frozenset({"entities", "named_entities", "entity_list", "spans", "mentions", "result", "results",
                           "output", "answer", "ner"})


def _wrapped_list(data: dict) -> list | None:
    """The entity list of a wrapper object: ``{"entities": [...]}``, also beside scalar side keys
    (``{"entities": [...], "count": 2}``, ``{"result": [...], "explanation": "..."}``).

    A list of strings is a label's mentions (``{"PER": ["Anna"]}``), not a wrapped list; a list beside
    other keys counts only under a wrapper's name, so a template echo like ``{"type": "json", "data":
    [...]}`` (seen from SmolLM2) is re-asked rather than read as its items.
    """
    lists = [(k, v) for k, v in data.items() if isinstance(v, list)]
    if len(lists) != 1 or any(isinstance(v, dict) for v in data.values()):
        return None
    key, items = lists[0]
    if items and all(isinstance(m, str) for m in items):
        return None
    if len(data) == 1 or str(key).casefold() in _WRAPPER_KEYS:
        return items
    return None  # {"type": "json", "data": [...]}: an echo of a format template, re-asked


def _entity_shaped(data: dict, resolve: "LabelResolver") -> bool:
    """An object that is itself an answer: keyed by the user's labels, or one entity with span and type."""
    return (any(resolve(str(k)) is not None for k in data)
            or (_pick(data, _SPAN_KEYS) is not None and _pick(data, _TYPE_KEYS) is not None))


def _single(v: Any) -> Any:
    """The element of a one-element list (a model that wraps every value in a list), else ``v``."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def _empty_value(v: Any) -> bool:
    return v is None or (isinstance(v, str) and (not v.strip() or bool(_NONE_ANSWER.match(v.strip()))))


_BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
_PAIR_LINE = re.compile(r"^(?P<a>.+?)\s*(?::|->|=>|→|\s[-–—]\s|\|)\s*(?P<b>.+?)\s*$")
_PAREN_LINE = re.compile(r"^(?P<a>.+?)\s*[(\[](?P<b>[^()\[\]]+)[)\]]\s*$")
_MARKUP = "\"'`*_ "


def _line_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """``[mention, label]`` items from a plain-text list, for answers that ignored the JSON format.

    One entity per line as ``Paris: LOC``, ``Paris (LOC)``, ``Paris - LOC`` or ``LOC: Paris, Rome``
    (bullets and markdown emphasis allowed). A line counts only when one side is a label the user
    has, so prose lines are ignored; the mentions still have to be found in the text.
    """
    items: list[list[str]] = []
    for line in answer.splitlines():
        line = _BULLET.sub("", line).strip().strip("|").strip()  # a markdown table row: | Paris | LOC |
        if len(line) > _MAX_LINE:  # prose, or a degenerate run of spaces: _PAIR_LINE is quadratic on it
            continue
        if not line.startswith("{"):  # an object the JSON reading already rejected is not "key: value" text
            items += _several_items(line, resolve) or _one_line_items(line, resolve)
    return items


_MAX_LINE = 500  # characters of one "mention: label" line; a longer line is prose
_ITEM_SEPARATORS = (re.compile(";"), re.compile(r"\|"), re.compile(r"(?<=[)\]]),"), re.compile(","))


def _several_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of a line that lists several: ``PER: Anna; LOC: Paris``, ``Smith, John (PER), Paris (LOC)``.

    Split on ``;``, ``|``, a comma after a bracketed label, then any comma, taken only when every
    part is an item of its own, so ``LOC: Paris, Rome`` and ``Washington, D.C. (LOC)`` stay whole.
    """
    for sep in _ITEM_SEPARATORS:
        parts = [p.strip() for p in sep.split(line)]
        if len(parts) > 1:
            found = [_one_line_items(p, resolve) for p in parts]
            if all(found):
                return [item for f in found for item in f]
    return []


def _one_line_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    m = _PAREN_LINE.match(line) or _PAIR_LINE.match(line)
    if not m:
        return []
    a, b = m.group("a").strip(_MARKUP), m.group("b").strip(_MARKUP + ".")
    if a and b and resolve(b) is not None:
        return [[a, b]]
    if a and b and resolve(a) is not None:  # LOC: Paris, Rome / ORG: ==NONE== (spacy-llm's marker)
        return [[m_, a] for mention in re.split(r"[,;]", b)
                if (m_ := mention.strip(_MARKUP)) and not _empty_value(m_.strip("="))]
    return []


_XML_TAG = re.compile(r"<([A-Za-z][\w.-]*)>([^<>]+?)</\1>")
_MD_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()]+)\)")


def _inline_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """``[mention, label]`` items from a sentence re-written with inline tags, another way models
    ignore the format: ``<PER>Anna</PER> flew to <LOC>Paris</LOC>`` or ``[Anna](PER)``. Only tags
    that name a user label count, so HTML or links in prose are not read as entities."""
    tagged = [[m.group(2), m.group(1)] for m in _XML_TAG.finditer(answer)]
    tagged += [[m.group(1), m.group(2)] for m in _MD_LINK.finditer(answer)]
    return [[mention.strip(), label] for mention, label in tagged if mention.strip() and resolve(label) is not None]


_SEPARATORS = ",;:*，、；：。！？"  # CJK stops never end a name
_BRACKETS = ("()", "[]", "{}", "「」", "《》", "（）", "【】", "“”", "‘’")
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
            elif m[-1:] == c and m.count(c) > m.count(o):
                m = m[:-1]
            elif m[:1] == o and m.count(o) > m.count(c):
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
    """The answer's entity items: ``LABEL: [...]`` lines, else JSON, else a plain-text list or inline
    tags, else ``[]`` for an answer that says there are none; ``AnswerError`` when it is none of these.

    Items come before the "none" reading: "There are no entities of type PER.\nParis: LOC" lists Paris.
    """
    plain = strip_reasoning(answer).strip()
    listed = _label_list_lines(plain, resolve)
    if listed is not None:
        return listed
    try:
        return _json_items(answer, resolve)
    except AnswerError:
        items = _line_items(plain, resolve) or _inline_items(plain, resolve)
        if items:
            return items
        if _NONE_ANSWER.match(plain):
            return []  # "None." / "No entities found": a small model's way of saying []
        raise


def _json_items(answer: str, resolve: LabelResolver) -> list[Any]:
    """The items of the first JSON value in ``answer`` that names one of the user's labels, else of the first
    one that reads as items: an answer that echoes the prompt's format (``[{"span": "<exact text>",
    "type": "<LABEL>"}]``) before its own list is read by its list."""
    first: list[Any] | None = None
    for value in json_candidates(answer):
        try:
            items = _as_items(value, resolve)
        except AnswerError:
            continue
        if any(isinstance(label, str) and resolve(label) is not None
               for label in (_item_pair(item, resolve)[1] for item in items)):
            return items
        if first is None:
            first = items
    if first is None:
        raise AnswerError('the answer holds no JSON; reply with only a JSON list like [{"span": "...", "type": "..."}]')
    return first


_LABEL_LIST_LINE = re.compile(r"^\s*(?:[-*•]\s+)?(?P<label>[^:\[\]{}]+?)\s*:\s*(?P<list>\[.*\])\s*,?\s*$")


def _label_list_lines(answer: str, resolve: LabelResolver) -> list[list[str]] | None:
    """``[mention, label]`` items of an answer written as ``LABEL: [mentions]`` lines, None for another answer.

    ``PER: []\nLOC: ["Paris"]`` must be read line by line: as JSON its first ``[]`` would pass for the
    whole answer and drop Paris. An answer with objects (``{``) is JSON and left to the JSON reading.
    """
    if "{" in answer:
        return None
    found: list[list[str]] | None = None
    for line in answer.splitlines():
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


def _item_pair(item: Any, resolve: LabelResolver) -> tuple[Any, Any]:
    """``(mention, label)`` of one list item; either may come back as a non-string (a malformed item).

    A positional pair given the other way round (``["LOC", "Paris"]``, ``{"Paris": "LOC"}`` in a list)
    is swapped when only its first element names a label; keyed objects are taken as keyed.
    """
    mention = label = None
    positional = False
    if isinstance(item, str) and len(lines := _line_items(item, resolve)) == 1:  # ["Anna (PER)", "Paris: LOC"]
        item = lines[0]
    if isinstance(item, dict):
        mention, label = _pick(item, _SPAN_KEYS), _pick_label(item, resolve)
        if mention is None and label is None and len(item) == 1:  # [{"PER": "Anna"}, {"LOC": "Paris"}]
            (label, mention), positional = next(iter(item.items())), True
    elif isinstance(item, (list, tuple)) and len(item) == 2:  # [["Anna", "PER"], ...]: the pair is clear
        (mention, label), positional = item, True
    mention, label = _single(mention), _single(label)  # {"span": ["Anna"], "type": ["PER"]}
    if (positional and isinstance(mention, str) and isinstance(label, str)
            and resolve(label) is None and resolve(mention) is not None):
        mention, label = label, mention
    return mention, label


def _pick_label(item: dict, resolve: LabelResolver) -> Any:
    """The item's type: the first type key whose value names a user label, else the first type key.

    ``{"text": "Paris", "label": "LOC", "type": "entity"}``: "type" is the item's kind, "label" its type.
    """
    folded = {str(k).casefold(): _single(v) for k, v in item.items()}
    present = [folded[k] for k in _TYPE_KEYS if k in folded]
    return next((v for v in present if isinstance(v, str) and resolve(v) is not None), present[0] if present else None)


def parse_ner_answer(answer: str, labels: Sequence[str], stats: ParseStats | None = None) -> list[tuple[str, str]]:
    """``(mention, label)`` pairs in answer order; unknown labels dropped and counted in ``stats``.

    Raises ``AnswerError`` when the answer is not JSON or not list-of-objects shaped.
    """
    stats = stats if stats is not None else ParseStats()
    resolve = LabelResolver(labels)
    out: list[tuple[str, str]] = []
    items = _answer_items(answer, resolve)
    malformed = []
    for item in items:
        mention, label = _item_pair(item, resolve)
        if not isinstance(mention, str) or not isinstance(label, str):
            malformed.append(item)  # one bad item costs that item, not the whole answer
            continue
        canonical = resolve(label)
        if canonical is None:
            stats.unknown_labels[label] += 1
            continue
        if canonical.casefold() != label.strip().casefold():
            stats.synonym_labels += 1
        mention = trim_mention(mention)
        if mention:
            out.append((mention, canonical))
    if malformed and len(malformed) == len(items):
        raise AnswerError(f'each list item must be an object with string "span" and "type", got {malformed[0]!r}')
    stats.malformed += len(malformed)
    return out


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
    if isinstance(data, dict):  # the relation's own key first: {"head": "Anna", "tail": "IBM", "relation": "Work_For"}
        value = _pick(data, _RELATION_KEYS)
        text = str(value if value is not None else next(iter(data.values()), "")) if data else ""
    elif isinstance(data, list) and data:  # ["Work_For"], or a triple ["Anna", "Work_For", "IBM"]
        text = " ".join(map(str, data))
    token = text.strip().strip("`\"'.:").strip()
    normed = {_norm_label(_nfkc(c)): c for c in classes}
    first_line = text.strip().split("\n", 1)[0].strip("`\"'.:* ")
    first_line = first_line if re.fullmatch(r"[\w\s-]+", first_line) else ""  # not "Live_In?\nNo, Work_For"
    for candidate in (token, first_line):  # "Work_For\n\nExplanation: ... located in ...": the label, then prose
        if candidate.casefold() in lookup:
            return lookup[candidate.casefold()]
        if (key := _norm_label(candidate)) and key in normed:  # "Work For", "work-for", "WORK_FOR"
            return normed[key]
    if len(token.split()) <= 4:  # "works for", "lives in", "killed": the label as a verb, if only one fits
        stemmed = [c for c in classes if _stem_label(c) == _stem_label(token)]
        if len(stemmed) == 1:
            return stemmed[0]
    if _LEADING_NONE.match(text):  # "No relation. Work_For does not hold.": the answer, then why
        return NO_RELATION
    found = _named_labels(text, classes)
    written = [c for c in found if _writes_label(text, c)]
    if len(found) > 1 and len(written) == 1:  # "Work_For. He works for a firm located in Boston": the label, then prose
        return written[0]
    if len(found) > 1:
        raise AnswerError(f"the answer names {', '.join(found)}; answer with exactly one of these labels and "
                          f"nothing else: {', '.join(classes)}")
    if found:
        return found[0]
    if _NO_RELATION_WORDS.search(text):
        return NO_RELATION
    raise AnswerError(f"answer with exactly one of these labels and nothing else: {', '.join(classes)}")


_LEADING_NONE = re.compile(r"[\s\"'`*]*(none|n/a|null|no[\s_-]?relation(ship)?s?|unrelated|not related)\b"
                           r"(?![\s_-]*(of|other|but|except)\b)", re.I)
_NO_RELATION_WORDS = re.compile(r"\b(none|n/a|null|no[\s_-]?relation(ship)?s?|unrelated|not related)\b", re.I)
# words between a negation and the label it negates: "no Work_For", "does not have a Live_In relation"
_NEGATED = re.compile(r"(\bno|\bnot|n't|\bnor|\bneither)\s+((a|an|the|any|have|has|hold|holds|express|expresses)\s+)*$",
                      re.I)


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
        pattern = r"(?<![\w])" + r"[\s_-]?".join(map(re.escape, re.split(r"[\s_-]+", _nfkc(c)))) + r"(?![\w])"
        hits += [(m.start(), m.end(), c) for m in re.finditer(pattern, text, re.I)]
    out: list[str] = []
    for s, e, c in sorted(hits):
        inside = any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, _ in hits)
        if not inside and not _NEGATED.search(text[:s]) and c not in out:
            out.append(c)
    return out


# --- alignment -----------------------------------------------------------------------------------

_NO_SPACE_SCRIPTS = re.compile(
    "[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0002ffff]"
)


def _wordy(ch: str) -> bool:
    """A character that continues a word in a script written with spaces (a vowel sign of Devanagari,
    a combining accent: marks belong to the letter before them)."""
    return (ch.isalnum() or ch == "_" or _attached(ch)) and not _NO_SPACE_SCRIPTS.match(ch)


_ZWJ, _VS16 = "\u200d", "\ufe0f"


def _attached(ch: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a variation selector, an emoji
    skin tone or a zero-width joiner. A span never starts or ends just before one."""
    return unicodedata.category(ch)[0] == "M" or ch in (_ZWJ, _VS16) or "\U0001f3fb" <= ch <= "\U0001f3ff"


def _on_boundaries(text: str, start: int, end: int) -> bool:
    if _attached(text[start]):
        return False
    if end < len(text) and _attached(text[end]):  # "👍" in "👍🏽", "राम" in "रामायण", "Jose" in NFD "José"
        return False
    if start > 0 and _wordy(text[start]) and _wordy(text[start - 1]):
        return False
    if end < len(text) and _wordy(text[end - 1]) and _wordy(text[end]):
        return False
    return True


def _whole_graphemes(text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Hits whose end was found in a folded text extended over the marks that follow it (the accent of
    an NFD "é" folded away), so a span never cuts a character in two."""
    out = []
    for s, e in hits:
        while e < len(text) and _attached(text[e]):
            e += 2 if text[e] == _ZWJ and e + 1 < len(text) else 1
        out.append((s, e))
    return out


def find_occurrences(text: str, mention: str, folded: "FoldedText | None" = None) -> tuple[list[tuple[int, int]], bool]:
    """Non-overlapping ``(start, end)`` of ``mention`` in ``text`` and whether the match was fuzzy.

    ``folded``: one ``FoldedText(text)`` shared by the caller's lookups in the same text (it folds once).
    """
    if not mention.strip():  # "" would match between every two characters
        return [], False
    exact = [(m.start(), m.end()) for m in re.finditer(re.escape(mention), text)]
    hits = [o for o in exact if _on_boundaries(text, *o)]
    if hits:
        return hits, False
    words = mention.split()
    if not words:
        return [], False
    pattern = r"\s*".join(re.escape(w) for w in words)  # "New  York" / "NewYork" / "new york"
    fuzzy = [(m.start(), m.end()) for m in re.finditer(pattern, text, re.I)]
    fuzzy = _cased_like(mention, text, [o for o in fuzzy if _on_boundaries(text, *o)])
    if fuzzy:
        return fuzzy, True
    folded = folded or FoldedText(text)
    found = folded.find(mention)
    trimmed = mention.strip(_EDGE_PUNCT)
    if not found and trimmed and trimmed != mention:  # "Paris," / "(Paris)" / "Paris." copied with its punctuation
        found = find_occurrences(text, trimmed, folded)[0]
    if not found:  # last: "Jose Alvarez" for "José Álvarez" (or the reverse); the trimmed form tried it above
        found = folded.find(mention, strip_accents=True)
    return _whole_graphemes(text, _cased_like(mention, text, found)), True


def _cased_like(mention: str, text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Case-insensitive hits without the all-lowercase words a capitalized mention does not mean: an
    acronym ("US", "WHO") never matches "us" or "who", and "Apple" matches "apple" only where the
    text writes it in lowercase everywhere (a lowercase text, a tweet)."""
    if mention == mention.lower():
        return hits
    lower = [o for o in hits if text[o[0]:o[1]] == text[o[0]:o[1]].lower()]
    if mention.isupper() and len(mention.replace(".", "")) <= 5:
        return [o for o in hits if o not in lower]
    return [o for o in hits if o not in lower] or hits


_EDGE_PUNCT = " \t\n.,;:!?()[]{}<>\"'`*。，、；：！？「」《》（）"


# typographic variants LLMs silently "correct" when they copy a mention
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " "})


def _fold(s: str, strip_accents: bool = False) -> str:
    out = unicodedata.normalize("NFKC", s).casefold().translate(_TYPOGRAPHY)
    if strip_accents:
        out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    return out


class FoldedText:
    """``text`` folded for matching that ignores Unicode form, width and typography, with exact offsets back.

    A text from a PDF or macOS is often NFD ("e" + combining accent) while the LLM answers NFC;
    CJK text mixes full-width Latin and digits ("Ｔｏｋｙｏ", "２０２３") that models copy half-width;
    curly apostrophes come back straight. Each base character with its combining marks is folded
    (NFKC, casefold) as one cluster, and every folded character remembers the cluster's span in
    the original, so the span we return is always a slice of the user's text. ``strip_accents``
    also drops the marks on both sides (the last resort: a model that writes "Jose" for "José").
    """

    def __init__(self, text: str):
        self.text = text
        # folded text and, per folded char, its cluster's (start, end) in ``text``; one entry per
        # ``strip_accents`` value, built on first use: most mentions match before this tier
        self._variants: dict[bool, tuple[str, list[tuple[int, int]]]] = {}

    def _build(self, strip_accents: bool) -> tuple[str, list[tuple[int, int]]]:
        pieces: list[str] = []
        origin: list[tuple[int, int]] = []
        text, i = self.text, 0
        while i < len(text):
            j = i + 1
            while j < len(text) and unicodedata.combining(text[j]):
                j += 1
            piece = _fold(text[i:j], strip_accents)
            pieces.append(piece)
            origin += [(i, j)] * len(piece)
            i = j
        return "".join(pieces), origin

    def find(self, mention: str, strip_accents: bool = False) -> list[tuple[int, int]]:
        words = _fold(mention, strip_accents).split()
        if not words:
            return []
        if strip_accents not in self._variants:
            self._variants[strip_accents] = self._build(strip_accents)
        folded, origin = self._variants[strip_accents]
        hits = []
        for m in re.finditer(r"\s*".join(re.escape(w) for w in words), folded):
            if m.end() > m.start():
                span = (origin[m.start()][0], origin[m.end() - 1][1])
                if _on_boundaries(self.text, *span):
                    hits.append(span)
        return hits


def align_mentions(text: str, mentions: Sequence[tuple[str, str]], stats: ParseStats | None = None,
                   scores: Sequence[float | None] | None = None) -> list[Span]:
    """Exact char spans for ``(mention, label)`` pairs, by the rule in the module docstring.

    ``scores`` (one per pair, e.g. ``confidence.item_scores``) become the spans' scores; a span
    gets the score of the listing it was made from.
    """
    stats = stats if stats is not None else ParseStats()
    scores = list(scores) if scores is not None else [None] * len(mentions)
    # listings of one mention, whatever its casing: "Washington" PER and "washington" LOC are one name twice
    by_string: dict[str, tuple[str, list[tuple[int, str]]]] = {}
    for order, (mention, label) in enumerate(mentions):
        by_string.setdefault(mention.casefold(), (mention, []))[1].append((order, label))
    folded = FoldedText(text)  # lazy: folded once, only if some mention needs it
    found: dict[str, tuple[list[tuple[int, int]], bool]] = {
        key: find_occurrences(text, mention, folded) for key, (mention, _) in by_string.items()}
    candidates: list[tuple[int, int, str, int]] = []  # start, end, label, listing order
    for key, (mention, listings) in by_string.items():
        occurrences, fuzzy = found[key]
        if not occurrences:
            stats.not_in_text += len(listings)
            continue
        stats.fuzzy_matches += int(fuzzy)
        if len({label for _, label in listings}) == 1:
            order, label = listings[0]
            # listed again with the same type: a duplicate, it adds no span
            candidates += [(s, e, label, order) for s, e in occurrences]
        else:
            # typed listings pair with occurrences in order, leaving out those inside a longer listed
            # name ("Washington" in "The Washington Post"): the longer span takes them anyway
            longer = [o for k, (occ, _) in found.items() if k != key for o in occ]
            free = [(s, e) for s, e in occurrences
                    if not any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2 in longer)] or occurrences
            for (order, label), (s, e) in zip(listings, free):
                candidates.append((s, e, label, order))
            # more typed listings than occurrences: the first listed type keeps the span
            stats.conflicts += max(0, len(listings) - len(free))
    return _resolve_overlaps(candidates, stats, scores)


def _resolve_overlaps(candidates: list[tuple[int, int, str, int]], stats: ParseStats,
                      scores: Sequence[float | None]) -> list[Span]:
    kept: list[tuple[int, int, str, int]] = []
    for cand in sorted(candidates, key=lambda c: (-(c[1] - c[0]), c[3], c[0])):
        s, e = cand[0], cand[1]
        clash = next((k for k in kept if k[0] < e and s < k[1]), None)
        if clash is None:
            kept.append(cand)
        elif (clash[0], clash[1]) == (s, e):
            if clash[2] != cand[2]:
                stats.conflicts += 1
        else:
            stats.overlaps += 1
    return [Span(s, e, label, scores[order]) for s, e, label, order in sorted(kept)]
