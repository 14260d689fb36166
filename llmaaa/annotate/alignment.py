"""Map the mentions an LLM returned back to exact char offsets in the user's text.

The LLM quotes mentions with different spacing, case, Unicode form or punctuation; the span we
return is always a slice of the user's own characters.

Alignment rule for a mention string that occurs several times in the text (decided here, tested in
tests/annotate/test_alignment.py):
- all listings of the string carry one type -> *every* occurrence gets that type. LLMs list a
  repeated entity once ("Germany" twice in a sentence comes back once), and gold annotation labels
  every occurrence, so labeling only the first would cost recall on exactly the easy cases;
- listings with different types (``Washington`` PER, then ``Washington`` LOC) -> the i-th listing
  labels the i-th occurrence, in order; the answer order is the only signal which one was meant.
Matching first tries the exact string, then whitespace- and case-insensitive, then insensitive to
Unicode normalization, full width and typographic quotes/dashes (NFD text vs an NFC answer,
"Ｔｏｋｙｏ" vs "Tokyo"), then without the mention's edge punctuation ("Paris,"), and last without
accents ("Jose Alvarez" for "José Álvarez", counted as fuzzy like the tiers before it); the span is
always mapped back to the user's exact characters. Before all of these, a name whose leading character
``parsing.trim_mention`` cut ("'Ndrangheta", "*NSYNC") is taken whole where the text writes it as a word.
In scripts written with spaces a match must sit on word boundaries ("US" never matches inside "USA";
an Arabic or Hebrew prefix such as "و" "and" or "ב" "in" may precede it, the Hebrew article "ה" not),
while in CJK (and Thai) text, which has no spaces, any position is allowed. Overlapping spans: the longer wins; the same
span with two types keeps the first listed (a counted conflict).
"""

from __future__ import annotations

import re
import unicodedata
from typing import Sequence

from llmaaa.annotate.answer_errors import ParseStats
from llmaaa.data.schema import Span
from llmaaa.data.scripts import NO_SPACE_SCRIPTS


def _wordy(ch: str) -> bool:
    """A character that continues a word in a script written with spaces (a vowel sign of Devanagari,
    a combining accent: marks belong to the letter before them)."""
    return (ch.isalnum() or ch == "_" or _attached(ch)) and not NO_SPACE_SCRIPTS.match(ch)


_ZWJ, _VS16 = "\u200d", "\ufe0f"


def _attached(ch: str) -> bool:
    """A character that belongs to the one before it: a combining mark, a variation selector, an emoji
    skin tone or a zero-width joiner. A span never starts or ends just before one."""
    return unicodedata.category(ch)[0] == "M" or ch in (_ZWJ, _VS16) or "\U0001f3fb" <= ch <= "\U0001f3ff"


# prefixes written onto the next word, matched as a whole (a word's first letters, marks left out):
# Arabic و "and" / ف "so", then ب "in" / ل "to" / ك "like", then the article ال after one of these (و, وب, فل,
# وال, بال, وبال; لل is ل + ال); Hebrew ו "and", ש / כש / מש "that, when, since", ב "in" / כ "as" / ל "to" /
# מ "from", at most three letters (ב, וב, ושב). A bare ال is no prefix: "قاهرة" never matches "القاهرة". Nor is
# the Hebrew article ה: names rarely take it, and common words are ה + a name ("הדוד" "the uncle", "הלאה" "onward").
_PROCLITICS = (("\u0600", "\u06ff", re.compile(r"(?:[وف][بك]?|[بك])ال|[وف]?لل|[وف]?[بلك]|[وف]")),
               ("\u05d0", "\u05ea", re.compile(r"(?=.{1,3}$)ו?(?:[כמ]?ש)?[בכלמ]?")))


def _proclitic(text: str, start: int) -> bool:
    """Whether the word letters before ``text[start]`` are a prefix of the name's script (``_PROCLITICS``):
    "ולונדון" / "وبلندن" are "and (in) London", and the name after the prefix is a word of its own, as the
    LLM (and Arabic and Hebrew NER data) write it."""
    k = start
    while k > 0 and start - k < 8 and _wordy(text[k - 1]):
        k -= 1
    if k > 0 and _wordy(text[k - 1]):
        return False
    prefix = "".join(ch for ch in text[k:start] if not _attached(ch))  # niqqud and tashkeel: "בְּ", "وَ"
    return any(lo <= text[start] <= hi and all(lo <= ch <= hi for ch in prefix) and pattern.fullmatch(prefix)
               for lo, hi, pattern in _PROCLITICS)


