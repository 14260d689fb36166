"""The NER student: a Hugging Face encoder + token-classification head over BIO tags.

Built on ``AutoModelForTokenClassification`` so a saved folder loads with plain ``transformers``
(``pipeline("token-classification", model=folder, aggregation_strategy="first")``), with the tag
names (``O``, ``B-PER``, ``I-PER``...) in ``config.id2label``. The LLMaAA reference uses BMES tags
and a GELU before the classifier; we use BIO and the stock head so the folder stays standard.
Offsets and sliding windows: see ``llmaaa.models.tokenize``.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from llmaaa.data.schema import Example, LabelSet
from llmaaa.models.base import ModelOutputs
from llmaaa.models.common import (
    autocast, l2_normalize, pad, read_labels, require_model_files, resolve_device, run_batched, write_labels,
)
from llmaaa.models.encoder import fitted_length, resolve_model_name
from llmaaa.models.tokenize import (
    IGNORE, Encoded, check_tokenizer, decode_tags, encode_text, most_central, span_tags, windows,
)

log = logging.getLogger(__name__)


def bio_tags(labels: LabelSet) -> list[str]:
    return ["O", *(f"{p}-{label}" for label in labels.entity_labels for p in ("B", "I"))]


class NerModel:
    """Token-classification student. ``net`` is the HF model; ``head_prefix`` names its head parameters
    (ModernBERT's token classifier has a ``head`` block before its ``classifier``)."""

    task = "ner"
    head_prefix = ("classifier.", "head.")

    def __init__(self, net, tokenizer, labels: LabelSet, *, max_length: int = 256, stride: int | None = None,
                 device: str | torch.device = "auto", batch_size: int = 32) -> None:
        self.net = net
        self.tokenizer = tokenizer
        self.labels = labels
        self.tags = bio_tags(labels)
        self.tag2id = {t: i for i, t in enumerate(self.tags)}
        check_tokenizer(tokenizer)
        self.max_length = fitted_length(net, max_length)
        self.stride = stride or max(1, (self.max_length - 2) // 2)
        self.batch_size = batch_size
        self.device = resolve_device(device) if isinstance(device, str) else device
        self.net.to(self.device)

    @classmethod
    def create(cls, labels: LabelSet, model_name: str | None = None, *, attn_implementation: str | None = None,
               **kw) -> "NerModel":
        """A fresh student from a pretrained encoder (id or folder; ``None`` = packaged MiniLM)."""
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        name = resolve_model_name(model_name)
        tags = bio_tags(labels)
        extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
        net = AutoModelForTokenClassification.from_pretrained(
            name, num_labels=len(tags), id2label=dict(enumerate(tags)), label2id={t: i for i, t in enumerate(tags)},
            **extra,
        )
        return cls(net, AutoTokenizer.from_pretrained(name), labels, **kw)

    # -- features --------------------------------------------------------------------------
    def _special(self) -> tuple[int, int]:
        tok = self.tokenizer
        cls_id = tok.cls_token_id if tok.cls_token_id is not None else tok.bos_token_id
        sep_id = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
        return cls_id, sep_id

    def _windows(self, enc: Encoded) -> list[tuple[int, int]]:
        return windows(len(enc.ids), self.max_length - 2, self.stride)

    def features(self, examples: Sequence[Example], *, with_labels: bool = True) -> list[dict]:
        """One feature per window: ``input_ids`` with [CLS]/[SEP], ``labels`` (BIO ids, -100 ignored)."""
        cls_id, sep_id = self._special()
        known = set(self.labels.entity_labels)
        feats, unknown, inexact = [], Counter(), Counter()
        for k, ex in enumerate(examples):
            enc = encode_text(self.tokenizer, ex.text)
            if with_labels:
                unknown.update(s.label for s in ex.entities if s.label not in known)
            tags = span_tags(enc, ex.entities, self.tag2id, inexact) if with_labels else None
            for s, e in self._windows(enc):
                f = {"example": k, "input_ids": [cls_id, *enc.ids[s:e], sep_id]}
                if tags is not None:
                    f["labels"] = [IGNORE, *tags[s:e], IGNORE]
                feats.append(f)
        if unknown:
            log.warning("dropped %d spans whose labels are not in the label set %s: %s", sum(unknown.values()),
                        list(self.labels.entity_labels), dict(unknown))
        if inexact:
            log.warning("training labels: %d nested spans skipped (BIO cannot nest), %d spans widened to whole "
                        "words of the student's tokenizer, %d spans over no token skipped",
                        inexact["overlapping"], inexact["widened"], inexact["no_token"])
        return feats

    def collate(self, feats: Sequence[dict]) -> dict[str, torch.Tensor]:
        ids = pad([f["input_ids"] for f in feats], self.tokenizer.pad_token_id or 0)
        batch = {"input_ids": ids, "attention_mask": pad([[1] * len(f["input_ids"]) for f in feats], 0)}
        if "labels" in feats[0]:
            batch["labels"] = pad([f["labels"] for f in feats], IGNORE)
        return {k: v.to(self.device) for k, v in batch.items()}

    # -- training --------------------------------------------------------------------------
    def example_losses(self, batch: dict[str, torch.Tensor], params: dict | None = None) -> torch.Tensor:
        """Per-window loss: mean cross-entropy over its labeled sub-tokens (the reweighting unit)."""
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        if params is None:
            logits = self.net(**inputs).logits
        else:
            logits = torch.func.functional_call(self.net, params, args=(), kwargs=inputs).logits
        labels = batch["labels"]
        tok = F.cross_entropy(logits.float().transpose(1, 2), labels, ignore_index=IGNORE, reduction="none")
        mask = (labels != IGNORE).float()
        return (tok * mask).sum(1) / mask.sum(1).clamp(min=1.0)

    # -- inference -------------------------------------------------------------------------
    @torch.no_grad()
    def _forward(self, examples: Sequence[Example]) -> list[tuple[Encoded, np.ndarray, np.ndarray]]:
        """Per example: its encoding, per-sub-token probs (n, T) and hidden states (n, d), windows merged."""
        self.net.eval()
        encs = [encode_text(self.tokenizer, ex.text) for ex in examples]
        feats = self.features(examples, with_labels=False)

        def run(batch_feats: list[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
            batch = self.collate(batch_feats)
            with autocast(self.device):
                out = self.net(**batch, output_hidden_states=True)
            probs = out.logits.float().softmax(-1).cpu().numpy()
            hidden = out.hidden_states[-1].float().cpu().numpy()
            return [(probs[i, 1 : len(f["input_ids"]) - 1], hidden[i, 1 : len(f["input_ids"]) - 1])
                    for i, f in enumerate(batch_feats)]

        results = run_batched(feats, self.batch_size, run)
        merged, k = [], 0
        dim = self.net.config.hidden_size
        for enc in encs:
            wins = self._windows(enc)
            parts = results[k : k + len(wins)]
            k += len(wins)
            n = len(enc.ids)
            probs = np.zeros((n, len(self.tags)), dtype=np.float32)
            hidden = np.zeros((n, dim), dtype=np.float32)
            for t, (w, p) in enumerate(most_central(n, wins)):
                probs[t], hidden[t] = parts[w][0][p], parts[w][1][p]
            merged.append((enc, probs, hidden))
        return merged

    def predict(self, examples: Sequence[Example]) -> list[Example]:
        out = []
        for ex, (enc, probs, _) in zip(examples, self._forward(examples)):
            best = probs.argmax(-1) if len(probs) else np.zeros(0, dtype=int)
            tags = [self.tags[i] for i in best]
            spans = decode_tags(enc, tags, [float(probs[t, i]) for t, i in enumerate(best)])
            out.append(ex.with_labels(entities=spans, relations=()))
        return out

    def outputs(self, examples: Sequence[Example]) -> ModelOutputs:
        merged = self._forward(examples)
        dim = self.net.config.hidden_size
        emb = np.stack([h.mean(0) if len(h) else np.zeros(dim, np.float32) for _, _, h in merged]) if merged \
            else np.zeros((0, dim), np.float32)
        return ModelOutputs(probs=[p for _, p, _ in merged], embeddings=l2_normalize(emb))

    # -- persistence -----------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.net.save_pretrained(path)
        self.tokenizer.save_pretrained(path)
        write_labels(path, self.task, self.labels, max_length=self.max_length, stride=self.stride)

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> "NerModel":
        from transformers import AutoModelForTokenClassification, AutoTokenizer

        record, labels = read_labels(Path(path))
        require_model_files(Path(path))
        net = AutoModelForTokenClassification.from_pretrained(path)
        return cls(net, AutoTokenizer.from_pretrained(path), labels, max_length=record.get("max_length", 256),
                   stride=record.get("stride"), device=device)
