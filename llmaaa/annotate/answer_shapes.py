"""The shapes an NER answer comes in, read as ``[mention, label]`` items.

Models rename the keys ("mention", "entity_type"), wrap the list in an object (``{"entities": [...]}``),
key mentions by label (``{"PER": ["Anna"]}``), swap a pair's order, answer with a plain list
("Paris: LOC") or rewrite the sentence with inline tags (``<LOC>Paris</LOC>``). A shape counts only
when it names one of the user's labels, so prose and stray objects are re-asked (``AnswerError``)
rather than read as "no entities". ``jsonrepair`` takes its span and type keys from here to tell an
entity object, so this module reads parsed values only and never imports ``jsonrepair``.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any, Sequence

from llmaaa.annotate.answer_errors import AnswerError
from llmaaa.annotate.labels import LabelResolver


# a lead-in before the answer proper: "Answer:", "Entities:", "Here are the entities:", "The named entities in the
# text are:", and the same in Chinese and Japanese; only these phrasings, so "Result Holdings: ORG" keeps its mention
_LEAD_IN = (r"(?:here\s+(?:are|is)\s+)?(?:the\s+)?(?:final\s+)?(?:answers?|outputs?|results?|(?:named\s+)?entit(?:y|ies))"
            r"(?:\s+(?:are|is|found|detected|identified|extracted|in\s+the\s+(?:text|sentence)))*"
            r"|(?:以下是)?(?:答案|回答|输出|輸出|结果|結果|实体|實體|エンティティ)(?:如下|有)?")
# "no entities" in Chinese and Japanese, also after "in this sentence" (该句子中没有实体, この文にはエンティティはありません)
_CJK_IN_THE_TEXT = r"(?:(?:该|該|这|這|此)?(?:句子|文本|句|文)(?:中|里|裡)?|(?:この|その)?(?:文|文章|テキスト)(?:の中)?には)?"
_CJK_NO_ENTITIES = (_CJK_IN_THE_TEXT + r"(?:(?:没有|沒有|无|無|未(?:发现|發現|找到|识别|識別)(?:到)?)(?:任何)?(?:命名)?(?:实体|實體)"
                    r"|(?:実体|エンティティ|固有表現)(?:は)?(?:なし|ありません))")  # 没有实体, エンティティはありません
_NONE_ANSWER = re.compile(
    r"^\W*(?:(?:" + _LEAD_IN + r")\s*[:：]\W*)?"  # "Answer: none", "实体：无"
    r"(none|null|nothing|n/?a|no (named )?entit(y|ies)( (were )?(found|detected|identified|present))?|无|無|没有|沒有|なし"
    r"|" + _CJK_NO_ENTITIES + r"|there are no (named )?entities\b.*)\W*$", re.I | re.S)


# keys LLMs use for the mention and its type, in order of preference (matched case-insensitively)
_RELATION_KEYS = ("relation", "relation_type", "label", "type", "answer", "predicate", "rel")
_SPAN_KEYS = ("span", "text", "entity", "mention", "name", "word", "entity_text", "phrase", "value", "entity_name",
              "named_entity", "entity_mention")
# entity_group: the Hugging Face pipeline's key; labels: Label Studio's own ({"value": {"text": ..., "labels": [...]}})
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "class", "entity_label", "ner_tag", "kind",
              "entity_group", "entity_category", "types", "labels")
_RECORD_KEYS = frozenset(_SPAN_KEYS + _TYPE_KEYS)


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
            inner = [v for k, v in data.items() if str(k).casefold() in _WRAPPER_KEYS and isinstance(v, list)]
            label = _pick_label(data, resolve)
            if len(inner) == 1 and not (isinstance(label, str) and resolve(label) is not None):
                return inner[0]  # {"text": "<the sentence>", "type": "NER", "entities": [...]}: an envelope
            return [data]
        data = {k: _decoded(v) for k, v in data.items()}  # {"entities": "[{\"span\": ...}]"}: JSON sent as a string
        if len(core := {k: v for k, v in data.items() if str(k).casefold() not in _META_KEYS or resolve(str(k)) is not None}) < len(data) and core:
            return _as_items(core, resolve)  # {"Anna": "PER", "explanation": "..."}: the note is no mention
        if (all(isinstance(v, dict) and _pick(v, _SPAN_KEYS) is None and isinstance(_pick_label(v, resolve), str)
                for v in data.values()) and data and not any(resolve(str(k)) is not None for k in data)):
            return [{"span": k, "type": _pick_label(v, resolve)} for k, v in data.items()]  # {"Anna": {"type": "PER"}}
        wrapped = _wrapped_list(data)
        if wrapped is not None and not (len(data) == 1 and (key := str(next(iter(data)))).casefold() not in _WRAPPER_KEYS
                                        and resolve(key) is not None):
            return wrapped  # {"entities": [...]}; {"PER": [{"text": "Anna"}]} is keyed by label, below
        if (len(data) == 1 and isinstance(inner := next(iter(data.values())), dict)
                and (_entity_shaped(inner, resolve) or str(next(iter(data))).casefold() in _WRAPPER_KEYS)):
            return _as_items(inner, resolve)  # {"entities": {"PER": [...]}}, {"result": {"entities": [...]}}
        if (data and all(isinstance(v, (list, str)) or v is None for v in data.values())
                and any(resolve(str(k)) is not None for k in data)):  # {"LABEL": [mentions]}, null for none
            return [{"span": _mention_of(m), "type": k} for k, v in data.items() if not _empty_value(v)
                    for m in ([v] if isinstance(v, str) else v) if m is not None]
        if (all(isinstance(_single(v), str) and (resolve(_single(v)) is not None or _single(v).strip() == "O")
                    for v in data.values())
                and any(resolve(_single(v)) is not None for v in data.values())
                and not any(resolve(str(k)) is not None for k in data)):
            # {"Anna": "PER", "Paris": ["LOC"]}; per token with BIO tags, {"New": "B-LOC", "York": "I-LOC", "is": "O"}
            return [{"span": k, "type": _single(v)} for k, v in data.items()]
        if not data:
            return []
        if len(data) == 1 and _empty_value(next(iter(data.values()))):  # {"entities": null} / "none"
            return []
        nested = _nested_answers(data, resolve)
        if len(nested) == 1:
            return nested[0]
    raise AnswerError('expected a JSON list of objects like [{"span": "...", "type": "..."}]')


# keys of a model's remarks beside its answer ({"Anna": "PER", "explanation": "..."}), never a mention or a label
_META_KEYS = frozenset({"explanation", "explanations", "reasoning", "reason", "rationale", "note", "notes", "comment",
                        "comments", "confidence", "thoughts", "thought", "analysis", "justification"})


def _decoded(value: Any) -> Any:
    """A JSON list or object a model sent as a string (``"[{\"span\": ...}]"``), parsed; anything else as it is."""
    if isinstance(value, str) and value.strip()[:1] in "[{" and value.strip()[-1:] in "]}":
        try:
            inner = json.loads(value)
        except ValueError:
            return value
        return inner if isinstance(inner, (list, dict)) else value
    return value


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
    if len(lists) > 1:  # {"entities": [...], "relations": []}: a joint answer's entity list, under a wrapper's name
        lists = [(k, v) for k, v in lists if str(k).casefold() in _WRAPPER_KEYS]
    if len(lists) != 1 or any(isinstance(v, dict) for v in data.values()):
        return None
    key, items = lists[0]
    if items and all(isinstance(m, str) for m in items):
        return None
    if len(data) == 1 or str(key).casefold() in _WRAPPER_KEYS:
        return items
    return None  # {"type": "json", "data": [...]}: an echo of a format template, re-asked


def _nested_answers(data: dict, resolve: "LabelResolver", depth: int = 0) -> list[list[Any]]:
    """The entity lists an API-style envelope holds deeper down: ``{"status": "ok", "data": {"items": [...]}}``.

    A list counts when it sits under a wrapper's name (``entities``, ``results``, ...) or when one of its
    objects names a mention and one of the user's labels; an object keyed by the user's labels counts too.
    The caller takes the answer only when exactly one such list is found, so a template echo (``{"type":
    "json", "data": [{"span": "...", "type": "..."}]}``: no user label) and an answer with two candidate
    lists are still re-asked rather than guessed.
    """
    found: list[list[Any]] = []
    for key, value in data.items():
        if isinstance(value, list):
            strings = bool(value) and all(isinstance(m, str) for m in value)
            if (str(key).casefold() in _WRAPPER_KEYS and not strings) or any(
                    isinstance(m, dict) and _pick(m, _SPAN_KEYS) is not None
                    and isinstance(label := _pick_label(m, resolve), str) and resolve(label) is not None
                    for m in value):
                found.append(value)
        elif isinstance(value, dict) and depth < 3:
            if value and any(resolve(str(k)) is not None for k in value):
                try:
                    found.append(_as_items(value, resolve))
                except AnswerError:
                    pass
            else:
                found += _nested_answers(value, resolve, depth + 1)
    return found


def _entity_shaped(data: dict, resolve: "LabelResolver") -> bool:
    """An object that is itself an answer: keyed by the user's labels, or one entity with span and type."""
    return (any(resolve(str(k)) is not None for k in data)
            or (_pick(data, _SPAN_KEYS) is not None and _pick(data, _TYPE_KEYS) is not None))


