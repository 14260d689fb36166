"""Read one relation label out of an LLM's answer to "which relation holds from the head to the tail?".

Models answer with the label alone, the label and then why, "None" and then why, JSON of many shapes,
a think block, or a paragraph that names several labels while it reasons. The reading, in order:

1. JSON: the relation's own key (``relation``, ``relationship``, ``final_answer``, ...), a label-keyed
   yes/no object, or a lone value that is a label; an empty object or list is no relation.
2. An answer line: the last line that gives its answer after a lead-in ("Answer: None (Work_For is not
   stated)", "Final answer: Live_In"), else the answer's opening ("Live_In. Reason: Work_For needs an
   organization."): a label or a "none" word standing alone there is the answer, whatever the
   explanation after it names, unless a later self-correction ("Wait, actually it's Work_For") names
   exactly one other.
3. Prose: the labels it names, leaving out the negated ("no Work_For or Live_In relation", "can't be
   Work_For"), the dismissed ("Work_For does not hold", "Work_For would need a job") and the ones
   given as the alternative ("rather than Live_In"); one left is the answer, a "none" phrase with none
   left is no relation.

An answer that still names two labels, or only denies one, or says the relation holds the other way
round, is re-asked (``AnswerError``): a wrong label costs more than another question.

Each ordered pair is asked on its own, so a triple that names the pair ("(Anna, Work_For, IBM)",
"Work_For(Anna, IBM)", ``{"head": ..., "tail": ...}``, "Anna -> Work_For -> IBM", "Anna Work_For IBM") is read
for its direction first: tail before head says the label holds the other way, which for this pair is no relation.
The patterns it reads with live in ``relation_cues``, the reading of the pair (names, direction) in
``relation_pair``.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from llmaaa.annotate.answer_errors import AnswerError
from llmaaa.annotate.answer_shapes import _pick
from llmaaa.annotate.jsonrepair import extract_json, strip_reasoning
from llmaaa.annotate.labels import _norm_label, _stem_label
from llmaaa.annotate.relation_cues import (
    _ALTERNATIVE, _COLON_CUE, _DENIED_AFTER, _DISMISSED_AFTER, _EXCEPT, _FINAL, _HEAD_END, _HEDGE, _LEAD_IN, _NEGATED,
    _NO_RELATION_WORDS, _NONE_HEAD, _OTHER_ANSWERS, _REVISION, _STRONG_CUE, _cued, _label_body, _label_pattern,
    _nfkc, _writes_label)
from llmaaa.annotate.relation_pair import _PairReading, _clean_name, _json_ends
from llmaaa.data.schema import NO_RELATION
from llmaaa.data.scripts import NO_SPACE_SCRIPTS

# an RE answer is a label and a line of why; a server that ignores max_tokens can send pages, and the
# scans below are not meant for them
_MAX_ANSWER_CHARS = 4000
_MAX_MENTIONS = 50  # label mentions in one answer; a reasoning paragraph names a few

# keys that hold the relation in a JSON answer, the answer's own words first
RELATION_KEYS = ("relation", "relationship", "relation_type", "relation_label", "predicted_relation", "final_answer",
                 "answer", "label", "output", "result", "prediction", "conclusion", "verdict", "final", "type",
                 "predicate", "rel")
_FALSE_KEYS = ("has_relation", "relation_exists", "related", "holds")
_YES = frozenset({"yes", "true", "1", "y", "holds", "✓", "✔"})
_NO = frozenset({"no", "false", "0", "n", "none", "✗", "❌", "×"})


def parse_re_answer(answer: str, labels: Sequence[str], mentions: Sequence[str] = ()) -> str:
    """The relation label ``answer`` gives (case, ``_``/``-``/space and full-width forms forgiven), or
    ``no_relation``; ``AnswerError`` with what to answer when it gives none or several.

    ``mentions``: the head's and tail's text. A name that holds a label's words ("Kill Devil Hills", "Live
    In Style Ltd") is the entity wherever the answer repeats it, not the label.
    """
    reader = _Reader(labels, mentions)
    text = _nfkc(strip_reasoning(answer)).strip()  # "Ｗｏｒｋ＿Ｆｏｒ" typed full width
    if len(text) > _MAX_ANSWER_CHARS:  # the opening answer and the final one, not the reasoning between
        text = text[: _MAX_ANSWER_CHARS // 2] + "\n" + text[-_MAX_ANSWER_CHARS // 2:]
    text = _without_echoed_examples(text)
    try:  # {"relation": "Work_For"} or "Work_For" in JSON mode
        data = extract_json(text) if text[:1] in "[{" or "```" in text else None
    except AnswerError:
        data = None
    if isinstance(data, (dict, list)):
        found = reader.from_json(data)
        ends = _json_ends(data)
        if found is not None and found != NO_RELATION and ends is not None:  # {"head": "IBM", ..., "tail": "Anna"}
            return reader.for_pair([(*ends, False)]) or found
        if found is not None:
            return found
        text = _json_text(data)
    return reader.from_text(reader.without_mentions(text, mentions))


def _part_runs(label: str) -> set[str]:
    """The normalized forms of every run of consecutive ``:``/``/`` parts of ``label`` ("a", "ab", "b" of "a/b")."""
    parts = [p for p in re.split(r"[:/]", label) if p.strip()]
    return {_norm_label("".join(parts[i:j])) for i in range(len(parts)) for j in range(i + 1, len(parts) + 1)}


class _Reader(_PairReading):
    """The label set of one question, and the readings of an answer against it."""

    def __init__(self, labels: Sequence[str], mentions: Sequence[str] = ()):
        # the head's and tail's names, to tell which way a triple runs; none when not given as a pair
        self.names = [_clean_name(m) for m in mentions] if len(mentions) == 2 else []
        self.classes = [NO_RELATION, *[l for l in labels if l != NO_RELATION]]
        self.lookup = {_nfkc(c).casefold(): c for c in self.classes}
        self.normed = {_norm_label(_nfkc(c)): c for c in self.classes}
        # a label with a prefix ("per:employee_of" of TACRED, "/people/person/place_lived" of NYT) answered
        # without it, as models often do: what follows any of its ":" or "/" ("top_members/employees" and
        # "employees" of "org:top_members/employees"), when no other label holds the same words as a run of
        # its parts ("sports_team_location" is a part of "/sports/sports_team_location/teams", so it is no
        # short form of "/sports/sports_team/location")
        tails: dict[str, dict[str, str]] = {}  # key -> {class: tail}
        for c in self.classes[1:]:
            for sep in re.finditer(r"[:/]", _nfkc(c)):
                if tail := _nfkc(c)[sep.end():].strip(" :/"):
                    tails.setdefault(_norm_label(tail), {}).setdefault(c, tail)
        runs = {c: _part_runs(_nfkc(c)) for c in self.classes[1:]}
        self.tails = [(tail, c) for key, forms in tails.items() if len(forms) == 1 and key and key not in self.normed
                      for c, tail in forms.items() if not any(key in r for o, r in runs.items() if o != c)]
        self.tail_of = {_norm_label(tail): c for tail, c in self.tails}

    def fail(self, found: Sequence[str] = ()) -> AnswerError:
        names = f"the answer names {', '.join(found)}; " if len(found) > 1 else ""
        return AnswerError(f"{names}answer with exactly one of these labels and nothing else: {', '.join(self.classes)}")

    def label_of(self, candidate: str, *, strict: bool = False) -> str | None:
        """The class ``candidate`` is, written whole ("Work For", "WORK_FOR", "none"), or None; ``strict``: a
        class's own name only, no "none" phrase ("None of the others fit" after an answer is no second answer)."""
        token = candidate.strip().strip("`\"'.:*").strip()
        if token.casefold() in self.lookup:
            return self.lookup[token.casefold()]
        if strict:
            key = _norm_label(token)
            return (self.normed.get(key) or self.tail_of.get(key)) if key else None
        if token in ("NA", "N.A.", "na"):  # the null label of DocRED / NYT-style data, answered as learned
            return NO_RELATION
        if token.casefold() in _OTHER_ANSWERS:
            return NO_RELATION  # SemEval's "Other", "Neither" of a yes/no-minded model: no relation the user has
        if _NONE_HEAD.fullmatch(token) and not _EXCEPT.search(token):
            return NO_RELATION
        key = _norm_label(token)
        return (self.normed.get(key) or self.tail_of.get(key)) if key else None

    # -- JSON ------------------------------------------------------------------------------
    def from_json(self, data: Any) -> str | None:
        """The relation of a JSON answer, or None to read its text instead."""
        if not data:  # [] / {} in JSON mode: nothing holds
            return NO_RELATION
        if isinstance(data, list):
            return None
        folded = {str(k).casefold(): v for k, v in data.items()}
        for key in RELATION_KEYS:  # {"relationship": "works at", "label": "Work_For"}: the key that names a label
            if isinstance(folded.get(key), str) and (hit := self.label_of(folded[key])) is not None:
                return hit
        if any(k in folded for k in RELATION_KEYS):
            value = _pick(data, RELATION_KEYS)
            if value is False or value is None or (isinstance(value, (str, list, dict)) and not (
                    value.strip() if isinstance(value, str) else value)):
                return NO_RELATION  # {"relation": ""} / {"relation": []} / {"relation": false}: none given
            return None if isinstance(value, (str, list, dict)) else self.from_text(str(value))
        if any(folded.get(k) is False for k in _FALSE_KEYS):
            return NO_RELATION  # {"has_relation": false}
        if "relations" in folded and not folded["relations"]:
            return NO_RELATION  # {"relations": []}
        # label-keyed: {"Work_For": "no", "Live_In": "yes"}, {"Work_For": true, "Live_In": false}
        keyed = {self.label_of(str(k)): _truth(v) for k, v in data.items()}
        if None not in keyed and None not in keyed.values():
            held = [c for c, holds in keyed.items() if holds]
            if len(held) > 1:
                raise self.fail(held)
            return held[0] if held else NO_RELATION
        # a lone value that is a label: {"entity1": "Kill Bill", "entity2": "Acme", "relationship": ...} is above
        named = {self.label_of(v) for v in data.values() if isinstance(v, str)} - {None}
        if len(named) == 1:
            return named.pop()
        return None

    # -- text ------------------------------------------------------------------------------
    def from_text(self, text: str) -> str:
        if (hit := self.label_of(text)) is not None:
            return hit
        if (hit := self.label_of(_LEAD_IN.sub("", text, count=1))) is not None:
            return hit
        if (hit := self.for_pair(self._triples(text))) is not None:
            return hit
        if self._reversed(text):
            raise AnswerError("the answer says the relation holds the other way round (from the tail to the head); "
                              "answer with the label that holds from the head to the tail as asked, or no_relation")
        answered = self._answer_line(text)
        if answered is not None:
            return answered
        if len(text.split()) <= 4:  # "works for", "lives in", "killed": the label as a verb, if only one fits
            stemmed = [c for c in self.classes if _stem_label(c) == _stem_label(text.strip(" .!`\"'*"))]
            if len(stemmed) == 1:
                return stemmed[0]
        revised = _REVISION.search(text)
        if revised and not _HEDGE.search(text[revised.end():]):  # "Initially I thought Work_For, but it's actually Live_In"
            after = self.named(text[revised.end():])
            if len(after) == 1:
                return after[0]
        return self._from_prose(text)

    def _answer_line(self, text: str) -> str | None:
        """The answer given on an answer line (see the module docstring), None when no line gives one."""
        lines = [line for line in text.splitlines() if line.strip()]
        given: list[tuple[str, bool]] = []  # (class, said to be final)
        for line in lines:
            lead = _LEAD_IN.match(line)
            if lead and lead.end() > 0 and re.search(r"[:：=]|\b(?:is|be)\b|答案|关系|關係", lead.group()):
                hit = self._head(line[lead.end():])
                if hit is not None:
                    given.append((hit, bool(_FINAL.match(line))))
        if given:
            if len({c for c, _ in given}) == 1:
                return given[0][0]
            finals = [c for c, final in given if final]
            if finals:
                return finals[-1]
            raise self.fail(sorted({c for c, _ in given}))
        if self._checklist(lines):  # "Work_For: incorrect\nLive_In: correct": read label by label
            return None
        hit = self._head(text)
        if hit is None:
            return None
        rest = text[text.find("\n") + 1:] if "\n" in text else ""
        others = {self.label_of(line, strict=True) for line in rest.splitlines() if line.strip()} - {None, hit}
        if others:  # "Live_In\nWork_For": two answers, one a line each
            raise self.fail([hit, *sorted(others)])
        revised = _REVISION.search(text)
        if revised:  # "Work_For. Wait, actually it should be Live_In."
            after = self.named(text[revised.end():])
            if len(after) > 1 or (after and _HEDGE.search(text[revised.end():])):
                raise self.fail(after)
            if after:
                return after[0]
            if _NO_RELATION_WORDS.search(text[revised.end():]):
                return NO_RELATION
        offered = [c for c in self.named(text) if c != hit]
        if offered and _HEDGE.search(text):  # "Work_For, or maybe Live_In": two answers
            raise self.fail([hit, *offered])
        return hit

    def _checklist(self, lines: Sequence[str]) -> bool:
        """Whether two or more lines each open with a label and a mark (``Work_For: no``, ``- Live_In — yes``)."""
        marked = 0
        for line in lines:
            body = line.lstrip(" \t*\"'`#>-•")
            if any((m := re.match(_label_pattern(c), body, re.I)) and re.match(r"[*\"'`]*[^\S\n]*[:：(（—–-]", body[m.end():])
                   for c in self.classes):
                marked += 1
        return marked >= 2

    def _head(self, text: str) -> str | None:
        """The class standing alone at the start of ``text`` ("Live_In. Reason: ...", "None (Work_For is not
        stated)"), or None: a label followed by more of its clause ("Work_For does not hold"), asked
        ("Live_In?"), denied ("Work_For: No") or reversed is no answer."""
        body = text.lstrip(" \t*\"'`#>-•")
        forms = [(c, c) for c in self.classes] + self.tails  # "employee_of. Anna works at IBM" for per:employee_of
        for form, c in sorted(forms, key=lambda f: len(f[0]), reverse=True):
            m = re.match(_label_pattern(form), body, re.I)
            if (m and self._ends_head(body, m.end()) and not _DENIED_AFTER.match(body, m.end())
                    and not _DISMISSED_AFTER.match(body, m.end()) and not self._listed_after(body, m.end())):
                return c
        m = _NONE_HEAD.match(body)
        if m and self._ends_head(body, m.end()) and not _EXCEPT.search(m.group()):
            return NO_RELATION
        segment = re.match(r"[^\n.;,(!?]+", body)  # "Keine (Beziehung)", "Nothing. ..." (not "Other: Work_For")
        if (segment and segment.group().strip().casefold() in _OTHER_ANSWERS - {"no", "nope"}
                and segment.group().strip().casefold() not in self.lookup):
            return NO_RELATION
        m = re.match(r"(?:no|nope)\b", body, re.I)  # "No." / "No\n...": not "No, Work_For" (no doubt, it is)
        if m and re.match(r"[^\S\n]*(?:$|\n|[.!])", body[m.end():]):
            return NO_RELATION
        return None

    def _listed_after(self, body: str, end: int) -> bool:
        """Whether another label follows the one ending at ``end`` as the next item of a list ("Work_For, Live_In")."""
        sep = re.match(r"[^\S\n]*[,;/，；、][^\S\n]*", body[end:])
        return bool(sep) and any(re.match(_label_pattern(c), body[end + sep.end():], re.I) for c in self.classes)

    @staticmethod
    def _ends_head(body: str, end: int) -> bool:
        rest = body[end:].lstrip("*\"'`")
        return bool(_HEAD_END.match(rest)) and not rest.lstrip().startswith("?")

    def _from_prose(self, text: str) -> str:
        found = self.named(text)
        written = [c for c in found if _writes_label(text, c)]
        if len(found) > 1 and len(written) == 1:  # "Work_For. He works for a firm located in Boston"
            return written[0]
        for cue in (_STRONG_CUE, _COLON_CUE):  # "Work_For is wrong; the correct relation is Live_In"
            cued = [c for c in found if _cued(text, c, cue)]
            if len(found) > 1 and len(cued) == 1:
                return cued[0]
        if (len(found) == 1 and found[0] != NO_RELATION and not written and re.search(r"[\s_-]", found[0])
                and len(text.split()) > 6 and not any(_cued(text, found[0], cue) for cue in (_STRONG_CUE, _COLON_CUE))):
            # "Anna lives in Boston, which is located in Massachusetts": prose that says "located in", not an
            # answer that names Located_In
            raise self.fail()
        if len(found) > 1:
            raise self.fail(found)
        if found:
            return found[0]
        if _NO_RELATION_WORDS.search(text):
            return NO_RELATION
        raise self.fail()

    def named(self, text: str) -> list[str]:
        """The labels ``text`` names as whole words, in order; "_", "-" and spaces inside a label are
        interchangeable ("located in" names Located_In). A match inside a longer label's match (In in
        Located_In), a negated one ("no Work_For or Live_In relation"), a dismissed one ("Work_For would
        need a job") and the alternative not taken ("rather than Live_In") are not named.
        """
        hits = []
        for c in self.classes:
            # a label in a script with no spaces has no word boundary around it: "两者的关系是位于"
            body = _label_body(c)
            pattern = body if NO_SPACE_SCRIPTS.match(c[:1] or " ") else r"(?<![\w])" + body + r"(?![\w])"
            hits += [(m.start(), m.end(), c) for m in re.finditer(pattern, text, re.I)]
        if len(hits) > _MAX_MENTIONS:  # a degenerate answer ("位于位于位于..."): no reading of it is an answer
            raise self.fail()
        out: list[str] = []
        negated_end = -1
        for s, e, c in sorted(hits):
            if any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2, _ in hits):
                continue
            # a list under one negation: "no Work_For, Live_In or Kill relation"
            listed = negated_end >= 0 and re.fullmatch(r"[^\S\n]*(?:,|/|\bor\b|\bnor\b|\band\b)[^\S\n]*(?:(?:or|nor|and)"
                                                       r"[^\S\n]+)?", text[negated_end:s], re.I)
            if listed or _NEGATED.search(text[:s]) or _ALTERNATIVE.search(text[:s]):
                negated_end = e
                continue
            negated_end = -1
            if _DENIED_AFTER.match(text, e) or _DISMISSED_AFTER.match(text, e) or c in out:
                continue
            out.append(c)
        return out


