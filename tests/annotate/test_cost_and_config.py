"""Prices, the response cache file and the LLM config a user sets through the environment."""

import threading

import pytest

from llmaaa.annotate.cache import ResponseCache, cache_key
from llmaaa.annotate.client import Completion, LLMConfig
from llmaaa.annotate.pricing import PriceError, PriceTable
from llmaaa.config import from_env


def test_price_table_defaults_overrides_and_unknown_models(tmp_path):
    t = PriceTable.load(None)
    assert t.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    f = tmp_path / "prices.json"
    f.write_text('{"my-model": [2, 4]}')
    t = PriceTable.load(str(f))
    assert t.cost("my-model", 500_000, 250_000) == pytest.approx(2.0)
    assert t.cost("never-heard-of", 10**6, 10**6) == 0.0
    with pytest.raises(PriceError, match="input"):
        PriceTable.load('{"m": "cheap"}')


def test_cache_survives_reopening_and_threads(tmp_path):
    key = cache_key("m", [{"role": "user", "content": "北京 😀"}], {"temperature": 0})
    assert key != cache_key("m", [{"role": "user", "content": "北京 😀"}], {"temperature": 0.7})
    c = ResponseCache(tmp_path / "c.sqlite")
    threads = [threading.Thread(target=c.put, args=(f"k{i}", Completion(f"a{i}", i, 1))) for i in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    c.put(key, Completion('[{"span": "北京", "type": "LOC"}]', 12, 7), "m")
    c.close()
    again = ResponseCache(tmp_path / "c.sqlite")
    assert len(again) == 9
    assert again.get(key) == Completion('[{"span": "北京", "type": "LOC"}]', 12, 7)
    assert again.get("missing") is None


def test_llm_config_from_env_with_openai_key_fallback():
    cfg = from_env(LLMConfig, "LLM_", environ={"OPENAI_API_KEY": "sk-o", "LLM_MODEL": "gpt-4o-mini",
                                              "LLM_JSON_MODE": "true", "LLM_CONCURRENCY": "8"})
    assert (cfg.api_key, cfg.model, cfg.json_mode, cfg.concurrency) == ("sk-o", "gpt-4o-mini", True, 8)
    cfg = from_env(LLMConfig, "LLM_", environ={"OPENAI_API_KEY": "sk-o", "LLM_API_KEY": "sk-l"})
    assert cfg.api_key == "sk-l"