def _mention_of(m: Any) -> Any:
    """A label's mention given as an object (``{"PER": [{"text": "Anna", "start": 0}]}``): its span key's value."""
    return _pick(m, _SPAN_KEYS) if isinstance(m, dict) else m


def _single(v: Any) -> Any:
    """The element of a one-element list (a model that wraps every value in a list), else ``v``."""
    return v[0] if isinstance(v, list) and len(v) == 1 else v


def _empty_value(v: Any) -> bool:
    return v is None or (isinstance(v, str) and (not v.strip() or bool(_NONE_ANSWER.match(v.strip()))))


# The full-width punctuation of a CJK answer ("LOC：東京，大阪", "东京（LOC）") as the ASCII the plain-text readings
# split on; a mention that keeps one still aligns, since alignment folds full width ("（" and "(" alike).
PLAIN_PUNCTUATION = str.maketrans("：，；（）｜【】", ":,;()|[]")
# a list item's marker: "- ", "1. ", "2) ", and the ones CJK lists and chatty models use with no space after them
# ("・東京", "1、张伟", "①", "➤ Anna", "👤 Anna"); "1.5 million" keeps its number
_BULLET = re.compile(r"^\s*(?:(?:[-*•+]|\d+[.)])\s+|\d+[、．]\s*|[・●○◦▪▫■□▸▹►▶➤➢→⇒✓✔✅☑👉🔹🔸⭐①-⑳]\ufe0f?\s*"
                     r"|[\U0001F300-\U0001FAFF]\ufe0f?\s+)")
