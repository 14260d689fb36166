"""Readers for the benchmark formats (CoNLL column files, BMES, CoNLL04) and a CoNLL writer.

Every reader turns token-level data into char-offset ``Example``s: tokens are joined with a
separator (``" "``, or ``""`` for char-level Chinese), each token's ``[start, end]`` is kept in
``extra["tokens"]`` so a tag sequence can be rebuilt exactly, and ids are ``f"{split}-{index}"``
so they stay stable across runs and machines.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from collections import Counter
from typing import Any, Iterable, Sequence

from llmaaa.config import from_env
from llmaaa.data.schema import Example, Relation, SchemaError, Span
from llmaaa.data.scripts import NO_SPACE_SCRIPTS, _one_character, token_separator
from llmaaa.data.tags import TagError, check_scheme, join_tokens, split_tag, tags_to_token_spans, token_spans_to_tags
from llmaaa.data.textfile import iter_lines

log = logging.getLogger(__name__)

DATASETS = ("conll2003", "conll04")
SPLITS = ("train", "dev", "test")
_CONLL2003_FILES = {"train": "train.txt", "dev": "valid.txt", "test": "test.txt"}
_LAYOUT = {
    "conll2003": "conll2003/{train,valid,test}.txt",
    "conll04": "conll04/conll04_{train,dev,test}.spert.json (or the BILOU conll04_*.json)",
}


class DatasetNotFound(FileNotFoundError):
    """A benchmark dataset that is not where llmaaa looked for it."""


class FormatError(ValueError):
    """A data file that does not have the layout its reader expects (with file and line)."""


@dataclass
class DataConfig:
    """Where the benchmark data lives; env ``LLMAAA_DATA_DIR`` overrides the default."""

    data_dir: str = str(Path(__file__).resolve().parents[2].parent / "shared" / "data")


def _split_name(path: Path) -> str:
    """``train.txt`` -> ``train``, ``dev.char.bmes`` -> ``dev``, ``conll04_dev.spert.json`` -> ``dev``."""
    stem = path.name.split(".")[0]
    last = stem.rsplit("_", 1)[-1]
    return last if last in (*SPLITS, "valid") else stem


def _make_example(ex_id: str, tokens: Sequence[str], token_spans: Iterable[tuple[int, int, str]], sep: str | None,
                  **extra: Any) -> Example:
    text, offsets = join_tokens(tokens, sep)
    entities = tuple(Span(offsets[s][0], offsets[e - 1][1], label) for s, e, label in token_spans)
    return Example(ex_id, text, entities, extra={"tokens": [list(o) for o in offsets], **extra})


DETECT = "detect"  # ``read_conll``'s token_sep default: from the file's tokens (``scripts.token_separator``)


def read_conll(path: str | Path, *, scheme: str = "iob2", tag_column: int = -1, token_sep: str | None = DETECT,
               id_prefix: str | None = None, token_column: int | None = None) -> list[Example]:
    """Read a CoNLL-style column file: one ``TOKEN ... TAG`` line per token, blank line between sentences.

    Works for CoNLL-2003 (``TOKEN POS CHUNK NER``; ``-DOCSTART-`` lines are dropped), two-column
    ``tok tag`` files and BMES files (``scheme="bmes"``). Columns are split on spaces and tabs (on tabs
    only in a line that has one); the token is column ``token_column`` (default: the first, or the
    second when the first numbers the tokens 1, 2, 3, ... or 0, 1, 2, ... as CoNLL-U-derived files do),
    the tag ``tag_column``. Comment lines before a sentence (``# text = ...``, ``# sent_id = 3``) are skipped.
    ``token_sep`` joins the tokens into the text; by default it is read from the file's tokens: none
    for char-level Chinese, none between CJK/kana words ("東京に住む"), else a space. An empty file,
    a bad tag, a missing tag column, a line with more space-separated columns than the file's
    others (a token with a space in it, which would lose its second word) or with fewer (a missing
    column, which would shift a tag counted from the end) is a ``FormatError`` naming the file and line.
    With ``token_sep`` detected, a sentence of char-level tokens in a file of words (``write_conll``
    writes one where an entity ends inside a Korean word) is joined as a char-level file is.
    """
    path = Path(path)
    scheme = check_scheme(scheme)
    prefix = id_prefix if id_prefix is not None else _split_name(path)
    blocks: list[list[tuple[int, list[str], bool]]] = []  # per sentence: (line, columns, had a tab)
    block: list[tuple[int, list[str], bool]] = []
    for lineno, line in iter_lines(path, FormatError):
        cols = _columns(line)
        if not cols or cols[0] == "-DOCSTART-":
            if block:
                blocks.append(block)
            block = []
            continue
        if not block and _is_comment(line, cols, tag_column):
            continue
        block.append((lineno, cols, "\t" in line))
    if block:
        blocks.append(block)
    if not blocks:
        raise FormatError(f"{path}: no sentences (the file is empty or holds only blank and -DOCSTART- lines)")
    tok_col = token_column if token_column is not None else _token_column(path, blocks)
    _check_column_counts(path, blocks, tag_column)
    sentences = [([cols[tok_col] if tok_col < len(cols) else "" for _, cols, _ in b],
                  [_tag(cols, tag_column, f"{path}:{n}", scheme) for n, cols, _ in b], b[0][0]) for b in blocks]
    sep = token_separator([t for toks, _, _ in sentences for t in toks]) if token_sep == DETECT else token_sep
    examples = []
    for i, (toks, tgs, lineno) in enumerate(sentences):
        try:
            spans = tags_to_token_spans(tgs, scheme)
        except TagError as e:
            raise FormatError(f"{path}:{lineno}: {e}") from e
        # a char-level sentence in a word-level file (write_conll's "김 철 수 는 ␣ 서 울 에"): joined as the file's
        # separator says, its text became "김 철 수 는   서 울 에" and its entities "김 철 수"
        own = "" if token_sep == DETECT and sep != "" and token_separator(toks) == "" else sep
        examples.append(_make_example(f"{prefix}-{i}", toks, spans, own))
    log.info("read %d sentences from %s", len(examples), path)
    return examples


# a CoNLL-U style comment: "# text = ...", "# sent_id = 3", "#id: 12"
_COMMENT = re.compile(r"^#+\s*[\w.\-]+\s*[=:]")


def _is_comment(line: str, cols: list[str], tag_column: int) -> bool:
    """A ``#`` line before a sentence's first token that is no ``TOKEN ... TAG`` line of its own: a CoNLL-U
    key (``# text = Send an e-mail``, whose last word would pass for the tag ``e-mail``) or a line whose tag
    column is no tag (GermEval's ``#<TAB>http://...``). ``#<TAB>O`` (a hashtag token) stays a token."""
    if not line.startswith("#"):
        return False
    if _COMMENT.match(line):
        return True
    try:
        split_tag(cols[tag_column])
    except (IndexError, TagError):
        return True
    return len(cols) < 2


_INTEGER = re.compile(r"[0-9]+")


def _token_column(path: Path, blocks: Sequence[Sequence[tuple[int, list[str], bool]]]) -> int:
    """1 when the first column numbers the tokens (an ID column) and another holds the words, else 0.

    An ID column counts up by 1 within each sentence, from 0 or 1 or on from the sentence before (files
    numbering tokens across a document). Before, only 1, 2, 3, ... restarting in each sentence was an ID
    column, and a 0-based or running one silently became the text ("0 1 2 3"). Every line needs a third
    column, so a ``TOKEN TAG`` file whose tokens are numbers keeps them; a first column of integers that
    follows no such rule is read as tokens, with a warning.
    """
    if not all(len(cols) >= 3 and _INTEGER.fullmatch(cols[0]) for b in blocks for _, cols, _ in b):
        return 0
    last = -1
    for b in blocks:
        ids = [int(cols[0]) for _, cols, _ in b]
        off = next((k for k in range(1, len(ids)) if ids[k] != ids[k - 1] + 1), 0 if ids[0] not in (0, 1, last + 1)
                   else None)
        if off is not None:
            log.warning("%s:%d: the first column holds only integers but does not number the tokens here; read it "
                        "as the tokens (pass the token column, 0-based, if it is an ID column)", path, b[off][0])
            return 0
        last = ids[-1]
    return 1


def _check_column_counts(path: Path, blocks: Sequence[Sequence[tuple[int, list[str], bool]]],
                         tag_column: int) -> None:
    """A line with more or fewer columns than the file's others, where that misreads it.

    More, in a space-separated line: ``New York B-LOC`` in a two-column file would read as the token "New"
    (and lose "York"); tab-separated lines keep such tokens whole. Fewer, when the tag is counted from the
    end (``tag_column`` < 0): ``German JJ B-NP`` among CoNLL-2003's four columns lost its NER tag, and its
    chunk tag became an entity "NP" without a word of warning. A tag counted from the start is at the same
    column in a short line (or missing, which ``_tag`` reports), so files whose lines carry optional
    trailing columns still read with an explicit tag column.
    """
    counts = Counter(len(cols) for b in blocks for _, cols, tab in b)
    usual = counts.most_common(1)[0][0]
    for b in blocks:
        for lineno, cols, tab in b:
            if not tab and len(cols) > usual:
                raise FormatError(f"{path}:{lineno}: {len(cols)} columns where the file's lines have {usual} "
                                  f"({' '.join(cols)!r}: a token with a space in it?); separate the columns with tabs")
            if tag_column < 0 and len(cols) < usual:
                raise FormatError(f"{path}:{lineno}: {len(cols)} columns where the file's lines have {usual} "
                                  f"({' '.join(cols)!r}: a column missing?); the tag is read from column {tag_column} "
                                  "(counted from the end), so it would be the wrong one; fill in the missing column")


_COLUMN_SEP = re.compile(r"[ \t]+")


def _columns(line: str) -> list[str]:
    """The columns of a CoNLL line; ``[]`` for a blank line.

    A line with a tab is split on tabs only, so a token may hold or be a space (char-level Chinese
    files have ``" \tO"`` lines); other lines are split on runs of ASCII spaces and tabs. Why not
    ``str.split()``: it also splits on U+3000 (the ideographic space of Chinese text) and NBSP,
    which are tokens in char-level files; splitting on them lost the token or its tag.
    """
    if not line.strip():
        return []
    body = line.rstrip("\r\n")
    if "\t" in body:
        token, *rest = body.split("\t")
        rest = [c.strip(" ") for c in rest]
        while rest and not rest[-1]:  # trailing tabs
            rest.pop()
        return [token if not token.strip() else token.strip(" "), *rest]
    return _COLUMN_SEP.split(body.strip(" \t"))


def _tag(cols: list[str], tag_column: int, where: str, scheme: str = "iob2") -> str:
    """The tag column of a token line, checked here so a bad tag is reported at its own line."""
    if len(cols) < 2:
        raise FormatError(f"{where}: expected 'TOKEN ... TAG' columns, got {' '.join(cols)!r}")
    try:
        tag = cols[tag_column]
        if scheme == "io":  # any tag is a label
            return tag
        split_tag(tag)
    except IndexError:
        raise FormatError(f"{where}: no tag column {tag_column} in a line of {len(cols)} columns "
                          f"{' '.join(cols)!r}; pass the tag column (0-based, -1 = last)") from None
    except TagError as e:
        other = next((k for k, c in enumerate(cols[1:], 1) if _is_tag(c)), None)
        hint = (f"; the tag looks like column {other} (pass it as the tag column, 0-based)" if other is not None
                else "; IO tags with no B-/I- prefix (PER, person-actor)? read them with the scheme 'io'"
                if tag[:2].upper() not in ("B-", "I-", "E-", "S-", "L-", "U-", "M-") else "")
        raise FormatError(f"{where}: {e}{hint}") from None
    return tag


def _is_tag(col: str) -> bool:
    try:
        split_tag(col)
    except TagError:
        return False
    return col == "O" or "-" in col or "_" in col


def read_conll04(path: str | Path, *, id_prefix: str | None = None) -> list[Example]:
    """Read CoNLL04 (Roth & Yih 2004) as joint entity + relation examples.

    Accepts both the SpERT-style ``*.spert.json`` (``entities`` with token ``start``/``end``
    exclusive) and the original BILOU files (``tags``). In both, relation ``head``/``tail`` index
    the entities in order of their start token; entities are sorted that way here, so the two
    formats give identical examples.
    """
    path = Path(path)
    prefix = id_prefix if id_prefix is not None else _split_name(path)
    lines = [line for _, line in iter_lines(path, FormatError)]
    try:
        records = json.loads("".join(lines))
    except json.JSONDecodeError as e:
        try:  # one record per line (JSON Lines), as some SpERT-style exports write them
            records = [json.loads(line) for line in lines if line.strip()]
        except json.JSONDecodeError:
            raise FormatError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from e
    if not isinstance(records, list) or not records:
        raise FormatError(f"{path}: no sentences (expected a JSON list of CoNLL04 records, got "
                          f"{json.dumps(records)[:60]})")
    # SciERC/DyGIE-style files end entities inclusively: a one-token entity is {"start": 3, "end": 3}, which an
    # exclusive end never has (read as exclusive, its end - 1 indexed the token before, or the sentence's last)
    inclusive = any(isinstance(r, dict) and isinstance(e, dict) and e.get("start") == e.get("end")
                    for r in records for e in (r.get("entities") or []))
    if inclusive:
        log.warning("%s: entities with start == end: reading entity ends as inclusive (the last token's index)", path)
    examples = []
    for i, rec in enumerate(records):
        try:
            examples.append(_conll04_example(f"{prefix}-{i}", rec, inclusive))
        except (KeyError, IndexError, TypeError, TagError, SchemaError) as e:
            raise FormatError(f"{path}: sentence {i} is not a CoNLL04 record ({type(e).__name__}: {e})") from e
    log.info("read %d sentences from %s", len(examples), path)
    return examples


def _conll04_example(ex_id: str, rec: dict[str, Any], inclusive: bool = False) -> Example:
    if "entities" in rec:
        found = [(e["start"], e["end"] + int(inclusive), e["type"]) for e in rec["entities"]]
        n = len(rec["tokens"])
        bad = next(((s, e) for s, e, _ in found if not (isinstance(s, int) and isinstance(e, int) and 0 <= s < e <= n)),
                   None)
        if bad is not None:
            raise SchemaError(f"entity tokens [{bad[0]}, {bad[1]}) are not within its {n} tokens")
    else:
        found = tags_to_token_spans(rec["tags"], "bilou")
    order = sorted(range(len(found)), key=lambda k: found[k][:2])
    new_index = {old: new for new, old in enumerate(order)}
    extra = {"orig_id": rec["orig_id"]} if "orig_id" in rec else {}
    ex = _make_example(ex_id, rec["tokens"], [found[k] for k in order], " ", **extra)
    rels = [Relation(new_index[r["head"]], new_index[r["tail"]], r["type"]) for r in rec.get("relations", ())]
    return ex.with_labels(relations=rels).validate()


def resolve_data_dir(data_dir: str | Path | None = None) -> Path:
    """``data_dir``, else env ``LLMAAA_DATA_DIR``, else ``<repo>/../shared/data``."""
    return Path(from_env(DataConfig, "LLMAAA_", {"data_dir": data_dir}).data_dir)


# a user's own dataset: a folder of JSONL splits (what ``llmaaa convert`` writes); first existing name wins
_FOLDER_SPLITS = {"train": ("train",), "dev": ("dev", "valid", "validation"), "test": ("test",)}


def read_dataset(name: str, split: str, data_dir: str | Path | None = None) -> list[Example]:
    """A split (train/dev/test) of a benchmark by name, or of a user's dataset folder.

    Names: ``conll2003`` (NER) or ``conll04`` (NER + RE), found under ``data_dir``. Anything else
    is taken as a folder holding ``train.jsonl``, ``dev.jsonl`` (or ``valid``/``validation``) and
    ``test.jsonl`` in the ``Example`` JSONL format, so a user's own labels and language (convert
    CoNLL/BMES files with ``llmaaa convert``) run through the same protocol as the benchmarks.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    if name not in DATASETS:
        return _read_folder_split(Path(name), split)
    root = resolve_data_dir(data_dir)
    if name == "conll2003":
        path = root / "conll2003" / _CONLL2003_FILES[split]
    else:
        path = root / "conll04" / f"conll04_{split}.spert.json"
        if not path.exists():
            path = root / "conll04" / f"conll04_{split}.json"
    if not path.exists():
        raise DatasetNotFound(
            f"{name} {split} not found at {path}; pass --data-dir DIR (or set LLMAAA_DATA_DIR) to the folder "
            f"holding {_LAYOUT[name]}"
        )
    if name == "conll2003":
        return read_conll(path, scheme="iob2", id_prefix=split)
    return read_conll04(path, id_prefix=split)


def _read_folder_split(folder: Path, split: str) -> list[Example]:
    from llmaaa.data.jsonl import read_jsonl

    if not folder.is_dir():
        raise ValueError(
            f"unknown dataset {str(folder)!r}: not one of {', '.join(DATASETS)} and not a folder; pass a benchmark "
            "name or a folder holding train.jsonl, dev.jsonl and test.jsonl (llmaaa convert writes them)"
        )
    names = [f"{stem}.jsonl" for stem in _FOLDER_SPLITS[split]]
    for fname in names:
        if (folder / fname).is_file():
            examples = read_jsonl(folder / fname)
            if not examples:  # why: an empty split failed later as "no usable training examples", naming no file
                raise FormatError(f"{folder / fname}: the {split} split has no examples (the file is empty)")
            return examples
    raise DatasetNotFound(f"{split} split not found in {folder}: expected {' or '.join(names)}")


_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
# Characters that continue a word: combining marks, the Indic, Thai, Lao, Tibetan, Myanmar and Khmer
# blocks whole (their vowel signs are marks, not \w), joiners and variation selectors
_WORD_MARKS = ("\u0300-\u036f\u0483-\u0489\u0591-\u05c7\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed"
               "\u0900-\u0dff\u0e00-\u0eff\u0f00-\u0fff\u1000-\u109f\u1780-\u17ff\u1ab0-\u1aff\u1dc0-\u1dff"
               "\u200c\u200d\u20d0-\u20ff\ufe00-\ufe0f\ufe20-\ufe2f")
_INVISIBLE = "\u200b\u200e\u200f\u2060\ufeff"  # zero-width space, direction marks, word joiner, BOM: no token
# Thai and Lao are written without spaces, like CJK: one token per character with its marks
_THAI_LAO = "[\u0e01-\u0e30\u0e32\u0e33\u0e3f-\u0e46\u0e4f-\u0e5b\u0e81-\u0eb0\u0eb2\u0eb3\u0ebd-\u0ec6\u0ed0-\u0edf]"
_THAI_LAO_MARKS = "[\u0e31\u0e34-\u0e3a\u0e47-\u0e4e\u0eb1\u0eb4-\u0ebc\u0ec8-\u0ecd]"
_TOKEN_RE = re.compile(
    rf"[{_CJK}]|{_THAI_LAO}{_THAI_LAO_MARKS}*|(?:(?![{_CJK}]|{_THAI_LAO})[\w{_WORD_MARKS}])+"
    r"|[\U0001f1e6-\U0001f1ff]{2}"  # a flag: two regional indicators
    rf"|[^\s{_INVISIBLE}](?:[\ufe0f\u20e3\U0001f3fb-\U0001f3ff]|\u200d[^\s{_INVISIBLE}])*")  # 👍🏽, 👩🏽‍💻


def tokenize(text: str) -> list[tuple[int, int]]:
    """Whitespace/punctuation tokens as char offsets; each CJK character is its own token, and so is each
    Thai and Lao character with its vowel and tone marks.

    A token never splits a letter from its marks (Thai, Devanagari, Arabic vowel signs, NFD accents)
    nor an emoji from its skin tone or ZWJ sequence; invisible format characters are no token."""
    return [m.span() for m in _TOKEN_RE.finditer(text)]


def _token_spans(ex: Example, offsets: Sequence[Sequence[int]], stats: dict[str, int]) -> list[tuple[int, int, str]]:
    starts = [s for s, _ in offsets]
    ends = [e for _, e in offsets]
    out: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for span in sorted(ex.entities, key=lambda s: (s.start, -s.end)):
        first = bisect.bisect_right(ends, span.start)  # first token ending after the span starts
        last = bisect.bisect_left(starts, span.end) - 1  # last token starting before the span ends
        if first > last:
            stats["dropped"] += 1
            log.warning("%s: span [%d, %d) %s covers no token; dropped", ex.id, span.start, span.end, span.label)
            continue
        if taken.intersection(range(first, last + 1)):
            stats["dropped"] += 1
            log.warning("%s: span [%d, %d) %s overlaps another entity; dropped", ex.id, span.start, span.end, span.label)
            continue
        if offsets[first][0] != span.start or offsets[last][1] != span.end:
            stats["snapped"] += 1
            log.warning("%s: span [%d, %d) %s is not on token boundaries; snapped outward to [%d, %d)",
                        ex.id, span.start, span.end, span.label, offsets[first][0], offsets[last][1])
        taken.update(range(first, last + 1))
        out.append((first, last + 1, span.label))
    return out


def write_conll(examples: Iterable[Example], path: str | Path, scheme: str = "iob2",
                sep: str | None = None) -> dict[str, int]:
    """Write ``TOKEN TAG`` lines, a blank line between examples; return counts incl. snapped/dropped spans.

    ``sep``: a space, or a tab when a label holds one (``B-Person Name``: ``read_conll`` splits a line with
    a tab on tabs only, so the tag reads back whole) or a token is a space; None picks. A written word
    never holds whitespace; a space token is always followed by a tab.

    Tokens come from ``extra["tokens"]`` when a reader kept them, else from ``tokenize``; an example
    whose entity ends inside a Korean word is written char by char (see ``_conll_tokens``). A span
    that does not fall on token boundaries is widened to the tokens it touches (counted in
    ``snapped``); one that overlaps an earlier entity cannot be tagged and is ``dropped``.
    """
    scheme = check_scheme(scheme)
    examples = list(examples)
    stats = {"examples": 0, "tokens": 0, "entities": 0, "snapped": 0, "dropped": 0, "empty": 0, "retokenized": 0,
             "merged": 0}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:  # atomic, as write_jsonl: a failure half-way leaves no partial file that reads as a shorter dataset
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            _write_conll_lines(f, examples, scheme, sep, stats)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if stats["snapped"] or stats["dropped"]:
        log.warning("%s: %d spans snapped to token boundaries, %d dropped", path, stats["snapped"], stats["dropped"])
    if stats["empty"]:
        log.warning("%s: %d examples with an empty text left out (CoNLL cannot hold an empty sentence)", path,
                    stats["empty"])
    if stats["merged"]:
        log.warning("%s: %d pairs of neighbouring entities of one label read back as one (the IO scheme has no B- tag; "
                    "use iob2)", path, stats["merged"])
    if stats["retokenized"]:
        log.warning("%s: %d examples had a 'tokens' field that is not sorted character offsets covering the text; "
                    "tokenized again", path, stats["retokenized"])
    return stats


def _usable_tokens(text: str, tokens: Any) -> list[tuple[int, int]] | None:
    """``tokens`` as sorted, non-overlapping ``(start, end)`` offsets into ``text`` covering every non-space
    character, or None: a field of words (``["Zoë", "lebt"]``), spaCy objects or offsets that skip text
    would reorder the words or lose text silently."""
    try:
        spans = [(int(s), int(e)) for s, e in tokens]
    except (TypeError, ValueError):
        return None
    covered = 0
    for s, e in spans:
        if not (covered <= s < e <= len(text)) or text[covered:s].strip():
            return None
        covered = e
    return spans if not text[covered:].strip() else None


def _conll_tokens(ex: Example, stats: dict[str, int]) -> list[tuple[int, int]]:
    """The tokens ``write_conll`` writes for ``ex``: its words, or its characters where an entity ends inside a
    word beside a Hangul (or CJK, Thai) character.

    Why characters: Korean puts spaces between phrases, so an entity ends inside one (김철수|는, 서울|에); as
    words it was widened to "김철수는". Split into "김철수" "는" instead, the entity would read back exact but
    the text would not ("김철수 는": CoNLL cannot say that two tokens touch). Characters, with each space a
    token of its own, are the layout of char-level Korean files (KLUE); ``read_conll`` joins such a sentence
    without separators, so text and entities read back exactly, except that a tab or line break in the text
    reads back as a space (no CoNLL token can hold one) and a U+FEFF is left out (it starts no line).
    """
    given = ex.extra.get("tokens")
    offsets = _usable_tokens(ex.text, given) if given else None
    if given and offsets is None:
        stats["retokenized"] += 1
    offsets = [(s, e) for s, e in offsets or tokenize(ex.text) if ex.text[s:e].strip()]
    starts = [s for s, _ in offsets]
    for b in {p for span in ex.entities for p in (span.start, span.end)}:
        k = bisect.bisect_right(starts, b) - 1
        if k >= 0 and offsets[k][0] < b < offsets[k][1] and NO_SPACE_SCRIPTS.search(ex.text[b - 1:b + 1]):
            return _characters(ex.text)
    return offsets


def _characters(text: str) -> list[tuple[int, int]]:
    """Offsets of each user-perceived character of ``text`` (a letter with its marks, an emoji sequence, a flag),
    spaces included: a space is a token of its own, and a mark is never glued to one."""
    out: list[tuple[int, int]] = []
    for i, ch in enumerate(text):
        if ch == "\ufeff":
            continue
        if out and not ch.isspace() and not text[out[-1][0]].isspace() and _one_character(text[out[-1][0]:i + 1]):
            out[-1] = (out[-1][0], i + 1)
        else:
            out.append((i, i + 1))
    return out


def _written(token: str) -> str:
    """A token as a CoNLL line can hold it: a word without whitespace, a space token as a space (not a tab or a
    line break, which would end the column or the line)."""
    if token.strip():
        return "".join(token.split())
    return re.sub(r"[\t\n\r]", " ", token)


def _write_conll_lines(f: Any, examples: Iterable[Example], scheme: str, sep: str | None,
                       stats: dict[str, int]) -> None:
    planned = [(ex, _conll_tokens(ex, stats)) for ex in examples]
    if sep is None:  # a space token needs a tab after it: a line "  O" splits as the one column "O"
        spaced = any(not ex.text[s:e].strip() for ex, offsets in planned for s, e in offsets)
        labels = any(re.search(r"\s", sp.label) for ex, _ in planned for sp in ex.entities)
        sep = "\t" if spaced or labels else " "
    for ex, offsets in planned:
        if not offsets:  # an empty text: CoNLL has no empty sentence (a blank block reads back as nothing)
            stats["empty"] += 1
            continue
        spans = _token_spans(ex, offsets, stats)
        if scheme == "io":  # IO has no B-: two neighbours of one label read back as one entity
            ordered = sorted(spans)
            stats["merged"] += sum(a[1] == b[0] and a[2] == b[2] for a, b in zip(ordered, ordered[1:]))
        tags = token_spans_to_tags(spans, len(offsets), scheme)
        for (s, e), tag in zip(offsets, tags):
            token = _written(ex.text[s:e])
            f.write(token + (sep if token.strip() else "\t") + f"{tag}\n")
        f.write("\n")
        stats["examples"] += 1
        stats["tokens"] += len(offsets)
        stats["entities"] += len(spans)
