"""Async chat client for any OpenAI-compatible server, with our own retries and a concurrency cap.

The ``openai`` SDK's built-in retries are switched off (``max_retries=0``) so that one loop here
decides what is retried (429, 5xx, timeouts, refused connections: exponential backoff with jitter)
and what fails at once (400/401/404: retrying cannot help), and so that every failure ends as a
short, user-readable reason on the example instead of a stack trace.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import httpx
import openai

from llmaaa.annotate.confidence import TokenLogprobs, token_offsets
from llmaaa.config import ConfigError

log = logging.getLogger(__name__)


@dataclass
class LLMConfig:
    """Where and how to ask the LLM; filled by ``llmaaa.config.from_env(LLMConfig, prefix="LLM_")``."""

    base_url: str = "http://127.0.0.1:8765/v1"  # the embedded local LLM (scripts/llm_server.sh)
    api_key: str | None = field(default=None, metadata={"env": ("OPENAI_API_KEY",)})  # LLM_API_KEY first
    model: str = "smollm2-135m-instruct"
    timeout_s: float = 60.0  # per request
    max_retries: int = 3  # retries after the first try, for 429 / 5xx / timeouts / connection errors
    backoff_s: float = 0.5  # first retry delay; doubles each retry, with jitter
    concurrency: int = 16  # requests in flight at once
    temperature: float = 0.0
    max_tokens: int = 512
    # an RE answer is one label: a short cap stops a rambling model early (SmolLM2 otherwise fills 512 tokens);
    # a model that reasons before it answers needs far more
    re_max_tokens: int = 32
    # NER texts longer than this are asked about in sentence-aligned pieces (llmaaa.data.segment);
    # demos longer than it are cropped to their first piece. 0: never split
    max_chars: int = 2000
    # RE: "all" asks every ordered entity pair (the paper); "seen" only pairs whose (head type, tail
    # type) occurs in a gold demo relation, the rest are no_relation unasked (CoNLL04: half the requests)
    re_pairs: str = "all"
    # RE: a text whose entities make more ordered pairs than this fails before any request (one request a pair:
    # a 30,000-character document with 400 entities is 160,000 pairs); 0: no limit
    max_pairs: int = 2000
    json_mode: bool = False  # send response_format={"type": "json_object"} (server must support it)
    # ask for token log-probabilities: each LLM label gets a confidence (llmaaa.annotate.confidence);
    # a server that refuses them is asked again without, once per teacher
    logprobs: bool = True
    reasks: int = 1  # re-asks with the validation error when an answer cannot be parsed
    prices: str | None = None  # JSON file or inline JSON {"model": [in $/1M tokens, out $/1M tokens]}
    max_cost: float | None = None  # budget cap in $; examples past it fail with "budget exhausted"
    max_tokens_total: int | None = None  # budget cap in tokens (prompt + completion)

    def __post_init__(self) -> None:
        """Refuse values that would fail every request quietly (a negative timeout times out at once)."""
        checks = (("timeout_s", self.timeout_s > 0), ("max_retries", self.max_retries >= 0),
                  ("backoff_s", self.backoff_s >= 0), ("concurrency", self.concurrency >= 1),
                  ("max_tokens", self.max_tokens >= 1), ("re_max_tokens", self.re_max_tokens >= 1),
                  ("max_chars", self.max_chars >= 0), ("max_pairs", self.max_pairs >= 0),
                  ("reasks", self.reasks >= 0), ("max_cost", self.max_cost is None or self.max_cost >= 0),
                  ("max_tokens_total", self.max_tokens_total is None or self.max_tokens_total >= 1))
        bad = [name for name, ok in checks if not ok]
        if bad:
            raise ConfigError(", ".join(f"LLM_{n.upper()}={getattr(self, n)!r}" for n in bad)
                              + ": out of range (timeouts and counts must be positive, retries and re-asks >= 0)")


class LLMError(RuntimeError):
    """A request that failed for good; ``reason`` is the short text stored on the example.

    ``retry_after``: the seconds the server asked us to wait (HTTP ``Retry-After``), when it said.
    """

    def __init__(self, reason: str, *, retryable: bool = False, retry_after: float | None = None,
                 overloaded: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.retry_after = retry_after
        self.overloaded = overloaded  # a 429 or 5xx: the server wants fewer requests, from every caller


MAX_RETRY_AFTER_S = 120.0  # a longer wait is the server saying "not now": fail the request instead


def _retry_after(e: Exception) -> float | None:
    """Seconds from a response's ``Retry-After`` (delta-seconds or an HTTP date), or None."""
    response = getattr(e, "response", None)
    value = response.headers.get("retry-after") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(value) - datetime.now(timezone.utc)).total_seconds())
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    # "stop", "length" (cut off at max_tokens), ...; None when the server (or an old cache row) did not say.
    # Kept so that a truncated NER answer is not read as a complete one.
    finish_reason: str | None = None
    # the answer's tokens as (char start, char end, logprob); None when the server sent none
    logprobs: TokenLogprobs | None = None