_PAIR_LINE = re.compile(r"^(?P<a>.+?)\s*(?::|->|=>|→|=|\s(?:[-–—]|--+)\s|\||\t)\s*(?P<b>.+?)\s*$")
_PAREN_LINE = re.compile(r"^(?P<a>.+?)\s*[(\[](?P<b>[^()\[\]]+)[)\]][\s.。]*$")
_NOTED_PAREN_LINE = re.compile(r"^(?P<a>[^()\[\]]+?)\s*[(\[](?P<b>[^()\[\]]+)[)\]]\s*[-–—:]+\s+[^()\[\]]*$")  # "Paris (LOC) - a city"
_LABEL_FIRST_LINE = re.compile(r"^[(\[](?P<a>[^()\[\]]+)[)\]]\s*(?:[:\-–—]\s*)?(?P<b>[^()\[\]]+?)\s*$")  # "[LOC] Paris", "【LOC】東京"
# "Anna B-PER": one token and a BIO tag, a CoNLL column written with a space; only a tag with its prefix counts,
# since "New York LOC" could be prose
_COLUMN_LINE = re.compile(r"^(?P<a>\S+)\s+(?P<b>[BIESLUM][-_]\S+)$", re.I)
_COLUMN_OUTSIDE = re.compile(r"^(?P<a>\S+)\s+O$")  # "saw O": kept as an item so it ends the mention before it
_CSV_LINE = re.compile(r"^(?P<a>[^:]+),\s*(?P<b>[^,:]+?)\s*$")  # "Paris, LOC"; the last comma: "Washington, D.C., LOC"
_MARKUP = "\"'`*_ "


def _line_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """``[mention, label]`` items from a plain-text list, for answers that ignored the JSON format.

    One entity per line as ``Paris: LOC``, ``Paris (LOC)``, ``Paris - LOC`` or ``LOC: Paris, Rome``
    (bullets and markdown emphasis allowed). A line counts only when one side is a label the user
    has, so prose lines are ignored; the mentions still have to be found in the text.
    """
    records = _record_items(answer, resolve)
    if records is not None:
        return records
    table = _table_items(answer, resolve)
    if table is not None:
        return table
    items: list[list[str]] = []
    previous: list[str] | None = None  # the one item of the line before, which an ``I-`` tag continues
    heading = _Heading()
    for line in answer.splitlines():
        line = _BULLET.sub("", line).strip().strip("|").strip()  # a markdown table row: | Paris | LOC |
        line = _without_header(line, resolve)
        if len(line) > _MAX_LINE or line.startswith("{"):  # prose, or a degenerate run of spaces (_PAIR_LINE is
            previous = None                                # quadratic on it); an object JSON already rejected
            continue
        if heading.starts(line, resolve):
            previous = None
            continue
        found = (_tuple_items(line, resolve) or _slash_tagged_items(line, resolve)
                 or _inline_items(line, resolve)  # "[Anna](PER) and [Bob](PER)" is
                 or _several_items(line, resolve) or _one_line_items(line, resolve)  # no "mention (LABEL)" line
                 or _copula_items(line, resolve) or heading.items(line, resolve))
        if (len(found) == 1 and previous is not None and continues_mention(found[0][1], resolve)
                and resolve(found[0][1]) == resolve(previous[1])):
            previous[0] = f"{previous[0]} {found[0][0]}"  # "New<TAB>B-LOC" / "York<TAB>I-LOC": one mention, as in
            continue                                      # CoNLL; alignment ignores the space ("北 京" is 北京)
        items += found
        previous = found[0] if len(found) == 1 else None
    return items


