"""A project's labeling config, read once: which tags we fill, which labels exist, what they mean.

We serve configs with exactly one ``<Labels>`` on exactly one ``<Text>`` (NER), optionally with a
``<Relations>`` block (NER + relations, or relations on entities given in the task). Other objects
and controls may sit beside it (a title ``<Text>``, a ``<Choices>`` for the annotator): they are
shown to the annotator and left alone, because the spans live on the one text ``<Labels>`` names. Anything else
is refused with :class:`UnsupportedConfig`, whose message says what to change: Label Studio shows
it to the project owner when they connect the backend.

Label descriptions for the LLM's prompt come from the ``hint`` attribute of ``<Label>`` and
``<Relation>`` (Label Studio shows the same hint as a tooltip to annotators, so humans and the LLM
read one definition); ``description`` is accepted as an alias. ``predicted_values="a,b"`` on a
``<Label>`` lists other names a model may use for it (upstream label-studio-ml convention).
``alias="PER"`` on a ``<Label value="Person">``: Label Studio stores the alias in results (its
frontend and ``LabelInterface`` both do), so annotations arrive with it and predictions must carry
it; the prompt and the student use the readable ``value``.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from llmaaa.data.schema import LabelSet


class UnsupportedConfig(ValueError):
    """A labeling config the backend cannot serve; the message tells the project owner what to change."""


@dataclass(frozen=True)
class LabelingSchema:
    """The parts of a labeling config the backend uses."""

    from_name: str  # the <Labels> name
    to_name: str  # the <Text> name
    value_key: str  # the task data field holding the text ("text" for value="$text")
    entity_labels: tuple[str, ...]
    relation_labels: tuple[str, ...] = ()
    descriptions: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)  # lower-cased model name -> config label
    result_names: dict[str, str] = field(default_factory=dict)  # config label -> its <Label alias>, where set
    config_hash: str = ""
    encoding: str = ""  # <Text encoding="base64|base64unicode">: the task holds the text encoded

    def text_in(self, data: Any) -> Any:
        """The task's text in its ``data`` as Label Studio shows it: ``data[value_key]``, a dotted key walked
        into nested objects (``$doc.body``) as Label Studio does, base64 decoded for an ``encoding``.
        Whatever is there when it is no string (the caller says what is wrong); None when absent."""
        if not isinstance(data, Mapping):
            return None
        value = data.get(self.value_key)
        if value is None and ("." in self.value_key or "[" in self.value_key):
            value = data
            for part in self._path():
                if isinstance(value, Mapping):
                    value = value.get(part)
                elif isinstance(value, list) and part.isdecimal() and int(part) < len(value):
                    value = value[int(part)]  # "$docs.0.body", "$docs[0].body": lodash.get, as Label Studio reads it
                else:
                    value = None
        if isinstance(value, str) and self.encoding:
            try:
                packed = "".join(value.split())
                raw = base64.b64decode(packed + "=" * (-len(packed) % 4), validate=False)  # atob takes it unpadded
                return raw.decode("utf-8") if self.encoding == "base64unicode" else raw.decode("latin-1")
            except (ValueError, UnicodeDecodeError):
                return None
        return value

    def _path(self) -> list[str]:
        return [p for p in re.split(r"[.\[\]]+", self.value_key) if p]

    def with_text(self, data: Any, text: str) -> dict[str, Any]:
        """``data`` holding ``text`` where ``text_in`` reads it (encoded again for an ``encoding``); the task's own
        data when it holds that text already."""
        if isinstance(data, Mapping) and self.text_in(data) == text:
            return dict(data)
        if self.encoding:
            raw = text.encode("utf-8") if self.encoding == "base64unicode" else text.encode("latin-1", "replace")
            text = base64.b64encode(raw).decode("ascii")
        out = dict(data) if isinstance(data, Mapping) else {}
        if self.value_key not in out and self.text_in(out) is not None and len(path := self._path()) > 1:
            node: Any = out
            for part in path[:-1]:  # copies along the path: the caller's data stays as it was
                key = int(part) if isinstance(node, list) else part
                node[key] = list(node[key]) if isinstance(node[key], list) else dict(node[key])
                node = node[key]
            node[int(path[-1]) if isinstance(node, list) else path[-1]] = text
            return out
        out[self.value_key] = text
        return out

    @property
    def task(self) -> str:
        """``ner`` or ``ner_re`` (relations are predicted on top of the entities)."""
        return "ner_re" if self.relation_labels else "ner"

    @property
    def labels(self) -> LabelSet:
        return LabelSet(self.entity_labels, self.relation_labels, dict(self.descriptions))

    def map_entity(self, label: str) -> str | None:
        """The config's label for a model/LLM label, or None (unknown labels never reach Label Studio).

        A label's own exact name always means that label, even where "PER" and "Per" are both labels."""
        name = str(label).strip()
        if name in self.entity_labels:
            return name
        return self.aliases.get(name.lower())

    def result_label(self, label: str) -> str:
        """The name Label Studio stores in a result for config label ``label`` (its alias, if any)."""
        return self.result_names.get(label, label)

    def map_relation(self, label: str) -> str | None:
        """The config's relation label for ``label`` (case-insensitive), its own exact name first."""
        name = str(label).strip()
        if name in self.relation_labels:
            return name
        return next((r for r in self.relation_labels if r.lower() == name.lower()), None)


