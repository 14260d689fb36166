"""The one data model every part of llmaaa speaks: an *example* with char-offset spans and relations.

Offsets are Python string indices (code points), end exclusive, so ``text[start:end]`` is the
mention for any script: English, Chinese without spaces, accents, emoji. Relations point at
entities by index into ``Example.entities``. Anything else a reader or user attached (tokens,
ids from another system, ``pairs`` for RE, the teacher's ``annotation`` record) is kept in
``extra`` and written back untouched, so a round trip through llmaaa loses nothing.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Mapping, Sequence

from llmaaa.data.scripts import inside_word

NO_RELATION = "no_relation"


class SchemaError(ValueError):
    """An example that cannot be trusted: offsets outside the text, dangling relation indices."""


@dataclass(frozen=True)
class Span:
    """A labeled mention ``text[start:end]``; ``score`` is a model's confidence when known."""

    start: int
    end: int
    label: str
    score: float | None = None

    def key(self) -> tuple[int, int, str]:
        return (self.start, self.end, self.label)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"start": self.start, "end": self.end, "label": self.label}
        if self.score is not None:
            d["score"] = self.score
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Span":
        score = d.get("score")
        return cls(_index(d, "start", "entity"), _index(d, "end", "entity"), _label(d, "entity"),
                   None if score is None else float(score))


@dataclass(frozen=True)
class Relation:
    """A directed relation from ``entities[head]`` to ``entities[tail]``."""

    head: int
    tail: int
    label: str
    score: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"head": self.head, "tail": self.tail, "label": self.label}
        if self.score is not None:
            d["score"] = self.score
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Relation":
        score = d.get("score")
        return cls(_index(d, "head", "relation"), _index(d, "tail", "relation"), _label(d, "relation"),
                   None if score is None else float(score))


@dataclass(frozen=True)
class Example:
    """One text with its labels. Immutable: labeling returns a new example (``with_labels``)."""

    id: str
    text: str
    entities: tuple[Span, ...] = ()
    relations: tuple[Relation, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entities", tuple(self.entities))
        object.__setattr__(self, "relations", tuple(self.relations))

    def mention(self, span: Span) -> str:
        return self.text[span.start : span.end]

    def validate(self) -> "Example":
        """Raise ``SchemaError`` unless every offset and index is inside the example."""
        n = len(self.text)
        for s in self.entities:
            if not (0 <= s.start < s.end <= n):
                raise SchemaError(
                    f"example {self.id!r}: span [{s.start}, {s.end}) {s.label!r} is outside a text of {n} chars"
                )
        m = len(self.entities)
        for r in self.relations:
            if not (0 <= r.head < m and 0 <= r.tail < m) or r.head == r.tail:
                raise SchemaError(
                    f"example {self.id!r}: relation {r.label!r} ({r.head} -> {r.tail}) must join two of its {m} entities"
                )
        return self

    def with_labels(
        self,
        entities: Iterable[Span] | None = None,
        relations: Iterable[Relation] | None = None,
        **extra: Any,
    ) -> "Example":
        """A copy with new labels; keyword arguments are merged into ``extra`` (e.g. ``annotation=``)."""
        return replace(
            self,
            entities=self.entities if entities is None else tuple(entities),
            relations=self.relations if relations is None else tuple(relations),
            extra={**self.extra, **extra},
        )

    @property
    def annotation(self) -> Mapping[str, Any] | None:
        """The labeler's record (source, model, demo ids, usage, error) when one labeled this example."""
        return self.extra.get("annotation")

    @property
    def unlabeled_pairs(self) -> frozenset[tuple[int, int]]:
        """Ordered entity pairs whose relation is unknown: the labeler did not ask (a long text's pair split
        across pieces) or a human linked them without a label. Neither ``no_relation`` nor a relation: not
        trained on, not a demo, not scored."""
        listed = (self.annotation or {}).get("unlabeled_pairs") or ()
        out = set()
        for pair in listed if isinstance(listed, (list, tuple)) else ():
            try:
                out.add((int(pair[0]), int(pair[1])))
            except (TypeError, ValueError, IndexError, KeyError):
                continue
        return frozenset(out)

    @property
    def failed(self) -> bool:
        """True when a labeler tried and failed: its empty labels mean "unknown", not "none"."""
        ann = self.annotation
        return bool(ann and ann.get("error"))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "id": self.id,
            "text": self.text,
            "entities": [s.to_dict() for s in self.entities],
            "relations": [r.to_dict() for r in self.relations],
        }
        for k, v in self.extra.items():
            d.setdefault(k, v)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], *, default_id: str | None = None) -> "Example":
        if not isinstance(d, Mapping):
            raise SchemaError(f"an example must be a JSON object, got {type(d).__name__}")
        if not isinstance(d.get("text"), str):
            raise SchemaError(f"example {d.get('id', default_id)!r} has no string 'text'")
        ex_id = d.get("id", default_id)
        if ex_id is None:
            raise SchemaError("example has no 'id'")
        extra = {k: v for k, v in d.items() if k not in ("id", "text", "entities", "relations")}
        entity_dicts = _objects(d, "entities", ex_id)
        relation_dicts = _by_entity_id(_objects(d, "relations", ex_id), entity_dicts, ex_id)
        try:
            entities = tuple(Span.from_dict(s) for s in entity_dicts)
            relations = tuple(Relation.from_dict(r) for r in relation_dicts)
        except SchemaError as e:
            raise SchemaError(f"example {ex_id!r}: {e}") from None
        ex = cls(id=str(ex_id), text=d["text"], entities=entities, relations=relations, extra=extra)
        for span, given in zip(ex.entities, entity_dicts):
            _check_mention(ex, span, given.get("text"))
        if ex.entities and not any(isinstance(g.get("text"), str) for g in entity_dicts):
            _check_units(ex)
        return ex.validate()


