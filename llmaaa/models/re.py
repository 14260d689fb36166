"""The RE student: entity markers + the hidden states at the two start markers -> relation classes.

The LLMaAA reference (``BertMarkerForRe``) puts the same ``[E]``/``[\\E]`` around head and tail and
tells them apart only by concatenation order; we use distinct *untyped* markers ``[E1] [/E1]``
(head) and ``[E2] [/E2]`` (tail), added as special tokens (embeddings resized). With
``typed=True`` the markers carry the entity type (``[E1:Peop]``), which helps when types are
reliable (gold entities) and hurts when they are noisy. Head: concat(h[E1], h[E2]) -> dropout ->
linear over ``LabelSet.relation_classes`` (``no_relation`` first).

Candidate pairs: every ordered pair of the example's entities, or ``extra["pairs"]`` ([[h, t], ...]).
A text longer than ``max_chars`` is read in sentence-aligned pieces, pairs within one piece only
(as the LLM teacher asks them). A pair too long for ``max_length`` is cropped to a window centred
between its two markers; a pair whose markers cannot share one window is not scored at all.

Saved folder: the encoder via ``save_pretrained`` (plain ``transformers.AutoModel`` loads it, with
the marker tokens in its tokenizer) + ``re_head.pt`` + ``labels.json``; ``load_task_model`` loads all.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from llmaaa.data.pairs import candidate_pairs
from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation
from llmaaa.data.segment import holding, segments
from llmaaa.models.base import ModelOutputs
from llmaaa.models.common import (
    autocast, l2_normalize, pad, read_labels, require_model_files, resolve_device, run_batched, sorted_batches,
    write_labels,
)
from llmaaa.models.encoder import fitted_length, load_encoder, resolve_model_name

log = logging.getLogger(__name__)


class MarkerReNet(nn.Module):
    def __init__(self, encoder, n_classes: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * encoder.config.hidden_size, n_classes)

    def forward(self, input_ids, attention_mask, e1, e2):
        h = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        rows = torch.arange(h.shape[0], device=h.device)
        return self.head(self.dropout(torch.cat([h[rows, e1], h[rows, e2]], dim=-1)))


def marker_tokens(labels: LabelSet, typed: bool) -> list[str]:
    if not typed:
        return ["[E1]", "[/E1]", "[E2]", "[/E2]"]
    return [f"[{m}:{t}]" for t in labels.entity_labels for m in ("E1", "/E1", "E2", "/E2")]


def unlabeled_pairs(ex: Example) -> set[tuple[int, int]]:
    """Pairs the labeler left unknown (``Example.unlabeled_pairs``: not asked, as a long text's pair split
    across its pieces, or linked by a human without a label).

    Training skips them: a missing relation there means "not asked", and learning it as
    ``no_relation`` would teach the student that cross-sentence pairs never relate.
    """
    return set(ex.unlabeled_pairs)


class ReModel:
    task = "re"
    head_prefix = "head."

    def __init__(self, net: MarkerReNet, tokenizer, labels: LabelSet, *, typed: bool = False, max_length: int = 256,
                 max_chars: int = 0, device: str | torch.device = "auto", batch_size: int = 32) -> None:
        self.net, self.tokenizer, self.labels, self.typed = net, tokenizer, labels, typed
        self.classes = list(labels.relation_classes)
        self.class2id = {c: i for i, c in enumerate(self.classes)}
        self.max_length, self.batch_size = fitted_length(net.encoder, max_length), batch_size
        self.max_chars = max_chars  # a longer text is read in sentence-aligned pieces (see pieces); 0: never
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.net.to(self.device)

    @classmethod
    def create(cls, labels: LabelSet, model_name: str | None = None, *, typed: bool = False,
               attn_implementation: str | None = None, **kw) -> "ReModel":
        from transformers import AutoTokenizer

        name = resolve_model_name(model_name)
        tok = AutoTokenizer.from_pretrained(name)
        tok.add_special_tokens({"additional_special_tokens": marker_tokens(labels, typed)})
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        encoder = load_encoder(name, **extra)
        encoder.resize_token_embeddings(len(tok))
        return cls(MarkerReNet(encoder, len(labels.relation_classes)), tok, labels, typed=typed, **kw)

    # -- features --------------------------------------------------------------------------
    def _marked(self, ex: Example, h: int, t: int, window: tuple[int, int] | None = None) -> str:
        """``ex.text`` (or its ``window`` piece) with marker tokens around the head and the tail."""
        ents = ex.entities
        lo, hi = window or (0, len(ex.text))
        marks = []  # (char position, order, marker text)
        for tag, i in (("E1", h), ("E2", t)):
            typ = f":{ents[i].label}" if self.typed else ""
            marks += [(ents[i].start, 1, f"[{tag}{typ}]"), (ents[i].end, 0, f"[/{tag}{typ}]")]
        out, last = "", lo
        for pos, _, m in sorted(marks):
            out += ex.text[last:pos]
            # a space on each side only where there is none: byte-level and Metaspace tokenizers turn a
            # doubled space into tokens of its own (WordPiece ignores it either way)
            out += ("" if not out or out[-1].isspace() else " ") + m + ("" if ex.text[pos:pos + 1].isspace() else " ")
            last = pos
        return out + ex.text[last:hi]

    def pieces(self, ex: Example) -> list[tuple[int, int]] | None:
        """Sentence-aligned pieces of a text longer than ``max_chars``, else None (the whole text).

        A long document is read as the teacher reads it (``llmaaa.data.segment``): a pair is a
        candidate only inside one piece, and the encoder sees that piece. Every ordered pair of a
        whole document is quadratic in its entities, each pass up to ``max_length`` sub-tokens
        (``bench/re_long_docs.py``); sentence-level data (CoNLL04's longest is 641 chars) is
        unaffected.
        """
        if self.max_chars <= 0 or len(ex.text) <= self.max_chars:
            return None
        return segments(ex.text, self.max_chars)

    def _pair_feature(self, ex: Example, h: int, t: int, pieces: list[tuple[int, int]] | None = None) -> dict | None:
        """Marked sub-token ids and marker positions; None when the pair cannot be read (see below)."""
        window = None
        if pieces is not None:
            a, b = ex.entities[h], ex.entities[t]
            window = holding(pieces, min(a.start, b.start), max(a.end, b.end))
            if window is None:
                return None  # the pair crosses a piece boundary of a long text
        ids = self.tokenizer(self._marked(ex, h, t, window), add_special_tokens=True, truncation=False,
                             verbose=False)["input_ids"]
        typ = (lambda i: f":{ex.entities[i].label}") if self.typed else (lambda i: "")
        e1_id = self.tokenizer.convert_tokens_to_ids(f"[E1{typ(h)}]")
        e2_id = self.tokenizer.convert_tokens_to_ids(f"[E2{typ(t)}]")
        if e1_id not in ids or e2_id not in ids:
            return None  # a typed marker for a label outside the label set
        e1, e2 = ids.index(e1_id), ids.index(e2_id)
        if len(ids) > self.max_length:
            body = self.max_length - 2
            if abs(e1 - e2) >= body:
                return None  # the two markers do not fit one window: the pair would be read from clipped positions
            centre = (e1 + e2) // 2
            start = min(max(1, centre - body // 2), len(ids) - 1 - body)
            ids = [ids[0], *ids[start : start + body], ids[-1]]
            e1 = min(max(e1 - start + 1, 1), body)
            e2 = min(max(e2 - start + 1, 1), body)
        return {"input_ids": ids, "e1": e1, "e2": e2}

    def features(self, examples: Sequence[Example], *, with_labels: bool = True) -> list[dict]:
        """One feature per candidate pair; ``label`` = gold relation or ``no_relation``.

        With labels (training), the pairs the labeler left unknown are skipped (:func:`unlabeled_pairs`).
        A pair the encoder cannot read has no feature: it is never predicted (a gold relation there
        counts as missed), and it is not trained on.
        """
        feats, unknown, unreadable, untyped = [], Counter(), 0, Counter()
        known_types = set(self.labels.entity_labels)
        for k, ex in enumerate(examples):
            gold = {(r.head, r.tail): r.label for r in ex.relations} if with_labels else {}
            skip = unlabeled_pairs(ex) if with_labels else set()
            pieces = self.pieces(ex)
            for h, t in candidate_pairs(ex):
                if (h, t) in skip:
                    continue
                label = gold.get((h, t), NO_RELATION)
                if label not in self.class2id:
                    unknown[label] += 1
                    continue
                if self.typed and not {ex.entities[h].label, ex.entities[t].label} <= known_types:
                    untyped.update(ex.entities[i].label for i in (h, t) if ex.entities[i].label not in known_types)
                    continue  # no typed marker exists for that entity type
                f = self._pair_feature(ex, h, t, pieces)
                if f is None:
                    if label != NO_RELATION:
                        unreadable += 1
                    continue
                f.update(example=k, pair=(h, t))
                if with_labels:
                    f["label"] = self.class2id[label]
                feats.append(f)
        if unknown:
            log.warning("skipped %d pairs whose relation labels are not in the label set: %s", sum(unknown.values()),
                        dict(unknown))
        if untyped:
            log.warning("skipped pairs with entities of types outside the label set %s (typed markers have none): %s",
                        list(self.labels.entity_labels), dict(untyped))
        if unreadable:
            log.warning("skipped %d labeled relations whose entities are too far apart for one encoder window "
                        "(different pieces of a text over %d chars, or over %d sub-tokens apart)",
                        unreadable, self.max_chars, self.max_length - 2)
        return feats

    def collate(self, feats: Sequence[dict]) -> dict[str, torch.Tensor]:
        batch = {
            "input_ids": pad([f["input_ids"] for f in feats], self.tokenizer.pad_token_id or 0),
            "attention_mask": pad([[1] * len(f["input_ids"]) for f in feats], 0),
            "e1": torch.tensor([f["e1"] for f in feats]),
            "e2": torch.tensor([f["e2"] for f in feats]),
        }
        if "label" in feats[0]:
            batch["labels"] = torch.tensor([f["label"] for f in feats])
        return {k: v.to(self.device) for k, v in batch.items()}

    def example_losses(self, batch: dict[str, torch.Tensor], params: dict | None = None) -> torch.Tensor:
        inputs = {k: batch[k] for k in ("input_ids", "attention_mask", "e1", "e2")}
        logits = self.net(**inputs) if params is None else torch.func.functional_call(self.net, params, (), inputs)
        return F.cross_entropy(logits.float(), batch["labels"], reduction="none")

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def _pair_probs(self, examples: Sequence[Example]) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        self.net.eval()
        feats = self.features(examples, with_labels=False)

        def run(batch_feats: list[dict]) -> list[np.ndarray]:
            with autocast(self.device):
                logits = self.net(**self.collate(batch_feats))
            return list(logits.float().softmax(-1).cpu().numpy())

        return self._per_example(len(examples), feats, run_batched(feats, self.batch_size, run))

    def _per_example(self, n: int, feats: Sequence[dict], probs: Sequence[np.ndarray]
                     ) -> list[tuple[list[tuple[int, int]], np.ndarray]]:
        """Pair features' probabilities regrouped by example: ``(pairs, (n_pairs, C) array)`` each."""
        out: list[tuple[list, list]] = [([], []) for _ in range(n)]
        for f, p in zip(feats, probs):
            out[f["example"]][0].append(f["pair"])
            out[f["example"]][1].append(p)
        C = len(self.classes)
        return [(pairs, np.stack(ps) if ps else np.zeros((0, C), np.float32)) for pairs, ps in out]

    def _relations(self, pairs: Sequence[tuple[int, int]], probs: Sequence[np.ndarray]) -> list[Relation]:
        return [Relation(h, t, self.classes[int(p.argmax())], float(p.max()))
                for (h, t), p in zip(pairs, probs) if p.argmax() != 0]

    def predict(self, examples: Sequence[Example]) -> list[Example]:
        """Examples with their entities kept and a relation for every pair not predicted ``no_relation``."""
        return [ex.with_labels(relations=self._relations(pairs, probs))
                for ex, (pairs, probs) in zip(examples, self._pair_probs(examples))]

    @torch.no_grad()
    def losses_and_predict(self, examples: Sequence[Example], feats: Sequence[dict],
                           batch_size: int | None = None) -> tuple[np.ndarray, list[Example]]:
        """Per-pair losses and ``predict(examples)`` from one forward pass over labeled ``feats``.

        The trainer scores the gold set every epoch for its loss *and* its F1; on RE the gold set is
        hundreds of marked pair sequences, and two passes over them cost about a third of an epoch on
        CPU. ``feats`` must be ``features(examples, with_labels=True)``: a pair whose gold relation is
        outside the label set has no feature and so no prediction (it still counts as missed).
        """
        self.net.eval()
        losses = np.zeros(len(feats), np.float32)
        probs: list[np.ndarray | None] = [None] * len(feats)
        for idx in sorted_batches([len(f["input_ids"]) for f in feats], batch_size or self.batch_size):
            batch = self.collate([feats[i] for i in idx])
            with autocast(self.device):
                logits = self.net(**{k: batch[k] for k in ("input_ids", "attention_mask", "e1", "e2")}).float()
            batch_losses = F.cross_entropy(logits, batch["labels"], reduction="none").cpu().numpy()
            for i, loss, p in zip(idx, batch_losses, logits.softmax(-1).cpu().numpy()):
                losses[i], probs[i] = loss, p
        return losses, [ex.with_labels(relations=self._relations(pairs, ps))
                        for ex, (pairs, ps) in zip(examples, self._per_example(len(examples), feats, probs))]

    @torch.no_grad()
    def _embed(self, examples: Sequence[Example]) -> np.ndarray:
        """Mean-pooled encoder states of the plain texts (no markers), L2-normalized."""
        feats = [{"input_ids": self.tokenizer(ex.text, truncation=True, max_length=self.max_length)["input_ids"]}
                 for ex in examples]

        def run(batch_feats: list[dict]) -> list[np.ndarray]:
            ids = pad([f["input_ids"] for f in batch_feats], self.tokenizer.pad_token_id or 0).to(self.device)
            mask = (pad([[1] * len(f["input_ids"]) for f in batch_feats], 0)).to(self.device)
            with autocast(self.device):
                h = self.net.encoder(input_ids=ids, attention_mask=mask).last_hidden_state.float()
            m = mask.unsqueeze(-1).float()
            return list(((h * m).sum(1) / m.sum(1)).cpu().numpy())

        vecs = run_batched(feats, self.batch_size, run)
        dim = self.net.encoder.config.hidden_size
        return l2_normalize(np.stack(vecs)) if vecs else np.zeros((0, dim), np.float32)

    def outputs(self, examples: Sequence[Example]) -> ModelOutputs:
        self.net.eval()
        return ModelOutputs(probs=[p for _, p in self._pair_probs(examples)], embeddings=self._embed(examples))

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.net.encoder.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        torch.save({k: v.cpu() for k, v in self.net.head.state_dict().items()}, path / "re_head.pt")
        write_labels(path, self.task, self.labels, max_length=self.max_length, max_chars=self.max_chars, typed=self.typed,
                     relation_classes=self.classes, markers=marker_tokens(self.labels, self.typed))

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> "ReModel":
        from transformers import AutoTokenizer

        record, labels = read_labels(Path(path))
        require_model_files(Path(path), "re_head.pt")
        encoder = load_encoder(str(path))
        net = MarkerReNet(encoder, len(labels.relation_classes))
        net.head.load_state_dict(torch.load(Path(path) / "re_head.pt", map_location="cpu", weights_only=True))
        return cls(net, AutoTokenizer.from_pretrained(path), labels, typed=record.get("typed", False),
                   max_length=record.get("max_length", 256), max_chars=record.get("max_chars", 0), device=device)
