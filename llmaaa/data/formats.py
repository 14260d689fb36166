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
  part-of-speech tags (Universal or Penn Treebank) are no entities.

A record in our own schema is never changed. A shape that is only half there (a doccano label
that is no triple, integer tags, a relation naming no entity) is a ``SchemaError`` naming the
example and the format it looked like, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from llmaaa.data.schema import SchemaError
from llmaaa.data.scripts import token_separator
from llmaaa.data.tags import TagError, join_tokens, tags_to_token_spans

DOCCANO = "doccano (label: [start, end, label])"
DOCCANO_RELATIONS = "doccano relations (entities with start_offset/end_offset)"
PRODIGY = "Prodigy (spans)"
SPACY = "spaCy (ents)"
HUGGING_FACE = "Hugging Face (tokens + {key})"
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
    key = _tag_key(record)
    if key is not None:
        found.append((HUGGING_FACE.format(key=key), _tokens_and_tags))
    return found


def _check_ours(record: Mapping[str, Any], ex_id: Any) -> None:
    """Our ``entities`` win over any foreign key; but an *empty* ``entities`` beside foreign spans is
    two answers to "which labels?" (the foreign ones would be dropped silently): doccano, Prodigy, spaCy,
    Hugging Face tags and JSON-MIN regions alike."""
    if record["entities"]:
        return
    for name, _ in _formats(record):
        keys = {DOCCANO: _doccano_keys(record), PRODIGY: ["spans"], SPACY: ["ents"],
                LABEL_STUDIO_MIN: _ls_min_keys(record)}.get(name, [])
        if name.startswith(HUGGING_FACE.split(" (")[0]):
            key = _tag_key(record)
            tags = record[key] if key else None
            labelled = isinstance(tags, list) and not all(_outside(t) for t in tags) and not _pos_tags(tags)
            keys = [key] if labelled else []
        for key in keys:
            if record.get(key):
                raise SchemaError(f"example {ex_id!r} has an empty 'entities' and {name} labels in {key!r}; "
                                  "remove one of them so the labels are not read as none")


def _context(name: str, ex_id: Any) -> str:
    return f"example {ex_id!r} looks like {name}, but"


# doccano sequence labeling -------------------------------------------------------------------

def _doccano_keys(record: Mapping[str, Any]) -> list[str]:
    """``label``/``labels`` holding lists (span triples); a list of strings is text classes, not spans."""
    return [k for k in ("label", "labels")
            if isinstance(record.get(k), list) and any(isinstance(x, list) for x in record[k])]


