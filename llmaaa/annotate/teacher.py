"""The LLM teacher (LLMaAA Sec. 3.1): k-NN demos + prompt -> LLM -> exact labels, with provenance.

For NER one request per example (per sentence-aligned piece of a text longer than
``LLMConfig.max_chars``); for RE one request per ordered entity pair (or the pairs listed in
``extra["pairs"]``), and the example's relations are the pairs not labeled ``no_relation``.
Every example comes back with an ``annotation`` record (source, model, demo ids, usage, error,
cached). A failure (network, timeout, unparseable answer after the re-ask, budget) is recorded with
its reason and empty labels, never passed off as "no entities". An NER answer whose mentions all
miss the text (a demonstration's entities, rewritten names) is re-asked too, but kept as it is when
the re-asks do not fix it: its mentions are counted as not in the text. Which entity pairs an RE
example asks, and their cap, live in ``relation_requests``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Sequence

from llmaaa.annotate.alignment import align_mentions
from llmaaa.annotate.answer_errors import (AnswerError, FallbackAnswer, ParseStats, TruncatedAnswer, UnalignedAnswer,
                                           UnknownLabelsAnswer)
from llmaaa.annotate.cache import ResponseCache, cache_key
from llmaaa.annotate.client import ChatClient, Completion, LLMConfig, LLMError
from llmaaa.annotate.confidence import item_scores
from llmaaa.annotate.estimate import Estimate
from llmaaa.annotate.jsonrepair import json_closed, reasoning_open
from llmaaa.annotate.parsing import parse_ner_answer
from llmaaa.annotate.pricing import Budget, PriceTable
from llmaaa.annotate.prompts import PromptBuilder
from llmaaa.annotate.relation_requests import SEEN_PAIRS_MIN_RELATIONS  # noqa: F401  (importable from here too)
from llmaaa.annotate.relation_requests import RE_PAIR_MODES, RelationRequests
from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.annotate.summary import RunSummary
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Span
from llmaaa.data.segment import crop, segments
from llmaaa.tracebacks import traceback_text

log = logging.getLogger(__name__)

# how a server says an answer ended on its own; anything else ("length", "content_filter", ...) cut it off
_FINISHED = (None, "stop", "eos", "eos_token", "end_turn", "stop_sequence")


def cut_off(comp: Completion, task: str) -> str | None:
    """Why ``comp`` is no complete answer: ``"reasoning"`` (cut inside an unclosed ``<think>``, or nothing but
    reasoning came back), ``"json"`` (an NER answer cut inside its JSON), or None. A cut-off answer is not
    read as complete; it is cached like any paid answer (the cap is part of the cache key, so raising it
    asks again)."""
    if comp.finish_reason in _FINISHED:
        return None
    if not comp.text.strip() or reasoning_open(comp.text):
        return "reasoning"
    if task == "ner" and not json_closed(comp.text):
        return "json"
    return None


BUDGET_EXHAUSTED = "budget exhausted"


class _Usage:
    """Tokens, cost and cache hits of one example's requests."""

    def __init__(self) -> None:
        self.prompt_tokens = self.completion_tokens = self.requests = self.cached = self.reasks = 0
        self.cost = 0.0