def _objects(d: Mapping[str, Any], key: str, ex_id: Any) -> list[Mapping[str, Any]]:
    """``d[key]`` as a list of JSON objects (missing or null: none); anything else is a ``SchemaError``."""
    items = d.get(key) or []
    if not isinstance(items, list) or not all(isinstance(x, Mapping) for x in items):
        raise SchemaError(f"example {ex_id!r}: {key!r} must be a list of objects like "
                          f"{{'start': 0, 'end': 5, 'label': 'X'}}, got {items!r}"[:300])
    return items


def _by_entity_id(relations: list[Mapping[str, Any]], entities: list[Mapping[str, Any]],
                  ex_id: Any) -> list[Mapping[str, Any]]:
    """An example's relations with ``head``/``tail`` as entity indexes, read one way for the whole example.

    When every entity has a distinct ``id`` and every relation names two of them (brat's "T1", or 1, 2, 3),
    they are ids, as the README documents ("relations may name entity ids"), even where they would also be
    valid indexes: a file that numbers its entities from 1 would otherwise have each relation read one
    entity off. Else, when every end is a valid index, they are indexes. One reading per example: decided
    per relation, ``{head: 0, tail: 2}`` and ``{head: 1, tail: 2}`` could be read one each way, silently
    joining the wrong entities; a mix that neither reading covers is a ``SchemaError``.
    """
    ids = [e.get("id") for e in entities]
    if not relations or not entities or any(i is None for i in ids) or len({str(i) for i in ids}) < len(ids):
        return relations  # no ids to name: indexes, checked by Relation.from_dict and validate
    by_id = {str(i): k for k, i in enumerate(ids)}

    def as_id(r: Mapping[str, Any]) -> bool:
        return all(r.get(end) is not None and str(r[end]) in by_id for end in ("head", "tail"))

    def as_index(r: Mapping[str, Any]) -> bool:
        try:
            return all(0 <= _index(r, end, "relation") < len(entities) for end in ("head", "tail"))
        except SchemaError:
            return False

    if all(as_id(r) for r in relations):
        return [{**r, "head": by_id[str(r["head"])], "tail": by_id[str(r["tail"])]} for r in relations]
    if all(as_index(r) for r in relations):
        return relations
    bad = next((r for r in relations if not as_id(r) and not as_index(r)), None)
    if bad is not None:
        raise SchemaError(f"example {ex_id!r}: relation {dict(bad)!r} names neither two of its entity ids "
                          f"{ids!r} nor two entity indexes (0 to {len(entities) - 1})")
    by_ids = next(r for r in relations if not as_index(r))
    by_index = next(r for r in relations if not as_id(r))
    raise SchemaError(f"example {ex_id!r}: relation {dict(by_ids)!r} names entity ids but relation "
                      f"{dict(by_index)!r} entity indexes; give every relation's head and tail one way")


def _label(d: Mapping[str, Any], what: str) -> str:
    """A span's or relation's label, without surrounding whitespace. Why: "PER " was kept as a label of
    its own and "" was accepted, and both broke the CoNLL round trip ("B-PER " split as another type, "B-"
    refused when read back)."""
    label = d.get("label", d.get("type"))
    if label is None:
        raise SchemaError(f"{what} {dict(d)!r} has no 'label'")
    label = str(label).strip()
    if not label:
        raise SchemaError(f"{what} {dict(d)!r} has an empty 'label'; give it a label or remove it")
    return label


def _index(d: Mapping[str, Any], key: str, what: str) -> int:
    """An integer offset or entity index. Why strict: ``int()`` read 2.7 as 2 and ``true`` as 1,
    so a file written with float offsets (or a wrong field) was silently shifted."""
    if key not in d:
        raise SchemaError(f"{what} {dict(d)!r} has no {key!r}")
    value = d[key]
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SchemaError(f"{what} {dict(d)!r}: {key!r} must be an integer, got {value!r}")
    if isinstance(value, float) and not value.is_integer():
        raise SchemaError(f"{what} {dict(d)!r}: {key!r} must be an integer, got {value!r}")
    try:
        return int(value)
    except ValueError:
        raise SchemaError(f"{what} {dict(d)!r}: {key!r} must be an integer, got {value!r}") from None


