"""Tolerant JSON extraction from LLM answers: find the JSON value among prose and undo its slips.

Small and large models alike wrap JSON in code fences, prose or ``<think>`` blocks (where brackets of
their own sit), and their JSON has comments, typographic quotes, full-width punctuation, trailing
commas, Python literal syntax, bare keys or one object per line. Everything that can be repaired
without guessing is; an answer with no usable JSON raises ``AnswerError`` so the teacher re-asks.
``json_closed`` tells an answer cut off inside its JSON from one that rambled on after it.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, Callable, Iterator

from llmaaa.annotate.answer_errors import AnswerError
from llmaaa.annotate.answer_shapes import _SPAN_KEYS, _TYPE_KEYS, _pick


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


# the final channel of a gpt-oss (harmony) answer a server passed on raw, and Kimi's ◁think▷ block
_HARMONY_FINAL = re.compile(r"<\|channel\|>\s*final\s*<\|message\|>", re.I)
_HARMONY_TOKEN = re.compile(r"<\|(?:end|return|start|channel|message|call)\|>(?:assistant)?")
_KIMI_THINK = re.compile(r"◁think▷.*?(?:◁/think▷|$)", re.S)


def strip_reasoning(answer: str) -> str:
    """``answer`` without ``<think>...</think>`` blocks (reasoning models put brackets and labels there).

    A closing tag left without its opening one (chat templates of R1-style models put ``<think>`` in
    the prompt, so the answer starts inside the block) ends the reasoning: only what follows it counts.
    A gpt-oss answer passed on with its channels keeps only its final channel; Kimi's ``◁think▷`` block goes.
    """
    if "◁think▷" in answer:
        answer = _KIMI_THINK.sub("", answer)
    if "<|" in answer:
        finals = list(_HARMONY_FINAL.finditer(answer))
        if finals:
            answer = _HARMONY_TOKEN.sub("", answer[finals[-1].end():])
    if "<" not in answer:
        return answer
    answer = _THINK.sub("", answer)
    ends = list(_THINK_END.finditer(answer))
    return answer[ends[-1].end():] if ends else answer


_THINK_OPEN = re.compile(r"<(think|thinking|reasoning)>", re.I)


def reasoning_open(answer: str) -> bool:
    """Whether ``answer`` opens a reasoning block it never closes (cut off while the model was thinking)."""
    opened = list(_THINK_OPEN.finditer(answer)) if "<" in answer else []
    return bool(opened) and not re.search(rf"</{opened[-1].group(1)}>", answer[opened[-1].end():], re.I)


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
