"""Foreign records whose labels sit on a token list: Hugging Face token classification (``tokens`` + tags) and
TACRED / TACREV / Re-TACRED (``token`` + subject and object token indexes), read as our schema by
``formats.as_schema``. Both rebuild the text from the tokens (``scripts.token_separator``) and keep each
token's offsets in ``extra["tokens"]``; kept apart from the span formats, whose records carry their text.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from llmaaa.data.format_checks import context, is_int, no_relations, without
from llmaaa.data.schema import NO_RELATION, SchemaError
from llmaaa.data.scripts import token_separator
from llmaaa.data.tags import TagError, join_tokens, tags_to_token_spans

HUGGING_FACE = "Hugging Face (tokens + {key})"
TACRED = "TACRED (token, subj_start/subj_end, obj_start/obj_end)"


# Hugging Face token classification -----------------------------------------------------------

_OUTSIDE_TAGS = ("O", "o", "", "X", "-")  # "X": a sub-word or ignored token in some token files
_PREFIXES = frozenset("BIMELSU")
# part-of-speech tag sets: "tags" of a POS dataset (UD's upos, Penn Treebank's xpos) are no entity labels
_NER_LIKE = frozenset({"NUM", "X", "SYM", "CD", "FW", "LS"})  # POS tags that also name entity types
_UPOS = frozenset("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
_PTB = frozenset("CC CD DT EX FW IN JJ JJR JJS LS MD NN NNS NNP NNPS PDT POS PRP PRP$ RB RBR RBS RP SYM TO UH "
                 "VB VBD VBG VBN VBP VBZ WDT WP WP$ WRB -LRB- -RRB- . , : `` '' # $ HYPH NFP ADD AFX XX".split())


def tag_key(record: Mapping[str, Any]) -> str | None:
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
    if pos_tags(tags):
        return None
    if all(is_outside(t) or _prefixed(t) for t in tags) or any(t in ("O", "o") for t in tags):
        return "tags"
    return None


def pos_tags(tags: Sequence[Any]) -> bool:
    """Tags that are all Universal POS or all Penn Treebank tags (``-`` and empty ones aside): never NER."""
    if not all(isinstance(t, str) for t in tags):
        return False
    found = set(tags) - {"", "-"}
    # and at least one tag no NER set would use: ["NUM"] or ["NUM", "X"] may be a user's entity labels
    return bool(found - _NER_LIKE) and (found <= _UPOS or found <= _PTB)


def is_outside(tag: Any) -> bool:
    return tag in _OUTSIDE_TAGS or (is_int(tag) and tag == 0)  # 0: "O" in every Hugging Face dataset


def _prefixed(tag: str) -> bool:
    """A BIO/BIOES-style tag ("B-PER", "b-per", a bare untyped "B", an unknown "X-PER" that ``split_tag``
    refuses), not an IO label ("PER", Few-NERD's "person-actor")."""
    head, dash, _ = tag.partition("-")
    return len(head) == 1 and (bool(dash) or head.upper() in _PREFIXES)


def _tag_spans(tags: Sequence[str], ctx: str, key: str) -> list[tuple[int, int, str]]:
    """Token spans of prefixed tags (any scheme, ``tags_to_token_spans``) or of IO tags (a run of one label
    is one entity); ``X`` and ``-`` are outside. A mix of both kinds is an error, since either reading would
    be a guess, and so are part-of-speech tags (``PROPN VERB ADV`` are no entity labels)."""
    if pos_tags(tags):
        shown = ", ".join(repr(t) for t in list(dict.fromkeys(t for t in tags if t not in ("", "-")))[:4])
        raise SchemaError(f"{ctx} {key!r} holds part-of-speech tags ({shown}), not entity tags; give the record "
                          "entity tags ('B-PER', 'I-PER', 'O') or leave it out")
    tags = ["O" if is_outside(t) else t for t in tags]
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


def tokens_and_tags(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    key = tag_key(record)
    ctx = context(HUGGING_FACE.format(key=key), ex_id)
    tokens, tags = record["tokens"], record[key]
    if not all(isinstance(t, str) for t in tokens):
        raise SchemaError(f"{ctx} 'tokens' is not a list of strings")
    if not isinstance(tags, list) or len(tags) != len(tokens):
        raise SchemaError(f"{ctx} {key!r} is not a list of one tag per token ({len(tokens)} tokens)")
    if any(is_int(t) for t in tags):
        raise SchemaError(f"{ctx} {key!r} holds class ids {tags[:5]!r}, not tag names; map them to names "
                          f"first, e.g. names = dataset.features[{key!r}].feature.names and "
                          f"{key} = [names[i] for i in {key}]")
    if not all(isinstance(t, str) for t in tags):
        raise SchemaError(f"{ctx} {key!r} is not a list of tag names such as 'B-PER' and 'O'")
    sep = _separator(record, tokens, ctx)
    text, offsets = join_tokens(tokens, sep)
    spans = _tag_spans(tags, ctx, key)
    no_relations(record, HUGGING_FACE.format(key=key), ex_id)
    return {**without(record, "tokens", key), "text": text,
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


# TACRED, TACREV, Re-TACRED -------------------------------------------------------------------

_TACRED_SPANS = ("subj_start", "subj_end", "obj_start", "obj_end")
_TACRED_KEYS = ("token", *_TACRED_SPANS, "subj_type", "obj_type", "relation")
# CoreNLP's Penn Treebank escapes, as whole tokens; its `` and '' quotes are the text's "
_PTB_ESCAPES = {"-LRB-": "(", "-RRB-": ")", "-LSB-": "[", "-RSB-": "]", "-LCB-": "{", "-RCB-": "}",
                "``": '"', "''": '"'}
# labels that say no relation holds: TACRED's own, and the NA of distantly supervised sets; SemEval's "Other" is a class
_NO_RELATION_LABELS = frozenset({NO_RELATION, "no relation", "no-relation", "na", "n/a", "none"})


def tacred_keys(record: Mapping[str, Any]) -> bool:
    """Two of TACRED's token list and span indexes together (one alone may be any file's key)."""
    return sum(k in record for k in ("token", *_TACRED_SPANS)) >= 2


def tacred_record(record: Mapping[str, Any], ex_id: Any) -> dict[str, Any]:
    """One TACRED record as one example: the subject (entity 0, labelled ``subj_type``) and the object (entity 1,
    ``obj_type``), a relation 0 -> 1 unless ``relation`` is a no-relation label, and ``pairs`` ``[[0, 1]]``:
    TACRED is relation *classification* of the given pair, so no other pair is asked or trained on. Without
    ``relation`` (or ``null``: a pool in TACRED's shape, to be labeled) the pair's relation is unknown
    (``unlabeled_pairs``): not read as ``no_relation``, which as gold would teach the opposite of a relation.

    The text is the tokens joined as token files are (``token_separator``), with CoreNLP's escapes undone
    (``-LRB-`` is "(", ``-LSB-`` "[", ``-LCB-`` "{"; the quote tokens of two backquotes or two apostrophes are
    ``"``: open and close quotes are one character in text), since the teacher and the student's tokenizer read
    text, not treebank tokens; each token's ``[start, end]`` is in ``tokens``.
    A subject and object on the same or overlapping tokens (TACRED has some) stay two entities: the schema
    allows equal spans and the student marks each. ``docid`` and the ``stanford_*`` columns (one per token)
    stay in ``extra``; ``token`` and the span keys become the text, entities and relations.
    """
    ctx = context(TACRED, ex_id)
    missing = [k for k in _TACRED_KEYS if k not in record and k != "relation"]
    if missing:
        raise SchemaError(f"{ctx} it has no {', '.join(map(repr, missing))}; a TACRED record has all of "
                          f"{', '.join(k for k in _TACRED_KEYS if k != 'relation')} (and 'relation' when labeled)")
    tokens = record["token"]
    if not (isinstance(tokens, list) and tokens and all(isinstance(t, str) for t in tokens)):
        raise SchemaError(f"{ctx} 'token' is not a list of strings")
    for key in ("subj_type", "obj_type", "relation"):
        if (key != "relation" or record.get(key) is not None) and not (isinstance(record[key], str)
                                                                       and record[key].strip()):
            raise SchemaError(f"{ctx} {key!r} is {record[key]!r}, not a label")
    words = [_PTB_ESCAPES.get(t, t) for t in tokens]
    text, offsets = join_tokens(words, token_separator(words))
    if "text" in record and record["text"] != text:
        raise SchemaError(f"{ctx} its 'text' is not its tokens joined ({text[:60]!r}), so the token indexes cannot "
                          "be placed in it; drop 'text' (the tokens make the text)")
    entities = []
    for role in ("subj", "obj"):
        start, end = record[f"{role}_start"], record[f"{role}_end"]
        if not (is_int(start) and is_int(end) and 0 <= start <= end < len(tokens)):
            raise SchemaError(f"{ctx} its {role} tokens [{start!r}, {end!r}] are not within its {len(tokens)} tokens "
                              f"(0-based, end inclusive: 0 <= {role}_start <= {role}_end <= {len(tokens) - 1})")
        span = {"start": offsets[start][0], "end": offsets[end][1], "label": record[f"{role}_type"]}
        if not text[span["start"]:span["end"]].strip():
            raise SchemaError(f"{ctx} its {role} tokens [{start}, {end}] are empty")
        entities.append(span)
    no_relations(record, TACRED, ex_id)
    label = (record.get("relation") or "").strip()
    relations = [] if label.lower() in _NO_RELATION_LABELS | {""} else [{"head": 0, "tail": 1, "label": label}]
    out = {**without(record, *_TACRED_KEYS), "text": text, "entities": entities, "relations": relations,
           "pairs": [[0, 1]], "tokens": [list(o) for o in offsets]}
    if not label:  # an unlabeled pool to annotate: the pair's relation is unknown, not none (never gold no_relation)
        out["annotation"] = {**(record.get("annotation") or {}), "unlabeled_pairs": [[0, 1]]}
    return out
