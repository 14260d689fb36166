"""Chat prompts for the teacher: instruction + label descriptions + k demos + the query.

As in LLMaAA (Zhang et al., 2023, Sec. 3.1), each demo is shown as a user turn with its gold answer
as the assistant turn, ordered least to most similar so the closest demo sits next to the query.
The wording lives in ``string.Template`` files (``templates/{ner,re}_{system,query}.txt``); a project
overrides any of them by giving a folder holding files of the same names.

Default answer formats (the paper's): NER, ``[{"span": "<exact text>", "type": "<LABEL>"}]``;
with JSON mode on, servers only emit objects, so the list is wrapped as ``{"entities": [...]}``.
RE, the label name alone (JSON mode: ``{"relation": "<label>"}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Mapping, Sequence

from llmaaa.data.pairs import candidate_pairs
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Span
from llmaaa.data.scripts import inside_word

TEMPLATE_DIR = Path(__file__).parent / "templates"
TEMPLATE_NAMES = ("system", "query")

# One line per label of the bundled benchmarks; a project's LabelSet.descriptions take precedence.
DEFAULT_DESCRIPTIONS: Mapping[str, str] = {
    "PER": "a person's name", "ORG": "an organization: company, team, party, agency, institution",
    "LOC": "a location: country, city, region, river, mountain",
    "MISC": "other names: nationalities, events, languages, products, works of art",
    "Peop": "a person's name", "Org": "an organization", "Loc": "a location", "Other": "another named entity",
    "Work_For": "the head person works for the tail organization",
    "Kill": "the head person killed the tail person",
    "OrgBased_In": "the head organization is based in the tail location",
    "Live_In": "the head person lives in the tail location",
    "Located_In": "the head location is located in the tail location",
    NO_RELATION: "none of the relations above holds from the head to the tail",
}

Message = dict[str, str]


class TemplateError(ValueError):
    """A prompt template that is missing or names a placeholder the teacher does not fill."""


def load_templates(task: str, override_dir: str | Path | None = None) -> dict[str, Template]:
    """``{"system": ..., "query": ...}`` for ``task``; files in ``override_dir`` replace the defaults."""
    out: dict[str, Template] = {}
    for name in TEMPLATE_NAMES:
        fname = f"{task}_{name}.txt"
        path = Path(override_dir) / fname if override_dir else None
        if path is None or not path.exists():
            path = TEMPLATE_DIR / fname
        if not path.exists():
            raise TemplateError(f"no prompt template {fname} for task {task!r} in {override_dir or TEMPLATE_DIR}")
        template = Template(path.read_text(encoding="utf-8").strip())
        if not template.is_valid():  # a lone "$" ("costs $5"): said now, with the file, not mid-round
            try:
                template.substitute(_AnyValue())
            except ValueError as e:
                raise TemplateError(f"{path}: {e} {_LONE_DOLLAR}") from None
        out[name] = template
    return out


_LONE_DOLLAR = "(a '$' that starts no placeholder: write '$$' for a literal dollar sign)"


class _AnyValue(dict):
    """Every placeholder's value, so that checking a template finds only its syntax errors."""

    def __missing__(self, key: str) -> str:
        return ""


def _fill(template: Template, **values: str) -> str:
    try:
        return template.substitute(**values)
    except KeyError as e:
        raise TemplateError(
            f"prompt template placeholder {e} is unknown; available: {', '.join('$' + k for k in values)}"
        ) from None
    except ValueError as e:
        raise TemplateError(f"prompt template: {e} {_LONE_DOLLAR}") from None


