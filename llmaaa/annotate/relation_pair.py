"""What an RE answer says of the pair asked rather than of the label: where it repeats the head's or tail's
name, and which way a relation it writes runs.

Each ordered pair is asked on its own, so a triple that names the pair ("(Anna, Work_For, IBM)",
"Work_For(Anna, IBM)", ``{"head": ..., "tail": ...}``, "Anna -> Work_For -> IBM", "Anna Work_For IBM") is read
for its direction first: tail before head says the label holds the other way, which for this pair is no
relation; words like "(e2,e1)" or "inverse" say so too. A name that holds a label's words ("Kill Devil Hills")
is masked first, so that it reads as the entity, and a masked name still tells head from tail.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

from llmaaa.annotate.relation_cues import _LEAD_IN, _label_body, _nfkc
from llmaaa.data.schema import NO_RELATION
from llmaaa.data.scripts import NO_SPACE_SCRIPTS

# an answer that says its label holds the other way round: "Work_For(e2,e1)", "Work_For (inverse)", "reversed"
_REVERSED = re.compile(r"\(\s*e2\s*,\s*e1\s*\)|\b(?:inverse|inverted|reversed?|opposite direction|other direction|"
                       r"the other way(?: round| around)?|from (?:the )?tail to (?:the )?head)\b|\btail\s*->\s*head\b|"
                       r"\(\s*tail\s*,\s*head\s*\)", re.I)
# "not the other way around", "it is not the inverse": the direction confirmed, not reversed
_NOT_BEFORE = re.compile(r"(?:\bnot|n't|\bno)\s+(?:\w+\s+){0,5}$", re.I)
# "The reverse is not true", "in the opposite direction there would be no relation": the other way denied
_NOT_AFTER = re.compile(r"[^\S\n]*(?:direction[^\S\n]+)?(?:is[^\S\n]+not|isn't|does[^\S\n]+not|doesn't|would[^\S\n]+be"
                        r"[^\S\n]+(?:no|not)|there[^\S\n]+would[^\S\n]+be[^\S\n]+no|holds?[^\S\n]+no\b"
                        r"|[^\n.]{0,40}?\b(?:is|be)[^\S\n]+(?:no|not)(?:\b|_))", re.I)
# a whole line that is a triple, its first and last slots plain: "(Anna, Work_For, IBM)", "Work_For(Anna, IBM)",
# "Anna -> Work_For -> IBM"; a slot with a comma or a bracket of its own ("Paris, Texas") is no clear slot
_TRIPLES = (
    re.compile(r"[(\[]\s*(?P<a>[^,;|()\[\]\n]+?)\s*[,;|]\s*(?P<r>[^,;|()\[\]\n]+?)\s*[,;|]\s*(?P<b>[^,;|()\[\]\n]+?)"
               r"\s*[)\]]"),
    re.compile(r"(?P<r>[^\s()\[\],;|][^()\[\],;|\n]*?)\s*\(\s*(?P<a>[^,;()\n]+?)\s*,\s*(?P<b>[^,;()\n]+?)\s*\)"),
    re.compile(r"(?P<a>[^\n]+?)\s*(?:-+>|→|⟶|=>)\s*(?P<r>[^\n]+?)\s*(?:-+>|→|⟶|=>)\s*(?P<b>[^\n]+?)"),
)


class _PairReading:
    """The readings of an answer that concern the head and tail, mixed into ``relation_answer``'s reader, whose
    ``names`` (the head's and tail's, cleaned), ``classes`` and ``label_of`` they use."""

    def without_mentions(self, text: str, mentions: Sequence[str]) -> str:
        """``text`` with each mention that holds a label's words replaced by a neutral mark (``⟨1⟩``, ``⟨2⟩``),
        so "Kill Devil Hills is in North Carolina, so Located_In" names one label. A mention that is a
        label's name itself ("Kill" as an entity) is left: the answer "Kill" must still read as the label."""
        for i, mention in sorted(enumerate(mentions, 1), key=lambda m: -len(m[1])):
            # as a model writes the name back: its line breaks and double spaces as one space, without the
            # quotes or full stop the span took in ("Kill Devil\nHills", '"Live In Style"', "Kill Devil Hills.")
            mention = _clean_name(mention)
            if not mention or self.label_of(mention, strict=True) is not None:
                continue
            # a label's words inside the name, whole words unless the name's script has no spaces
            edges = ("", "") if NO_SPACE_SCRIPTS.search(mention) else (r"(?<![\w])", r"(?![\w])")
            inside = [m for c in self.classes if c != NO_RELATION
                      for m in re.finditer(edges[0] + _label_body(c) + edges[1], mention, re.I)]
            if not inside:
                continue
            # the whole name, then the part a model repeats of a longer one ("Kill Devil" of "Kill Devil Hills,
            # North Carolina"): the label's words with the name's word before or after them
            names = [mention]
            for m in inside:
                before = re.search(r"(\w[\w'’.-]*)\s+$", mention[: m.start()])
                after = re.match(r"\s+(\w[\w'’-]*)", mention[m.end():])
                names += [mention[before.start(1): m.end()]] if before else []
                names += [mention[m.start(): m.end() + after.end()]] if after else []
            for name in names:
                text = _masked(text, name, f"⟨{i}⟩")
        return text

    def for_pair(self, triples: Sequence[tuple[str, str, bool]]) -> str | None:
        """What triples (first slot, last slot, whether only exact names count) say of the pair asked:
        ``no_relation`` when they run from the tail to the head only, None to read the label as usual (in the
        order asked, or the order not told).

        A slot naming neither the head nor the tail is no sign of another question: models name an entity by
        an alias or a short form ("IBM" for "International Business Machines", "Ms. Smith", "北大"), so such a
        triple is read as usual: re-asked, a model that answered so twice would fail the whole example."""
        said = set()
        for first, last, exact in triples:
            roles = (self._role(first, exact=exact), self._role(last, exact=exact))
            if roles in (("head", "tail"), ("tail", "head")):
                said.add(roles[0])
        return NO_RELATION if said == {"tail"} else None

    def _triples(self, text: str) -> list[tuple[str, str, bool]]:
        """The lines of ``text`` that are a triple whose middle is a label, as (first slot, last slot, exact)."""
        if not self.names:
            return []
        out = []
        for line in text.splitlines():
            lead = _LEAD_IN.match(line)
            if lead and re.search(r"[:：=]|\b(?:is|be)\b", lead.group()):  # "Answer: (Anna, Work_For, IBM)"
                line = line[lead.end():]
            line = line.strip().strip("*`").rstrip(".。!").strip()
            for shape in _TRIPLES:
                m = shape.fullmatch(line)
                if m and self.label_of(m["r"], strict=True) not in (None, NO_RELATION):
                    out.append((m["a"], m["b"], False))
                    break
            else:  # "Anna Work_For IBM": one label, written as the label, between two names given exactly
                hits = [(m, c) for c in self.classes[1:]
                        for m in re.finditer(r"(?<![\w])" + _label_body(c) + r"(?![\w])", line, re.I)]
                if len(hits) == 1 and hits[0][0].group().casefold() == _nfkc(hits[0][1]).casefold():
                    m = hits[0][0]
                    first, last = line[: m.start()].rstrip(" \t,|"), line[m.end():].lstrip(" \t,|")
                    if first and last and first != line[: m.start()] and last != line[m.end():]:
                        out.append((first, last, True))
        return out

    def _role(self, slot: str, *, exact: bool) -> str | None:
        """Whom a triple's slot names: "head", "tail", or None (someone else, a pronoun, a phrase, a name the
        head and tail share). Names compare as ``without_mentions``
        masks them: any case and spacing, without the quotes and stops around them; ``exact`` off, a slot that
        holds the name or is part of it ("Anna (Peop)", "Smith" of "Anna Smith") counts too."""
        slot = _clean_name(slot.strip("*`"))
        if not slot or not self.names:
            return None
        marks = set(re.findall(r"⟨([12])⟩", slot))  # a name that holds a label's words, masked
        if marks:
            whole = re.fullmatch(r"⟨[12]⟩", slot)
            return ("head", "tail")[int(marks.pop()) - 1] if len(marks) == 1 and (whole or not exact) else None
        named = [i for i, name in enumerate(self.names) if name and re.fullmatch(_name_pattern(name), slot, re.I)]
        if not named and not exact:
            named = [i for i, name in enumerate(self.names) if name and (
                re.search(_name_pattern(name), slot, re.I) or re.search(_name_pattern(slot), name, re.I))]
        return ("head", "tail")[named[0]] if len(named) == 1 else None

    def _reversed(self, text: str) -> bool:
        """Whether ``text`` says its label holds the other way round ("Work_For(e2,e1)", "Work_For (inverse)"):
        not when negated ("not the other way around", "the reverse is not true"), nor where the words belong to
        a label written in the answer ("Inverse_Of", "Cause-Effect(e2,e1)")."""
        inside = [(m.start(), m.end()) for c in self.classes for m in re.finditer(_label_body(c), text, re.I)]
        return any(not _NOT_BEFORE.search(text[: m.start()]) and not _NOT_AFTER.match(text, m.end())
                   and not any(s <= m.start() and m.end() <= e for s, e in inside)
                   for m in _REVERSED.finditer(text))