class LLMTeacher(RelationRequests):
    """Implements the ``Teacher`` protocol with an OpenAI-compatible LLM."""

    def __init__(self, config: LLMConfig, labels: LabelSet, demo_index: DemoIndex | None = None, *,
                 task: str = "ner", k: int = 5, demo_mode: str | None = None,
                 cache: ResponseCache | str | Path | None = None, descriptions: bool = True,
                 template_dir: str | Path | None = None, progress: bool = False,
                 budget: Budget | None = None) -> None:
        if config.re_pairs not in RE_PAIR_MODES:
            raise ValueError(f"LLM_RE_PAIRS={config.re_pairs!r}: choose one of {', '.join(RE_PAIR_MODES)}")
        self.config, self.labels, self.task, self.k = config, labels, task, k
        self.demo_index = demo_index
        self.demo_mode = demo_mode or (demo_index.mode if demo_index is not None else "none")
        self.cache = ResponseCache(cache) if isinstance(cache, (str, Path)) else cache
        self.prompts = PromptBuilder(task, labels, json_mode=config.json_mode, descriptions=descriptions,
                                     template_dir=template_dir)
        self.prices = PriceTable.load(config.prices)
        # spans every call of this teacher; pass one to share it (a project's NER and RE teachers)
        self.budget = budget if budget is not None else Budget(config.max_cost, config.max_tokens_total)
        self.progress = progress
        self.max_tokens = config.max_tokens if task == "ner" else config.re_max_tokens
        self.name = f"llm:{config.model}"
        self.last_summary: RunSummary | None = None
        self.logprobs = config.logprobs  # cleared for good once the server refuses them
        self._plan: Estimate | None = None  # set while estimate() walks the pool: nothing is sent

    # -- the Teacher protocol
    def annotate(self, examples: Sequence[Example]) -> list[Example]:
        """Sync entry point; safe from any thread, including one that already runs an event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.annotate_async(examples))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.annotate_async(examples)).result()

    def estimate(self, examples: Sequence[Example]) -> Estimate:
        """What ``annotate(examples)`` would send and cost, without sending anything (``llmaaa.annotate.estimate``).

        The walk is the real one: each uncached prompt is answered "nothing found" (no entities,
        ``no_relation``) so that every prompt of the run is built; cached prompts get their answers.
        Not meant to overlap an ``annotate`` of the same teacher.
        """
        rate = self.cache.tokens_per_byte(self.config.model, self.task) if self.cache is not None else None
        plan = Estimate(self.config.model, examples=len(examples), tokens_per_byte=rate)
        summary = self.last_summary
        self._plan = plan
        try:
            self.annotate(examples)
        finally:
            self._plan, self.last_summary = None, summary
        plan.price(self.prices.cost)
        return plan

    async def annotate_async(self, examples: Sequence[Example]) -> list[Example]:
        summary = RunSummary(examples=len(examples))
        start = time.perf_counter()
        if self.demo_index is not None and len(self.demo_index) and self.demo_mode == "knn" and self.k > 0:
            texts = [ex.text[s:e] for ex in examples for s, e in self._pieces(ex)]
            self.demo_index.encoder.encode(texts)  # one batched pass, then cache hits
        bar = self._bar(len(examples))
        async with ChatClient(self.config, logprobs=self.logprobs) as client:
            async def one(ex: Example) -> Example:
                out = await self._annotate_one(ex, client, summary)
                if bar is not None:
                    bar.update(1)
                return out

            results = await asyncio.gather(*(one(ex) for ex in examples))
            summary.requests = client.requests
            self.logprobs = client.logprobs
        if bar is not None:
            bar.close()
        summary.seconds = time.perf_counter() - start
        self.last_summary = summary
        if self._plan is None:
            log.info("teacher: %s", summary.line())
        return list(results)

    def _bar(self, n: int) -> Any:
        if not self.progress or self._plan is not None:
            return None
        from tqdm import tqdm

        return tqdm(total=n, desc="annotating", unit="ex")

    # -- one example
    def _demos(self, ex: Example, *, text: str | None = None, query_id: str | None = None) -> list[Example]:
        """k-NN demos for ``text`` (default the example's), never the example itself (leave-one-out)."""
        if self.demo_index is None or self.k <= 0:
            return []
        demos = self.demo_index.nearest(ex.text if text is None else text, self.k, exclude_ids=(ex.id,),
                                        mode=self.demo_mode, query_id=query_id or ex.id)
        limit = self.config.max_chars
        if self.task != "ner" or limit <= 0:
            return demos
        out = []  # a long gold document would crowd the query out of the context: its first piece
        for d in demos:
            pieces = segments(d.text, limit) if len(d.text) > limit else [(0, len(d.text))]
            if pieces:  # a blank long text has none
                out.append(d if pieces[0] == (0, len(d.text)) else crop(d, *pieces[0]))
        return out

    async def _annotate_one(self, ex: Example, client: ChatClient, summary: RunSummary) -> Example:
        usage, stats = _Usage(), ParseStats()
        entities, relations, error = ex.entities, ex.relations, None
        demos: list[Example] = []
        not_asked: dict[str, list[tuple[int, int]]] = {}
        try:
            if self.task == "ner":
                entities = tuple(await self._entities(ex, demos, client, usage, stats, summary))
                relations = ()
            else:
                demos = self._demos(ex)
                found, not_asked = await self._relations(ex, demos, client, usage, summary)
                relations = tuple(found)
        except LLMError as e:
            error = e.reason
            entities = () if self.task == "ner" else ex.entities
            relations = ()
        summary.record(error, usage, stats)
        summary.pairs_not_asked.update({k: len(v) for k, v in not_asked.items()})
        record = {
            "source": "llm", "model": self.config.model, "demo_ids": [d.id for d in demos],
            # the labels it was asked for: a label added to the project later makes this label stale
            "labels": {"entities": list(self.labels.entity_labels), "relations": list(self.labels.relation_labels)},
            "usage": {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens,
                      "cost": usage.cost},
            "error": error, "cached": usage.requests == 0 and usage.cached > 0,
            "reasks": usage.reasks, "dropped": stats.to_dict(),
        }
        if not_asked:
            record["pairs_not_asked"] = {k: len(v) for k, v in not_asked.items()}
        if not_asked.get("other_piece"):
            # split across pieces: unknown, not no_relation, so the student does not learn them as negatives
            record["unlabeled_pairs"] = [list(p) for p in not_asked["other_piece"]]
        return ex.with_labels(entities=entities, relations=relations, annotation=record)

    def _pieces(self, ex: Example) -> list[tuple[int, int]]:
        return segments(ex.text, self.config.max_chars) if self.task == "ner" else [(0, len(ex.text))]

    async def _entities(self, ex: Example, demos: list[Example], client: ChatClient, usage: _Usage,
                        stats: ParseStats, summary: RunSummary) -> list[Span]:
        """Spans for ``ex``: one request, or one per piece of a text longer than ``max_chars``.

        Each piece gets its own k-NN demos (``demos`` collects them all, for the provenance record)
        and its spans are shifted back to the text's offsets. A piece that fails fails the example:
        half a document's entities must not pass for all of them.
        """
        pieces = self._pieces(ex)

        async def one(i: int, start: int, end: int) -> list[Span]:
            part = ex if len(pieces) == 1 else crop(ex, start, end, suffix=f"#{i}")
            found = self._demos(ex, text=part.text, query_id=part.id)
            demos.extend(d for d in found if d.id not in {x.id for x in demos})
            msgs = self.prompts.ner_messages(part, found)
            mentions, comp = await self._ask(client, msgs, lambda a: self._parse_ner(a, part.text, stats), usage, summary)
            scores = item_scores(comp.text, comp.logprobs, mentions)
            return [dataclasses.replace(s, start=s.start + start, end=s.end + start)
                    for s in align_mentions(part.text, mentions, stats, scores)]

        results = await asyncio.gather(*(one(i, s, e) for i, (s, e) in enumerate(pieces)), return_exceptions=True)
        spans: list[Span] = []
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, LLMError) and len(pieces) > 1:
                    n_bad = sum(isinstance(x, BaseException) for x in results)
                    raise LLMError(f"{r.reason} ({n_bad} of {len(pieces)} pieces of a {len(ex.text)}-char text failed)") from None
                raise r
            spans += r
        return sorted(spans, key=lambda s: (s.start, s.end))

    def _parse_ner(self, answer: str, text: str, stats: ParseStats) -> list[tuple[str, str]]:
        """The answer's mentions; re-asked (``UnalignedAnswer``) when it names some and none is in ``text``, or
        (``UnknownLabelsAnswer``) when it names some and every one has a type outside the label set."""
        unknown = +stats.unknown_labels
        mentions = parse_ner_answer(answer, self.labels.entity_labels, stats, text)
        if not mentions and (new := stats.unknown_labels - unknown):
            types = ", ".join(repr(t) for t in list(new)[:5])
            raise UnknownLabelsAnswer(f"none of the types you gave ({types}) is one of the allowed types "
                                      f"({', '.join(self.labels.entity_labels)}); write each type exactly as listed, "
                                      "or answer [] if the text names no entity of these types", [])
        if mentions and not align_mentions(text, mentions):
            named = ", ".join(repr(m) for m, _ in mentions[:5])
            raise UnalignedAnswer(f"none of the spans you named ({named}) occurs in the text; copy each span exactly "
                                  "as it is written in the text, or answer [] if the text names no entity", mentions)
        return mentions

    async def _ask(self, client: ChatClient, messages: list[dict[str, str]], parse: Any, usage: _Usage,
                   summary: RunSummary) -> tuple[Any, Completion]:
        """Ask, parse, and on an unusable answer re-ask (up to ``config.reasks``) with the error appended.

        Returns what ``parse`` made of the answer and the completion it came from (for its log-probabilities).
        """
        for attempt in range(self.config.reasks + 1):
            comp = await self._complete(client, messages, usage)
            answer = comp.text
            try:
                self._check_not_cut_off(comp)
                return parse(answer), comp
            except AnswerError as e:
                if attempt == self.config.reasks or (isinstance(e, TruncatedAnswer) and e.futile):
                    if isinstance(e, FallbackAnswer):
                        return e.fallback, comp
                    if isinstance(e, TruncatedAnswer):
                        raise LLMError(f"truncated answer: {e}{e.hint}: {answer[:120]!r}") from None
                    raise LLMError(f"unparseable answer: {e}: {answer[:120]!r}") from None
                usage.reasks += 1
                summary.reasks += 1
                messages = [*messages, {"role": "assistant", "content": answer},
                            {"role": "user", "content": f"Your answer could not be used: {e}. Answer again."}]
            except Exception as e:  # a parser bug costs this example (recorded, cached answer kept), not the batch
                log.error("parsing an LLM answer failed: %r\n%s", answer[:200], traceback_text(e))
                raise LLMError(f"answer parsing failed ({type(e).__name__}: {e}): {answer[:120]!r}") from None
        raise AssertionError("unreachable")

    def _check_not_cut_off(self, comp: Completion) -> None:
        """Raise ``TruncatedAnswer`` for an answer the server cut off before it was complete.

        An NER answer stopped inside its JSON (at ``max_tokens``, by a content filter, ...): the parser
        would salvage the objects before the cut and the example would pass as fully annotated. An
        answer cut off inside its reasoning (``<think>`` never closed) holds no answer at all, and a
        re-ask at the same cap ends the same way (``futile``). An RE answer is the label first (its short
        cap cuts only the prose after it), and an NER answer whose JSON closed lost nothing: both kept.
        """
        why = cut_off(comp, self.task)
        if why == "reasoning":
            raise TruncatedAnswer(f"the answer was cut off at max_tokens={self.max_tokens} inside its reasoning "
                                  "(<think> never closed); raise LLM_MAX_TOKENS (RE: LLM_RE_MAX_TOKENS) or use a model "
                                  "that does not reason first", futile=True)
        if why == "json":
            where = (f"at max_tokens={self.max_tokens}" if comp.finish_reason == "length"
                     else f"by the server (finish_reason {comp.finish_reason!r})")
            raise TruncatedAnswer(f"the answer was cut off {where} before its JSON ended; answer with only the JSON "
                                  "list, no explanation",
                                  hint=" (a long list needs a larger LLM_MAX_TOKENS)" if comp.finish_reason == "length"
                                  else "")

    def _check_budget(self) -> None:
        if self.budget.exhausted:
            raise LLMError(BUDGET_EXHAUSTED)

    async def _complete(self, client: ChatClient, messages: list[dict[str, str]], usage: _Usage) -> Completion:
        key = cache_key(self.config.model, messages, client.params(self.max_tokens)) if self.cache is not None else ""
        hit = self.cache.get(key) if self.cache is not None else None
        if self._plan is not None:
            self._plan.add(messages, self.max_tokens, cached=hit is not None)
            return hit or Completion("[]" if self.task == "ner" else NO_RELATION, finish_reason="stop")
        if hit is not None:
            usage.cached += 1
            return hit
        comp = await client.complete(messages, gate=self._check_budget, max_tokens=self.max_tokens)
        cost = self.prices.cost(self.config.model, comp.prompt_tokens, comp.completion_tokens)
        self.budget.charge(cost, comp.prompt_tokens + comp.completion_tokens)
        usage.requests += 1
        usage.prompt_tokens += comp.prompt_tokens
        usage.completion_tokens += comp.completion_tokens
        usage.cost += cost
        # an empty answer (a glitch, a refusal, everything in reasoning_content or a tool call) is paid for but
        # not kept: replayed from the cache it would fail this prompt for ever, even on a healthy server
        if self.cache is not None and comp.text.strip():  # a cut-off one is kept: the same cap cuts it again
            self.cache.put(key, comp, self.config.model, sum(len(m["content"].encode("utf-8")) for m in messages),
                           self.task)
        return comp
