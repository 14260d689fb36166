"""k-NN demonstration retrieval (LLMaAA Sec. 3.1): the teacher sees the gold demos nearest the query.

``SentenceEncoder`` mean-pools any Hugging Face encoder (offline default: the packaged MiniLM)
into L2-normalised vectors, so faiss inner product is cosine similarity. ``DemoIndex`` holds the
demo pool, grows at run time (human labels add demos) and answers ``nearest(text, k)`` with the
demos ordered least to most similar: the paper puts the most similar demo last, next to the query.
``mode="random"`` (seeded per query id) and ``mode="none"`` (zero-shot) are the ablations.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from typing import Iterable, Sequence

import numpy as np

from llmaaa.data.schema import Example
from llmaaa.models.encoder import resolve_model_name

log = logging.getLogger(__name__)

DEMO_MODES = ("knn", "random", "none")


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings; the model loads on first use, once."""

    def __init__(self, model_name: str | None = None, *, batch_size: int = 64, max_length: int = 128) -> None:
        self.model_name = model_name
        self.batch_size, self.max_length = batch_size, max_length
        self._model = self._tokenizer = None
        self._lock = threading.Lock()
        self._cache: dict[str, np.ndarray] = {}

    def _load(self) -> None:
        with self._lock:
            if self._model is None:
                from transformers import AutoModel, AutoTokenizer

                path = resolve_model_name(self.model_name)
                self._tokenizer = AutoTokenizer.from_pretrained(path)
                self._model = AutoModel.from_pretrained(path).eval()

    @property
    def dim(self) -> int:
        self._load()
        return int(self._model.config.hidden_size)  # type: ignore[union-attr]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 unit vectors; texts seen before come from a cache."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            import torch

            self._load()
            for i in range(0, len(todo), self.batch_size):
                batch = todo[i : i + self.batch_size]
                enc = self._tokenizer(batch, padding=True, truncation=True, max_length=self.max_length,  # type: ignore[misc]
                                      return_tensors="pt")
                with torch.no_grad():
                    hidden = self._model(**enc).last_hidden_state  # type: ignore[misc]
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                vecs = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vecs = torch.nn.functional.normalize(vecs, dim=-1).numpy().astype(np.float32)
                self._cache.update(zip(batch, vecs))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])


