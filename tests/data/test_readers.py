"""Readers: CoNLL column files, BMES, CoNLL04 in both formats, the benchmark splits, and the CoNLL writer."""

from collections import Counter
from pathlib import Path

import pytest

from llmaaa.data.readers import (
    DatasetNotFound,
    FormatError,
    read_conll,
    read_conll04,
    read_dataset,
    resolve_data_dir,
)
from llmaaa.data.conll_writer import tokenize, write_conll
from llmaaa.data.jsonl import read_jsonl, write_jsonl
from llmaaa.data.schema import Example, Span
from llmaaa.data.tags import tags_to_token_spans

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "data"
DATA = resolve_data_dir()
needs_data = pytest.mark.skipif(
    not (DATA / "conll2003").is_dir() or not (DATA / "conll04").is_dir(),
    reason="needs ../shared/data (CoNLL-2003 / CoNLL04; CI has it)",
)


def mentions(ex):
    return [(ex.mention(s), s.label) for s in ex.entities]


def test_conll2003_file_drops_docstart_and_keeps_exact_offsets():
    exs = read_conll(FIXTURES / "mini_conll2003.txt", id_prefix="train")
    assert [ex.id for ex in exs] == ["train-0", "train-1", "train-2"]
    assert exs[0].text == "EU rejects German call ."
    assert mentions(exs[0]) == [("EU", "ORG"), ("German", "MISC")]
    assert exs[2].text == "José visited São Paulo 🎉 with New York Times"
    assert mentions(exs[2]) == [("José", "PER"), ("São Paulo", "LOC"), ("New York Times", "ORG")]
    toks = [exs[2].text[s:e] for s, e in exs[2].extra["tokens"]]
    assert toks == ["José", "visited", "São", "Paulo", "🎉", "with", "New", "York", "Times"]


def test_char_level_bmes_file_reads_chinese_without_spaces():
    exs = read_conll(FIXTURES / "mini.char.bmes", scheme="bmes", token_sep="")
    assert [ex.id for ex in exs] == ["mini-0", "mini-1"]
    assert exs[0].text == "张三在北京市工作"
    assert mentions(exs[0]) == [("张三", "PER"), ("北京市", "LOC")]
    assert mentions(exs[1]) == [("中国", "GPE"), ("美", "GPE")]


@pytest.mark.parametrize("content,options,error", [
    ("EU B-ORG\nrejects\n", {}, r"bad.txt:2"),  # a line without a tag
    ("John NNP B-PER\nSmith I-PER\n", {"tag_column": 2},
     r"bad.txt:2: no tag column 2 in a line of 2 columns 'Smith I-PER'"),
    ("John B-PER\nSmith I-PER\n\nfoo B-PER\nbar X-PER\n", {},
     r"bad.txt:5: tag 'X-PER' has no"),  # at its own line, not its sentence's first
    # a space-separated token with a space in it (before: "York" was lost and "New" tagged LOC)
    ("John B-PER\nlives O\nin O\nNew York B-LOC\n", {}, r"bad.txt:4: 3 columns where the file's lines have 2"),
    # untyped B/I/O tags, as keyphrase data writes them (before: entities labelled "")
    ("deep B\nlearning I\nrocks O\n", {}, r"bad.txt:1: tag 'B' names no entity type"),
])
def test_a_bad_line_is_named_by_file_and_line(tmp_path, content, options, error):
    bad = tmp_path / "bad.txt"
    bad.write_text(content, encoding="utf-8")
    with pytest.raises(FormatError, match=error):
        read_conll(bad, **options)


def test_a_bom_from_a_windows_editor_is_not_part_of_the_first_token(tmp_path):
    path = tmp_path / "bom.txt"
    path.write_bytes("\ufeffJosé B-PER\r\nvisited O\r\n".encode("utf-8"))
    (ex,) = read_conll(path)
    assert ex.text == "José visited" and mentions(ex) == [("José", "PER")]