def config_hash(xml: str) -> str:
    return hashlib.sha256(xml.encode("utf-8", "surrogatepass")).hexdigest()[:16]


_DECLARATION = re.compile(r"^\ufeff?\s*<\?xml[^>]*\?>")


def without_declaration(xml: str) -> str:
    """``xml`` without a leading ``<?xml ... encoding=...?>``: lxml (the SDK's ``LabelInterface``) refuses
    a declared encoding in a str, while the config is already text."""
    return _DECLARATION.sub("", xml, count=1)


# Label Studio's frontend reads tag and attribute names case-insensitively (<labels toname=...> works there)
_TAGS = {t.lower(): t for t in ("View", "Labels", "Label", "Text", "Relations", "Relation", "HyperTextLabels",
                                 "ParagraphLabels", "HyperText", "Paragraphs", "Choices", "Header")}
_ATTRS = {a.lower(): a for a in ("toName", "valueType")}


def _canonical(root: ET.Element) -> ET.Element:
    for el in root.iter():
        if isinstance(el.tag, str):
            el.tag = _TAGS.get(el.tag.lower(), el.tag)
        for key in [k for k in el.attrib if k.lower() in _ATTRS and k != _ATTRS[k.lower()]]:
            el.attrib.setdefault(_ATTRS[key.lower()], el.attrib.pop(key))
    return root


