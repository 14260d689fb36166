"""The JSON shapes an NER answer comes in, read as ``[mention, label]`` items.

Models rename the keys ("mention", "entity_type"), wrap the list in an object (``{"entities": [...]}``),
key mentions by label (``{"PER": ["Anna"]}``) or labels by mention (``{"Anna": "PER"}``), swap a pair's
order, or send the JSON once more as a string. A shape counts only when it names one of the user's labels,
so stray objects are re-asked (``AnswerError``) rather than read as "no entities". ``jsonrepair`` takes its
span and type keys from here to tell an entity object, so this module reads parsed values only and never
imports ``jsonrepair``; the plain-text shapes are ``answer_lines``'.
"""

from __future__ import annotations

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

# "no entities" said in a sentence of its own: "No entities were identified in this text.", "I could not find any
# named entities.", "None found.", "There are no PER, ORG or LOC entities.", and the same in German, French, Spanish,
# Italian, Portuguese, Russian and Japanese. Read only from a short answer of one sentence with no exception in it
# ("no entities except Anna" names one), and only after every items reading found nothing.
_ENTITY_WORD = r"(?:entit(?:y|ies)|entitäten|entität|eigennamen|entités?|entidad(?:es)?|entità|entidades|сущност\w*|names)"
_PROSE_NONE = re.compile(
    r"^(?!.*[.!?;。！？；]\s*\w)(?!.*\b(?:except|but|only|though|although|however|while|other than|besides|apart from|"
    r"außer|aber|jedoch|nur|sauf|mais|seul|excepto|salvo|pero|sino|solo|ma|però|tranne|mas|exceto|porém|кроме|"
    r"только|но|однако)\b)(?:"
    r".*\b(?:no|zero|not any|keine|aucune?|ningun[ao]?|nessun[ao]?|nenhum[ao]?|нет|не найдено)\s+(?:[\w,]+\s+){0,6}?"
    + _ENTITY_WORD +
    r"|.*\b(?:could ?n[o']t|can ?n[o']t|did ?n[o']t|unable to|failed to)\s+(?:find|identify|detect|spot|locate|extract|see)"
    r"\s+(?:any|entit|names)"
    # "The sentence does not contain any named entities", "There aren't any entities in the text"
    r"|.*\b(?:does ?n[o']t|do ?n[o']t|is ?n[o']t|are ?n[o']t|was ?n[o']t|were ?n[o']t)\s+(?:\w+\s+){0,2}?any\s+"
    r"(?:[\w,]+\s+){0,6}?" + _ENTITY_WORD +
    r"|\W*(?:an?\s+)?empty\s+(?:list|array|set|result)\b|\W*nothing\s+to\s+(?:extract|report|tag|label|find|annotate)\b"
    r"|.*" + _ENTITY_WORD + r"\s*(?:[:：]\s*)?(?:нет|не найдены|none|not found)\b"
    r"|\W*(?:none|nothing|no (?:matches|results))\s+(?:found|detected|identified)"
    r"|\W*(?:該当なし|該当する(?:エンティティ|固有表現)はありません|固有表現は(?:ありません|見つかりません))"
    r").*$", re.I | re.S)
PROSE_NONE_MAX_CHARS = 300


_CAPITALIZED = re.compile(r"(?<=\W)([A-ZÀ-ÖØ-ÞА-ЯЁ][\w'’.-]*)")


def says_no_entities(answer: str, resolve: "LabelResolver | None" = None) -> bool:
    """Whether ``answer`` says, in words, that the text has no entities (``_NONE_ANSWER``, ``_PROSE_NONE``).

    A sentence naming something capitalized that is not one of the labels ("No PER entities, Paris is a
    place", "Keine Entitäten vom Typ PER, aber Berlin") may name an entity: not read as none (re-asked).
    """
    answer = answer.strip()
    if _NONE_ANSWER.match(answer):
        return True
    if len(answer) > PROSE_NONE_MAX_CHARS or not _PROSE_NONE.match(answer):
        return False
    named = [w for w in _CAPITALIZED.findall(" " + answer)[1:]  # the first word is capitalized anyway
             if w != "I" and not re.fullmatch(_ENTITY_WORD, w, re.I) and (resolve is None or resolve(w) is None)]
    return not named


# keys LLMs use for the mention and its type, in order of preference (matched case-insensitively)
_SPAN_KEYS = ("span", "text", "entity", "mention", "name", "word", "entity_text", "phrase", "value", "entity_name",
              "named_entity", "entity_mention",
              # the same in the text's language, as a model asked about a Spanish or Chinese text writes them
              "texto", "entidad", "nombre", "texte", "entité", "nom", "wort", "testo", "文本", "名称", "名稱",
              "テキスト", "単語", "текст")