def test_a_file_with_bare_carriage_returns_between_lines_reads_line_by_line(tmp_path):
    """Classic Mac OS line ends: read on "\n" alone the whole file was one line of tokens."""
    path = tmp_path / "mac.txt"
    path.write_bytes("Zoë B-PER\rvisited O\rKöln B-LOC\r\rAnna B-PER\r".encode("utf-8"))
    first, second = read_conll(path)
    assert first.text == "Zoë visited Köln" and mentions(first) == [("Zoë", "PER"), ("Köln", "LOC")]
    assert second.text == "Anna" and mentions(second) == [("Anna", "PER")]
    jsonl = tmp_path / "mac.jsonl"
    jsonl.write_bytes(b'{"text": "Anna in Rome"}\r{"text": "Bob"}\r')
    assert [ex.text for ex in read_jsonl(jsonl)] == ["Anna in Rome", "Bob"]


def test_conll04_record_with_a_bad_relation_index_names_the_sentence(tmp_path):
    bad = tmp_path / "conll04_dev.json"
    bad.write_text('[{"tokens": ["a", "b"], "tags": ["U-Loc", "O"], "relations": [{"head": 0, "tail": 3, "type": "X"}]}]')
    with pytest.raises(FormatError, match="sentence 0"):
        read_conll04(bad)


def test_conll04_spert_and_bilou_files_give_identical_examples():
    spert = read_conll04(FIXTURES / "conll04_mini.spert.json")
    bilou = read_conll04(FIXTURES / "conll04_mini.json")
    assert spert == bilou
    ex = spert[1]
    assert ex.id == "conll04_mini-1" and ex.extra["orig_id"] == 7
    assert mentions(ex) == [("Zoë", "Peop"), ("Acme Corp", "Org"), ("Zürich", "Loc")]
    # The spert file lists Zürich first; relations still join the same mentions after sorting.
    rels = [(ex.mention(ex.entities[r.head]), ex.mention(ex.entities[r.tail]), r.label) for r in ex.relations]
    assert rels == [("Zoë", "Acme Corp", "Work_For"), ("Acme Corp", "Zürich", "OrgBased_In")]


@pytest.mark.parametrize("scheme", ["iob1", "iob2", "bilou", "bmes"])
def test_write_conll_round_trips_tokens_and_tags_through_jsonl(tmp_path, scheme):
    exs = read_conll(FIXTURES / "mini_conll2003.txt")
    write_jsonl(exs, tmp_path / "mini.jsonl")
    stats = write_conll(read_jsonl(tmp_path / "mini.jsonl"), tmp_path / "out.conll", scheme=scheme)
    assert stats == {"examples": 3, "tokens": 16, "entities": 6, "snapped": 0, "dropped": 0, "empty": 0, "retokenized": 0, "merged": 0}
    again = read_conll(tmp_path / "out.conll", scheme=scheme, id_prefix="mini_conll2003")
    assert again == exs


def test_write_conll_without_tokens_splits_punctuation_and_cjk_and_snaps_spans(tmp_path, caplog):
    text = "王小明在北京。Zoë's café, 🎉!"
    ex = Example(
        "x",
        text,
        entities=(
            Span(0, 3, "PER"),
            Span(4, 6, "LOC"),
            Span(text.index("Zo"), text.index("Zo") + 2, "PER"),  # "Zo" inside the token "Zoë"
        ),
    )
    assert [text[s:e] for s, e in tokenize(text)] == [
        "王", "小", "明", "在", "北", "京", "。", "Zoë", "'", "s", "café", ",", "🎉", "!",
    ]
    out = tmp_path / "zh.conll"
    stats = write_conll([ex], out, scheme="bmes")
    assert stats["snapped"] == 1 and stats["dropped"] == 0
    assert "snapped outward" in caplog.text
    back = read_conll(out, scheme="bmes", token_sep="")
    assert mentions(back[0]) == [("王小明", "PER"), ("北京", "LOC"), ("Zoë", "PER")]


def test_write_conll_drops_a_nested_span_it_cannot_tag(tmp_path):
    ex = Example("n", "Bank of China", (Span(0, 13, "ORG"), Span(8, 13, "LOC")))
    stats = write_conll([ex], tmp_path / "n.conll")
    assert (stats["entities"], stats["dropped"]) == (1, 1)
    assert (tmp_path / "n.conll").read_text(encoding="utf-8") == "Bank B-ORG\nof I-ORG\nChina I-ORG\n\n"


