"""Other annotation tools' JSONL records read as our schema, so their labels are not lost.

Why: ``Example.from_dict`` keeps unknown keys in ``extra``, so a doccano or Prodigy export was
read as examples with *no entities*, silently; a gold demo file read that way teaches the teacher
to find nothing. Shapes read here (char offsets are kept exactly; token files get the offsets of
their tokens joined by ``scripts.token_separator``):

- doccano sequence labeling: ``"label"`` (or ``"labels"``) ``[[start, end, label], ...]``; a
  text-classification ``"label": ["positive"]`` is no span and stays in ``extra``;
- doccano relations: ``entities`` with ``start_offset``/``end_offset``, relations
  ``from_id``/``to_id``/``type`` naming entity ids;
- Prodigy ``spans`` and spaCy ``doc.to_json()`` ``ents`` (``{start, end, label}``), Prodigy relations
  (``head_span``/``child_span``); records answered ``reject`` or ``ignore`` are not gold and skipped;
- Label Studio's JSON-MIN export: ``"label"`` (the control's name) ``[{start, end, text, labels: [...]}]``;
- Hugging Face token classification: ``tokens`` + ``ner_tags`` (or ``tags``) as tag names: prefixed
  (BIO, BIOES, ...) or IO (``PER``, ``LOC``: a run of one label is one entity), ``X`` and ``-`` as ``O``;
  part-of-speech tags (Universal or Penn Treebank) are no entities;
- TACRED, TACREV and Re-TACRED: ``token`` with ``subj_start``/``subj_end``/``obj_start``/``obj_end`` (0-based,
  end inclusive), ``subj_type``/``obj_type`` and ``relation``: one subject/object pair to classify.
  Their files are one JSON array (``array_format``), or JSON Lines.

The token-list formats (Hugging Face, TACRED) are converted in ``token_formats``.

A record in our own schema is never changed. A shape that is only half there (a doccano label
that is no triple, integer tags, a relation naming no entity) is a ``SchemaError`` naming the
example and the format it looked like, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from llmaaa.data.format_checks import context, is_int, listed, no_relations, without
from llmaaa.data.schema import SchemaError
from llmaaa.data.token_formats import (HUGGING_FACE, TACRED, is_outside, pos_tags, tacred_keys, tacred_record,
                                       tag_key, tokens_and_tags)

DOCCANO = "doccano (label: [start, end, label])"
DOCCANO_RELATIONS = "doccano relations (entities with start_offset/end_offset)"
PRODIGY = "Prodigy (spans)"
SPACY = "spaCy (ents)"
LABEL_STUDIO_MIN = "Label Studio JSON-MIN (label: [{start, end, labels}])"

_NOT_GOLD = ("reject", "ignore")
Converter = Callable[[Mapping[str, Any], Any], dict[str, Any]]
_PRODIGY_MARKS = ("_input_hash", "_task_hash", "_view_id")


@dataclass(frozen=True)
class Record:
    """A JSON line ready for ``Example.from_dict``: ``data`` in our schema, the foreign ``format``
    it was read as (``None``: ours, untouched), or why it is no example at all (``skip``)."""

    data: Any
    format: str | None = None
    skip: str | None = None


def as_schema(record: Any, *, default_id: str) -> Record:
    """``record`` in our schema; raise ``SchemaError`` for a foreign shape that is only half there."""
    if not isinstance(record, Mapping):
        return Record(record)  # from_dict says what is wrong with it
    ex_id = record.get("id", default_id)
    if _is_doccano_relations(record.get("entities")):
        return Record(_doccano_relations(record, ex_id), DOCCANO_RELATIONS)
    if "entities" in record:
        _check_ours(record, ex_id)
        return Record(record)
    if record.get("answer") in _NOT_GOLD and ("spans" in record or any(k in record for k in _PRODIGY_MARKS)):
        return Record(record, PRODIGY, skip=f"Prodigy answer {record['answer']!r}")
    found = _formats(record)
    if len(found) > 1:
        raise SchemaError(f"example {ex_id!r} looks like {' and like '.join(name for name, _ in found)}; "
                          "keep the keys of one format (or write 'entities' in llmaaa's schema)")
    if not found:
        return Record(record)
    name, convert = found[0]
    return Record(convert(record, ex_id), name)


def _formats(record: Mapping[str, Any]) -> list[tuple[str, Converter]]:
    """The foreign formats whose keys ``record`` has, with their converters."""
    found: list[tuple[str, Converter]] = []
    if _doccano_keys(record):
        found.append((DOCCANO, _doccano))
    if _ls_min_keys(record):
        found.append((LABEL_STUDIO_MIN, _ls_min))
    if "spans" in record or ("ents" not in record and _prodigy_relations(record.get("relations"))):
        found.append((PRODIGY, _span_objects))
    if "ents" in record:
        found.append((SPACY, _span_objects))
    key = tag_key(record)
    if key is not None:
        found.append((HUGGING_FACE.format(key=key), tokens_and_tags))
    if tacred_keys(record):
        found.append((TACRED, tacred_record))
    return found


def array_format(records: Any) -> str | None:
    """The format of a file that is one JSON array, when it is one shipped that way and read here (TACRED and its
    revisions, a record of which has TACRED's keys); None for any other array, such as a Label Studio "JSON"
    export, which ``ml_backend convert`` reads."""
    if isinstance(records, list) and any(isinstance(r, Mapping) and tacred_keys(r) for r in records):
        return TACRED
    return None


def _check_ours(record: Mapping[str, Any], ex_id: Any) -> None:
    """Our ``entities`` win over any foreign key; but an *empty* ``entities`` beside foreign spans is
    two answers to "which labels?" (the foreign ones would be dropped silently): doccano, Prodigy, spaCy,
    Hugging Face tags and JSON-MIN regions alike."""
    if record["entities"]:
        return
    for name, _ in _formats(record):
        keys = {DOCCANO: _doccano_keys(record), PRODIGY: ["spans"], SPACY: ["ents"],
                LABEL_STUDIO_MIN: _ls_min_keys(record), TACRED: ["token"]}.get(name, [])
        if name.startswith(HUGGING_FACE.split(" (")[0]):
            key = tag_key(record)
            tags = record[key] if key else None
            labelled = isinstance(tags, list) and not all(is_outside(t) for t in tags) and not pos_tags(tags)
            keys = [key] if labelled else []
        for key in keys:
            if record.get(key):
                raise SchemaError(f"example {ex_id!r} has an empty 'entities' and {name} labels in {key!r}; "
                                  "remove one of them so the labels are not read as none")


# doccano sequence labeling -------------------------------------------------------------------

def _doccano_keys(record: Mapping[str, Any]) -> list[str]:
    """``label``/``labels`` holding lists (span triples); a list of strings is text classes, not spans."""
    return [k for k in ("label", "labels")
            if isinstance(record.get(k), list) and any(isinstance(x, list) for x in record[k])]


def _doccano(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    keys = _doccano_keys(record)
    if len(keys) > 1:
        raise SchemaError(f"{context(DOCCANO, ex_id)} it has spans in both 'label' and 'labels'; keep one")
    key, entities = keys[0], []
    for item in record[key]:
        if not (isinstance(item, list) and len(item) == 3 and is_int(item[0]) and is_int(item[1])
                and isinstance(item[2], str)):
            raise SchemaError(f"{context(DOCCANO, ex_id)} {key!r} holds {item!r}, not [start, end, label] "
                              "(two integers and a string)")
        entities.append({"start": item[0], "end": item[1], "label": item[2]})
    no_relations(record, DOCCANO, ex_id)
    return {**without(record, key), "entities": entities}


# Label Studio JSON-MIN --------------------------------------------------------------------------

def _ls_min_keys(record: Mapping[str, Any]) -> list[str]:
    """Keys holding Label Studio region objects (``{"start", "end", "labels": [...]}``): JSON-MIN names the
    key after the ``<Labels>`` control, "label" by default."""
    return [k for k, v in record.items() if isinstance(v, list) and v and all(
        isinstance(x, Mapping) and "start" in x and "end" in x and isinstance(x.get("labels"), list) for x in v)]


def _ls_min(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    keys = _ls_min_keys(record)
    if len(keys) > 1:
        raise SchemaError(f"{context(LABEL_STUDIO_MIN, ex_id)} it has regions under {keys!r}; keep one control")
    entities = []
    for r in record[keys[0]]:
        if not (is_int(r["start"]) and is_int(r["end"]) and len(r["labels"]) == 1 and isinstance(r["labels"][0], str)):
            raise SchemaError(f"{context(LABEL_STUDIO_MIN, ex_id)} region {dict(r)!r} has no integer start and end "
                              "and one label")
        entities.append({"start": r["start"], "end": r["end"], "label": r["labels"][0],
                         **({"text": r["text"]} if isinstance(r.get("text"), str) else {})})
    no_relations(record, LABEL_STUDIO_MIN, ex_id)
    return {**without(record, keys[0]), "entities": entities}


# doccano relation export ---------------------------------------------------------------------

def _is_doccano_relations(entities: Any) -> bool:
    return isinstance(entities, list) and any(
        isinstance(e, Mapping) and ("start_offset" in e or "end_offset" in e) for e in entities)


def _doccano_relations(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    ctx = context(DOCCANO_RELATIONS, ex_id)
    entities, index = [], {}
    for e in record["entities"]:
        if not (isinstance(e, Mapping) and is_int(e.get("start_offset")) and is_int(e.get("end_offset"))
                and isinstance(e.get("label"), str)):
            raise SchemaError(f"{ctx} entity {e!r} has no integer 'start_offset'/'end_offset' and string 'label'")
        if "id" in e:
            if e["id"] in index:
                raise SchemaError(f"{ctx} two entities have id {e['id']!r}")
            index[e["id"]] = len(entities)
        entities.append({"start": e["start_offset"], "end": e["end_offset"], "label": e["label"]})
    relations = []
    for r in listed(record, "relations", ctx):
        if not (isinstance(r, Mapping) and "from_id" in r and "to_id" in r and isinstance(r.get("type"), str)):
            raise SchemaError(f"{ctx} relation {r!r} has no 'from_id', 'to_id' and string 'type'")
        for end in ("from_id", "to_id"):
            if r[end] not in index:
                raise SchemaError(f"{ctx} relation {r!r}: {end} {r[end]!r} is the id of none of its entities")
        relations.append({"head": index[r["from_id"]], "tail": index[r["to_id"]], "label": r["type"]})
    return {**record, "entities": entities, "relations": relations}


# Prodigy and spaCy ---------------------------------------------------------------------------

def _prodigy_relations(relations: Any) -> bool:
    return isinstance(relations, list) and any(
        isinstance(r, Mapping) and any(k in r for k in ("child", "head_span", "child_span")) for r in relations)


def _span_objects(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    """Prodigy ``spans`` or spaCy ``ents`` (char offsets; token_start/token_end are not needed)."""
    key, name = ("spans", PRODIGY) if "spans" in record or "ents" not in record else ("ents", SPACY)
    ctx = context(name, ex_id)
    entities = [_span(s, ctx, key) for s in listed(record, key, ctx)]
    out: dict[str, Any] = {**without(record, key), "entities": entities}
    relations = record.get("relations")
    if relations:
        if not _prodigy_relations(relations):
            raise SchemaError(f"{ctx} its 'relations' are not Prodigy's (head_span, child_span, label); "
                              "write the record in llmaaa's schema to give relations by entity index")
        out["relations"] = [_prodigy_relation(r, entities, ctx) for r in relations]
    if "tokens" in record:
        out["tokens"] = _token_offsets(record["tokens"], ctx)
    return out


def _span(s: Any, ctx: str, key: str) -> dict[str, Any]:
    if not (isinstance(s, Mapping) and is_int(s.get("start")) and is_int(s.get("end"))
            and isinstance(s.get("label"), str)):
        raise SchemaError(f"{ctx} {key!r} holds {s!r}, not {{'start': int, 'end': int, 'label': str}}")
    span = {"start": s["start"], "end": s["end"], "label": s["label"]}
    if isinstance(s.get("text"), str):
        span["text"] = s["text"]  # from_dict checks the offsets select it
    return span


def _prodigy_relation(r: Any, entities: list[dict[str, Any]], ctx: str) -> dict[str, Any]:
    """head/child spans found among the entities by (start, end), added when not listed."""
    if not (isinstance(r, Mapping) and isinstance(r.get("label"), str)
            and isinstance(r.get("head_span"), Mapping) and isinstance(r.get("child_span"), Mapping)):
        raise SchemaError(f"{ctx} relation {r!r} has no 'head_span', 'child_span' and string 'label'")
    ends = []
    for key in ("head_span", "child_span"):
        s = r[key]
        if not (is_int(s.get("start")) and is_int(s.get("end"))):
            raise SchemaError(f"{ctx} relation {r['label']!r}: {key} {s!r} has no integer 'start' and 'end'")
        same = [i for i, e in enumerate(entities) if (e["start"], e["end"]) == (s["start"], s["end"])]
        same.sort(key=lambda i: entities[i]["label"] != s.get("label"))  # the one with its label first
        if not same:
            if not isinstance(s.get("label"), str):
                raise SchemaError(f"{ctx} relation {r['label']!r}: {key} {s!r} is none of its spans and has no "
                                  "label, so it cannot be an entity; label the span in Prodigy")
            entities.append({"start": s["start"], "end": s["end"], "label": s["label"]})
            same = [len(entities) - 1]
        ends.append(same[0])
    return {"head": ends[0], "tail": ends[1], "label": r["label"]}


def _token_offsets(tokens: Any, ctx: str) -> list[list[int]]:
    """Prodigy/spaCy token objects as ``[start, end]``: what ``extra["tokens"]`` means in llmaaa
    (``write_conll`` rebuilds tags from it)."""
    if not isinstance(tokens, list) or not all(
            isinstance(t, Mapping) and is_int(t.get("start")) and is_int(t.get("end")) for t in tokens):
        raise SchemaError(f"{ctx} its 'tokens' are not objects with integer 'start' and 'end'")
    return [[t["start"], t["end"]] for t in tokens]
