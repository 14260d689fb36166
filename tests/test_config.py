"""Typed dataclass configs filled from env vars and overrides in one place."""

from dataclasses import dataclass, field

import pytest

from llmaaa.config import ConfigError, from_env


@dataclass
class _Cfg:
    base_url: str = "http://127.0.0.1:8765/v1"
    api_key: str | None = field(default=None, metadata={"env": ("OPENAI_API_KEY",)})
    concurrency: int = 16
    json_mode: bool = True
    price: float = 0.0
    labels: tuple[str, ...] = ()


def test_defaults_env_then_overrides():
    env = {"LLM_CONCURRENCY": "4", "LLM_JSON_MODE": "false", "LLM_LABELS": "PER, ORG", "LLM_PRICE": "0.5"}
    cfg = from_env(_Cfg, "LLM_", overrides={"concurrency": 8, "base_url": None}, environ=env)
    assert cfg == _Cfg(concurrency=8, json_mode=False, labels=("PER", "ORG"), price=0.5)


def test_fallback_variable_and_precedence():
    assert from_env(_Cfg, "LLM_", environ={"OPENAI_API_KEY": "sk-1"}).api_key == "sk-1"
    env = {"OPENAI_API_KEY": "sk-1", "LLM_API_KEY": "sk-2"}
    assert from_env(_Cfg, "LLM_", environ=env).api_key == "sk-2"


def test_bad_value_names_the_variable():
    with pytest.raises(ConfigError, match="LLM_CONCURRENCY"):
        from_env(_Cfg, "LLM_", environ={"LLM_CONCURRENCY": "many"})