def _on_boundaries(text: str, start: int, end: int) -> bool:
    if _attached(text[start]):
        return False
    if end < len(text) and _attached(text[end]):  # "👍" in "👍🏽", "राम" in "रामायण", "Jose" in NFD "José"
        return False
    if start > 0 and _wordy(text[start]) and _wordy(text[start - 1]) and not _proclitic(text, start):
        return False
    if end < len(text) and _wordy(text[end - 1]) and _wordy(text[end]):
        return False
    return True


def _whole_graphemes(text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Hits whose end was found in a folded text extended over the marks that follow it (the accent of
    an NFD "é" folded away), so a span never cuts a character in two."""
    out = []
    for s, e in hits:
        while e < len(text) and _attached(text[e]):
            e += 2 if text[e] == _ZWJ and e + 1 < len(text) else 1
        out.append((s, e))
    return out


def find_occurrences(text: str, mention: str, folded: "FoldedText | None" = None) -> tuple[list[tuple[int, int]], bool]:
    """Non-overlapping ``(start, end)`` of ``mention`` in ``text`` and whether the match was fuzzy.

    ``folded``: one ``FoldedText(text)`` shared by the caller's lookups in the same text (it folds once).
    """
    if not mention.strip():  # "" would match between every two characters
        return [], False
    if whole := _copied_whole(text, mention):
        return whole, False
    exact = [(m.start(), m.end()) for m in re.finditer(re.escape(mention), text)]
    hits = [o for o in exact if _on_boundaries(text, *o)]
    if hits:
        return hits, False
    words = mention.split()
    if not words:
        return [], False
    pattern = r"\s*".join(re.escape(w) for w in words)  # "New  York" / "NewYork" / "new york"
    fuzzy = [(m.start(), m.end()) for m in re.finditer(pattern, text, re.I)]
    fuzzy = _cased_like(mention, text, [o for o in fuzzy if _on_boundaries(text, *o)])
    if fuzzy:
        return fuzzy, True
    folded = folded or FoldedText(text)
    found = folded.find(mention)
    trimmed = mention.strip(_EDGE_PUNCT)
    if not found and trimmed and trimmed != mention:  # "Paris," / "(Paris)" / "Paris." copied with its punctuation
        found = find_occurrences(text, trimmed, folded)[0]
    if not found:  # last: "Jose Alvarez" for "José Álvarez" (or the reverse); the trimmed form tried it above
        found = folded.find(mention, strip_accents=True)
    return _whole_graphemes(text, _cased_like(mention, text, found)), True


# leading characters a name can own: an elision apostrophe ("'Ndrangheta"), a stylized star ("*NSYNC"). Trailing
# ones are never kept: a trailing apostrophe is almost always a possessive ("Texas'", "the Beatles'") and a trailing
# 。 a sentence's stop ("東京。"), as gold annotation has them; "Dunkin'" and "モーニング娘。" lose theirs, the cost of that.
_NAME_LEAD = frozenset("'`\u2019*")
_TOKEN_BEFORE = "\"([{“«„「『（【《"  # what may precede a whole word besides a space
_TOKEN_AFTER = "\".,;:!?)]}”»。，、；：！？」』）】》"


def _copied_whole(text: str, mention: str) -> list[tuple[int, int]]:
    """The occurrences of the string the LLM wrote, where ``parsing.trim_mention`` trimmed a name's leading
    characters off it.

    Taken only where the text writes the copied string as a whole word (a space or punctuation on both
    sides), with characters before the name only (``_NAME_LEAD``), and every occurrence of the trimmed name
    lies inside one of those: then "'Ndrangheta" and "*NSYNC" are the names, not "Ndrangheta" and "NSYNC".
    """
    copied = getattr(mention, "copied", None)  # set by ``parsing.trim_mention``
    if copied is None:
        return []
    copied = copied.strip(" \t\n.,;:")  # "*NSYNC." copied with the sentence's full stop
    i = copied.find(mention)
    head, tail = copied[:i], copied[i + len(mention):]
    if i < 0 or not head or tail or not set(head) <= _NAME_LEAD:
        return []
    whole = [(m.start(), m.end()) for m in re.finditer(re.escape(copied), text)
             if (m.start() == 0 or text[m.start() - 1].isspace() or text[m.start() - 1] in _TOKEN_BEFORE)
             and (m.end() == len(text) or text[m.end()].isspace() or text[m.end()] in _TOKEN_AFTER)]
    inner = [(m.start(), m.end()) for m in re.finditer(re.escape(mention), text)
             if _on_boundaries(text, m.start(), m.end())]
    return whole if all(any(s <= a and b <= e for s, e in whole) for a, b in inner) else []


def _cased_like(mention: str, text: str, hits: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Case-insensitive hits without the all-lowercase words a capitalized mention does not mean: an
    acronym ("US", "WHO") never matches "us" or "who", and "Apple" matches "apple" only where the
    text writes it in lowercase everywhere (a lowercase text, a tweet)."""
    if mention == mention.lower():
        return hits
    lower = [o for o in hits if text[o[0]:o[1]] == text[o[0]:o[1]].lower()]
    if mention.isupper() and len(mention.replace(".", "")) <= 5:
        return [o for o in hits if o not in lower]
    return [o for o in hits if o not in lower] or hits


_EDGE_PUNCT = " \t\n.,;:!?()[]{}<>\"'`*。，、；：！？「」《》（）"


# typographic variants LLMs silently "correct" when they copy a mention
_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"', "\u201d": '"',
                             "\u2013": "-", "\u2014": "-", "\u2212": "-", "\u00a0": " "})