# entity_group: the Hugging Face pipeline's key; labels: Label Studio's own ({"value": {"text": ..., "labels": [...]}})
_TYPE_KEYS = ("type", "label", "entity_type", "category", "tag", "class", "entity_label", "ner_tag", "kind",
              "entity_group", "entity_category", "types", "labels",
              "tipo", "etiqueta", "categoría", "categoria", "étiquette", "etiquette", "typ", "类型", "類型", "标签",
              "標籤", "类别", "類別", "タイプ", "種類", "ラベル", "тип")
_RECORD_KEYS = frozenset(_SPAN_KEYS + _TYPE_KEYS)


def _pick(item: dict, keys: Sequence[str]) -> Any:
    """The value of the first of ``keys`` in ``item``. For the mention keys, a sentence that holds another
    key's value (``{"entity": "Anna", "text": "Anna met Bob in Paris."}``: the sentence beside the mention)
    gives way to the one inside it; a name does not (``{"span": "Anna Smith", "name": "Anna"}``)."""
    folded = {str(k).casefold(): v for k, v in item.items()}
    found = [folded[k] for k in keys if k in folded]
    if keys is _SPAN_KEYS and found and isinstance(found[0], str) and _sentence_like(found[0]):
        inside = [v for v in found[1:] if isinstance(v, str) and v.strip() and len(v) < len(found[0])
                  and re.search(r"(?<!\w)" + re.escape(v.strip()) + r"(?!\w)", found[0])]
        if inside:
            return min(inside, key=len)
    return found[0] if found else None


def _sentence_like(value: str) -> bool:
    """Whether ``value`` reads as a sentence (4+ words, or closed by a full stop), not a name like "Anna Smith"."""
    return len(value.split()) >= 4 or value.rstrip()[-1:] in ".!?。！？"


def _as_items(data: Any, resolve: "LabelResolver") -> list[Any]:
    """Unwrap ``{"entities": [...]}`` (JSON mode forces an object) and ``{"PER": ["x"], ...}`` shapes.

    The label-keyed shape needs a key that names one of the user's labels: a stray object (a
    truncated answer's inner ``{"name": ..., "lang": ...}``) must be re-asked, not read as "no entities".
    """
    if isinstance(data, list):
        if data and all(isinstance(x, list) and x and all(isinstance(y, dict) for y in x) for x in data):
            return [y for x in data for y in x]  # [[{...}], [{...}]]: one list per sentence or per type
        return data
    if isinstance(data, dict):
        if _pick(data, _SPAN_KEYS) is not None and _pick(data, _TYPE_KEYS) is not None:
            inner = [v for k, v in data.items() if str(k).casefold() in _WRAPPER_KEYS and isinstance(v, list)]
            label = _pick_label(data, resolve)
            if len(inner) == 1 and not (isinstance(label, str) and resolve(label) is not None):
                return inner[0]  # {"text": "<the sentence>", "type": "NER", "entities": [...]}: an envelope
            return [data]
        data = {k: _decoded(v) for k, v in data.items()}  # {"entities": "[{\"span\": ...}]"}: JSON sent as a string
        core = {k: v for k, v in data.items() if resolve(str(k)) is not None
                or (str(k).casefold() not in _META_KEYS and not isinstance(v, (int, float, bool)))}
        if len(core) < len(data) and core:  # {"Anna": "PER", "explanation": "..."}, {"PER": [...], "count": 2}
            return _as_items(core, resolve)  # the note or the count is no mention
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
        if (all(isinstance(_single(v), str) or v is None for v in data.values())
                and any(v is not None and resolve(_single(v)) is not None for v in data.values())
                and not any(resolve(str(k)) is not None for k in data)):
            # {"Anna": "PER", "Paris": ["LOC"]}; per token with BIO tags, {"New": "B-LOC", "York": "I-LOC", "is": "O"};
            # a type outside the label set ({"Monday": "DATE"}) is an unknown label, dropped and counted; null is none
            return [{"span": k, "type": _single(v)} for k, v in data.items()
                    if v is not None and _single(v).strip() != "O"]
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
                           "output", "answer", "ner", "entidades", "entités", "entites", "实体", "實體", "命名实体",
                           "エンティティ", "сущности"})


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
    if items and all(isinstance(m, str) for m in items) and str(key).casefold() not in _WRAPPER_KEYS:
        return None  # {"PER": ["Anna"]}; under a wrapper's name, {"entities": ["Anna (PER)"]} is one line per item
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


def _item_pair(item: Any, resolve: LabelResolver) -> tuple[Any, Any]:
    """``(mention, label)`` of one list item; either may come back as a non-string (a malformed item).

    A positional pair given the other way round (``["LOC", "Paris"]``, ``{"Paris": "LOC"}`` in a list)
    is swapped when only its first element names a label; keyed objects are taken as keyed. A string
    item (``"Anna (PER)"``) is read by ``answer_lines.string_item`` first.
    """
    mention = label = None
    positional = False
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
