"""The user's label an LLM meant when it names it another way ("PERSON" for PER, "B-LOC", "work-for").

Models change a label's case and separators, add BIO prefixes, use a common synonym or invent a
label. A synonym maps only when exactly one user label is of that kind, and a generic name ("Organization")
never to a narrower label ("Company"); anything ambiguous stays an unknown label (dropped and counted by
the caller), never a guess.
"""

from __future__ import annotations

import re
from typing import Any, Iterable


def _label_lookup(labels: Iterable[str]) -> dict[str, str]:
    return {l.casefold(): l for l in labels}


# Names LLMs use for the common entity types instead of the user's label (PERSON for PER, GPE for LOC), also in
# the language of the text: a model asked in English about a Chinese or Spanish sentence often answers "地点：東京"
# or "Lugar: Madrid". Each family is its generic names and the narrower kinds inside it: a narrow answer
# ("company") maps to the user's generic label (ORG), but a generic answer ("Organization") never to a narrow
# label (Company), since the user's other labels (University, Agency) may be organizations too.
_GPE = frozenset({"gpe", "geopolitical", "geopoliticalentity"})
_LABEL_FAMILIES: tuple[tuple[frozenset[str], tuple[frozenset[str], ...]], ...] = (
    (frozenset({"per", "pers", "person", "persons", "people", "peop", "human", "individual", "personname",
                "人名", "人物", "人", "姓名", "人员", "人員", "persona", "personas", "personne", "pessoa", "personen"}), ()),
    (frozenset({"loc", "location", "locations", "place", "geo", "地点", "地點", "地名", "位置", "地理位置", "地区", "地區",
                "場所", "lugar", "ubicación", "lieu", "ort", "luogo", "localização", "ubicacion", "localizacao",
                "localisation", "localización", "localizacion", "lieux", "地理"}),
     (_GPE,)),
    (frozenset({"org", "orgs", "organization", "organisation", "organizations", "organisations", "组织", "組織",
                "机构", "機構", "组织机构", "組織機構", "组织名", "組織名", "organización", "organizzazione", "organização",
                "机构名", "機構名", "组织机构名", "organizacion", "organizacao"}),
     (frozenset({"company", "公司", "会社", "empresa", "unternehmen", "entreprise", "société", "societe"}),
      frozenset({"institution"}))),
    (frozenset({"misc", "miscellaneous", "other", "其他", "其它", "杂项", "雜項", "その他", "otro", "otros",
                "autre", "sonstiges"}), ()),
)
# narrow kinds that stand for their whole family in a label set without its generic label: ACE-style sets
# (PER, ORG, GPE) use GPE for every place, while a Company label beside University is one kind of organization
_STANDS_IN = (_GPE,)
_BIO_PREFIX = re.compile(r"^[BIESLU][-_](?=\w)", re.I)  # "B-PER", "i-per"


def _norm_label(label: str) -> str:
    """Case and separators dropped: "Work-For" -> "workfor", "product name" -> "productname"."""
    return re.sub(r"[\W_]+", "", label).casefold()


def _stem_label(label: str) -> str:
    """Words of a label without inflection: "lives in" and "Live_In" -> "livin", "killed" -> "kill".

    Crude on purpose (-ing/-ed/-s, then a final -e): it only compares an answer with a handful of
    user labels and is used when exactly one label matches.
    """
    out = []
    for w in re.split(r"[\W_]+", label.casefold()):
        for suffix in ("ing", "ed", "s"):
            if w.endswith(suffix) and len(w) - len(suffix) >= 3:
                w = w[: -len(suffix)]
                break
        out.append(w[:-1] if w.endswith("e") and len(w) > 3 else w)
    return "".join(out)