# format characters (Unicode Cf: zero-width space and joiners, soft hyphen, bidi marks, tags) are invisible: a model
# copying "Micro\u200bsoft" or Persian "علی\u200cرضا" writes them out; deleted in the same table pass
_FORMAT_RANGES = ((0xAD, 0xAD), (0x600, 0x605), (0x61C, 0x61C), (0x6DD, 0x6DD), (0x70F, 0x70F), (0x890, 0x891),
                  (0x8E2, 0x8E2), (0x180E, 0x180E), (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x2064),
                  (0x2066, 0x206F), (0xFEFF, 0xFEFF), (0xFFF9, 0xFFFB), (0x110BD, 0x110BD), (0x110CD, 0x110CD),
                  (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0001, 0xE0001), (0xE0020, 0xE007F))
_FOLD_TABLE = {**_TYPOGRAPHY, **{c: None for a, b in _FORMAT_RANGES for c in range(a, b + 1)}}


def _fold(s: str, strip_accents: bool = False) -> str:
    out = unicodedata.normalize("NFKC", s).casefold().translate(_FOLD_TABLE)
    if strip_accents:
        out = "".join(c for c in unicodedata.normalize("NFKD", out) if not unicodedata.combining(c))
    return out


class FoldedText:
    """``text`` folded for matching that ignores Unicode form, width and typography, with exact offsets back.

    A text from a PDF or macOS is often NFD ("e" + combining accent) while the LLM answers NFC;
    CJK text mixes full-width Latin and digits ("Ｔｏｋｙｏ", "２０２３") that models copy half-width;
    curly apostrophes come back straight. Each base character with its combining marks is folded
    (NFKC, casefold) as one cluster, and every folded character remembers the cluster's span in
    the original, so the span we return is always a slice of the user's text. ``strip_accents``
    also drops the marks on both sides (the last resort: a model that writes "Jose" for "José").
    """

    def __init__(self, text: str):
        self.text = text
        # folded text and, per folded char, its cluster's (start, end) in ``text``; one entry per
        # ``strip_accents`` value, built on first use: most mentions match before this tier
        self._variants: dict[bool, tuple[str, list[tuple[int, int]]]] = {}

    def _build(self, strip_accents: bool) -> tuple[str, list[tuple[int, int]]]:
        pieces: list[str] = []
        origin: list[tuple[int, int]] = []
        text, i = self.text, 0
        while i < len(text):
            j = i + 1
            while j < len(text) and unicodedata.combining(text[j]):
                j += 1
            piece = _fold(text[i:j], strip_accents)
            pieces.append(piece)
            origin += [(i, j)] * len(piece)
            i = j
        return "".join(pieces), origin

    def find(self, mention: str, strip_accents: bool = False) -> list[tuple[int, int]]:
        words = _fold(mention, strip_accents).split()
        if not words:
            return []
        if strip_accents not in self._variants:
            self._variants[strip_accents] = self._build(strip_accents)
        folded, origin = self._variants[strip_accents]
        hits = []
        for m in re.finditer(r"\s*".join(re.escape(w) for w in words), folded):
            if m.end() > m.start():
                span = (origin[m.start()][0], origin[m.end() - 1][1])
                if _on_boundaries(self.text, *span):
                    hits.append(span)
        return hits


