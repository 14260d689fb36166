"""Students on backbones other than BERT, as users bring them (found by a backbone review).

No model hub here: each backbone is a tiny random model of the real architecture, with a tokenizer of
the real kind (Unigram/Metaspace as DeBERTa-v3 and XLM-R ship, byte-level BPE as RoBERTa, WordPiece
as DistilBERT) trained on a few sentences with the ``tokenizers`` library. What is checked is what
a user of such a model would see: spans that match the text, relations that train, folders that reload.
"""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from llmaaa.data.schema import Example, LabelSet, Relation, Span
from llmaaa.models.tokenize import TokenizerError, decode_tags, encode_text, span_tags

CORPUS = [
    "Barack Obama was born in Honolulu , Hawaii .", "Tim Cook runs Apple in Cupertino.", "She moved to Seattle.",
    "李明在北京大学工作。", "王芳住在上海。", "Zoë Müller lives in Köln.", "🙂 Anna flew to Lima today .",
    "Anna works for Acme in Lima .", "Bob  visited\tParis last year .",
] * 4
TINY = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)


def _train(model, pre_tokenizer, trainer):
    from tokenizers import Tokenizer

    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizer
    tok.train_from_iterator(CORPUS, trainer)
    return json.loads(tok.to_str())["model"]


def _build(name: str, folder: Path) -> Path:
    import transformers as T
    from tokenizers import models, pre_tokenizers, trainers

    if name in ("deberta_v2", "xlmr"):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"] if name == "deberta_v2" else ["<s>", "<pad>", "</s>", "<unk>"]
        m = _train(models.Unigram(), pre_tokenizers.Metaspace(),
                   trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token=specials[1 if name == "deberta_v2" else 3]))
        vocab = [(s, 0.0) for s in specials] + [tuple(v) for v in m["vocab"] if v[0] not in specials]
        if name == "deberta_v2":
            tok = T.DebertaV2Tokenizer(vocab=vocab + [("[MASK]", 0.0)])
            cfg = T.DebertaV2Config(vocab_size=len(tok), max_position_embeddings=128, **TINY)
        else:
            tok = T.XLMRobertaTokenizer(vocab=vocab + [("<mask>", 0.0)])
            cfg = T.XLMRobertaConfig(vocab_size=len(tok), max_position_embeddings=66, pad_token_id=tok.pad_token_id, **TINY)
    elif name == "roberta":
        m = _train(models.BPE(), pre_tokenizers.ByteLevel(add_prefix_space=False),
                   trainers.BpeTrainer(vocab_size=400, special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                       initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        merges = [tuple(x) if isinstance(x, list) else tuple(x.split(" ")) for x in m["merges"]]
        tok = T.RobertaTokenizer(vocab=m["vocab"], merges=merges)
        cfg = T.RobertaConfig(vocab_size=len(tok) + 2, max_position_embeddings=130, pad_token_id=tok.pad_token_id, **TINY)
    else:  # distilbert: WordPiece, no token_type_ids, no pooler
        from tokenizers import normalizers

        from tokenizers import Tokenizer
        wp = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        wp.normalizer = normalizers.BertNormalizer(lowercase=True)
        wp.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        wp.train_from_iterator(CORPUS, trainers.WordPieceTrainer(
            vocab_size=400, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
        tok = T.DistilBertTokenizer(vocab=json.loads(wp.to_str())["model"]["vocab"])
        cfg = T.DistilBertConfig(vocab_size=len(tok), dim=32, n_layers=2, n_heads=2, hidden_dim=64,
                                 max_position_embeddings=128)
    out = folder / name
    T.AutoModel.from_config(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def backbones(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backbones")
    return {name: _build(name, folder) for name in ("deberta_v2", "xlmr", "roberta", "distilbert")}


def ents(text: str, *pairs: tuple[str, str]) -> tuple[Span, ...]:
    return tuple(Span(text.index(m), text.index(m) + len(m), label) for m, label in pairs)


EXAMPLES = [
    ("Barack Obama was born in Honolulu , Hawaii .", ("Barack Obama", "PER"), ("Honolulu", "LOC"), ("Hawaii", "LOC")),
    ("Tim Cook runs Apple in Cupertino.", ("Tim Cook", "PER"), ("Cupertino", "LOC")),
    ("She moved to Seattle.", ("Seattle", "LOC"),),
    ("Zoë Müller lives in Köln.", ("Zoë Müller", "PER"), ("Köln", "LOC")),
    ("Bob  visited\tParis last year .", ("Bob", "PER"), ("Paris", "LOC")),
    ("Loving Paris😍 with Anna👍🏽!", ("Paris", "LOC"), ("Anna", "PER")),  # emoji glued to the names
    ("©Apple hired Zoë™ in Köln❤️", ("Zoë", "PER"), ("Köln", "LOC")),
    # accents written as combining marks (NFD): a no-character token after the word once cut the span before
    # the accent ("Jose" of "José")
    (unicodedata.normalize("NFD", "José😀 vive en Zürich™"), (unicodedata.normalize("NFD", "José"), "PER"),
     (unicodedata.normalize("NFD", "Zürich"), "LOC")),
]


@pytest.mark.parametrize("name", ["deberta_v2", "xlmr", "roberta", "distilbert"])
def test_spans_read_back_through_the_tokenizer_are_the_spans_given(backbones, name):
    """Metaspace / byte-level tokens count the space before a word into it: spans came back as ' Obama'
    (never matching gold), and 'Seattle.' was one unit, so the period went with the entity."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbones[name])
    tag2id = {t: i for i, t in enumerate(["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])}
    for text, *pairs in EXAMPLES:
        gold = ents(text, *pairs)
        enc = encode_text(tok, text)
        assert all(not text[s].isspace() and not text[e - 1].isspace() for s, e in enc.offsets if e > s), (name, text)
        tags = [list(tag2id)[t] if t >= 0 else "O" for t in span_tags(enc, gold, tag2id)]
        assert decode_tags(enc, tags) == list(gold), (name, text)


@pytest.mark.parametrize("name", ["deberta_v2", "xlmr"])
def test_two_entities_of_an_unspaced_chinese_sentence_stay_two(backbones, name):
    """A Metaspace pre-tokenizer reads a whole Chinese sentence as one word: both entities became one span."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbones[name])
    text = "李明在北京大学工作。"
    enc = encode_text(tok, text)
    units = {w for w in enc.words}
    assert len(units) > 2
    gold = ents(text, ("李明", "PER"), ("北京大学", "ORG"))
    tag2id = {t: i for i, t in enumerate(["O", "B-PER", "I-PER", "B-ORG", "I-ORG"])}
    tags = [list(tag2id)[t] if t >= 0 else "O" for t in span_tags(enc, gold, tag2id)]
    assert len(decode_tags(enc, tags)) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", ["deberta_v2", "distilbert", "roberta"])
def test_an_re_student_trains_saves_and_reloads_on_each_backbone(backbones, name, tmp_path):
    """DeBERTa, DistilBERT, ELECTRA and ModernBERT have no pooler: asking to leave it out was a TypeError."""
    from llmaaa.training.export import load_task_model, save_model_version
    from llmaaa.training.trainer import TrainConfig, train_task_model

    labels = LabelSet(("PER", "ORG", "LOC"), ("Work_For", "Live_In"))
    text = "Anna works for Acme in Lima ."
    e = ents(text, ("Anna", "PER"), ("Acme", "ORG"), ("Lima", "LOC"))
    train = [Example(f"t{i}", text, e, (Relation(0, 1, "Work_For"), Relation(0, 2, "Live_In"))) for i in range(6)]
    res = train_task_model("re", train, train[:2], labels, TrainConfig(model_name=str(backbones[name]), epochs=1,
                                                                       max_length=64), progress=False)
    marked = res.model._marked(train[0], 0, 1)
    assert "  " not in marked and marked.startswith("[E1] Anna [/E1] works for [E2] Acme [/E2]")
    save_model_version(res, tmp_path / "re")
    again = load_task_model(tmp_path / "re")
    probe = [Example("p", text, e)]
    assert [r.label for r in again.predict(probe)[0].relations] == [r.label for r in res.model.predict(probe)[0].relations]


def test_max_length_beyond_the_encoders_positions_is_capped(backbones):
    """RoBERTa-style positions start after the padding index: 66 positions hold 64 tokens, and a longer window
    failed only once a long enough text came along."""
    from llmaaa.models.ner import NerModel

    labels = LabelSet(("PER",))
    model = NerModel.create(labels, str(backbones["xlmr"]), max_length=256)
    assert model.max_length == 64
    long_text = " ".join(["Anna"] * 200)
    assert len(model.predict([Example("x", long_text)])[0].text) == len(long_text)  # windows, no index error


def test_a_python_only_tokenizer_is_refused_for_ner_with_what_to_do(tmp_path):
    import transformers as T

    from llmaaa.models.ner import NerModel

    (tmp_path / "vocab.txt").write_text("".join(f"{w} 1\n" for w in ["Anna", "lives", "in", "Lima", "."]), encoding="utf-8")
    (tmp_path / "bpe.codes").write_text("a n 1\n", encoding="utf-8")
    tok = T.PhobertTokenizer(str(tmp_path / "vocab.txt"), str(tmp_path / "bpe.codes"))
    net = T.AutoModelForTokenClassification.from_config(
        T.RobertaConfig(vocab_size=len(tok) + 2, max_position_embeddings=130, pad_token_id=tok.pad_token_id, num_labels=3,
                        **TINY))
    with pytest.raises(TokenizerError, match="needs a fast tokenizer"):
        NerModel(net, tok, LabelSet(("PER",)))


@pytest.mark.parametrize("name", ["deberta_v2", "xlmr", "roberta", "distilbert"])
def test_no_two_units_share_a_character(backbones, name):
    """A lone '▁' carries the offsets of the character after it (李, a period): as a unit of its own it made
    two units over one character, and two B tags there two identical spans."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(backbones[name])
    for text in ("李明在北京大学工作。", "She moved to Seattle.", "王芳住在上海。", " 🙂 Anna flew to Lima today ."):
        enc = encode_text(tok, text)
        heads = [enc.offsets[i] for i, f in enumerate(enc.first) if f]
        assert len(heads) == len(set(heads)), (name, text, heads)


def test_combining_marks_an_uncased_tokenizer_strips_stay_in_the_span():
    """NFD 'Zoë' came back as 'Zoe' with the default (uncased) MiniLM: the accent was in no token."""
    import unicodedata

    from transformers import AutoTokenizer

    from llmaaa.models.encoder import resolve_model_name

    tok = AutoTokenizer.from_pretrained(resolve_model_name(None))
    text = unicodedata.normalize("NFD", "Zoë met José in กรุงเทพ .")
    gold = ents(text, (unicodedata.normalize("NFD", "Zoë"), "PER"), (unicodedata.normalize("NFD", "José"), "PER"))
    enc = encode_text(tok, text)
    tag2id = {t: i for i, t in enumerate(["O", "B-PER", "I-PER"])}
    tags = [list(tag2id)[t] if t >= 0 else "O" for t in span_tags(enc, gold, tag2id)]
    assert decode_tags(enc, tags) == list(gold)
    covered = {i for s, e in enc.offsets for i in range(s, e)}
    assert covered == {i for i, ch in enumerate(text) if not ch.isspace()}  # Thai vowel signs too
