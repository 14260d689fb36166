"""The plain-text shapes of an NER answer, read as ``[mention, label]`` items: for models that ignore the JSON format.

A list (``Paris: LOC``, ``Paris (LOC)``, ``LOC: Paris, Rome``, bullets, CJK punctuation), label headings
with their mentions under them, YAML-like and XML records, markdown tables, CoNLL columns and
``word/TAG`` tokens, prose that names each mention's type (``Anna is a PER.``) and the sentence re-written
with inline tags (``<PER>Anna</PER>``). A line counts only when it names one of the user's labels, so
prose lines are ignored and the answer is re-asked rather than read as "no entities". The JSON shapes
and the keys an item is read by live in ``answer_shapes``.
"""

from __future__ import annotations

import re
from typing import Any

from llmaaa.annotate.answer_records import _MARKUP, _MAX_LINE, _record_items, _table_items
from llmaaa.annotate.answer_shapes import _LEAD_IN, _empty_value, _item_pair
from llmaaa.annotate.labels import LabelResolver


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
    heading = _Heading()
    for line in answer.splitlines():
        line = _BULLET.sub("", line).strip().strip("|").strip()  # a markdown table row: | Paris | LOC |
        line = _without_header(line, resolve)
        if len(line) > _MAX_LINE or line.startswith("{"):  # prose, or a degenerate run of spaces (_PAIR_LINE is
            continue                                       # quadratic on it); an object JSON already rejected
        if heading.starts(line, resolve):
            continue
        found = (_tuple_items(line, resolve) or _slash_tagged_items(line, resolve)
                 or _inline_items(line, resolve)  # "[Anna](PER) and [Bob](PER)" is
                 or _several_items(line, resolve) or _one_line_items(line, resolve)  # no "mention (LABEL)" line
                 or _copula_items(line, resolve) or heading.items(line, resolve))
        # "New<TAB>B-LOC" / "York<TAB>I-LOC" stay two items, their tags kept: ``parse_ner_answer`` joins an
        # inside tag to the mention before it where the text holds the two together
        items += found
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


def item_pair(item: Any, resolve: "LabelResolver") -> tuple[Any, Any]:
    """``answer_shapes._item_pair`` of a JSON list's item, a string item read as the one ``[mention, label]``
    line it holds (``["Anna (PER)", "Paris: LOC"]``)."""
    if isinstance(item, str) and len(lines := _line_items(item, resolve)) == 1:
        item = lines[0]
    return _item_pair(item, resolve)
