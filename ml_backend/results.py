"""Label Studio results -> examples: span regions with ids, relation results linking those ids (the way
back, ``predictions`` the way out), and the entities and pairs a task gives.

Offsets: Label Studio (since label-studio-frontend#308) stores code-point offsets, the same as
Python string indices, so ``text[start:end]`` is the mention for Chinese, accents and emoji alike.
An incoming region whose ``value.text`` disagrees with its offsets (older clients counted UTF-16
units) is re-aligned from that text rather than trusted blindly.
"""

from __future__ import annotations

import logging
from typing import Any, Iterable, Mapping, Sequence

from llmaaa.data.schema import Example, Relation, Span

from ml_backend.labeling import LabelingSchema

log = logging.getLogger(__name__)


class TaskError(ValueError):
    """One task the backend cannot handle (no text, wrong type); reported per task, never as a 500."""


def task_text(task: Mapping[str, Any], schema: LabelingSchema) -> str:
    data = task.get("data") if isinstance(task, Mapping) else None
    if not isinstance(data, Mapping):
        raise TaskError("task has no 'data' object")
    text = schema.text_in(data)
    if not isinstance(text, str):
        raise TaskError(f"task data has no string field {schema.value_key!r} (the config's <Text value=\"${schema.value_key}\">)")
    problem = unicode_problem(text)
    if problem:
        raise TaskError(problem)
    return text


