"""`python -m llmaaa annotate` end to end against a loopback OpenAI-compatible server."""

import json
import subprocess
import sys
from pathlib import Path

from openai_stub import ScriptedOpenAI, last_user_message

from llmaaa.data.jsonl import read_jsonl, write_jsonl
from llmaaa.data.schema import Example, Span

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"


def llmaaa(*args):
    exe = str(PYTHON) if PYTHON.exists() else sys.executable
    return subprocess.run([exe, "-m", "llmaaa", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def answer(req, n):
    text = last_user_message(req)
    return json.dumps([{"span": w, "type": "PER"} for w in ("Anna", "李雷") if w in text] + [{"span": "x", "type": "DATE"}])


def test_annotate_writes_labels_records_and_reruns_from_cache(tmp_path):
    demos, pool, out = tmp_path / "demos.jsonl", tmp_path / "pool.jsonl", tmp_path / "out.jsonl"
    write_jsonl([Example("d1", "Bob met Carl.", (Span(0, 3, "PER"), Span(8, 12, "PER")))], demos)
    write_jsonl([Example("a", "Anna left.", extra={"source_id": 7}), Example("b", "李雷在北京 😀")], pool)
    args = ["annotate", "--task", "ner", "--input", pool, "--demos", demos, "--output", out, "--model", "m",
            "--demo-mode", "random", "--k", "1", "--cache", tmp_path / "c.sqlite", "--no-progress"]
    with ScriptedOpenAI(answer) as llm:
        r = llmaaa(*args, "--base-url", llm.base_url)
        assert r.returncode == 0, r.stderr
        assert len(llm.requests) == 2
    got = {ex.id: ex for ex in read_jsonl(out)}
    assert [(got["a"].mention(s), s.label) for s in got["a"].entities] == [("Anna", "PER")]
    assert [(got["b"].mention(s), s.label) for s in got["b"].entities] == [("李雷", "PER")]
    assert got["a"].extra["source_id"] == 7  # the input example is kept
    assert got["a"].annotation["demo_ids"] == ["d1"] and got["a"].annotation["error"] is None
    assert "2/2 annotated, 0 failed" in r.stdout and "2 unknown labels" in r.stdout
    with ScriptedOpenAI(answer) as llm:
        r = llmaaa(*args, "--base-url", llm.base_url)
        assert r.returncode == 0 and llm.requests == []
    assert "0 requests, 2 cached" in r.stdout


def test_annotate_against_a_dead_server_reports_failures(tmp_path):
    pool, out = tmp_path / "pool.jsonl", tmp_path / "out.jsonl"
    write_jsonl([Example("a", "Anna left.")], pool)
    r = llmaaa("annotate", "--task", "ner", "--input", pool, "--output", out, "--labels", "PER",
               "--base-url", "http://127.0.0.1:9/v1", "--model", "m", "--max-retries", "0", "--no-progress")
    assert r.returncode == 1
    assert "0/1 annotated, 1 failed (cannot connect: 1)" in r.stdout
    [ex] = read_jsonl(out)
    assert ex.failed and "cannot connect" in ex.annotation["error"]


def test_annotate_without_labels_tells_the_user_what_to_pass(tmp_path):
    pool = tmp_path / "pool.jsonl"
    write_jsonl([Example("a", "Anna left.")], pool)
    r = llmaaa("annotate", "--task", "ner", "--input", pool, "--output", tmp_path / "o.jsonl")
    assert r.returncode == 2 and "--labels" in r.stderr


def test_annotate_splits_a_long_text_with_max_chars(tmp_path):
    pool, out = tmp_path / "pool.jsonl", tmp_path / "out.jsonl"
    text = "Anna left Berlin early. 李雷在北京。 Then Anna came back. "
    write_jsonl([Example("long", text * 3)], pool)
    with ScriptedOpenAI(answer) as llm:
        r = llmaaa("annotate", "--task", "ner", "--input", pool, "--output", out, "--labels", "PER",
                   "--base-url", llm.base_url, "--model", "m", "--max-chars", "40", "--no-progress")
        assert r.returncode == 0, r.stderr
        assert len(llm.requests) > 3 and all(len(last_user_message(q)) < 120 for q in llm.requests)
    [ex] = read_jsonl(out)
    assert [ex.mention(s) for s in ex.entities] == ["Anna", "李雷", "Anna"] * 3