def _truth(value: Any) -> bool | None:
    """A yes/no value of a label-keyed answer: True, False, or None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        v = value.strip().strip(".!").casefold()
        return True if v in _YES else False if v in _NO else None
    return None


def _json_text(data: Any) -> str:
    """The text to read of a JSON answer no key gave away: the relation key's value, a triple's words, or the
    first value."""
    if isinstance(data, list):  # ["Work_For"], or a triple ["Anna", "Work_For", "IBM"]
        return " ".join(map(str, data))
    value = _pick(data, RELATION_KEYS)
    if value is None:
        value = next(iter(data.values()), "")
    if isinstance(value, dict):  # {"relation": {"name": "Work_For"}}
        value = _pick(value, ("name", "label", "type", "value")) or next(iter(value.values()), "")
    if isinstance(value, list):
        return " ".join(map(str, value))
    return str(value)


def _without_echoed_examples(text: str) -> str:
    """A small model that goes on with the few-shot pattern after its answer ("Work_For\\n\\nText: Bob killed
    Anna.\\nHead: ...\\nKill") answered with what came before the echoed example."""
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if line.strip()), 0)
    if lines and not re.match(r"\s*text\s*:", lines[first], re.I):
        for i in range(first + 1, len(lines)):
            if not re.match(r"\s*text\s*:", lines[i], re.I):
                continue
            after = lines[i + 1:]
            block = any(re.match(r"\s*(?:head|tail)\s*:", line, re.I) for line in after[:4])
            answered = any(_LEAD_IN.match(line) and re.search(r"[:：=]", line) for line in after)
            if block and not answered:
                return "\n".join(lines[:i]).strip()
            break
    return text