def _doccano(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    keys = _doccano_keys(record)
    if len(keys) > 1:
        raise SchemaError(f"{_context(DOCCANO, ex_id)} it has spans in both 'label' and 'labels'; keep one")
    key, entities = keys[0], []
    for item in record[key]:
        if not (isinstance(item, list) and len(item) == 3 and _is_int(item[0]) and _is_int(item[1])
                and isinstance(item[2], str)):
            raise SchemaError(f"{_context(DOCCANO, ex_id)} {key!r} holds {item!r}, not [start, end, label] "
                              "(two integers and a string)")
        entities.append({"start": item[0], "end": item[1], "label": item[2]})
    _no_relations(record, DOCCANO, ex_id)
    return {**_without(record, key), "entities": entities}


# Label Studio JSON-MIN --------------------------------------------------------------------------

def _ls_min_keys(record: Mapping[str, Any]) -> list[str]:
    """Keys holding Label Studio region objects (``{"start", "end", "labels": [...]}``): JSON-MIN names the
    key after the ``<Labels>`` control, "label" by default."""
    return [k for k, v in record.items() if isinstance(v, list) and v and all(
        isinstance(x, Mapping) and "start" in x and "end" in x and isinstance(x.get("labels"), list) for x in v)]


def _ls_min(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    keys = _ls_min_keys(record)
    if len(keys) > 1:
        raise SchemaError(f"{_context(LABEL_STUDIO_MIN, ex_id)} it has regions under {keys!r}; keep one control")
    entities = []
    for r in record[keys[0]]:
        if not (_is_int(r["start"]) and _is_int(r["end"]) and len(r["labels"]) == 1 and isinstance(r["labels"][0], str)):
            raise SchemaError(f"{_context(LABEL_STUDIO_MIN, ex_id)} region {dict(r)!r} has no integer start and end "
                              "and one label")
        entities.append({"start": r["start"], "end": r["end"], "label": r["labels"][0],
                         **({"text": r["text"]} if isinstance(r.get("text"), str) else {})})
    _no_relations(record, LABEL_STUDIO_MIN, ex_id)
    return {**_without(record, keys[0]), "entities": entities}


# doccano relation export ---------------------------------------------------------------------

def _is_doccano_relations(entities: Any) -> bool:
    return isinstance(entities, list) and any(
        isinstance(e, Mapping) and ("start_offset" in e or "end_offset" in e) for e in entities)


def _doccano_relations(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    ctx = _context(DOCCANO_RELATIONS, ex_id)
    entities, index = [], {}
    for e in record["entities"]:
        if not (isinstance(e, Mapping) and _is_int(e.get("start_offset")) and _is_int(e.get("end_offset"))
                and isinstance(e.get("label"), str)):
            raise SchemaError(f"{ctx} entity {e!r} has no integer 'start_offset'/'end_offset' and string 'label'")
        if "id" in e:
            if e["id"] in index:
                raise SchemaError(f"{ctx} two entities have id {e['id']!r}")
            index[e["id"]] = len(entities)
        entities.append({"start": e["start_offset"], "end": e["end_offset"], "label": e["label"]})
    relations = []
    for r in _list(record, "relations", ctx):
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
    ctx = _context(name, ex_id)
    entities = [_span(s, ctx, key) for s in _list(record, key, ctx)]
    out: dict[str, Any] = {**_without(record, key), "entities": entities}
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
    if not (isinstance(s, Mapping) and _is_int(s.get("start")) and _is_int(s.get("end"))
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
        if not (_is_int(s.get("start")) and _is_int(s.get("end"))):
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
            isinstance(t, Mapping) and _is_int(t.get("start")) and _is_int(t.get("end")) for t in tokens):
        raise SchemaError(f"{ctx} its 'tokens' are not objects with integer 'start' and 'end'")
    return [[t["start"], t["end"]] for t in tokens]


# Hugging Face token classification -----------------------------------------------------------

_OUTSIDE_TAGS = ("O", "o", "", "X", "-")  # "X": a sub-word or ignored token in some token files
_PREFIXES = frozenset("BIMELSU")
# part-of-speech tag sets: "tags" of a POS dataset (UD's upos, Penn Treebank's xpos) are no entity labels
_NER_LIKE = frozenset({"NUM", "X", "SYM", "CD", "FW", "LS"})  # POS tags that also name entity types
_UPOS = frozenset("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
_PTB = frozenset("CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB RBR RBS RP SYM TO UH "
                 "VB VBD VBG VBN VBP VBZ WDT WP WP$ WRB -LRB- -RRB- . , : `` '' # $ HYPH NFP ADD AFX XX".split())


def _tag_key(record: Mapping[str, Any]) -> str | None:
    """``ner_tags`` (or ``tags``) beside a ``tokens`` list; ``tags`` next to a ``text`` may be anything.

    Beside a text, ``tags`` may be topics or part-of-speech tags, so it is read only when it is one tag per
    token, no POS tag set, and either all prefixed/outside tags or IO tags with at least one ``O``
    (``PER O LOC``): ``X`` is a UPOS tag as well as an ignored token, so it does not make POS tags IO.
    """
    if not isinstance(record.get("tokens"), list):
        return None
    if "ner_tags" in record:
        return "ner_tags"
    if "tags" not in record:
        return None
    tags = record["tags"]
    if "text" not in record:
        return "tags"
    if not (isinstance(tags, list) and tags and len(tags) == len(record["tokens"])
            and all(isinstance(t, str) for t in tags)):
        return None
    if _pos_tags(tags):
        return None
    if all(_outside(t) or _prefixed(t) for t in tags) or any(t in ("O", "o") for t in tags):
        return "tags"
    return None


def _pos_tags(tags: Sequence[Any]) -> bool:
    """Tags that are all Universal POS or all Penn Treebank tags (``-`` and empty ones aside): never NER."""
    if not all(isinstance(t, str) for t in tags):
        return False
    found = set(tags) - {"", "-"}
    # and at least one tag no NER set would use: ["NUM"] or ["NUM", "X"] may be a user's entity labels
    return bool(found - _NER_LIKE) and (found <= _UPOS or found <= _PTB)


def _outside(tag: Any) -> bool:
    return tag in _OUTSIDE_TAGS or (_is_int(tag) and tag == 0)  # 0: "O" in every Hugging Face dataset


def _prefixed(tag: str) -> bool:
    """A BIO/BIOES-style tag ("B-PER", "b-per", a bare untyped "B", an unknown "X-PER" that ``split_tag``
    refuses), not an IO label ("PER", Few-NERD's "person-actor")."""
    head, dash, _ = tag.partition("-")
    return len(head) == 1 and (bool(dash) or head.upper() in _PREFIXES)


def _tag_spans(tags: Sequence[str], ctx: str, key: str) -> list[tuple[int, int, str]]:
    """Token spans of prefixed tags (any scheme, ``tags_to_token_spans``) or of IO tags (a run of one label
    is one entity); ``X`` and ``-`` are outside. A mix of both kinds is an error, since either reading would
    be a guess, and so are part-of-speech tags (``PROPN VERB ADV`` are no entity labels)."""
    if _pos_tags(tags):
        shown = ", ".join(repr(t) for t in list(dict.fromkeys(t for t in tags if t not in ("", "-")))[:4])
        raise SchemaError(f"{ctx} {key!r} holds part-of-speech tags ({shown}), not entity tags; give the record "
                          "entity tags ('B-PER', 'I-PER', 'O') or leave it out")
    tags = ["O" if _outside(t) else t for t in tags]
    inside = [t for t in tags if t != "O"]
    prefixed = [t for t in inside if _prefixed(t)]
    try:
        if len(prefixed) == len(inside):
            return tags_to_token_spans(tags)
        if not prefixed:
            return tags_to_token_spans(tags, "io")
    except TagError as e:
        raise SchemaError(f"{ctx} {e}") from None
    plain = next(t for t in inside if not _prefixed(t))
    raise SchemaError(f"{ctx} {key!r} mixes prefixed tags ({prefixed[0]!r}) and tags without a B-/I- prefix "
                      f"({plain!r}); write every tag one way (BIO 'B-PER', 'I-PER' or IO 'PER')")


def _tokens_and_tags(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    key = _tag_key(record)
    ctx = _context(HUGGING_FACE.format(key=key), ex_id)
    tokens, tags = record["tokens"], record[key]
    if not all(isinstance(t, str) for t in tokens):
        raise SchemaError(f"{ctx} 'tokens' is not a list of strings")
    if not isinstance(tags, list) or len(tags) != len(tokens):
        raise SchemaError(f"{ctx} {key!r} is not a list of one tag per token ({len(tokens)} tokens)")
    if any(_is_int(t) for t in tags):
        raise SchemaError(f"{ctx} {key!r} holds class ids {tags[:5]!r}, not tag names; map them to names "
                          f"first, e.g. names = dataset.features[{key!r}].feature.names and "
                          f"{key} = [names[i] for i in {key}]")
    if not all(isinstance(t, str) for t in tags):
        raise SchemaError(f"{ctx} {key!r} is not a list of tag names such as 'B-PER' and 'O'")
    sep = _separator(record, tokens, ctx)
    text, offsets = join_tokens(tokens, sep)
    spans = _tag_spans(tags, ctx, key)
    _no_relations(record, HUGGING_FACE.format(key=key), ex_id)
    return {**_without(record, "tokens", key), "text": text,
            "entities": [{"start": offsets[s][0], "end": offsets[e - 1][1], "label": label} for s, e, label in spans],
            "tokens": [list(o) for o in offsets]}


def _separator(record: Mapping[str, Any], tokens: Sequence[str], ctx: str) -> str | None:
    """How the tokens make the text: ``token_separator``, or the one that gives a ``text`` the record has."""
    if "text" not in record:
        return token_separator(tokens)
    for sep in (" ", "", None):
        if join_tokens(tokens, sep)[0] == record["text"]:
            return sep
    raise SchemaError(f"{ctx} its 'text' is not its tokens joined by spaces (or without), so the tags cannot "
                      "be placed in it; drop 'text' (the tokens make the text) or give 'entities' with offsets")


# helpers -------------------------------------------------------------------------------------

def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _list(record: Mapping[str, Any], key: str, ctx: str) -> list[Any]:
    items = record.get(key) or []
    if not isinstance(items, list):
        raise SchemaError(f"{ctx} {key!r} is not a list")
    return items


def _no_relations(record: Mapping[str, Any], name: str, ex_id: Any) -> None:
    """A format without relations: relations given beside it would point at entities by a guess."""
    if record.get("relations"):
        raise SchemaError(f"{_context(name, ex_id)} it has 'relations', which {name.split(' (')[0]} files do not "
                          "have; write the record in llmaaa's schema to give relations by entity index")


def _without(record: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}