def error_text(e: Exception) -> str:
    """What an error response says, whatever its shape: OpenAI's ``{"error": {"message"}}``, TGI's
    ``{"error": "..."}``, FastAPI's ``{"detail": "..."}``, vLLM's ``{"message": ...}``, or plain text. The SDK's
    ``message`` is only "Error code: 400" for the shapes it does not know."""
    body = getattr(e, "body", None)
    parts = [str(getattr(e, "message", "") or "")]
    if isinstance(body, dict):
        inner = body.get("error", body)
        inner = inner.get("message", inner) if isinstance(inner, dict) else inner
        parts.append(str(body.get("detail") or body.get("message") or inner or ""))
    elif isinstance(body, str):
        parts.append(body)
    response = getattr(e, "response", None)
    if not any(len(p) > len("Error code: 000") for p in parts) and response is not None:
        try:
            parts.append(response.text[:300])
        except Exception:  # a streamed or unreadable body: what we have is all there is
            pass
    text = " ".join(p for p in dict.fromkeys(parts) if p and not p.startswith("Error code:"))
    return " ".join((text or parts[0]).split())[:300]


def _classify(e: Exception, cfg: LLMConfig) -> LLMError:
    if isinstance(e, openai.APITimeoutError):
        return LLMError(f"timeout after {cfg.timeout_s:g} s", retryable=True)
    if isinstance(e, openai.APIConnectionError):
        if isinstance(e.__cause__, (httpx.ReadError, httpx.RemoteProtocolError)):
            return LLMError(f"the LLM server at {cfg.base_url} closed the connection before its answer was complete "
                            f"({e.__cause__})", retryable=True)
        return LLMError(f"cannot connect to {cfg.base_url} ({e.__cause__ or e}); is the LLM server running?",
                        retryable=True)
    if isinstance(e, openai.RateLimitError):
        detail = str(e.message)[:200]
        body = e.body if isinstance(e.body, dict) else {}
        inner = body["error"] if isinstance(body.get("error"), dict) else body  # the SDK unwraps "error" or not
        if inner.get("code") == "insufficient_quota" or inner.get("type") == "insufficient_quota":
            return LLMError(f"HTTP 429 from the LLM server: {detail}; the account's quota is used up: check "
                            f"billing for {cfg.base_url}")  # waiting does not help
        return LLMError(f"rate limited (HTTP 429): {detail}", retryable=True, retry_after=_retry_after(e),
                        overloaded=True)
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        msg = f"HTTP {status} from the LLM server: {error_text(e)[:200]}"
        if status in (401, 403):
            msg += "; check the API key (LLM_API_KEY or OPENAI_API_KEY)"
        elif status == 404:
            msg += f"; check the model name {cfg.model!r} and base URL {cfg.base_url}"
        return LLMError(msg, retryable=status >= 500 or status in (408, 409), retry_after=_retry_after(e),
                        overloaded=status >= 500)
    return LLMError(f"{type(e).__name__}: {e}")


def _content_text(content: Any) -> str:
    """A message's ``content`` as text: a string, or the text parts of a list of content parts.

    Some OpenAI-compatible servers (Mistral's, several proxies) send ``[{"type": "text", "text": ...}]``,
    reasoning models with a ``{"type": "thinking", ...}`` part first; only the text parts are the
    answer. ``null`` (a refusal, an answer all in ``reasoning_content``) is the empty answer.
    """
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p if isinstance(p, str) else str(p.get("text") or "") for p in content
                       if isinstance(p, str) or (isinstance(p, dict) and p.get("type", "text") == "text"))
    raise TypeError(f"message content of type {type(content).__name__}")


