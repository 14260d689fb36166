"""Readers for the benchmark formats (CoNLL column files, BMES, CoNLL04); the writer is ``conll_writer``.

Every reader turns token-level data into char-offset ``Example``s: tokens are joined with a
separator (``" "``, or ``""`` for char-level Chinese), each token's ``[start, end]`` is kept in
``extra["tokens"]`` so a tag sequence can be rebuilt exactly, and ids are ``f"{split}-{index}"``
so they stay stable across runs and machines.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from collections import Counter
from typing import Any, Iterable, Sequence

from llmaaa.config import from_env
from llmaaa.data.schema import Example, Relation, SchemaError, Span
from llmaaa.data.scripts import token_separator
from llmaaa.data.tags import TagError, check_scheme, join_tokens, split_tag, tags_to_token_spans
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
        own = "" if token_sep == DETECT and sep != "" and _char_level(toks) else sep
        examples.append(_make_example(f"{prefix}-{i}", toks, spans, own))
    log.info("read %d sentences from %s", len(examples), path)
    return examples


_HANGUL = re.compile("[\u1100-\u11ff\u3130-\u318f\ua960-\ua97f\uac00-\ud7af\ud7b0-\ud7ff]")


def _char_level(tokens: Sequence[str]) -> bool:
    """A char-level sentence in a word-level file, to be joined without separators: ``write_conll`` writes one
    where an entity ends inside a Korean word ("김 철 수 는 ␣ 서 울 에"; joined with spaces, the text became
    "김 철 수 는   서 울 에" and the entity "김 철 수"), and char-level Chinese, Japanese or Thai sentences.

    Korean words of one syllable ("난 못 가") are also one character each, and joined without spaces read
    as "난못가"; so a Hangul sentence counts as char-level only with a whitespace token, the text's spaces
    that char-level Korean files (and ``write_conll``) give as tokens of their own.
    """
    if token_separator(tokens) != "":
        return False
    return any(t.isspace() for t in tokens) or not any(_HANGUL.search(t) for t in tokens)


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
    numbering tokens across a document); missed, the numbers would become the text ("0 1 2 3"). Every line needs a third
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
    end (``tag_column`` < 0) and the short line's tag is none of the tags of the full-length lines:
    ``German JJ B-NP`` among CoNLL-2003's four columns lost its NER tag, and its chunk tag became an entity
    "NP" without a word of warning. A short line whose last column is a tag the file uses (``the O`` missing
    its POS column) is read as it was before; refusing it broke files the old reader read right. A tag
    counted from the start is at the same column in a short line (or missing, which ``_tag`` reports), so
    files whose lines carry optional trailing columns still read with an explicit tag column.
    """
    counts = Counter(len(cols) for b in blocks for _, cols, tab in b)
    usual = counts.most_common(1)[0][0]
    tags = {cols[tag_column] for b in blocks for _, cols, _ in b if len(cols) == usual} if tag_column < 0 else set()
    for b in blocks:
        for lineno, cols, tab in b:
            if not tab and len(cols) > usual:
                raise FormatError(f"{path}:{lineno}: {len(cols)} columns where the file's lines have {usual} "
                                  f"({' '.join(cols)!r}: a token with a space in it?); separate the columns with tabs")
            if tag_column < 0 and len(cols) < usual and cols[tag_column] not in tags:
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
    ``test.jsonl`` in the ``Example`` JSONL format (or ``.json``: TACRED ships its splits as JSON arrays), so a
    user's own labels and language (convert CoNLL/BMES files with ``llmaaa convert``) run through the same
    protocol as the benchmarks.
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
            "name or a folder holding train.jsonl, dev.jsonl and test.jsonl (llmaaa convert writes them; .json "
            "splits of a TACRED folder are read too)"
        )
    names = [f"{stem}{ext}" for ext in (".jsonl", ".json") for stem in _FOLDER_SPLITS[split]]
    for fname in names:
        if (folder / fname).is_file():
            examples = read_jsonl(folder / fname)
            if not examples:  # why: an empty split failed later as "no usable training examples", naming no file
                raise FormatError(f"{folder / fname}: the {split} split has no examples (the file is empty)")
            return examples
    raise DatasetNotFound(f"{split} split not found in {folder}: expected {' or '.join(names)}")