def parse_config(xml: str) -> LabelingSchema:
    """Read ``xml`` (a Label Studio labeling config) or raise :class:`UnsupportedConfig`."""
    if not isinstance(xml, str):
        raise UnsupportedConfig(f"the labeling config must be the XML as a string, got {type(xml).__name__}")
    if not xml.strip():
        raise UnsupportedConfig("the labeling config is empty; send the project's XML config as 'schema'")
    try:
        xml.encode("utf-8")
    except UnicodeEncodeError as e:
        raise UnsupportedConfig(f"the labeling config is not valid Unicode (a lone surrogate at character {e.start})") from None
    try:
        root = _canonical(ET.fromstring(without_declaration(xml)))
    except ET.ParseError as e:
        raise UnsupportedConfig(f"the labeling config is not valid XML ({e})") from e
    texts = {el.get("name"): el for el in root.iter() if el.tag == "Text" and el.get("name")}
    objects = {el.get("name"): el.tag for el in root.iter() if el.get("name") and el.get("value", "").startswith("$")}
    labels = [el for el in root.iter() if el.tag in ("Labels", "HyperTextLabels", "ParagraphLabels")]
    if not labels:
        raise UnsupportedConfig(
            "this backend pre-annotates spans: the config needs a <Labels name=... toName=...> on a <Text>, "
            "e.g. label_config/ner.xml"
        )
    if len(labels) > 1:
        names = ", ".join(el.get("name", "?") for el in labels)
        raise UnsupportedConfig(f"the config has {len(labels)} label blocks ({names}); this backend serves exactly one <Labels>")
    lab = labels[0]
    if lab.tag != "Labels":
        raise UnsupportedConfig(f"<{lab.tag}> is not supported; use <Labels> on a <Text> object")
    to_name = (lab.get("toName") or "").split(",")
    if len(to_name) != 1 or not to_name[0]:
        raise UnsupportedConfig(f"<Labels name={lab.get('name')!r}> must point at exactly one <Text> with toName")
    to_name = to_name[0]
    if to_name not in texts:
        kind = objects.get(to_name)
        what = f"a <{kind}>" if kind else "no object of that name"
        raise UnsupportedConfig(f"<Labels> points at {to_name!r}, which is {what}; this backend serves text only (<Text>)")
    value = texts[to_name].get("value", "")
    if not value.startswith("$") or len(value) < 2:
        raise UnsupportedConfig(f"<Text name={to_name!r}> needs value=\"$field\" naming the task's text field")
    if (texts[to_name].get("valueType") or "").lower() == "url":
        # the task then holds a link, not the text: we would pre-annotate the URL itself
        raise UnsupportedConfig(f"<Text name={to_name!r} valueType=\"url\"> loads the text from a file; this backend "
                                f"needs the text in the task: remove valueType=\"url\" and import tasks as "
                                f"{{\"{value[1:]}\": \"the text\"}}")
    encoding = (texts[to_name].get("encoding") or "").lower()
    if encoding not in ("", "none", "base64", "base64unicode"):
        raise UnsupportedConfig(f"<Text name={to_name!r} encoding={encoding!r}>: this backend reads plain text, "
                                "base64 and base64unicode")
    encoding = "" if encoding == "none" else encoding
    entity_labels: list[str] = []
    descriptions: dict[str, str] = {}
    result_names: dict[str, str] = {}
    others: list[tuple[str, str]] = []  # (other name, label): predicted_values, after every label's own names
    for el in lab.iter("Label"):  # also <Label>s grouped in a <View> inside <Labels>, as Label Studio allows
        v = el.get("value")
        if not v or v in entity_labels:
            continue
        entity_labels.append(v)
        if el.get("alias"):
            result_names[v] = el.get("alias")
        desc = el.get("hint") or el.get("description")
        if desc:
            descriptions[v] = desc
        others += [(alt, v) for alt in (el.get("predicted_values") or "").split(",")]
    # a label's own name, then its alias, then other labels' predicted_values: "LOC predicted_values=GPE"
    # beside a "GPE" label must not turn GPE annotations into LOC
    aliases: dict[str, str] = {}
    for alt, v in [*((v, v) for v in entity_labels), *((a, v) for v, a in result_names.items()), *others]:
        if alt.strip():
            aliases.setdefault(alt.strip().lower(), v)
    if not entity_labels:
        if lab.get("value", "").startswith("$"):
            raise UnsupportedConfig(f"<Labels name={lab.get('name')!r} value={lab.get('value')!r}> takes its labels "
                                    "from each task (dynamic labels), which this backend does not serve: list the "
                                    "labels as <Label value=...> tags in the config")
        raise UnsupportedConfig(f"<Labels name={lab.get('name')!r}> has no <Label value=...> children")
    relation_labels: list[str] = []
    for el in root.iter("Relation"):
        v = el.get("value")
        if v and v not in relation_labels:
            relation_labels.append(v)
            desc = el.get("hint") or el.get("description")
            if desc:
                descriptions[v] = desc
    if any(True for _ in root.iter("Relations")) and not relation_labels:
        raise UnsupportedConfig("<Relations> has no <Relation value=...> children; add the relation labels")
    return LabelingSchema(
        from_name=lab.get("name", ""),
        to_name=to_name,
        value_key=value[1:],
        encoding=encoding,
        entity_labels=tuple(entity_labels),
        relation_labels=tuple(relation_labels),
        descriptions=descriptions,
        aliases=aliases,
        result_names=result_names,
        config_hash=config_hash(xml),
    )


class SchemaCache:
    """Parsed configs by hash: Label Studio sends the same XML before every predict batch."""

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._items: dict[str, LabelingSchema | UnsupportedConfig] = {}
        self._interfaces: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, xml: str) -> LabelingSchema:
        key = config_hash(xml) if isinstance(xml, str) else f"<{type(xml).__name__}>"  # each type its own error
        with self._lock:
            hit = self._items.get(key)
        if hit is None:
            try:
                hit = parse_config(xml)
            except UnsupportedConfig as e:
                hit = e
            with self._lock:
                if len(self._items) >= self._size:
                    self._items.pop(next(iter(self._items)))
                self._items[key] = hit
        if isinstance(hit, UnsupportedConfig):
            raise hit
        return hit

    def interface(self, xml: str) -> Any:
        """The SDK's ``LabelInterface`` for ``xml`` (imported lazily: it pulls in pandas, ~0.8 s).

        Built from the config with its tag names in canonical case: the SDK matches them exactly and saw no
        control in ``<labels>``/``<text>`` (which Label Studio's frontend takes), so every predicted region
        failed validation and the user got empty predictions with no error."""
        key = config_hash(xml)
        with self._lock:
            li = self._interfaces.get(key)
        if li is None:
            from label_studio_sdk.label_interface import LabelInterface

            text = without_declaration(xml)
            try:
                text = ET.tostring(_canonical(ET.fromstring(text)), encoding="unicode")
            except ET.ParseError:
                pass  # the SDK says what is wrong with it
            li = LabelInterface(text)
            with self._lock:
                self._interfaces[key] = li
        return li