class DemoIndex:
    """The demo pool behind a faiss ``IndexFlatIP`` (exact cosine search; pools are small)."""

    def __init__(self, encoder: SentenceEncoder | None = None, examples: Iterable[Example] = (), *,
                 mode: str = "knn", seed: int = 0) -> None:
        if mode not in DEMO_MODES:
            raise ValueError(f"demo mode must be one of {', '.join(DEMO_MODES)}, got {mode!r}")
        self.encoder = encoder if encoder is not None else SentenceEncoder()
        self.mode, self.seed = mode, seed
        self.examples: list[Example] = []
        self._ids: set[str] = set()
        self._index = None  # faiss.IndexFlatIP over examples[:ntotal], built lazily
        self._lock = threading.RLock()
        self.add(examples)

    def __len__(self) -> int:
        return len(self.examples)

    def add(self, examples: Iterable[Example]) -> int:
        """Add demos (an id already present is skipped); returns how many were added.

        Embedding is deferred to the first k-NN query, so random and zero-shot runs never load
        the encoder.
        """
        with self._lock:
            new = list({ex.id: ex for ex in examples if ex.id not in self._ids}.values())
            self.examples += new
            self._ids.update(ex.id for ex in new)
        return len(new)

    def upsert(self, examples: Iterable[Example]) -> int:
        """Add demos, replacing any demo with the same id (an edited human label); returns how many changed.

        A replaced demo whose text and labels are unchanged counts as no change. Any change drops the
        faiss index; the next k-NN query rebuilds it (the encoder caches vectors by text, so only new
        texts are embedded).
        """
        with self._lock:
            by_id = {ex.id: ex for ex in examples}
            pos = {ex.id: i for i, ex in enumerate(self.examples)}
            changed = 0
            for ex_id, ex in by_id.items():
                if ex_id not in pos:
                    self.examples.append(ex)
                    self._ids.add(ex_id)
                    changed += 1
                elif not _same_demo(self.examples[pos[ex_id]], ex):
                    self.examples[pos[ex_id]] = ex
                    self._index = None  # positions may now hold other texts
                    changed += 1
        return changed

    def remove(self, ids: Iterable[str]) -> int:
        """Drop the demos with these ids (a deleted human label); returns how many were removed."""
        with self._lock:
            gone = set(ids) & self._ids
            if gone:
                self.examples = [ex for ex in self.examples if ex.id not in gone]
                self._ids -= gone
                self._index = None  # faiss positions shifted: rebuilt on the next query
        return len(gone)

    def _search(self, query: np.ndarray, k: int) -> list[int]:
        with self._lock:
            indexed = 0 if self._index is None else self._index.ntotal
            if indexed < len(self.examples):
                import faiss

                vecs = self.encoder.encode([ex.text for ex in self.examples[indexed:]])
                if self._index is None:
                    self._index = faiss.IndexFlatIP(vecs.shape[1])
                self._index.add(vecs)
            _, idx = self._index.search(query, min(k, self._index.ntotal))  # type: ignore[union-attr]
        return [int(i) for i in idx[0] if i >= 0]

    def nearest(self, text: str, k: int, exclude_ids: Sequence[str] = (), *, mode: str | None = None,
                query_id: str = "") -> list[Example]:
        """Up to ``k`` demos, least similar first; demos whose id is in ``exclude_ids`` never appear.

        ``exclude_ids`` gives leave-one-out when the teacher is measured on the demo pool itself.
        ``mode`` overrides the index's mode for this query. In random mode the draw is fixed by
        (seed, ``query_id`` or text), so a re-run builds the same prompt and hits the cache.
        """
        mode = mode or self.mode
        if mode not in DEMO_MODES:
            raise ValueError(f"demo mode must be one of {', '.join(DEMO_MODES)}, got {mode!r}")
        if k <= 0 or mode == "none" or not self.examples:
            return []
        excluded = set(exclude_ids)
        if mode == "random":
            digest = hashlib.sha256(f"{self.seed}:{query_id or text}".encode()).digest()
            rng = random.Random(int.from_bytes(digest[:8], "big"))
            drawn = rng.sample(self.examples, min(k + len(excluded), len(self.examples)))
            picked = _distinct(drawn, excluded, k)
            if len(picked) < k:  # duplicates in the draw: top up from the rest (a draw without them is unchanged)
                picked = _distinct(drawn + rng.sample(self.examples, len(self.examples)), excluded, k)
            return picked
        query, n = self.encoder.encode([text]), k + len(excluded)
        while True:
            hits = _distinct([self.examples[i] for i in self._search(query, n)], excluded, k)
            if len(hits) >= k or n >= len(self.examples):
                return hits[::-1]  # faiss gives the most similar first; the prompt wants it last
            n = min(2 * n, len(self.examples))  # duplicate texts took places: look further


def _distinct(candidates: Sequence[Example], excluded: set[str], k: int) -> list[Example]:
    """The first ``k`` candidates not excluded, one per text, none blank.

    A pool often holds the same sentence several times (CoNLL's repeated bylines and headers, a
    document imported twice); k copies of it would fill the prompt with one demo, so later copies
    give way to the next distinct neighbours. A blank text (an empty task someone annotated) shows
    the LLM nothing and would take a demo's place.
    """
    out: list[Example] = []
    seen: set[str] = set()
    for ex in candidates:
        if ex.id not in excluded and ex.text not in seen and ex.text.strip():
            seen.add(ex.text)
            out.append(ex)
            if len(out) == k:
                break
    return out


def _same_demo(a: Example, b: Example) -> bool:
    """Whether two versions of a demo would give the same prompt (text and labels, not provenance)."""
    return (a.text == b.text and a.entities == b.entities and a.relations == b.relations
            and a.unlabeled_pairs == b.unlabeled_pairs)