def _heading_name(line: str) -> str:
    """What a heading line names: ``### PER``, ``**PER:**`` and ``PER:`` all name "PER"."""
    return line.strip("#" + _MARKUP).rstrip(":").strip(_MARKUP)


class _Heading:
    """The label of a markdown section an answer groups its mentions under, one mention per line::

        ### PER
        - Anna
        **LOC:**
        - Paris, Rome

    A line that is only one of the user's labels opens a section; the lines after it that are no item of
    their own are its mentions, split on commas as in ``LOC: Paris, Rome``. A blank line after some
    mentions closes it, so a closing sentence is not read as one more mention.
    """

    def __init__(self) -> None:
        self.label: str | None = None
        self.filled = False

    def starts(self, line: str, resolve: "LabelResolver") -> bool:
        if not line:
            if self.filled:
                self.label, self.filled = None, False
            return False
        name = _heading_name(line)
        if name and resolve(name) is not None and len(name) <= 40:
            self.label, self.filled = name, False
            return True
        return False

    def items(self, line: str, resolve: "LabelResolver") -> list[list[str]]:
        if self.label is None or not line or len(line) > 100:
            return []
        own = _PAIR_LINE.match(line)  # "MISC: N/A" names its own label, even with no mention: not this section's
        if own and any(resolve(own.group(g).strip(_MARKUP + ".")) is not None for g in ("a", "b")):
            return []
        self.filled = True
        return _line_match_items(_PAIR_LINE.match(f"{self.label}: {line}"), resolve)


_LINE_HEADER = re.compile(r"^[*_]*(?P<word>" + _LEAD_IN + r")\s*[*_]*\s*:\s*[*_]*\s*(?=\S)", re.I)
# the same lead-in as a sentence with no colon: "The named entities in the text are Anna (PER) and ..."
_PROSE_LEAD_IN = re.compile(r"^(?:the\s+)?(?:named\s+)?entit(?:y|ies)(?:\s+in\s+the\s+(?:text|sentence))?"
                            r"\s+(?:are|is|include|includes)\s+(?=\S)", re.I)
_INTERJECTION = re.compile(r"^(?:sure|okay|ok|certainly|of course)\s*[!.,]\s*(?=\S)", re.I)  # "Sure! Paris (LOC)"


def _without_header(line: str, resolve: "LabelResolver") -> str:
    """The line without a lead-in like ``Entities:``, ``**Answer:**`` or ``Sure!`` before its items, which would
    otherwise open the first mention ("Entities: Paris (LOC)" read as a mention "Entities: Paris")."""
    line = _PROSE_LEAD_IN.sub("", _INTERJECTION.sub("", line))
    m = _LINE_HEADER.match(line)
    return line[m.end():] if m and resolve(m.group("word")) is None else line


# the tags that continue a mention: I- (BIO, BIOES, BILOU), M- (BMES), E- (BIOES, BMES end), L- (BILOU last)
_BIO_INSIDE = re.compile(r"^[IMEL][-_]\S", re.I)


def continues_mention(label: str, resolve: "LabelResolver") -> bool:
    """Whether an item's label is an inside or end tag ("I-LOC", "E-LOC") that continues the mention before
    it, as in CoNLL files; a user label that only looks like one ("E_MAIL") starts its own."""
    raw = label.strip()
    return bool(_BIO_INSIDE.match(raw)) and raw.casefold() not in resolve.exact


_SLASH_TOKEN = re.compile(r"^(?P<word>[^/]+)/(?P<tag>[^/]+)$")
_BIO_ANY = re.compile(r"^[BIESLUM][-_]\S", re.I)