def unicode_problem(text: str) -> str | None:
    """Why ``text`` cannot be stored or sent to an LLM (a lone UTF-16 surrogate, from a broken export), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        return f"the task text is not valid Unicode: a lone surrogate {text[e.start]!r} at character {e.start}; fix the task's text"
    return None


def given_entities(data: Any, text: str, schema: LabelingSchema) -> tuple[Span, ...] | None:
    """Spans a task brings in ``data["entities"]`` (``[{"start", "end", "label"}]``): relations-only tasks of a
    config with ``<Relations>``.

    None when the task brings none (the backend then finds the spans itself), an empty list included: "no
    entities given" is far more often an empty field of another tool than a text known to name nothing, and
    taken as given it made an empty prediction without asking the LLM. Label Studio's region shape
    (``{"value": {"start", "end", "labels": [...]}}``) is read too, and an entity with its ``text`` is
    re-aligned to it (offsets counted in UTF-16 units by a JavaScript tool). One entity the backend cannot
    place or whose label is not in the config is a ``TaskError`` naming it: a dropped span would leave
    all its pairs unasked, and a task with none left would pass for one labeled with no relations.
    """
    raw = data.get("entities") if isinstance(data, Mapping) else None
    if not isinstance(raw, list) or not raw or not schema.relation_labels:
        # a config without <Relations> is NER: the LLM finds every span, whatever field the task's data also
        # has (an "entities" list of another tool's, partial or empty, was taken as the task's full labels)
        return None
    spans = []
    for n, d in enumerate(raw):
        v = d.get("value") if isinstance(d, Mapping) and isinstance(d.get("value"), Mapping) else d
        if not isinstance(v, Mapping):
            raise TaskError(f"data.entities[{n}] is not an object like {{\"start\": 0, \"end\": 4, \"label\": ...}}")
        names = v.get("labels") if isinstance(v.get("labels"), list) else [v.get("label") or v.get("type")]
        label = _first_label(names, schema.map_entity)
        if label is None:
            raise TaskError(f"data.entities[{n}]: label {names[0] if len(names) == 1 else names!r} is not a label of "
                            f"the config ({', '.join(schema.entity_labels)})")
        mention = v.get("text") if isinstance(v.get("text"), str) else None
        try:
            pos = align_region(text, int(v["start"]), int(v["end"]), mention)
        except (KeyError, TypeError, ValueError, OverflowError):
            raise TaskError(f"data.entities[{n}] needs integer 'start' and 'end' (code points, end exclusive)") from None
        if pos is None:
            where = f"'{mention}' is not in the text" if mention else \
                f"[{v['start']}, {v['end']}) is not inside the text of {len(text)} characters"
            raise TaskError(f"data.entities[{n}]: {where}")
        spans.append(Span(pos[0], pos[1], label))
    return tuple(spans)


def given_pairs(data: Any, entities: tuple[Span, ...] | None, schema: LabelingSchema) -> list[list[int]] | None:
    """The entity pairs a task asks about in ``data["pairs"]``: ``[head, tail]`` or ``{"head": h, "tail": t}``,
    0-based indexes into ``data["entities"]`` (the forms ``llmaaa.data.pairs.candidate_pairs`` reads).

    Relation *classification* of a given pair, as in TACRED: only subject -> object is asked (one LLM
    question, not two, never the reverse) and scored by the student. None when the task lists none, an empty
    list included (as for ``entities``): every ordered pair is asked. Indexes only: entities have no ids here.
    A list the backend cannot follow is a ``TaskError`` naming it: asking every pair instead would cost twice
    the questions and may answer the reverse direction.
    """
    raw = data.get("pairs") if isinstance(data, Mapping) else None
    if raw is None or raw == [] or not schema.relation_labels:
        return None  # a config without <Relations> is NER: its tasks' other fields are not read
    if not isinstance(raw, list):
        raise TaskError(f"data.pairs is a JSON {type(raw).__name__}, not a list of [head, tail] entity indexes")
    if entities is None:
        raise TaskError("data.pairs lists entity pairs, but the task gives no data.entities for them to index; "
                        "add the entities, or drop pairs to let the LLM find the entities and ask every pair")
    n, out = len(entities), []
    for k, p in enumerate(raw):
        pair = (p.get("head"), p.get("tail")) if isinstance(p, Mapping) else p if isinstance(p, list) else None
        if pair is None or len(pair) != 2 or not all(isinstance(i, int) and not isinstance(i, bool) for i in pair):
            raise TaskError(f"data.pairs[{k}] is {str(p)[:60]}, not [head, tail] or {{\"head\": h, \"tail\": t}} with "
                            "0-based indexes into data.entities (entity ids are not read)")
        h, t = pair
        if not (0 <= h < n and 0 <= t < n):
            raise TaskError(f"data.pairs[{k}] is [{h}, {t}]: data.entities has {n} entities, indexes 0 to {n - 1}")
        if h == t:
            raise TaskError(f"data.pairs[{k}] pairs entity {h} with itself")
        if [h, t] not in out:
            out.append([h, t])
    return out


def pool_example(task_id: int | str, text: str, data: Any, schema: LabelingSchema) -> Example:
    """The unlabeled example of a task (id = the Label Studio task id), with its given spans and pairs if any
    (``TaskError`` when one of them is unusable, see ``given_entities`` and ``given_pairs``)."""
    given = given_entities(data, text, schema)
    pairs = given_pairs(data, given, schema)
    if given is None:
        return Example(str(task_id), text)
    extra: dict[str, Any] = {"given_entities": True}
    if pairs is not None:
        extra["pairs"] = pairs  # read by the teacher and the student (llmaaa.data.pairs.candidate_pairs)
    return Example(str(task_id), text, given, extra=extra)


def align_region(text: str, start: int, end: int, mention: str | None) -> tuple[int, int] | None:
    """Where a region ``[start, end)`` with text ``mention`` is in ``text``: as given, at UTF-16 offsets, or
    at the nearest occurrence of the mention (a text edited since); None when it is nowhere.

    The offsets stand when their slice is the mention up to whitespace: Label Studio saves a region's text
    with runs of spaces collapsed and ends trimmed ("Berlin, Germany" for "Berlin,  Germany") while its
    offsets count every character, and such a correct annotation was thrown out as no gold."""
    if 0 <= start < end <= len(text) and (mention is None or text[start:end] == mention
                                          or text[start:end].split() == mention.split()):
        return start, end
    if not mention:
        return None
    # UTF-16 offsets (older frontends) -> code points (counted in C: a task with hundreds of given entities
    # re-aligned each one by a Python walk over the text), then the nearest occurrence of the mention.
    if start >= 0:
        try:
            cp = len(text.encode("utf-16-le", "surrogatepass")[: 2 * start].decode("utf-16-le"))
        except UnicodeDecodeError:  # the offset falls inside a surrogate pair: no UTF-16 offset of a character
            cp = -1
        if cp >= 0 and text[cp : cp + len(mention)] == mention:
            return cp, cp + len(mention)
    best, at = None, text.find(mention)
    while at >= 0:  # the nearest occurrence (str.find: a long task's scan stays within the webhook's second)
        if best is None or abs(at - start) < abs(best - start):
            best = at
        if at > start:
            break
        at = text.find(mention, at + 1)
    return None if best is None else (best, best + len(mention))


def results_to_example(ex: Example, results: Iterable[Mapping[str, Any]], schema: LabelingSchema,
                       **extra: Any) -> Example:
    """``ex`` labeled by a Label Studio annotation's results (regions of other controls are ignored).

    A relation drawn without a label the config has (Label Studio makes a relation first and asks for its
    label after; a label since removed from the config) says "these two are related" without saying how:
    with one relation label in the config it is that label, otherwise its pair is *unknown*, listed in
    ``annotation["unlabeled_pairs"]`` (not trained on, not a ``no_relation`` demo, not scored) instead
    of read as ``no_relation``. A ``"bi"`` relation holds in both directions. Regions with the same span
    and label are one entity, whichever copy the relations were drawn from.
    """
    spans: list[Span] = []
    index_of: dict[str, int] = {}
    first_of: dict[tuple[int, int, str], int] = {}  # span key -> its index in ``spans``
    rels: list[tuple[str, str, str | None]] = []
    for r in results if isinstance(results, list) else ():
        if not isinstance(r, Mapping):
            continue
        if r.get("type") == "relation":
            if schema.relation_labels and r.get("from_id") is not None and r.get("to_id") is not None:
                head, tail = str(r["from_id"]), str(r["to_id"])
                if r.get("direction") == "left":
                    head, tail = tail, head
                label = _relation_label(r.get("labels"), schema)
                rels.append((head, tail, label))
                if r.get("direction") == "bi":
                    rels.append((tail, head, label))
            continue
        if r.get("type") != "labels" or r.get("from_name") != schema.from_name:
            continue
        v = r.get("value") if isinstance(r.get("value"), Mapping) else {}
        label = _first_label(v.get("labels"), schema.map_entity)
        try:
            mention = v.get("text") if isinstance(v.get("text"), str) else None
            pos = align_region(ex.text, int(v.get("start")), int(v.get("end")), mention)
        except (TypeError, ValueError, OverflowError):  # missing, "abc", Infinity
            pos = None
        if label is None or pos is None:
            log.warning("task %s: ignoring region %r (label not in the config or offsets outside the text)", ex.id, r.get("id"))
            continue
        span = Span(pos[0], pos[1], label)
        # a duplicated region (Label Studio's "duplicate", a kept pre-annotation drawn again) is the same entity:
        # two copies, one carrying the relation, would make the pair both related and not
        at = first_of.setdefault(span.key(), len(spans))
        if r.get("id") is not None:
            index_of[str(r["id"])] = at
        if at == len(spans):
            spans.append(span)
    labeled: dict[tuple[int, int], str] = {}
    unknown: set[tuple[int, int]] = set()
    for h, t, lab in rels:
        if h not in index_of or t not in index_of or index_of[h] == index_of[t]:
            continue
        pair = (index_of[h], index_of[t])
        if lab is None:
            unknown.add(pair)
        else:
            labeled.setdefault(pair, lab)  # one label per pair: the student's classes are exclusive
    relations = [Relation(h, t, lab) for (h, t), lab in labeled.items()]
    unknown -= set(labeled)
    if unknown:
        extra["annotation"] = {**(extra.get("annotation") or {}), "unlabeled_pairs": sorted(map(list, unknown))}
    return ex.with_labels(entities=spans, relations=relations, **extra)


def human_example(task_id: int | str, text: str, results: Any, schema: LabelingSchema, data: Any = None) -> Example:
    """The gold example of a human annotation on a task (id = the task id, ``source="human"``).

    One definition for every place that reads human labels (rounds, agreement, both exports), so a
    task's gold reads the same whether it came through the backend or from Label Studio's own export.
    With the task's ``data``, a task that lists its ``pairs`` keeps them in its gold (``asked_pairs``):
    the pairs it never asked about are not taught as ``no_relation``.
    """
    ex = results_to_example(Example(str(task_id), text), results, schema, source="human")
    pairs = asked_pairs(ex, data, schema)
    return ex if pairs is None else ex.with_labels(pairs=pairs)


def asked_pairs(gold: Example, data: Any, schema: LabelingSchema) -> list[list[int]] | None:
    """The pairs of ``gold``'s entities that its task asked about, or None when the task lists no ``pairs``.

    The reverse of a TACRED pair holds the inverse relation (``org:employees`` for ``per:employee_of``), not
    none: taught as ``no_relation``, it would mislead the student. Given entities are found among the gold's
    regions (any order) by span and label, else by span, else as the one region overlapping it (a corrected
    boundary); a pair with a removed entity is dropped, a pair the annotator drew a relation on is added.
    Unusable pairs (the task's own error): every pair, as drawn.
    """
    try:
        given = given_entities(data, gold.text, schema)
        listed = given_pairs(data, given, schema)
    except TaskError:
        return None
    if listed is None or given is None:
        return None
    exact: dict[tuple[int, int, str], int] = {}
    at: dict[tuple[int, int], int] = {}
    for i, s in enumerate(gold.entities):
        exact.setdefault(s.key(), i)
        at.setdefault((s.start, s.end), i)
    index = [exact.get(s.key(), at.get((s.start, s.end), _moved(s, gold.entities))) for s in given]
    out: list[list[int]] = []
    for pair in [[index[h], index[t]] for h, t in listed] + [[r.head, r.tail] for r in gold.relations]:
        if None not in pair and pair[0] != pair[1] and pair not in out:
            out.append(pair)
    return out


def _moved(given: Span, regions: Sequence[Span]) -> int | None:
    """The index of the one region overlapping ``given`` (its boundary corrected by the annotator), else None."""
    hits = [i for i, s in enumerate(regions) if s.start < given.end and given.start < s.end]
    return hits[0] if len(hits) == 1 else None


def unusable_gold(ex: Example, results: Any, schema: LabelingSchema) -> str | None:
    """Why a human annotation on the served text is no gold (kept, never lost, but not trained on, exported
    as gold or scored against), else None:

    - it has span regions and none became a label of the config (every label removed from or renamed in
      the config): it is no "this text has no entities", and trained on it would teach the student that
      the spans the annotator marked are ``O``;
    - a region with a label of the config no longer fits the task's text (the text was edited after it was
      annotated, and the region's text is nowhere in it): the rest would pass for the text's full gold.
    """
    if not isinstance(results, list):
        return None
    ours = [r for r in results if isinstance(r, Mapping) and r.get("type") == "labels"
            and (r.get("from_name") == schema.from_name or r.get("to_name") == schema.to_name)]
    labeled = [r for r in ours if _first_label((r.get("value") if isinstance(r.get("value"), Mapping) else {})
                                                .get("labels"), schema.map_entity) is not None]
    if ours and not labeled:
        return f"none of its {len(ours)} region(s) has a label of the config ({', '.join(schema.entity_labels)})"
    lost = 0
    for r in ours:
        v = r.get("value") if isinstance(r.get("value"), Mapping) else {}
        if _first_label(v.get("labels"), schema.map_entity) is None:
            continue
        try:
            mention = v.get("text") if isinstance(v.get("text"), str) else None
            pos = align_region(ex.text, int(v.get("start")), int(v.get("end")), mention)
        except (TypeError, ValueError, OverflowError):
            pos = None
        lost += pos is None
    if lost:
        return (f"{lost} of its {len(ours)} region(s) no longer fit the task's text (edited after it was annotated?); "
                "annotate the task again")
    return None


def _first_label(labels: Any, mapping: Any) -> str | None:
    """The config label of a region's ``labels`` list (the first that is one); None for any other shape (a
    stored annotation is read at every round, export and report: one malformed region must cost only itself)."""
    if not isinstance(labels, list):
        return None
    return next((found for label in labels if isinstance(label, str) and (found := mapping(label))), None)


def _relation_label(labels: Any, schema: LabelingSchema) -> str | None:
    """A drawn relation's config label; an unlabeled one is the config's only relation label, if it has one."""
    found = _first_label(labels, schema.map_relation)
    if found is None and not labels and len(schema.relation_labels) == 1:
        return schema.relation_labels[0]
    return found


def asked_fewer_labels(ex: Example, schema: LabelingSchema) -> bool:
    """Whether the LLM labeled ``ex`` before a label now in the config was added to it.

    Such a label says nothing about the new label's mentions: trained on, it would teach the student
    that they are ``O``. It is relabeled instead (the prompt of an unchanged part, e.g. the entity
    question when only a relation label was added, is the same, so its cached answer is reused).
    A label removed from the config costs nothing: its spans are dropped at training. A record from
    before labels were kept in provenance counts as current.
    """
    asked = (ex.annotation or {}).get("labels")
    if not isinstance(asked, dict):
        return False
    return bool(set(schema.entity_labels) - set(asked.get("entities") or ())
                or set(schema.relation_labels) - set(asked.get("relations") or ()))