def _ragged(text: str, start: int, end: int) -> bool:
    """A span that cuts a word or starts/ends on whitespace: how offsets in the wrong unit land.

    Between two characters of a script written without spaces (Chinese, Japanese, Thai, Korean inside a
    phrase) every boundary may be a word's: a span there cuts nothing, so a Chinese span after an emoji is
    not taken for UTF-16-counted.
    """
    if not (0 <= start < end <= len(text)):
        return True
    piece = text[start:end]
    return (piece != piece.strip() or (start > 0 and inside_word(text[start - 1], text[start]))
            or (end < len(text) and inside_word(text[end - 1], text[end])))


def _unit_offsets(text: str, encoding: str, width: int) -> dict[int, int]:
    """Code-point index of each offset counted in ``encoding`` units of ``width`` bytes."""
    out, pos = {0: 0}, 0
    for i, ch in enumerate(text):
        pos += len(ch.encode(encoding)) // width
        out[pos] = i + 1
    return out


def _check_units(ex: Example) -> None:
    """Offsets with no mention text to check them by: when the text has characters that UTF-16 or UTF-8
    counts differently and the spans land ragged as code points but clean in one of those units, the file
    counted in those units (JavaScript, Java, Rust tools); raise rather than label the wrong characters."""
    text = ex.text
    if text.isascii() or not any(_ragged(text, s.start, s.end) for s in ex.entities):
        return
    for name, encoding, width in (("UTF-16 units", "utf-16-le", 2), ("UTF-8 bytes", "utf-8", 1)):
        units = _unit_offsets(text, encoding, width)
        if all(s.start in units and s.end in units and not _ragged(text, units[s.start], units[s.end])
               for s in ex.entities):
            s = next(s for s in ex.entities if _ragged(text, s.start, s.end))
            raise SchemaError(f"example {ex.id!r}: entity [{s.start}, {s.end}) {s.label!r} selects "
                              f"{text[s.start:s.end]!r}; the offsets look counted in {name} "
                              f"({text[units[s.start]:units[s.end]]!r} there): llmaaa counts code points "
                              "(Python string indices)")


def _check_mention(ex: Example, span: Span, given: Any) -> None:
    """Offsets must select the entity's own ``text`` field when it has one (Label Studio and most
    exporters write it). Why: offsets counted in UTF-16 units or bytes (JavaScript, Java, Rust)
    drift after an emoji or accent and would otherwise label the wrong characters silently.
    Unicode normalization (NFC vs NFD) of the field is not a mismatch, nor is whitespace: Label Studio
    saves a region's text with runs of whitespace collapsed and ends trimmed ("Berlin, Germany" for
    "Berlin,  Germany") while its offsets count every character, and such a file was refused whole."""
    if not isinstance(given, str):
        return
    found = ex.text[span.start : span.end]
    nfc_found, nfc_given = unicodedata.normalize("NFC", found), unicodedata.normalize("NFC", given)
    if nfc_found == nfc_given or nfc_found.split() == nfc_given.split() != []:
        return
    where = ex.text.find(given)
    hint = (f"; {given!r} is at [{where}, {where + len(given)}): offsets count code points "
            "(Python string indices), not UTF-16 units or bytes") if where >= 0 else ""
    raise SchemaError(f"example {ex.id!r}: entity [{span.start}, {span.end}) {span.label!r} has text {given!r} "
                      f"but the text there is {found!r}{hint}")


@dataclass(frozen=True)
class LabelSet:
    """The labels of a project, with the one-line descriptions the prompts show the teacher.

    ``relation_labels`` excludes ``no_relation``; it is implied for every RE task.
    """

    entity_labels: tuple[str, ...]
    relation_labels: tuple[str, ...] = ()
    descriptions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entity_labels", tuple(self.entity_labels))
        object.__setattr__(
            self, "relation_labels", tuple(l for l in self.relation_labels if l != NO_RELATION)
        )

    @property
    def relation_classes(self) -> tuple[str, ...]:
        """Relation labels with ``no_relation`` first: the classes of an RE classifier."""
        return (NO_RELATION, *self.relation_labels)

    def describe(self, label: str) -> str:
        return self.descriptions.get(label, "")

    @classmethod
    def from_examples(cls, examples: Sequence[Example], descriptions: Mapping[str, str] | None = None) -> "LabelSet":
        """The labels found in ``examples`` (sorted, so the order does not depend on the data order)."""
        ents = sorted({s.label for ex in examples for s in ex.entities})
        rels = sorted({r.label for ex in examples for r in ex.relations} - {NO_RELATION})
        return cls(tuple(ents), tuple(rels), dict(descriptions or {}))