def _slash_tagged_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """Per-token items of a sentence re-written as ``word/TAG`` tokens: ``Anna/B-PER Smith/I-PER flew/O``.

    Taken only when every token of the line carries a tag that is ``O`` or one of the user's labels, and
    some tag is a label: ``Paris/LOC`` inside prose leaves its mention's left edge unknown, and a path or
    a date ("1/2") is no tag. Untagged-scheme runs (``New/LOC York/LOC``, IO tags) become ``I-`` so the
    caller joins them to one mention; ``O`` tokens stay as items, so they end the mention before them.
    """
    items: list[list[str]] = []
    previous: str | None = None
    for token in line.split():
        m = _SLASH_TOKEN.match(token)
        if not m or (m.group("tag") != "O" and resolve(m.group("tag")) is None):
            return []
        word, tag = m.group("word"), m.group("tag")
        label = None if tag == "O" else resolve(tag)
        if label is not None and label == previous and not _BIO_ANY.match(tag):
            tag = f"I-{tag}"
        items.append([word, tag])
        previous = label
    return items if any(tag != "O" for _, tag in items) else []


_TUPLE = re.compile(r"""[(\[]\s*(?:"(?P<qa>[^"]+)"|'(?P<sa>[^']+)'|(?P<a>[^,()\[\]"']+?))\s*,"""
                    r"""\s*(?:"(?P<qb>[^"]+)"|'(?P<sb>[^']+)'|(?P<b>[^,()\[\]"']+?))\s*[)\]]""")