_LABEL_NOTE = re.compile(r"^\s*(?P<label>[^()\[\]（）]+?)\s*[(\[（](?P<note>[^()\[\]（）]+)[)\]）]\s*$")
_LABEL_FIELD = re.compile(r"^\s*(?:entity[\s_]+)?(?:type|label|category|tag|class)\s*[:=：]\s*(?P<label>.+)$", re.I)
# the prompt's own label line copied as the type: "PER: a person's name", "LOC - a place"
_LABEL_DESCRIBED = re.compile(r"^\s*(?P<label>[^:：\s][^:：]*?)\s*(?:[:：]|\s[-–—]\s)\s*\S")


def _label_variants(raw: str) -> list[str]:
    """What else a label written with extras may be: the label before a note ("PER (a person's name)",
    "Person (PER)"), a field's value ("type: PER"), the singular of a plural ("DRUGS", "Diseases",
    "places"). Each is still resolved only when unambiguous."""
    out = []
    if m := _LABEL_NOTE.match(raw):
        out.append(m.group("label"))  # not the note: "Paris (LOC)" is a mention with its label, not a label
    if m := _LABEL_FIELD.match(raw):
        out.append(m.group("label"))
    word = raw.strip()
    if len(word) > 3 and word[-1:] in "sS":
        if word[-3:].casefold() == "ies":
            out.append(word[:-3] + "y")
        out += [word[:-1]] + ([word[:-2]] if word[-2:].casefold() == "es" else [])
    return out


class LabelResolver:
    """The user's label an LLM meant: exact (any case), then ignoring BIO prefixes and separators,
    then a common synonym ("PERSON", "Organisation", "GPE") when exactly one user label is of that kind.

    Only a match that is unambiguous is taken; anything else stays an unknown label (dropped, counted).
    """

    def __init__(self, labels: Iterable[str]) -> None:
        self.labels = list(labels)
        self.exact = _label_lookup(self.labels)
        normed: dict[str, list[str]] = {}
        for l in self.labels:
            normed.setdefault(_norm_label(l), []).append(l)
        self.normed = {k: v[0] for k, v in normed.items() if len(v) == 1}
        # the answers each user label takes as a synonym: a narrow kind's names go to the one user label of
        # that kind, else to the family's one generic label; a generic name only to a generic label
        self.family: dict[frozenset, str] = {}
        for generic, kinds in _LABEL_FAMILIES:
            generics = [l for l in self.labels if _norm_label(l) in generic]
            for kind in kinds:
                narrow = [l for l in self.labels if _norm_label(l) in kind]
                if len(narrow) == 1:
                    self.family[kind] = narrow[0]
                elif not narrow and len(generics) == 1:
                    self.family[kind] = generics[0]
            if len(generics) == 1:
                self.family[generic] = generics[0]
            elif not generics:
                stand_in = [self.family[k] for k in kinds if k in _STANDS_IN and k in self.family]
                if len(stand_in) == 1:
                    self.family[generic] = stand_in[0]

    def __call__(self, raw: str) -> str | None:
        hit = self._resolve(raw)
        if hit is not None or not isinstance(raw, str):
            return hit
        for variant in _label_variants(raw):  # "PER (a person's name)", "Person (PER)", "type: PER", "DRUGS"
            hit = self._resolve(variant)
            if hit is not None:
                return hit
        return None

    def described(self, raw: Any) -> str | None:
        """The label of a type written as the prompt's description line ("PER: a person's name", "LOC - a
        place"). Only for a value known to be a type (a JSON item's "type"): in a plain-text line
        "PER: Anna" is a label and its mention, read elsewhere."""
        m = _LABEL_DESCRIBED.match(raw) if isinstance(raw, str) else None
        return self(m.group("label")) if m else None

    def _resolve(self, raw: str) -> str | None:
        hit = self.exact.get(raw.strip().casefold())
        if hit is not None:
            return hit
        keys = [_norm_label(raw)]
        if _BIO_PREFIX.match(raw.strip()):  # "B-PER"; tried second so a label like "E_MAIL" stays itself
            keys.append(_norm_label(_BIO_PREFIX.sub("", raw.strip())))
        for key in keys:
            hit = self.normed.get(key) or next((label for fam, label in self.family.items() if key in fam), None)
            if hit is not None:
                return hit
        return None
