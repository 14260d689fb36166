"""A loopback server speaking the OpenAI chat-completions protocol, with scripted answers.

The one test double allowed for a remote paid service: it serves real HTTP on 127.0.0.1 so the
real ``openai`` client, retries and timeouts are exercised. Usage::

    with ScriptedOpenAI(["[]", Reply(status=429), '[{"span": "Paris", "type": "LOC"}]'], latency=0.2) as llm:
        cfg = LLMConfig(base_url=llm.base_url, model="stub")
        ...
        assert len(llm.requests) == 3

``answers`` is a list (served in order; the last one repeats), or a callable
``handler(request_json, n) -> str | Reply`` (``n`` counts requests from 0). A ``Reply`` sets the
HTTP status, an extra delay (a "hang": ends early when the server closes) or a raw body.
``GET {base_url}/stub/requests`` answers ``{"count": n}`` when the stub runs in another process
(benchmarks do that, so that its threads do not compete for the client's GIL).
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Sequence, Union


@dataclass
class Reply:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds on top of the server latency
    body: str | bytes | None = None  # raw response body (e.g. invalid JSON, or bytes that are not UTF-8), overrides text
    prompt_tokens: int | None = None  # default: a word count of the prompt
    completion_tokens: int | None = None
    # [(token, logprob), ...] spelling ``text``: sent as ``choices[0].logprobs`` when the request asks
    # for log-probabilities (with each token's UTF-8 ``bytes``, as OpenAI sends them, when ``token_bytes``)
    logprobs: Sequence[tuple[str, float]] | None = None
    token_bytes: bool = True
    headers: dict[str, str] | None = None  # extra response headers, e.g. {"Retry-After": "2"} on a 429


Answer = Union[str, Reply]
Handler = Callable[[dict, int], Answer]


def word_logprobs(text: str, doubtful: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """``text`` as word, space and punctuation-run tokens for ``Reply.logprobs``: logprob 0 (certain)
    except the tokens listed in ``doubtful``."""
    import re

    doubtful = doubtful or {}
    return [(t, doubtful.get(t, 0.0)) for t in re.findall(r"\w+|\s+|[^\w\s]+", text)]


def last_user_message(request: dict) -> str:
    """The query text of a chat request: the content of its last user message."""
    return next(m["content"] for m in reversed(request["messages"]) if m["role"] == "user")


class ScriptedOpenAI:
    def __init__(self, answers: Sequence[Answer] | Handler = ("[]",), *, latency: float = 0.0,
                 model: str = "stub-model") -> None:
        if callable(answers):
            self.handler: Handler = answers
        else:
            script = list(answers)
            self.handler = lambda req, n: script[min(n, len(script) - 1)]
        self.latency, self.model = latency, model
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "use `with ScriptedOpenAI(...) as llm`"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> "ScriptedOpenAI":
        stub = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall

            def log_message(self, *a: Any) -> None:
                pass

            def _send(self, status: int, body: str | bytes, headers: dict[str, str] | None = None) -> None:
                data = body if isinstance(body, bytes) else body.encode("utf-8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.endswith("/stub/requests"):  # for a stub running in another process
                    self._send(200, json.dumps({"count": len(stub.requests)}))
                    return
                self._send(200, json.dumps({"object": "list", "data": [{"id": stub.model, "object": "model"}]}))

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                stub._serve(self, json.loads(raw or b"{}"))

        class _Server(ThreadingHTTPServer):
            request_queue_size = 256  # the default backlog of 5 drops bursts of concurrent connects (1 s SYN retry)

        self._server = _Server(("127.0.0.1", 0), _H)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _serve(self, h: Any, request: dict) -> None:
        with self._lock:
            n = len(self.requests)
            self.requests.append(request)
        answer = self.handler(request, n)
        reply = answer if isinstance(answer, Reply) else Reply(text=answer)
        if self.latency or reply.delay:
            if self._closing.wait(self.latency + reply.delay):
                return
        if reply.body is not None or reply.status != 200:
            body = reply.body if reply.body is not None else json.dumps(
                {"error": {"message": f"scripted HTTP {reply.status}", "type": "stub", "code": reply.status}})
            h._send(reply.status, body, reply.headers)
            return
        prompt = sum(len(str(m.get("content", "")).split()) for m in request.get("messages", []))
        pt = reply.prompt_tokens if reply.prompt_tokens is not None else prompt
        ct = reply.completion_tokens if reply.completion_tokens is not None else len(reply.text.split())
        choice: dict[str, Any] = {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": reply.text}}
        if reply.logprobs is not None and request.get("logprobs"):
            choice["logprobs"] = {"content": [{"token": t, "logprob": lp, **({"bytes": list(t.encode("utf-8"))} if
                                               reply.token_bytes else {})} for t, lp in reply.logprobs]}
        h._send(200, json.dumps({
            "id": f"chatcmpl-{n}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model", self.model),
            "choices": [choice],
            "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
        }, ensure_ascii=False))