def test_missing_data_dir_tells_the_user_what_to_pass(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMAAA_DATA_DIR", str(tmp_path))
    with pytest.raises(DatasetNotFound, match="--data-dir"):
        read_dataset("conll2003", "dev")
    with pytest.raises(DatasetNotFound, match="LLMAAA_DATA_DIR"):
        read_dataset("conll04", "test", data_dir=tmp_path / "nowhere")


@needs_data
def test_conll2003_real_splits_have_the_published_counts():
    expected = {
        "train": (14041, 203621, {"PER": 6600, "ORG": 6321, "LOC": 7140, "MISC": 3438}),
        "dev": (3250, 51362, {"PER": 1842, "ORG": 1341, "LOC": 1837, "MISC": 922}),
        "test": (3453, 46435, {"PER": 1617, "ORG": 1661, "LOC": 1668, "MISC": 702}),
    }
    for split, (n_sent, n_tok, ents) in expected.items():
        exs = read_dataset("conll2003", split, DATA)
        assert len(exs) == n_sent
        assert sum(len(ex.extra["tokens"]) for ex in exs) == n_tok
        assert Counter(s.label for ex in exs for s in ex.entities) == ents
        assert exs[0].id == f"{split}-0" and exs[-1].id == f"{split}-{n_sent - 1}"


@needs_data
def test_conll04_real_dev_agrees_across_formats_and_counts():
    spert = read_dataset("conll04", "dev", DATA)
    bilou = read_conll04(DATA / "conll04" / "conll04_dev.json")
    assert spert == bilou
    assert len(spert) == 231
    assert Counter(s.label for ex in spert for s in ex.entities) == {"Loc": 322, "Org": 170, "Peop": 283, "Other": 118}
    assert sum(len(ex.relations) for ex in spert) == 343


@needs_data
def test_conll2003_dev_exports_back_to_the_same_token_tag_lines(tmp_path):
    exs = read_dataset("conll2003", "dev", DATA)
    out = tmp_path / "dev.conll"
    write_conll(exs, out)
    ours = out.read_text(encoding="utf-8").split("\n\n")
    src = [
        "\n".join(f"{c[0]} {c[-1]}" for c in (line.split() for line in block.splitlines()))
        for block in (DATA / "conll2003" / "valid.txt").read_text(encoding="utf-8").split("\n\n")
        if block.strip() and not block.startswith("-DOCSTART-")
    ]
    assert [b for b in ours if b.strip()] == src
    # and the tags decode to the same spans the reader produced
    first = [line.split()[1] for line in ours[0].splitlines()]
    assert len(tags_to_token_spans(first, "iob2")) == len(exs[0].entities)


def test_an_ideographic_space_or_nbsp_is_a_token_not_a_column_separator(tmp_path):
    # str.split() split on U+3000/NBSP: the U+3000 line was refused and "a\xa0b" lost its "b"
    path = tmp_path / "zh.bmes"
    path.write_text("北 B-LOC\n京 E-LOC\n\u3000 O\n人 O\n\na\xa0b\tS-X\n", encoding="utf-8")
    exs = read_conll(path, scheme="bmes", token_sep="")
    assert exs[0].text == "北京\u3000人" and mentions(exs[0]) == [("北京", "LOC")]
    assert exs[1].text == "a\xa0b" and mentions(exs[1]) == [("a\xa0b", "X")]


def test_a_file_that_is_not_utf8_or_is_a_folder_is_a_format_error(tmp_path):
    latin = tmp_path / "latin1.txt"
    latin.write_bytes("Jos\u00e9 B-PER\n".encode("utf-8") + "Ren\u00e9 B-PER\n".encode("latin-1"))
    with pytest.raises(FormatError, match=r"latin1.txt:2: not UTF-8 text \(byte 0xe9 at column 4\)"):
        read_conll(latin)
    with pytest.raises(FormatError, match="is a folder; pass a file"):
        read_conll(tmp_path)


def test_a_file_without_sentences_is_an_error_not_zero_examples(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("-DOCSTART- -X- O\r\n\r\n  \r\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"empty.txt: no sentences"):
        read_conll(path)


def test_an_empty_split_of_a_dataset_folder_names_the_file(tmp_path):
    (tmp_path / "train.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"train.jsonl: the train split has no examples"):
        read_dataset(str(tmp_path), "train")


def test_a_tab_separated_file_keeps_space_tokens_and_tokens_with_spaces(tmp_path):
    path = tmp_path / "weibo.txt"
    path.write_text("王\tB-PER.NAM\t\n五\tE-PER.NAM \r\n \tO\r\n好\tO\r\n\r\nNew York\tNNP\tS-LOC\n", encoding="utf-8")
    zh, en = read_conll(path, scheme="bioes", token_sep="")
    assert zh.text == "王五 好" and mentions(zh) == [("王五", "PER.NAM")]
    assert zh.extra["tokens"] == [[0, 1], [1, 2], [2, 3], [3, 4]]
    assert en.text == "New York" and mentions(en) == [("New York", "LOC")]


def test_tokens_never_split_a_letter_from_its_marks_nor_an_emoji_from_its_modifiers():
    cases = {
        "नमस्ते दुनिया": ["नमस्ते", "दुनिया"],  # Devanagari vowel signs and virama are marks, not \w
        "مُحَمَّد علي": ["مُحَمَّد", "علي"],  # Arabic harakat
        "กรุงเทพ": ["ก", "รุ", "ง", "เ", "ท", "พ"],  # no spaces, like Chinese: a character with its marks
        "I 👩🏽\u200d💻 👍🏽 🇫🇷 1️⃣": ["I", "👩🏽\u200d💻", "👍🏽", "🇫🇷", "1️⃣"],
        "\ufeffAnna\u200b in\u200f Oslo": ["Anna", "in", "Oslo"],  # invisible format characters are no token
    }
    for text, tokens in cases.items():
        assert [text[s:e] for s, e in tokenize(text)] == tokens, text


@pytest.mark.parametrize("content,text,expected", [
    # Chinese one character per line, no token separator given (before: "中 国 很 大")
    ("中 B-LOC\n国 I-LOC\n很 O\n大 O\n", "中国很大", [("中国", "LOC")]),
    # Japanese words: no spaces between CJK/kana words, a space between two Latin words
    ("東京\tB-LOC\nに\tO\n住む\tO\n\n我\tO\n爱\tO\nNew\tB-LOC\nYork\tI-LOC\n", "東京に住む", [("東京", "LOC")]),
    # CoNLL-U comment lines before a sentence (before: "# text = Send an e-mail" was a token tagged "e-mail")
    ("# sent_id = 1\n# text = Send an e-mail\nSend O\nAnna B-PER\n", "Send Anna", [("Anna", "PER")]),
    # a hashtag token tagged O is still a token
    ("# O\nparty O\n", "# party", []),
    # an ID column 1, 2, 3 before the token (before: the text was "1 2 3")
    ("1\tJohn\tB-PER\n2\tlives\tO\n3\tin\tO\n4\tParis\tB-LOC\n", "John lives in Paris", [("John", "PER"), ("Paris", "LOC")]),
])
def test_conll_files_of_other_languages_and_layouts(tmp_path, content, text, expected):
    path = tmp_path / "data.conll"
    path.write_text(content, encoding="utf-8")
    exs = read_conll(path)
    assert exs[0].text == text and mentions(exs[0]) == expected
    if "New" in content:
        assert exs[1].text == "我爱New York" and mentions(exs[1]) == [("New York", "LOC")]


def test_a_tag_in_another_column_is_pointed_at(tmp_path):
    path = tmp_path / "uner.conll"
    path.write_text("1\tJohn\tB-PER\t-\t-\n2\truns\tO\t-\t-\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"the tag looks like column 2"):
        read_conll(path)
    assert mentions(read_conll(path, tag_column=2)[0]) == [("John", "PER")]


def test_conll04_records_with_inclusive_entity_ends_json_lines_or_none_at_all(tmp_path):
    # SciERC/DyGIE-style inclusive ends (before: "John" at [0, 0] became the whole sentence)
    path = tmp_path / "incl.json"
    path.write_text('[{"tokens": ["John", "works", "at", "IBM"], "entities": [{"type": "Peop", "start": 0, "end": 0},'
                    ' {"type": "Org", "start": 3, "end": 3}], "relations": [{"type": "Work_For", "head": 0, "tail": 1}]}]',
                    encoding="utf-8")
    [ex] = read_conll04(path)
    assert mentions(ex) == [("John", "Peop"), ("IBM", "Org")] and ex.relations[0].label == "Work_For"
    lines = tmp_path / "lines.json"  # one record per line (before: "not valid JSON (Extra data)")
    lines.write_text('{"tokens": ["IBM", "hired", "John"], "entities": [{"type": "Org", "start": 0, "end": 1}]}\n'
                     '{"tokens": ["Oslo"], "entities": [{"type": "Loc", "start": 0, "end": 1}]}\n', encoding="utf-8")
    assert [mentions(e) for e in read_conll04(lines)] == [[("IBM", "Org")], [("Oslo", "Loc")]]
    empty = tmp_path / "empty.json"
    empty.write_text("[]", encoding="utf-8")
    with pytest.raises(FormatError, match="no sentences"):
        read_conll04(empty)
    out_of_range = tmp_path / "oor.json"
    out_of_range.write_text('[{"tokens": ["a", "b"], "entities": [{"type": "Org", "start": 1, "end": 5}]}]', encoding="utf-8")
    with pytest.raises(FormatError, match=r"sentence 0 .* \[1, 5\) are not within its 2 tokens"):
        read_conll04(out_of_range)


def test_io_tags_are_read_with_the_io_scheme_and_the_bio_reader_says_so(tmp_path):
    path = tmp_path / "io.conll"
    path.write_text("Anna\tperson-actor\nSmith\tperson-actor\nflew\tO\nto\tO\nNew\tLOC\nYork\tLOC\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"io.conll:1: .*read them with the scheme 'io'"):
        read_conll(path)
    [ex] = read_conll(path, scheme="io")
    assert mentions(ex) == [("Anna Smith", "person-actor"), ("New York", "LOC")]
    out = tmp_path / "back.conll"
    write_conll([ex], out, scheme="io", sep="\t")
    assert mentions(read_conll(out, scheme="io")[0]) == mentions(ex)



def test_one_emoji_in_a_char_level_file_keeps_every_sentence_without_spaces(tmp_path):
    """A skin-toned emoji counted as two characters made the whole file word-level: "我在2008年" read as
    "我在2 0 0 8年" in every sentence (found by a dataset review)."""
    path = tmp_path / "zh.conll"
    path.write_text("我 O\n在 O\n2 B-DATE\n0 I-DATE\n0 I-DATE\n8 I-DATE\n年 I-DATE\n\n好 O\n👍🏽 O\n🇩🇪 O\n👩🏽‍💻 O\n",
                    encoding="utf-8")
    first, second = read_conll(path)
    assert first.text == "我在2008年" and first.mention(first.entities[0]) == "2008年"
    assert second.text == "好👍🏽🇩🇪👩🏽‍💻"


def test_write_conll_checks_a_tokens_field_and_writes_atomically(tmp_path):
    """Words given as strings crashed half-way and left a partial file; out-of-order or partial offsets
    reordered words or lost text silently."""
    exs = [Example("a", "Zoë lebt in Köln", (Span(0, 3, "PER"), Span(12, 16, "LOC")), extra={"tokens": [[4, 8], [0, 3]]}),
           Example("b", "Anna lebt", (Span(0, 4, "PER"),), extra={"tokens": ["Anna", "lebt"]})]
    out = tmp_path / "out.conll"
    stats = write_conll(exs, out)
    assert stats["retokenized"] == 2 and stats["entities"] == 3
    assert [(ex.text, [ex.mention(s) for s in ex.entities]) for ex in read_conll(out)] == [
        ("Zoë lebt in Köln", ["Zoë", "Köln"]), ("Anna lebt", ["Anna"])]
    assert [p.name for p in tmp_path.iterdir()] == ["out.conll"]  # no temp file left


def test_a_label_with_a_space_is_written_with_tabs_and_reads_back(tmp_path):
    ex = Example("a", "Jürgen Klopp kam", (Span(0, 12, "Person Name"),))
    write_conll([ex], tmp_path / "o.conll")
    assert read_conll(tmp_path / "o.conll")[0].entities[0].label == "Person Name"


def test_a_lone_surrogate_in_a_jsonl_text_is_refused_with_its_line(tmp_path):
    from llmaaa.data.jsonl import JsonlError

    (tmp_path / "s.jsonl").write_text('{"id": "a", "text": "Zo\\u00eb \\ud83d lebt"}\n', encoding="utf-8")
    with pytest.raises(JsonlError, match=r"s.jsonl:1: .*lone UTF-16 surrogate"):
        read_jsonl(tmp_path / "s.jsonl")


def test_io_output_counts_neighbours_that_read_back_as_one_entity(tmp_path):
    ex = Example("a", "Paris London Rom", (Span(0, 5, "LOC"), Span(6, 12, "LOC"), Span(13, 16, "LOC")))
    assert write_conll([ex], tmp_path / "io.conll", scheme="io")["merged"] == 2


@pytest.mark.parametrize("content", [
    "0\tAnna\tB-PER\n1\tlives\tO\n2\tin\tO\n3\tOslo\tB-LOC\n\n0\tBob\tB-PER\n1\tleft\tO\n",  # 0-based
    "1\tAnna\tB-PER\n2\tlives\tO\n3\tin\tO\n4\tOslo\tB-LOC\n\n5\tBob\tB-PER\n6\tleft\tO\n",  # numbered across sentences
])
def test_a_zero_based_or_running_id_column_is_no_token(tmp_path, content):
    """Only IDs 1, 2, 3 restarting in each sentence were taken for an ID column: a 0-based one, or one numbering
    the tokens across sentences, silently became the text ("0 1 2 3", entities "0" and "3")."""
    path = tmp_path / "ids.conll"
    path.write_text(content, encoding="utf-8")
    first, second = read_conll(path)
    assert first.text == "Anna lives in Oslo" and mentions(first) == [("Anna", "PER"), ("Oslo", "LOC")]
    assert second.text == "Bob left" and mentions(second) == [("Bob", "PER")]


def test_integer_tokens_stay_tokens_and_an_integer_column_that_counts_nothing_is_warned_about(tmp_path, caplog):
    """Numbers as the words (a two-column file) are the text; a first column of integers beside the words that
    numbers nothing is read as tokens too, but no longer without a word: the warning names file and line."""
    numbers = tmp_path / "numbers.conll"
    numbers.write_text("1\tB-NUM\n2\tI-NUM\n\n0\tO\n", encoding="utf-8")
    assert [ex.text for ex in read_conll(numbers)] == ["1 2", "0"]
    assert "integers" not in caplog.text
    odd = tmp_path / "odd.conll"
    odd.write_text("1\tAnna\tB-PER\n3\tlives\tO\n", encoding="utf-8")
    assert read_conll(odd)[0].text == "1 3"
    assert "odd.conll:2: the first column holds only integers" in caplog.text


def test_a_line_missing_a_column_is_named_not_read_with_the_wrong_tag(tmp_path):
    """A CoNLL-2003 line without its NER column ("German JJ B-NP" among four-column lines) read its chunk tag as
    the tag: the word became an entity "NP" and the user was told nothing. Lines of varying length still read
    where the tag is counted from the start, and a tab-separated file's longer lines stay allowed."""
    path = tmp_path / "missing.conll"
    path.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\ncall NN I-NP O\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"missing.conll:3: 3 columns where the file's lines have 4 "
                                          r"\('German JJ B-NP': a column missing\?\)"):
        read_conll(path)
    optional = tmp_path / "optional.conll"  # a note in a trailing column of some lines
    optional.write_text("Anna\tB-PER\tname\nin\tO\tx\nOslo\tB-LOC\n", encoding="utf-8")
    assert mentions(read_conll(optional, tag_column=1)[0]) == [("Anna", "PER"), ("Oslo", "LOC")]


def test_an_entity_ending_inside_a_korean_word_is_written_and_read_back_exactly(tmp_path):
    """Korean puts spaces between phrases, so an entity ends inside one: 김철수 / 서울 in "김철수는 서울에 산다"
    were written as the words "김철수는" / "서울에" and read back widened to them. Now such an example is
    written char by char with its spaces as tokens, and read back with the same text and entities, also in a
    file whose other examples are written as words."""
    text = "김철수는 서울에 산다"
    exs = [Example("ko", text, (Span(0, 3, "PER"), Span(5, 7, "LOC"))),
           Example("en", "Anna Smith works at Acme", (Span(0, 10, "PER"), Span(20, 24, "ORG")))]
    out = tmp_path / "dataset.conll"
    stats = write_conll(exs, out)
    assert stats["snapped"] == 0 and stats["entities"] == 4
    ko, en = read_conll(out)
    assert ko.text == text and [(s.start, s.end, s.label) for s in ko.entities] == [(0, 3, "PER"), (5, 7, "LOC")]
    assert mentions(ko) == [("김철수", "PER"), ("서울", "LOC")]
    assert en.text == "Anna Smith works at Acme" and mentions(en) == [("Anna Smith", "PER"), ("Acme", "ORG")]
    assert out.read_text(encoding="utf-8").splitlines()[:5] == ["김\tB-PER", "철\tI-PER", "수\tI-PER", "는\tO", " \tO"]


def test_a_bom_in_the_middle_of_a_concatenated_file_is_not_text(tmp_path):
    """``cat w1.conll w2.conll`` of two files saved with a BOM: only line 1's BOM was dropped, so the second
    file's first token read as "\\ufeffEU" (a different word to the student, and in every mention of it)."""
    path = tmp_path / "merged.conll"
    path.write_bytes("\ufeffAnna B-PER\nran O\n\n\ufeffEU B-ORG\nrejects O\n".encode("utf-8"))
    first, second = read_conll(path)
    assert second.text == "EU rejects" and mentions(second) == [("EU", "ORG")]
    jsonl = tmp_path / "merged.jsonl"
    jsonl.write_bytes('\ufeff{"text": "Anna"}\n\ufeff{"text": "Bob"}\n'.encode("utf-8"))
    assert [ex.text for ex in read_jsonl(jsonl)] == ["Anna", "Bob"]


def test_a_korean_sentence_of_one_syllable_words_keeps_its_spaces(tmp_path):
    """Every token one character, "난 못 가" was taken for a char-level sentence and read as "난못가". A Hangul
    sentence is char-level only with its spaces as tokens (what write_conll writes); Chinese is joined as before."""
    path = tmp_path / "ko.conll"
    path.write_text("난 O\n못 O\n가 O\n\n김철수 B-PER\n서울에 O\n\n我 O\n爱 O\n北 B-LOC\n京 I-LOC\n", encoding="utf-8")
    assert [ex.text for ex in read_conll(path)] == ["난 못 가", "김철수 서울에", "我爱北京"]
    spaced = tmp_path / "ko_chars.conll"
    spaced.write_text("EU\tB-ORG\nran\tO\n\n난\tO\n \tO\n못\tO\n \tO\n가\tO\n", encoding="utf-8")
    assert [ex.text for ex in read_conll(spaced)] == ["EU ran", "난 못 가"]


def test_a_short_line_whose_last_column_is_one_of_the_files_tags_is_read(tmp_path):
    """"the O" missing only its POS column in a three-column file was refused, though the old reader read it
    right; a short line is an error only when its last column is no tag of the full lines (a chunk tag)."""
    path = tmp_path / "short.conll"
    path.write_text("EU NNP B-ORG\nrejects VBZ O\nthe O\nplan NN O\n", encoding="utf-8")
    assert [(ex.text, mentions(ex)) for ex in read_conll(path)] == [("EU rejects the plan", [("EU", "ORG")])]
    chunk = tmp_path / "chunk.conll"
    chunk.write_text("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\ncall NN I-NP O\n", encoding="utf-8")
    with pytest.raises(FormatError, match=r"chunk.conll:3: 3 columns where the file's lines have 4"):
        read_conll(chunk)