def _masked(text: str, name: str, mark: str) -> str:
    """``text`` with ``name`` (any case, any whitespace between its words) replaced by ``mark``."""
    return re.sub(_name_pattern(name), mark, text, flags=re.I)


def _name_pattern(name: str) -> str:
    """``name`` as a pattern: its words with any whitespace between, whole words unless its script has no spaces."""
    body = r"\s+".join(map(re.escape, name.split()))
    edge = "" if NO_SPACE_SCRIPTS.match(name[:1]) else r"(?<![\w])"
    tail = "" if NO_SPACE_SCRIPTS.match(name[-1:]) else r"(?![\w])"
    return edge + body + tail


def _clean_name(name: str) -> str:
    """An entity's name as a model writes it back: without the quotes, brackets and stops its span took in."""
    return _nfkc(name).strip().strip(_AROUND_NAME).strip()


def _json_ends(data: Any) -> tuple[str, str] | None:
    """A JSON triple's head and tail as it names them (``{"head": "Anna", "relation": ..., "tail": "IBM"}``)."""
    if not isinstance(data, dict):
        return None
    folded = {str(k).casefold(): v for k, v in data.items()}
    head = next((folded[k] for k in _HEAD_KEYS if isinstance(folded.get(k), str)), None)
    tail = next((folded[k] for k in _TAIL_KEYS if isinstance(folded.get(k), str)), None)
    return (head, tail) if head is not None and tail is not None else None


_AROUND_NAME = "\"'`“”‘’«»„「」『』《》()[]（）.,;:!?。，；：！？"  # quotes, brackets and stops a name's span took in
# where a JSON triple keeps its ends
_HEAD_KEYS = ("head", "subject", "subj", "head_entity", "entity1", "entity_1", "e1", "source", "arg1")
_TAIL_KEYS = ("tail", "object", "obj", "tail_entity", "entity2", "entity_2", "e2", "target", "arg2")