def align_mentions(text: str, mentions: Sequence[tuple[str, str]], stats: ParseStats | None = None,
                   scores: Sequence[float | None] | None = None) -> list[Span]:
    """Exact char spans for ``(mention, label)`` pairs, by the rule in the module docstring.

    ``scores`` (one per pair, e.g. ``confidence.item_scores``) become the spans' scores; a span
    gets the score of the listing it was made from.
    """
    stats = stats if stats is not None else ParseStats()
    scores = list(scores) if scores is not None else [None] * len(mentions)
    folded = FoldedText(text)  # lazy: folded once, only if some mention needs it
    mentions, scores = _split_lists(text, mentions, scores, folded)
    # listings of one mention, whatever its casing: "Washington" PER and "washington" LOC are one name twice
    by_string: dict[str, tuple[str, list[tuple[int, str]]]] = {}
    for order, (mention, label) in enumerate(mentions):
        by_string.setdefault(mention.casefold(), (mention, []))[1].append((order, label))
    found: dict[str, tuple[list[tuple[int, int]], bool]] = {
        key: find_occurrences(text, mention, folded) for key, (mention, _) in by_string.items()}
    candidates: list[tuple[int, int, str, int]] = []  # start, end, label, listing order
    for key, (mention, listings) in by_string.items():
        occurrences, fuzzy = found[key]
        if not occurrences:
            stats.not_in_text += len(listings)
            continue
        stats.fuzzy_matches += int(fuzzy)
        if len({label for _, label in listings}) == 1:
            order, label = listings[0]
            # listed again with the same type: a duplicate, it adds no span
            candidates += [(s, e, label, order) for s, e in occurrences]
        else:
            # typed listings pair with occurrences in order, leaving out those inside a longer listed
            # name ("Washington" in "The Washington Post"): the longer span takes them anyway
            longer = [o for k, (occ, _) in found.items() if k != key for o in occ]
            free = [(s, e) for s, e in occurrences
                    if not any(s2 <= s and e <= e2 and e2 - s2 > e - s for s2, e2 in longer)] or occurrences
            for (order, label), (s, e) in zip(listings, free):
                candidates.append((s, e, label, order))
            # more typed listings than occurrences: the first listed type keeps the span
            stats.conflicts += max(0, len(listings) - len(free))
    return _resolve_overlaps(candidates, stats, scores)


_LIST_SEPARATOR = re.compile(r"\s*[,;、，；]\s*|\s+(?:and|&)\s+")


def _split_lists(text: str, mentions: Sequence[tuple[str, str]], scores: list[float | None],
                 folded: "FoldedText") -> tuple[list[tuple[str, str]], list[float | None]]:
    """Mentions with a list crammed into one (``{"PER": "Anna, Bob"}``, "Anna and Bob") as one mention per
    name, each part with the listing's label and score.

    Only a mention that is not in the text is split, and only when every part is: "Washington, D.C." and
    "Procter & Gamble" stay whole where the text holds them, and a half-found list is no list.
    """
    out_m: list[tuple[str, str]] = []
    out_s: list[float | None] = []
    for (mention, label), score in zip(mentions, scores):
        parts = _list_parts(text, mention.strip(), folded)
        if (len(parts) > 1 and not find_occurrences(text, mention, folded)[0]
                and all(find_occurrences(text, p, folded)[0] for p in parts)
                and not _one_name_rewritten(text, mention.strip(), folded)):
            out_m += [(p, label) for p in parts]
            out_s += [score] * len(parts)
        else:
            out_m.append((mention, label))
            out_s.append(score)
    return out_m, out_s


# a name's own joint in the text: a space ("Washington D.C." for "Washington, D.C."), or a conjunction where the
# model joined the parts with one too ("Procter & Gamble" for "Procter and Gamble"); a comma or a hyphen in the text
# ("Anna, Bob, Carl", "US-China") joins two names
_SPACE_JOINT = re.compile(r"\s*")
_CONJUNCTION = re.compile(r"\s*(?:&|\+|\band\b|\bund\b|\bet\b)\s*", re.I)


def _one_name_rewritten(text: str, mention: str, folded: "FoldedText") -> bool:
    """Whether ``mention`` is one name of the text written with another joint, not a list: the text holds
    its parts next to each other, joined as a name is ("Procter and Gamble" for "Procter & Gamble",
    "Washington, D.C." for "Washington D.C."). Split, it would become two wrong spans.

    A comma list the text writes with "and" ("Anna, Bob" for "Anna and Bob met") is still a list: "and"
    joins a name only when the model joined its parts with a conjunction too; a comma or hyphen in the
    text never does.
    """
    parts, seps = _LIST_SEPARATOR.split(mention), _LIST_SEPARATOR.findall(mention)
    for k, sep in enumerate(seps):
        ends = {e for _, e in find_occurrences(text, parts[k], folded)[0]}
        starts = [s for s, _ in find_occurrences(text, parts[k + 1], folded)[0]]
        for end in ends:
            for start in starts:
                gap = text[end:start] if 0 <= start - end <= 6 else None
                if gap is None or gap.strip().casefold() == sep.strip().casefold():
                    continue  # not next to each other, or joined as the model joined them: nothing was rewritten
                if _SPACE_JOINT.fullmatch(gap) or (_CONJUNCTION.fullmatch(gap) and _CONJUNCTION.fullmatch(sep)):
                    return True
    return False


