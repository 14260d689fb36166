"""The cost estimate before a run: the same prompts as the run, nothing sent, cached prompts free."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from openai_stub import Reply, ScriptedOpenAI

from llmaaa.annotate.client import LLMConfig
from llmaaa.annotate.estimate import MESSAGE_OVERHEAD, approx_tokens
from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.annotate.teacher import LLMTeacher
from llmaaa.data.jsonl import write_jsonl
from llmaaa.data.schema import Example, LabelSet, Span

ROOT = Path(__file__).resolve().parents[2]
LABELS = LabelSet(("PER", "LOC"))
DEMO = Example("d", "Bob flew to Rome.", (Span(0, 3, "PER"), Span(12, 16, "LOC")))
POOL = [Example("a", "Anna met Carl in Paris."), Example("b", "李雷在北京。"), Example("c", "It rained.")]


def test_approx_tokens_counts_bytes_so_cjk_is_about_a_token_per_character():
    assert approx_tokens("abcdefg" * 10) == 20  # 3.5 bytes per token
    assert approx_tokens("北京大学") == 4  # 12 bytes
    assert approx_tokens("") == 0 and approx_tokens("abcd" * 10, tokens_per_byte=0.5) == 20


def test_the_estimate_sends_nothing_and_prices_the_prompts_the_run_would_send(tmp_path):
    cfg = dict(model="gpt-4o-mini", max_tokens=200, prices='{"gpt-4o-mini": [1.0, 2.0]}')
    with ScriptedOpenAI([Reply(status=500)]) as llm:  # any request would fail
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, **cfg), LABELS, DemoIndex(examples=[DEMO], mode="random"), k=1,
                       cache=tmp_path / "c.sqlite")
        plan = t.estimate(POOL)
        assert llm.requests == []
    assert (plan.examples, plan.requests, plan.cached) == (3, 3, 0)
    assert plan.completion_tokens_max == 3 * 200
    demo_answer = approx_tokens('[{"span": "Bob", "type": "PER"}, {"span": "Rome", "type": "LOC"}]')
    assert abs(plan.completion_tokens_expected - 3 * demo_answer) <= 3  # each prompt's demo answer, as JSON
    assert plan.prompt_tokens > 3 * (demo_answer + 4 * MESSAGE_OVERHEAD)
    assert plan.cost_expected == (plan.prompt_tokens * 1.0 + plan.completion_tokens_expected * 2.0) / 1e6
    assert plan.cost_max > plan.cost_expected > 0 and t.last_summary is None  # the walk is not a run

    # after a real run of the first two, their prompts are cached: only the third is still to pay, and its
    # tokens are counted at the rate the server reported for the first two
    with ScriptedOpenAI([Reply("[]", prompt_tokens=500)]) as llm:  # one request per text, no re-ask
        t = LLMTeacher(LLMConfig(base_url=llm.base_url, **cfg), LABELS, DemoIndex(examples=[DEMO], mode="random"), k=1,
                       cache=tmp_path / "c.sqlite")
        t.annotate(POOL[:2])
        sent = sum(len(m["content"].encode("utf-8")) for r in llm.requests for m in r["messages"])
        n = len(llm.requests)
        again = t.estimate(POOL)
        assert len(llm.requests) == n
    assert (again.requests, again.cached) == (1, 2) and again.tokens_per_byte == pytest.approx(1000 / sent)
    assert again.prompt_tokens == pytest.approx(500, rel=0.3)  # the third prompt is about as long as the others
    assert "this model's measured" in again.line()


def test_a_relation_estimate_counts_one_request_per_ordered_pair_and_short_answers():
    rl = LabelSet(("Peop", "Org"), ("Work_For",))
    ex = Example("r", "Anna and Bob work for IBM.", (Span(0, 4, "Peop"), Span(9, 12, "Peop"), Span(22, 25, "Org")))
    with ScriptedOpenAI([Reply(status=500)]) as llm:
        plan = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, task="re", k=0).estimate([ex])
        assert llm.requests == []
    assert plan.requests == 6 and plan.completion_tokens_max == 6 * 32  # RE answers are capped at 32 tokens
    assert plan.cost_max == 0.0  # no price for "m"


def test_each_task_is_priced_at_its_own_measured_rate_once_it_has_one(tmp_path):
    """Relation prompts tokenize differently from entity prompts: the NER rate stands in only until RE answers exist."""
    from llmaaa.annotate.cache import ResponseCache

    rl = LabelSet(("Peop", "Org"), ("Work_For",))
    ex = Example("r", "Anna works for IBM.", (Span(0, 4, "Peop"), Span(15, 18, "Org")))
    other = Example("s", "Bob works for SAP.", (Span(0, 3, "Peop"), Span(14, 17, "Org")))
    cache = tmp_path / "c.sqlite"
    with ScriptedOpenAI([Reply('[{"span": "Anna", "type": "Peop"}]', prompt_tokens=1000)]) as llm:
        LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, k=0, cache=cache).annotate([Example("n", ex.text)])
        ner_rate = ResponseCache(cache).tokens_per_byte("m")
        re_teacher = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, task="re", k=0, cache=cache)
        assert re_teacher.estimate([ex]).tokens_per_byte == pytest.approx(ner_rate)  # no RE answer yet
    with ScriptedOpenAI([Reply("Work_For", prompt_tokens=10)]) as llm:
        re_teacher = LLMTeacher(LLMConfig(base_url=llm.base_url, model="m"), rl, task="re", k=0, cache=cache)
        re_teacher.annotate([ex])
        re_bytes = sum(len(m["content"].encode("utf-8")) for r in llm.requests for m in r["messages"])
        plan = re_teacher.estimate([other])
    assert plan.tokens_per_byte == pytest.approx(10 * len(llm.requests) / re_bytes)
    assert ResponseCache(cache).tokens_per_byte("m") != plan.tokens_per_byte  # the model's overall rate mixes both


def test_the_cli_prints_the_estimate_and_writes_no_output(tmp_path):
    pool, demos, summary = tmp_path / "pool.jsonl", tmp_path / "demos.jsonl", tmp_path / "plan.json"
    write_jsonl(POOL, pool)
    write_jsonl([DEMO], demos)
    with ScriptedOpenAI([Reply(status=500)]) as llm:
        r = subprocess.run([sys.executable, "-m", "llmaaa", "annotate", "--task", "ner", "--input", str(pool),
                            "--demos", str(demos), "--estimate", "--base-url", llm.base_url, "--model", "gpt-4o-mini",
                            "--demo-mode", "random", "--k", "1", "--summary", str(summary), "--no-progress"],
                           cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert llm.requests == []
    assert r.returncode == 0, r.stderr
    assert "3 requests to send, 0 answered from the cache" in r.stdout and "cost ~$" in r.stdout
    assert json.loads(summary.read_text())["requests"] == 3
    r = subprocess.run([sys.executable, "-m", "llmaaa", "annotate", "--task", "ner", "--input", str(pool),
                        "--demos", str(demos)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--output is required" in r.stderr
