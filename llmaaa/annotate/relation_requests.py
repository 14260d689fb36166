"""The RE side of the LLM teacher (``teacher.LLMTeacher``): which ordered entity pairs are asked, one request each.

``re_pairs="seen"`` skips the pairs whose types no gold demo relation joins; a long text's pairs split
across its pieces are not asked (their label is unknown); ``max_pairs`` fails a text with too many pairs
before they are listed. Kept apart from ``teacher`` (requests, caching, the NER side) so that each
reads as one concept.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from typing import TYPE_CHECKING, Sequence

from llmaaa.annotate.client import ChatClient, LLMConfig, LLMError
from llmaaa.annotate.confidence import label_score
from llmaaa.annotate.parsing import parse_re_answer
from llmaaa.annotate.prompts import PromptBuilder, re_demo_pair
from llmaaa.annotate.retrieval import DemoIndex
from llmaaa.annotate.summary import RunSummary
from llmaaa.data.pairs import candidate_pairs
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation
from llmaaa.data.segment import crop_pair, holding, segments

if TYPE_CHECKING:
    from llmaaa.annotate.teacher import _Usage

log = logging.getLogger(__name__)

RE_PAIR_MODES = ("all", "seen")
_ALL_PAIRS_PER_ASKED = 25  # pairs listed (asked or kept unknown) per pair LLM_MAX_PAIRS allows asking
SEEN_PAIRS_MIN_RELATIONS = 20  # re_pairs="seen" filters only once the gold pool has this many relations


class RelationRequests:
    """``LLMTeacher``'s relation methods; they use its ``config``, ``labels``, ``demo_index``, ``prompts`` and
    ``_ask``."""

    config: LLMConfig
    labels: LabelSet
    demo_index: DemoIndex | None
    prompts: PromptBuilder

    def _pair_types(self) -> set[tuple[str, str]] | None:
        """(head type, tail type) of the gold demo relations when ``re_pairs="seen"``, else None (ask all).

        Read from the demo pool at every call, so human annotations added to it widen the set. Below
        ``SEEN_PAIRS_MIN_RELATIONS`` gold relations it is None: on CoNLL04, 10 gold sentences missed a
        type pair in one draw of three (22% of the test relations never asked), 20 never did.
        """
        if self.config.re_pairs == "all" or self.demo_index is None:
            return None
        gold = [(ex.entities[r.head].label, ex.entities[r.tail].label)
                for ex in self.demo_index.examples for r in ex.relations]
        if len(gold) < SEEN_PAIRS_MIN_RELATIONS:
            log.debug("LLM_RE_PAIRS=seen: %d gold relations, fewer than %d; asking every pair",
                      len(gold), SEEN_PAIRS_MIN_RELATIONS)
            return None
        return set(gold)

    async def _relations(self, ex: Example, demos: Sequence[Example], client: ChatClient, usage: _Usage,
                         summary: RunSummary) -> tuple[list[Relation], dict[str, list[tuple[int, int]]]]:
        """Relations among the ordered pairs, and the pairs not asked by reason (``unseen_types``:
        ``re_pairs=seen`` and no gold relation joins those types, so they are no_relation;
        ``other_piece``: split across the pieces of a long text, so their label is unknown)."""
        limit = self.config.max_chars
        pieces = segments(ex.text, limit) if 0 < limit < len(ex.text) else None  # once per text, not per pair
        # each entity's piece, once per entity, not per pair (None: the whole text is one piece)
        piece_of = [holding(pieces, s.start, s.end) for s in ex.entities] if pieces is not None else None
        allowed = self._pair_types()
        self._check_pair_count(ex, piece_of, allowed)
        try:
            pairs = candidate_pairs(ex)
        except (ValueError, TypeError, KeyError) as e:
            raise LLMError(f"bad 'pairs' field: {e}") from None
        not_asked: dict[str, list[tuple[int, int]]] = {}
        if allowed is not None and ex.extra.get("pairs") is None:  # listed pairs are always asked
            kept = [(h, t) for h, t in pairs if (ex.entities[h].label, ex.entities[t].label) in allowed]
            if len(kept) < len(pairs):
                kept_set = set(kept)
                not_asked["unseen_types"] = [p for p in pairs if p not in kept_set]
            pairs = kept
        demo_pairs = []
        for p in (re_demo_pair(d, self.labels.relation_classes) for d in demos):
            view = p and crop_pair(p[0], p[1], p[2], limit)  # a long demo: the piece with its pair
            if view is not None:
                demo_pairs.append((*view, p[3]))
        classes = self.labels.relation_labels
        if piece_of is not None:  # a long document: pairs split across pieces are not asked
            split = [(h, t) for h, t in pairs if piece_of[h] is None or piece_of[h] != piece_of[t]]
            if split:
                not_asked["other_piece"] = split
                pairs = [(h, t) for h, t in pairs if piece_of[h] is not None and piece_of[h] == piece_of[t]]
        views = {(h, t): crop_pair(ex, h, t, limit, pieces) for h, t in pairs}

        async def label(h: int, t: int) -> Relation:
            part, ph, pt = views[(h, t)]  # type: ignore[misc]
            msgs = self.prompts.re_messages(part, ph, pt, demo_pairs)
            names = [part.text[s.start:s.end] for s in (part.entities[ph], part.entities[pt])]
            lab, comp = await self._ask(client, msgs, lambda a: parse_re_answer(a, classes, names), usage, summary)
            return Relation(h, t, lab, label_score(comp.text, comp.logprobs, lab))

        results = await asyncio.gather(*(label(h, t) for h, t in pairs), return_exceptions=True)
        for r in results:
            if isinstance(r, BaseException):
                if isinstance(r, LLMError):
                    n_bad = sum(isinstance(x, BaseException) for x in results)
                    raise LLMError(f"{r.reason} ({n_bad} of {len(pairs)} pairs failed)") from None
                raise r
        return [r for r in results if r.label != NO_RELATION], not_asked  # type: ignore[union-attr]

    def _check_pair_count(self, ex: Example, piece_of: list[tuple[int, int] | None] | None,
                          allowed: set[tuple[str, str]] | None) -> None:
        """Fail a text whose entity pairs to ask outnumber ``max_pairs``, before listing them: one request each,
        and with the pairs split across a long document's pieces kept as unknown, memory quadratic in its
        entities (a 1 MB task took the backend's worker down). Counted as asked: within one piece, of the
        type combinations ``re_pairs=seen`` keeps; a user's listed pairs count as listed."""
        limit = self.config.max_pairs
        if not limit:
            return
        listed = ex.extra.get("pairs")
        if isinstance(listed, (list, tuple)):
            count = len(listed)
        else:
            groups: dict[tuple[int, int] | None, Counter[str]] = {}
            for k, span in enumerate(ex.entities):
                piece = piece_of[k] if piece_of is not None else None
                if piece_of is None or piece is not None:  # an entity across two pieces is in no pair asked
                    groups.setdefault(piece, Counter())[span.label] += 1
            count = 0
            for labels in groups.values():
                if allowed is None:
                    k = sum(labels.values())
                    count += k * (k - 1)
                else:
                    count += sum(labels[a] * labels[b] - (labels[a] if a == b else 0) for a, b in allowed)
        if count > limit:
            raise LLMError(f"{len(ex.entities)} entities make {count} entity pairs to ask, more than "
                           f"LLM_MAX_PAIRS={limit} (one request each): split the text into shorter texts, or raise "
                           "LLM_MAX_PAIRS")
        n = len(ex.entities)
        if not isinstance(listed, (list, tuple)) and n * (n - 1) > _ALL_PAIRS_PER_ASKED * limit:
            # the pairs not asked are listed and kept too (as unknown): 1,100 entities, one per sentence of a 1 MB
            # text, ask nothing across sentences but list 1.2 million pairs
            raise LLMError(f"{n} entities make {n * (n - 1)} ordered pairs, more than {_ALL_PAIRS_PER_ASKED} x "
                           f"LLM_MAX_PAIRS={limit} even with the pairs across pieces unasked: split the text into "
                           "shorter texts, or raise LLM_MAX_PAIRS")