def _list_parts(text: str, mention: str, folded: "FoldedText") -> list[str]:
    """The names of a list crammed into one mention, the longest run of parts the text holds taken as one:
    "Washington, D.C., Paris" is "Washington, D.C." and "Paris" where the text writes "Washington, D.C.".

    A run the text writes inside the same list is no name: in "Anna, Bob and Carl met", "Anna, Bob" is
    held by the text, but the text goes on with "and Carl", the list's next part, so {"PER": "Anna, Bob,
    Carl"} is three names. A run whose later parts are abbreviations ("D.C.", "Inc.") stays one name
    even there ("Acme, Inc. and Bob").
    """
    parts, seps = _LIST_SEPARATOR.split(mention), _LIST_SEPARATOR.findall(mention)  # seps[k] joins parts k, k+1
    out: list[str] = []
    i = 0
    while i < len(parts):
        j = len(parts) - 1
        while j > i and not _one_name_run(text, parts, seps, i, j, folded):
            j -= 1
        if piece := _joined(parts, seps, i, j).strip():
            out.append(piece)
        i = j + 1
    return out


# what joins two names of a list in the text: a comma (with an Oxford "and"), "and"/"or"/"&", or a CJK list mark
_LIST_GAP = re.compile(r"\s*[,;、，；]\s*(?:(?:and|or|&)\s+)?|\s+(?:and|or|&)\s+|\s*[和与及、]\s*", re.I)
_ABBREVIATION = re.compile(r"\S*\.")  # "D.C.", "Inc.", "Jr.": a name's tail after its comma
# another name next to a run in the text, joined as list items are ("Anna, Bob, Carl and Dan"): the run is in a list
_NAME_START = "[A-ZÀ-ÖØ-ÞĀ-ſ\u0400-\u042f\u3400-\u4dbf\u4e00-\u9fff]"
_LISTED_AFTER = re.compile(r"(?:\s*[,;、，；]\s*(?:(?:and|or|&)\s+)?|\s+(?:and|or|&)\s+|\s*[和与及]\s*)" + _NAME_START)
_LISTED_BEFORE = re.compile(r"[\w.](?:\s*[,;、，；]\s*|\s+(?:and|or|&)\s+|\s*[和与及]\s*)$")


def _one_name_run(text: str, parts: Sequence[str], seps: Sequence[str], i: int, j: int,
                  folded: "FoldedText") -> bool:
    """Whether parts ``i..j`` of a crammed list, joined, are one name of the text (see ``_list_parts``)."""
    run = find_occurrences(text, _joined(parts, seps, i, j), folded)[0]
    if not run or all(_ABBREVIATION.fullmatch(p.strip()) for p in parts[i + 1:j + 1]):
        return bool(run)
    # the other parts of the list, wherever the model put them: "Carl, Anna, Bob" over "Anna, Bob and Carl"
    others = [occ for k, part in enumerate(parts) if not i <= k <= j for occ in find_occurrences(text, part, folded)[0]]
    return any(not any(_LIST_GAP.fullmatch(text[e2:s]) for _, e2 in others if e2 <= s)
               and not any(_LIST_GAP.fullmatch(text[e:s2]) for s2, _ in others if s2 >= e)
               and not _LISTED_BEFORE.search(text[max(0, s - 12):s]) and not _LISTED_AFTER.match(text, e)
               for s, e in run)


def _joined(parts: Sequence[str], seps: Sequence[str], i: int, j: int) -> str:
    return parts[i] + "".join(seps[k] + parts[k + 1] for k in range(i, j))


def _resolve_overlaps(candidates: list[tuple[int, int, str, int]], stats: ParseStats,
                      scores: Sequence[float | None]) -> list[Span]:
    kept: list[tuple[int, int, str, int]] = []
    for cand in sorted(candidates, key=lambda c: (-(c[1] - c[0]), c[3], c[0])):
        s, e = cand[0], cand[1]
        clash = next((k for k in kept if k[0] < e and s < k[1]), None)
        if clash is None:
            kept.append(cand)
        elif (clash[0], clash[1]) == (s, e):
            if clash[2] != cand[2]:
                stats.conflicts += 1
        else:
            stats.overlaps += 1
    return [Span(s, e, label, scores[order]) for s, e, label, order in sorted(kept)]
