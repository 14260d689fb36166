"""`python -m llmaaa convert` and `evaluate` end to end, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

from llmaaa.data.jsonl import read_jsonl, write_jsonl
from llmaaa.data.schema import Example, Relation, Span

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "data"
PYTHON = ROOT / ".venv" / "bin" / "python"


def llmaaa(*args, env=None):
    exe = str(PYTHON) if PYTHON.exists() else sys.executable
    return subprocess.run([exe, "-m", "llmaaa", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)


def test_convert_conll2003_then_evaluate_a_noisy_prediction(tmp_path):
    gold_path = tmp_path / "gold.jsonl"
    r = llmaaa("convert", "--from", "conll2003", "--input", FIXTURES / "mini_conll2003.txt", "--output", gold_path)
    assert r.returncode == 0, r.stderr
    assert "wrote 3 examples (6 entities, 0 relations)" in r.stdout
    gold = read_jsonl(gold_path)
    assert gold[2].text == "José visited São Paulo 🎉 with New York Times"

    # Drop "São Paulo", shrink "New York Times" to "New York": 4 of 6 right, 1 FP, 2 FN.
    ex = gold[2]
    wrong = ex.with_labels(entities=[ex.entities[0], Span(ex.entities[2].start, ex.entities[2].end - 6, "ORG")])
    write_jsonl([gold[0], gold[1], wrong], tmp_path / "pred.jsonl")
    r = llmaaa("evaluate", "--task", "ner", "--gold", gold_path, "--pred", tmp_path / "pred.jsonl")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert (out["tp"], out["fp"], out["fn"]) == (4, 1, 2)
    assert out["precision"] == 0.8 and out["per_label"]["LOC"]["recall"] == 0.0


def test_convert_chinese_bmes_and_back_to_conll(tmp_path):
    r = llmaaa("convert", "--from", "conll", "--scheme", "bmes", "--token-sep", "", "--input",
               FIXTURES / "mini.char.bmes", "--output", tmp_path / "zh.jsonl")
    assert r.returncode == 0, r.stderr
    exs = read_jsonl(tmp_path / "zh.jsonl")
    assert exs[0].text == "张三在北京市工作"
    assert "张三" in (tmp_path / "zh.jsonl").read_text(encoding="utf-8")
    r = llmaaa("convert", "--from", "jsonl", "--input", tmp_path / "zh.jsonl", "--scheme", "bmes",
               "--output", tmp_path / "zh.bmes")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "zh.bmes").read_text(encoding="utf-8") == (FIXTURES / "mini.char.bmes").read_text(encoding="utf-8") + "\n"


def test_convert_conll04_and_evaluate_relations(tmp_path):
    gold_path = tmp_path / "re.jsonl"
    r = llmaaa("convert", "--from", "conll04", "--input", FIXTURES / "conll04_mini.spert.json", "--output", gold_path)
    assert r.returncode == 0, r.stderr
    assert "(5 entities, 3 relations)" in r.stdout
    gold = read_jsonl(gold_path)
    ex = gold[1]
    pred = [gold[0], ex.with_labels(relations=[Relation(0, 1, "Live_In"), ex.relations[1]])]
    write_jsonl(pred, tmp_path / "pred.jsonl")
    r = llmaaa("evaluate", "--task", "re", "--gold", gold_path, "--pred", tmp_path / "pred.jsonl")
    out = json.loads(r.stdout)
    assert (out["tp"], out["fp"], out["fn"]) == (2, 1, 1)
    assert set(out["per_label"]) == {"Kill", "Live_In", "OrgBased_In", "Work_For"}


def test_user_errors_exit_2_with_a_message_not_a_traceback(tmp_path):
    r = llmaaa("convert", "--from", "conll2003", "--split", "dev", "--data-dir", tmp_path, "--output", tmp_path / "x.jsonl")
    assert r.returncode == 2
    assert "--data-dir" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "g.jsonl").write_text('{"id": "a", "text": "x"}\n', encoding="utf-8")
    (tmp_path / "p.jsonl").write_text('{"id": "b", "text": "x"}\n', encoding="utf-8")
    r = llmaaa("evaluate", "--task", "ner", "--gold", tmp_path / "g.jsonl", "--pred", tmp_path / "p.jsonl")
    assert r.returncode == 2 and "no gold example" in r.stderr and "Traceback" not in r.stderr


def test_empty_files_are_a_one_line_error_naming_the_option_and_file(tmp_path):
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    r = llmaaa("evaluate", "--task", "ner", "--gold", tmp_path / "empty.jsonl", "--pred", tmp_path / "empty.jsonl")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert f"error: --gold {tmp_path / 'empty.jsonl'}: no examples" in r.stderr
    r = llmaaa("convert", "--from", "jsonl", "--input", tmp_path / "empty.jsonl", "--output", tmp_path / "o.conll")
    assert r.returncode == 2 and "--input" in r.stderr and not (tmp_path / "o.conll").exists()
    (tmp_path / "empty.txt").write_bytes(b"\xef\xbb\xbf-DOCSTART- -X- O\r\n\r\n")
    r = llmaaa("convert", "--from", "conll", "--input", tmp_path / "empty.txt", "--output", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "empty.txt: no sentences" in r.stderr and "Traceback" not in r.stderr


def test_a_folder_or_non_utf8_input_is_a_one_line_error(tmp_path):
    r = llmaaa("convert", "--from", "conll", "--input", tmp_path, "--output", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "is a folder; pass a file" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "utf16.txt").write_text("北 B-LOC\n", encoding="utf-16")
    r = llmaaa("convert", "--from", "conll", "--input", tmp_path / "utf16.txt", "--output", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "utf16.txt:1: not UTF-8 text (byte 0xff at column 1)" in r.stderr


def test_evaluate_warns_when_prediction_and_gold_labels_differ(tmp_path):
    text = "王五去了北京"
    write_jsonl([Example("a", text, (Span(0, 2, "PER"), Span(4, 6, "LOC")))], tmp_path / "gold.jsonl")
    write_jsonl([Example("a", text, (Span(0, 2, "person_name"), Span(4, 6, "LOC")))], tmp_path / "pred.jsonl")
    r = llmaaa("evaluate", "--task", "ner", "--gold", tmp_path / "gold.jsonl", "--pred", tmp_path / "pred.jsonl")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["f1"] == 0.5
    assert f"labels in {tmp_path / 'pred.jsonl'} but never in {tmp_path / 'gold.jsonl'}: person_name" in r.stderr
    assert f"labels in {tmp_path / 'gold.jsonl'} but never in {tmp_path / 'pred.jsonl'}: PER" in r.stderr


def test_mistakes_found_by_a_cli_review_are_one_line_and_lose_no_data(tmp_path):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "1", "text": "Anna in Oslo", "entities": [{"start": 0, "end": 4, "label": "PER"}]}\n',
                    encoding="utf-8")
    before = gold.read_bytes()
    for args in (("annotate", "--task", "ner", "--input", gold, "--output", gold, "--k", "0", "--labels", "PER",
                  "--base-url", "http://127.0.0.1:9/v1"),
                 ("corrupt", "--task", "ner", "--input", gold, "--output", gold),
                 ("convert", "--from", "jsonl", "--input", gold, "--output", gold, "--to", "conll")):
        r = llmaaa(*args)
        assert r.returncode == 2 and "is the same file as --input" in r.stderr, (args, r.stderr)
    assert gold.read_bytes() == before  # the user's gold labels are intact
    r = llmaaa("convert", "--from", "jsonl", "--input", gold, "--output", tmp_path)  # a folder for a file
    assert r.returncode == 2 and "Is a directory" in r.stderr and "Traceback" not in r.stderr
    r = llmaaa("annotate", "--task", "ner", "--input", gold, "--output", tmp_path, "--k", "0", "--labels", "PER")
    assert r.returncode == 2 and "is a folder; pass a file" in r.stderr
    r = llmaaa("annotate", "--task", "ner", "--input", gold, "--estimate", "--k", "0", "--labels", "PER",
               env={**__import__("os").environ, "LLM_TIMEOUT_S": "-5"})
    assert r.returncode == 2 and "LLM_TIMEOUT_S=-5.0: out of range" in r.stderr
    for args, message in ((("simulate", "--dataset", "conll2003", "--seeds", "0", "--output", tmp_path / "s"), "--seeds: must be >= 1"),
                          (("--log-level", "nope", "evaluate"), "invalid choice: 'NOPE'")):
        r = llmaaa(*args)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_convert_to_conll_counts_what_it_wrote_and_says_relations_are_not_written(tmp_path):
    """It printed the input's counts ('84 relations') for a CoNLL file holding no relation and one example fewer."""
    src = tmp_path / "re.jsonl"
    write_jsonl([Example("a", "Anna works for Acme .", (Span(0, 4, "PER"), Span(15, 19, "ORG")),
                         (Relation(0, 1, "Work_For"),)), Example("b", "")], src)
    r = llmaaa("convert", "--from", "jsonl", "--input", src, "--output", tmp_path / "re.conll")
    assert r.returncode == 0, r.stderr
    assert "wrote 1 examples (2 entities)" in r.stdout and "1 empty texts left out" in r.stdout
    assert "1 relations not written: CoNLL has no relations" in r.stdout