@dataclass
class PromptBuilder:
    """Builds the chat messages for one NER example or one RE (head, tail) pair."""

    task: str
    labels: LabelSet
    json_mode: bool = False
    descriptions: bool = True  # False: label names only (the RE ablation)
    template_dir: str | Path | None = None

    def __post_init__(self) -> None:
        if self.task not in ("ner", "re"):
            raise ValueError(f"task must be 'ner' or 're', got {self.task!r}")
        self.templates = load_templates(self.task, self.template_dir)
        self._system: str | None = None
        self._answers: dict[tuple, str] = {}  # demo -> its answer turn (demos recur across prompts)

    # -- label lists and formats
    def _label_lines(self, names: Sequence[str]) -> str:
        """One ``- NAME: description`` line per label.

        A description is folded onto its line (Label Studio hints are often several lines): a line
        break in it would start a line the model reads as another label or as a new instruction.
        """
        lines = []
        for name in names:
            desc = " ".join((self.labels.describe(name) or DEFAULT_DESCRIPTIONS.get(name, "")).split())
            lines.append(f"- {name}: {desc}" if self.descriptions and desc else f"- {name}")
        return "\n".join(lines)

    def _format(self) -> str:
        if self.task == "ner":
            if self.json_mode:
                return ('Answer with a JSON object {"entities": [{"span": "<exact text>", "type": "<TYPE>"}, ...]}; '
                        'use {"entities": []} when there is none.')
            return 'Answer with a JSON list [{"span": "<exact text>", "type": "<TYPE>"}, ...]; use [] when there is none.'
        if self.json_mode:
            return 'Answer with a JSON object {"relation": "<label>"}.'
        return "Answer with the label name only."

    def system(self) -> str:
        if self._system is None:
            names = self.labels.entity_labels if self.task == "ner" else self.labels.relation_classes
            self._system = _fill(self.templates["system"], labels=self._label_lines(names), format=self._format())
        return self._system

    # -- NER
    def ner_query(self, ex: Example) -> str:
        return _fill(self.templates["query"], text=ex.text)

    def ner_answer(self, ex: Example) -> str:
        """A demo's gold spans as the answer turn, in the project's label names.

        Spans of a label outside the project's set (gold from a wider scheme, a retired label) are
        left out: the prompt lists the types to use, and a demo answering with another would teach
        the model to answer with labels that are then dropped. Case differences are mapped.

        Spans are listed in text order, whatever order the source kept (Label Studio keeps drawing
        order): a name listed twice with two types is read occurrence by occurrence, so a demo listing
        "Washington" LOC before PER where the text has the person first would teach the reverse.
        """
        key = (ex.id, ex.text, ex.entities)
        cached = self._answers.get(key)
        if cached is None:
            names = {l.casefold(): l for l in self.labels.entity_labels}
            items = [{"span": ex.mention(s), "type": names[s.label.casefold()]}
                     for s in sorted(ex.entities, key=lambda s: (s.start, s.end)) if s.label.casefold() in names]
            cached = json.dumps({"entities": items} if self.json_mode else items, ensure_ascii=False)
            self._answers[key] = cached
        return cached

    def ner_messages(self, ex: Example, demos: Sequence[Example]) -> list[Message]:
        msgs: list[Message] = [{"role": "system", "content": self.system()}]
        for d in demos:
            msgs += [{"role": "user", "content": self.ner_query(d)}, {"role": "assistant", "content": self.ner_answer(d)}]
        msgs.append({"role": "user", "content": self.ner_query(ex)})
        return msgs

    # -- RE
    def re_query(self, ex: Example, head: int, tail: int) -> str:
        """The question for one ordered pair. A name the text holds more than once says which occurrence is
        meant ("Paris (Loc; occurrence 2 of 2 in the text)"): in "Paris, Texas is smaller than Paris." the pair
        of the two Parises could not be told from the pair reversed."""
        h, t = ex.entities[head], ex.entities[tail]
        return _fill(self.templates["query"], text=ex.text, head=ex.mention(h), tail=ex.mention(t),
                     head_type=h.label + _occurrence(ex, h), tail_type=t.label + _occurrence(ex, t))

    def re_answer(self, label: str) -> str:
        return json.dumps({"relation": label}) if self.json_mode else label

    def re_messages(self, ex: Example, head: int, tail: int, demos: Sequence[tuple[Example, int, int, str]]) -> list[Message]:
        msgs: list[Message] = [{"role": "system", "content": self.system()}]
        for d, dh, dt, label in demos:
            msgs += [{"role": "user", "content": self.re_query(d, dh, dt)},
                     {"role": "assistant", "content": self.re_answer(label)}]
        msgs.append({"role": "user", "content": self.re_query(ex, head, tail)})
        return msgs


def _occurrence(ex: Example, span: Span) -> str:
    """Which occurrence of its name a span is, when the text holds the name more than once; else "".

    Whole words only where the name's script spaces its words: "US" in "The USA and the US" is the only "US",
    while "iPhone" in "苹果发布了iPhone，用户说iPhone很贵" is there twice."""
    name, text = ex.mention(span), ex.text
    if not name.strip():
        return ""
    starts = [m.start() for m in re.finditer(re.escape(name), text)
              if not (m.start() > 0 and inside_word(text[m.start() - 1], name[0]))
              and not (m.end() < len(text) and inside_word(name[-1], text[m.end()]))]
    if len(starts) < 2 or span.start not in starts:
        return ""
    return f"; occurrence {starts.index(span.start) + 1} of {len(starts)} in the text"


def re_demo_pair(ex: Example, relation_labels: Sequence[str] | None = None) -> tuple[Example, int, int, str] | None:
    """The one (head, tail, label) a demo sentence contributes to an RE prompt.

    Its first gold relation when it has one (so the prompt shows the labels in use), else its first
    ordered entity pair (of its listed ``pairs``, when it lists them) that is neither related nor unknown
    (``Example.unlabeled_pairs``) as ``no_relation``; None when there is none (fewer than two entities). With
    ``relation_labels`` only relations with one of them count: a demo answering with a label the
    prompt does not list would teach an answer the parser must reject. Case differences are mapped.
    """
    names = None if relation_labels is None else {l.casefold(): l for l in relation_labels}
    for r in ex.relations:
        if names is None:
            return ex, r.head, r.tail, r.label
        if r.label.casefold() in names:
            return ex, r.head, r.tail, names[r.label.casefold()]
    unknown = ex.unlabeled_pairs  # a pair linked without a label is no example of "no relation"
    related = {(r.head, r.tail) for r in ex.relations}
    try:  # only the pairs the demo asked about (TACRED's subject -> object): its reverse was never labeled
        pairs = candidate_pairs(ex)
    except (ValueError, TypeError, KeyError):
        return None
    return next(((ex, h, t, NO_RELATION) for h, t in pairs if (h, t) not in unknown and (h, t) not in related), None)