def _tuple_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of a line of Python-style pairs: ``("Paris", "LOC"), ("Anna", "PER")`` or ``[Paris, LOC]``.

    Not JSON (parentheses, unquoted words), so the JSON reading rejected it. Taken only when every
    pair on the line names a user label, so ``[Paris, Rome]`` stays for the other readings.
    """
    found = []
    if _TUPLE.sub("", line).strip(" ,;[]()" + _MARKUP):  # words outside the pairs: "Paris (LOC, city)" is no pair
        return []
    for m in _TUPLE.finditer(line):
        mention, label = _item_pair([m.group("qa") or m.group("sa") or m.group("a"),
                                     m.group("qb") or m.group("sb") or m.group("b")], resolve)
        if not (isinstance(mention, str) and isinstance(label, str) and resolve(label.strip()) is not None):
            return []
        found.append([mention.strip(), label.strip()])
    return found


_KEY_LINE = re.compile(r"^\s*(?P<bullet>(?:[-*•]|\d+[.)])\s+)?[*_]*(?P<key>[A-Za-z][A-Za-z _]{0,30}?)[*_]*\s*[:=][*_]*\s*(?P<value>.*?)\s*$")
# a separator before another entity key on the same line: "Entity: Paris, Type: LOC", "text=Paris | label=LOC"
_NEXT_KEY = re.compile(r"\s*[,;|]\s*(?=[*_]*(?:" + "|".join(re.escape(k).replace("_", "[ _]") for k in
                                                            sorted(_RECORD_KEYS, key=len, reverse=True))
                       + r")[*_]*\s*[:=])", re.I)


_TABLE_RULE = re.compile(r"^:?-{2,}:?$")


def _table_cells(line: str) -> list[str] | None:
    line = line.strip()
    if not (line.startswith("|") and line.endswith("|")) or line.count("|") < 3:
        return None
    return [cell.strip().strip(_MARKUP) for cell in line[1:-1].split("|")]


def _table_items(answer: str, resolve: "LabelResolver") -> list[list[str]] | None:
    """Items of a markdown table of three or more columns, or None when the answer has none::

        | # | Entity | Type | Why        |
        |---|--------|------|------------|
        | 1 | Paris  | LOC  | a capital  |

    The header names the mention and type columns (the keys of the JSON shapes: "Entity", "Entity
    type", "Label"); with no header, a row's one cell that is a user label is the type and the first
    other cell that is no row number the mention. Two-column tables read as ``mention | label`` lines.
    """
    rows = [cells for line in answer.splitlines() if (cells := _table_cells(line)) is not None
            and not all(_TABLE_RULE.match(c.replace(" ", "")) for c in cells)]
    if not rows or max(len(r) for r in rows) < 3:
        return None
    names = [re.sub(r"\s+", "_", c.casefold()) for c in rows[0]]
    type_col = next((i for i, n in enumerate(names) if n in _TYPE_KEYS), None)
    span_col = next((i for i, n in enumerate(names) if n in _SPAN_KEYS and i != type_col), None)
    items: list[list[str]] = []
    if type_col is not None and span_col is not None and not any(resolve(c) is not None for c in rows[0]):
        return [[r[span_col], r[type_col]] for r in rows[1:] if len(r) > max(span_col, type_col) and r[span_col]]
    for r in rows:
        hits = [i for i, c in enumerate(r) if c and resolve(c) is not None]
        mentions = [c for i, c in enumerate(r) if c and i not in hits and not re.fullmatch(r"#?\d+[.)]?", c)]
        if len(hits) == 1 and mentions:
            items.append([mentions[0], r[hits[0]]])
    return items or None


def _record_items(answer: str, resolve: "LabelResolver") -> list[list[str]] | None:
    """Items of an answer written as YAML-like records, one key per line, or None when it is not one::

        - span: Paris
          type: LOC

    Read line by line as ``mention: label``, the record's lines would make "span" and "type" the
    mentions. A record starts at a bullet, a blank line or a key it already has; only the entity keys
    count (a user label as the key, ``LOC: Paris``, is the plain-list shape), and the answer is read
    this way only when some record has both a mention and a type.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    lines = [part for line in answer.splitlines()
             for part in (_NEXT_KEY.split(line) if len(line) <= _MAX_LINE else [line])]  # one record per line
    for line in lines:
        m = _KEY_LINE.match(line) if len(line) <= _MAX_LINE else None
        key = m and m.group("key").strip().casefold().replace(" ", "_")
        if not m or key not in _RECORD_KEYS or resolve(m.group("key")) is not None:
            if current:
                records.append(current)
            current = {}
            continue
        if m.group("bullet") or key in current:
            if current:
                records.append(current)
            current = {}
        current[key] = m.group("value").strip(_MARKUP)
    if current:
        records.append(current)
    return _record_pairs(records, resolve)


def _record_pairs(records: list[dict[str, str]], resolve: "LabelResolver") -> list[list[str]] | None:
    """The records' ``[mention, label]`` items, or None when none of them names one of the user's labels."""
    pairs = [_item_pair(r, resolve) for r in records]
    items = [[mention, label] for mention, label in pairs if mention and label]
    return items if any(resolve(label) is not None for _, label in items) else None


_XML_FIELD = re.compile(r"<([A-Za-z][\w-]*)>([^<>]*)</\1>")


def xml_record_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of an answer written as XML records, or ``[]`` when it is not one::

        <entities><entity><text>Paris</text><type>LOC</type></entity></entities>

    Only the entity keys count as fields (``<PER>Anna</PER>`` is the inline-tag shape), a record ends
    where a field it already has comes again, and the answer is taken only when some record has a
    mention and one of the user's labels. ``&amp;`` and the like are unescaped, as the text has them plain.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for m in _XML_FIELD.finditer(answer):
        key = m.group(1).casefold()
        if key not in _RECORD_KEYS:
            continue
        if key in current:
            records.append(current)
            current = {}
        current[key] = html.unescape(m.group(2)).strip()
    if current:
        records.append(current)
    return _record_pairs(records, resolve) or []


_MAX_LINE = 500  # characters of one "mention: label" line; a longer line is prose
_ITEM_SEPARATORS = (re.compile(";"), re.compile(r"\|"),
                    re.compile(r"(?<=[)\]])\s*(?:[,、]\s*(?:and\s+)?|\s(?:and|&|und|et|y|e)\s|[和及与與])\s*", re.I),
                    re.compile(r"(?<=[)\]])\s+[-–—]\s+"), re.compile("[,、]"))


def _several_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of a line that lists several: ``PER: Anna; LOC: Paris``, ``Smith, John (PER), Paris (LOC)``.

    Split on ``;``, ``|``, a comma, "and" or dash after a bracketed label (``Paris (LOC) and Anna (PER)``),
    then any comma, taken only when every part is an item of its own, so ``LOC: Paris, Rome`` and
    ``Washington, D.C. (LOC)`` stay whole.
    """
    for sep in _ITEM_SEPARATORS:
        parts = [p.strip() for p in sep.split(line)]
        if len(parts) > 1:
            found = [_one_line_items(p, resolve) for p in parts]
            if all(found):
                return [item for f in found for item in f]
    return []


def _one_line_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """``Paris (LOC)``, else ``Paris: LOC`` / ``LOC: Paris, Rome``, else ``Paris (LOC) - a city``, else
    ``[LOC] Paris``, else ``Paris B-LOC``, else ``Paris, LOC``: a bracket that names no label is the mention's
    own ("ORG: Acme (Tokyo)")."""
    for pattern in (_PAREN_LINE, _PAIR_LINE, _NOTED_PAREN_LINE, _LABEL_FIRST_LINE, _COLUMN_LINE):
        if (found := _line_match_items(pattern.match(line), resolve)) and not (
                pattern is _PAREN_LINE and _line_match_items(_PAIR_LINE.match(found[0][0]), resolve)):
            return found  # "Anna: PER (Person)" is "Anna: <a label with a note>", not a mention "Anna: PER"
    if outside := _COLUMN_OUTSIDE.match(line):  # an unknown label to the caller, as "saw<TAB>O" is
        return [[outside.group("a"), "O"]]
    csv = _CSV_LINE.match(line)  # only the mention-then-label order: "LOC, Paris" could be a list of two
    return [[csv.group("a").strip(_MARKUP), csv.group("b").strip(_MARKUP + ".")]] if (
        csv and csv.group("a").strip(_MARKUP) and resolve(csv.group("b").strip(_MARKUP + ".")) is not None) else []


# one clause "Anna is a PER", "Paris is a location entity", "张伟是人名", "東京は地名です": a mention, "is", a label,
# then the clause's end
_COPULA = re.compile(
    r"\s*(?:(?:and|also)\s+)?(?P<a>[^.;,:。；，：]+?)"
    r"(?:\s+is\s+(?:(?:an?|the)\s+)?(?:(?:named\s+)?entity\s+of\s+(?:type\s+)?)?|\s*是(?:一个|一個|一家|一位)?|\s*は)"
    r"[*\"'`“”「」]*(?P<b>[^\s.;,:*\"'`“”「」。；，：]+?)[*\"'`“”「」]*(?:\s+(?:entity|type|label)|です|である|だ)?"
    r"\s*(?:[.;,。；，]+|$|(?=\s+and\s))", re.I)
# subjects that say something of the answer, not of a mention: "The answer is PER" must still be re-asked
_NOT_A_MENTION = re.compile(r"^(?:it|this|that|there|here|(?:the|its|my)\s+(?:answer|entity|label|type|result|category|"
                            r"tag|class|output)s?|答案|类型|類型)$", re.I)


_HEDGE = re.compile(r"^\s*(?:I\s+(?:think|believe|guess|would\s+say)|in\s+my\s+(?:opinion|view))(?:\s+that)?,?\s+", re.I)


def _copula_items(line: str, resolve: "LabelResolver") -> list[list[str]]:
    """Items of a line of prose naming each mention's type: ``Anna is a PER. Paris is a LOC.``, ``Anna is a
    person and Paris is a location``, ``张伟是人名，北京是地点``.

    Taken only when the whole line is such clauses and every one names a user label, so "Paris is a
    city" or an explanation ("Paris is a LOC because ...") is no item, and a line whose subject is the
    answer itself ("The answer is PER") is re-asked rather than read as a mention "The answer".
    """
    items: list[list[str]] = []
    pos = 0
    while pos < len(line):
        m = _COPULA.match(line, pos)
        if not m or m.end() == pos:
            return []
        mention, label = _HEDGE.sub("", m.group("a")).strip(_MARKUP), m.group("b")
        if not mention or resolve(label) is None or _NOT_A_MENTION.match(mention):
            return []
        items.append([mention, label])
        pos = m.end()
    return items


# what follows a name after a comma and is no name of its own: "Martin Luther King, Jr.", "Acme, Inc.", "Washington, D.C."
_NAME_SUFFIX = re.compile(r"^(?:jr|sr|inc|ltd|llc|llp|lp|co|corp|plc|gmbh|ag|sa|nv|bv|spa|pty|d\.\s?c|ii|iii|iv|esq"
                          r"|ph\.?\s?d|m\.?\s?d)\.?$", re.I)


def split_listed(mentions: str) -> list[str]:
    """The names of a ``LABEL: a, b; c`` list, a suffix after a comma kept with its name ("Acme, Inc.")."""
    out: list[str] = []
    for part in re.split(r"([,;、])", mentions):
        if part in (",", ";", "、"):
            continue
        if out and part.strip() and _NAME_SUFFIX.match(part.strip()):
            out[-1] = f"{out[-1]},{part}"
        else:
            out.append(part)
    return out


def _line_match_items(m: "re.Match[str] | None", resolve: "LabelResolver") -> list[list[str]]:
    if not m:
        return []
    a, b = m.group("a").strip(_MARKUP), m.group("b").strip(_MARKUP + ".")
    if a and b and resolve(b) is not None:
        return [[a, b]]
    if a and b and resolve(a) is not None:  # LOC: Paris, Rome / ORG: ==NONE== (spacy-llm's marker); the
        mentions = m.group("b").strip(_MARKUP)  # full stop is the mention's to lose ("Rome.") or keep ("Foo Ltd.")
        return [[m_, a] for mention in split_listed(mentions)
                if (m_ := mention.strip(_MARKUP)) and not _empty_value(m_.strip("=-–—"))]
    return []


def _none_per_label(answer: str, resolve: "LabelResolver") -> bool:
    """Whether every line of ``answer`` gives one of the user's labels no mention (``LOC: None``, ``PER: -``,
    ``ORG:``, or a ``### PER`` section holding only "None"): the plain-list shape's way of saying "no
    entities", which the whole-answer "None" reading misses."""
    lines = [_BULLET.sub("", line).strip().strip(_MARKUP) for line in answer.splitlines() if line.strip()]

    def says_none(line: str) -> bool:
        label, sep, value = line.partition(":")
        return (bool(sep) and resolve(label.strip(_MARKUP)) is not None
                and _empty_value(value.strip(_MARKUP + ".=-–—")))

    heading = said = False  # "### PER\n- None": a markdown section with no mentions
    for line in lines:
        if resolve(_heading_name(line)) is not None:
            heading = True
        elif says_none(line) or (heading and _empty_value(line.strip(_MARKUP + ".=-–—") or "none")):
            said = True
        else:
            return False
    return said


_XML_TAG = re.compile(r"<([^\W\d][\w.-]*)>([^<>]+?)</\1>")  # any script's letters: <人名>张伟</人名>
_XML_ATTR_TAG = re.compile(r"""<([A-Za-z][\w.-]*)\s+(?:type|label|class|category|tag|entity_type)\s*=\s*["']([^"'<>]+)["']"""
                           r"[^<>]*>([^<>]+?)</\1>")
_MD_LINK = re.compile(r"\[([^\[\]]+)\]\(([^()]+)\)")
_BRACKET_TAG = re.compile(r"\[([^\[\]\s|]+)\s+([^\[\]|]+)\](?!\()")  # "[PER Anna Smith]", the CoNLL bracket notation
_PIPE_TAG = re.compile(r"\[([^\[\]|]+)\|([^\[\]|]+)\]")  # "[Anna|PER]" (also "[PER|Anna]")


def _inline_items(answer: str, resolve: "LabelResolver") -> list[list[str]]:
    """``[mention, label]`` items from a sentence re-written with inline tags, another way models
    ignore the format: ``<PER>Anna</PER> flew to <LOC>Paris</LOC>``, ``<entity type="LOC">Paris</entity>``,
    ``[Anna](PER)``, ``[PER Anna]`` (CoNLL's bracket notation) or ``[Anna|PER]``, in answer order. Only
    tags that name a user label count, so HTML or links in prose are not read as entities."""
    tagged = [(m.start(), m.group(2), m.group(1)) for m in _XML_TAG.finditer(answer)]
    tagged += [(m.start(), m.group(3), m.group(2)) for m in _XML_ATTR_TAG.finditer(answer)]
    tagged += [(m.start(), m.group(1), m.group(2)) for m in _MD_LINK.finditer(answer)]
    tagged += [(m.start(), m.group(2), m.group(1)) for m in _BRACKET_TAG.finditer(answer)]
    tagged += [(m.start(), *_item_pair([m.group(1).strip(), m.group(2).strip()], resolve))
               for m in _PIPE_TAG.finditer(answer)]
    return [[mention.strip(), label.strip()] for _, mention, label in sorted(tagged)
            if mention.strip() and resolve(label.strip()) is not None]


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
        if isinstance(mention, dict):  # a Label Studio result: {"type": "labels", "value": {"text": ..., "labels": [...]}}
            return _item_pair(mention, resolve)
        if label is None:
            # {"entity": "B-LOC", "word": "Paris"} (the Hugging Face pipeline's per-token output), {"text": "Anna",
            # "entity": "PER"}: the label sits under one of the mention keys, the mention under another
            values = [v for k, v in item.items() if str(k).casefold() in _SPAN_KEYS and isinstance(v, str)]
            labels = [v for v in values if resolve(v) is not None]
            others = [v for v in values if resolve(v) is None]
            if len(labels) == 1 and others:
                mention, label = others[0], labels[0]
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
    A type given as an object (``{"type": {"id": 3, "name": "PER"}}``, a schema-minded model's) is its name.
    """
    folded = {str(k).casefold(): _label_name(_single(v)) for k, v in item.items()}
    present = [folded[k] for k in _TYPE_KEYS if k in folded]
    return next((v for v in present if isinstance(v, str) and resolve(v) is not None), present[0] if present else None)


_LABEL_NAME_KEYS = ("name", "label", "type", "value", "tag")


def _label_name(value: Any) -> Any:
    """A type written as an object (``{"name": "PER"}``, ``{"id": 3, "label": "PER"}``): its name, else ``value``."""
    if isinstance(value, dict):
        name = _single(_pick(value, _LABEL_NAME_KEYS))
        return name if isinstance(name, str) else value
    return value