class ChatClient:
    """One ``AsyncOpenAI`` per event loop; ``complete`` respects the concurrency cap and retries."""

    def __init__(self, cfg: LLMConfig, *, logprobs: bool | None = None) -> None:
        self.cfg = cfg
        self.requests = 0  # HTTP requests sent, retries included
        # cleared when the server refuses log-probabilities; the caller may carry it to its next client
        self.logprobs = cfg.logprobs if logprobs is None else logprobs
        self._client: openai.AsyncOpenAI | None = None
        self._sem: asyncio.Semaphore | None = None
        self._refused: set[str] = set()  # parameters the server refused: "max_tokens" (renamed), "temperature"
        self._paused_until = 0.0  # event-loop time before which no request is sent (a 429 / 5xx pauses them all)
        self._fatal: LLMError | None = None  # a bad key or model: every later request would fail the same way

    def params(self, max_tokens: int | None = None) -> dict[str, Any]:
        """Sampling parameters sent with a request (and part of the cache key)."""
        p: dict[str, Any] = {"temperature": self.cfg.temperature, "max_tokens": max_tokens or self.cfg.max_tokens}
        if self.cfg.json_mode:
            p["response_format"] = {"type": "json_object"}
        return p

    async def __aenter__(self) -> "ChatClient":
        self._client = openai.AsyncOpenAI(base_url=self.cfg.base_url, api_key=self.cfg.api_key or "none",
                                          timeout=self.cfg.timeout_s, max_retries=0)
        self._sem = asyncio.Semaphore(max(1, self.cfg.concurrency))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        if self._client is not None:
            await self._client.close()
        self._client = self._sem = None

    async def _once(self, messages: Sequence[dict[str, str]], max_tokens: int | None) -> Completion:
        assert self._client is not None, "use `async with ChatClient(cfg) as client`"
        self.requests += 1
        # The SDK's low-level ``post`` (documented for raw endpoints) rather than
        # ``chat.completions.create``: create() deep-copies the messages through its TypedDict
        # transform, ~13 ms of CPU per 5-demo prompt on 2 shared cores, more than the HTTP round
        # trip to a local server. Errors, timeouts and auth are handled by the SDK as before.
        body = {"model": self.cfg.model, "messages": list(messages), **self.params(max_tokens)}
        if self.logprobs:  # not a sampling parameter: not in params(), so not in the cache key
            body.update(logprobs=True, top_logprobs=1)  # llama.cpp sends none without top_logprobs
        try:
            async with asyncio.timeout(self.cfg.timeout_s):  # whole request: a trickling server must not hang it
                raw = await self._post(body)
        except TimeoutError:
            raise LLMError(f"timeout after {self.cfg.timeout_s:g} s", retryable=True) from None
        try:  # a stray invalid byte costs that character, not the paid answer
            resp = json.loads(raw.content.decode("utf-8", errors="replace"))
        except ValueError:  # HTTP 200 with a body that is not JSON: a web UI or a proxy's page, not the API
            raise LLMError(f"non-JSON answer from the LLM server; is {self.cfg.base_url} the OpenAI-compatible "
                           "API (usually ending in /v1)?") from None
        try:
            choice = resp["choices"][0]
            message = choice["message"]
            usage = resp.get("usage") or {}
            finish = choice.get("finish_reason")
            text = _content_text(message.get("content"))
            logprobs = token_offsets(text, (choice.get("logprobs") or {}).get("content"))
            prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
        except (KeyError, IndexError, TypeError, AttributeError, ValueError):
            raise LLMError(f"the LLM server sent no chat completion: {str(resp)[:200]}", retryable=True) from None
        if not text.strip() and message.get("tool_calls"):
            raise LLMError("the model answered with a tool call, not text; use a chat model without tools for labeling")
        if not prompt and not completion:  # no usage sent: estimated (~4 bytes a token) so budgets still hold
            prompt = sum(len(str(m.get("content", "")).encode("utf-8")) for m in messages) // 4 + 1
            completion = len(text.encode("utf-8")) // 4 + 1
        return Completion(text, prompt, completion, str(finish) if finish else None, logprobs)

    def _adapted(self, body: dict[str, Any]) -> dict[str, Any]:
        """``body`` without the parameters this server refused (learned from earlier requests)."""
        body = dict(body)
        if "max_tokens" in self._refused and "max_tokens" in body:
            body["max_completion_tokens"] = body.pop("max_tokens")
        if "temperature" in self._refused:
            body.pop("temperature", None)
        if not self.logprobs:
            body.pop("logprobs", None)
            body.pop("top_logprobs", None)
        return body

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        """POST a chat completion; a parameter the server refuses is dropped and the question asked again.

        Some models (OpenAI's reasoning models, several proxies) answer 400 to ``logprobs`` (the labels
        matter more than their confidence), to ``max_tokens`` (they take ``max_completion_tokens``) or to
        any ``temperature`` but their own; the question is asked again at once (a refused request is not
        billed) and this client stops sending it. The raw response comes back, so that an invalid byte in
        it is decoded as a replacement character instead of losing the paid answer.
        """
        assert self._client is not None
        for attempt in range(4):
            if attempt:
                self.requests += 1  # a refused request is not billed, but it was sent
            sent = self._adapted(body)
            try:
                return await self._client.post("/chat/completions", body=sent, cast_to=httpx.Response)
            except openai.APIStatusError as e:
                # what this request sent, not the flags: requests in flight when another one learned of the
                # refusal were sent with the parameter and must be asked again too
                refused = self._refused_parameter(e, sent) if e.status_code in (400, 422) else None
                if refused is None:
                    raise
                log.warning("the LLM server refuses %s (%s); asking without it", refused, error_text(e)[:200])
                if refused == "logprobs":
                    self.logprobs = False
                else:
                    self._refused.add(refused)
        raise LLMError("the LLM server refused every variant of the request's parameters")

    @staticmethod
    def _refused_parameter(e: openai.APIStatusError, sent: dict[str, Any]) -> str | None:
        text = error_text(e).lower()
        if "logprobs" in sent and "logprob" in text:
            return "logprobs"
        if "max_tokens" in sent and ("max_completion_tokens" in text or "'max_tokens'" in text):
            return "max_tokens"
        if "temperature" in sent and "temperature" in text and ("unsupported" in text or "not support" in text):
            return "temperature"
        return None

    async def complete(self, messages: Sequence[dict[str, str]], *, gate: Callable[[], None] | None = None,
                       max_tokens: int | None = None) -> Completion:
        """The answer to ``messages``; raises ``LLMError`` once retries are used up.

        ``gate`` runs once a concurrency slot is held, right before each try; raising ``LLMError``
        there (the teacher's budget check) stops the request without sending it.
        """
        assert self._sem is not None, "use `async with ChatClient(cfg) as client`"
        loop = asyncio.get_running_loop()
        attempt = 0
        while True:
            async with self._sem:
                # a rate limit or an overloaded server pauses every request, not only the one that was told: else
                # the queued ones take the freed slots and the server sees the same flood, each retry spent on it
                while (wait := self._paused_until - loop.time()) > 0:
                    await asyncio.sleep(wait)
                try:
                    if self._fatal is not None:
                        raise LLMError(self._fatal.reason)
                    if gate is not None:
                        gate()
                    return await self._once(messages, max_tokens)
                except LLMError as e:
                    err = e
                except openai.OpenAIError as e:
                    err = _classify(e, self.cfg)
                    if isinstance(e, openai.APIStatusError) and e.status_code in (401, 403, 404):
                        self._fatal = err  # a bad key or model name: the rest fail at once, unsent
            if not err.retryable or attempt >= self.cfg.max_retries:
                if attempt:
                    raise LLMError(f"{err.reason} (after {attempt + 1} tries)") from None
                raise err
            delay = self.cfg.backoff_s * (2**attempt) * (0.5 + random.random())
            if err.retry_after is not None:  # the server said when: no sooner (and not for ever)
                if err.retry_after > MAX_RETRY_AFTER_S:
                    raise LLMError(f"{err.reason} (the server asks to wait {err.retry_after:.0f} s)") from None
                delay = max(delay, err.retry_after)
            if err.overloaded:
                self._paused_until = max(self._paused_until, loop.time() + delay)
            log.debug("retrying in %.2f s: %s", delay, err.reason)
            attempt += 1
            await asyncio.sleep(delay)  # outside the semaphore: a backing-off request frees its slot
