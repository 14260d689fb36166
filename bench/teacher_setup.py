"""The data the LLM-teacher benches share (teacher_quality, llm_confidence, cost_estimate).

The same test sentences and the same seeded demo pools in each, so their numbers are about the
same prompts: CoNLL03 NER, the first N non-blank test sentences with a k-NN index over dev
sentences that have entities; CoNLL04 RE, the first N test sentences with >= 2 entities, with the
label set and a k-NN index of dev sentences that have relations.
"""

from __future__ import annotations

import random

from llmaaa.annotate.retrieval import DemoIndex, SentenceEncoder
from llmaaa.data.readers import read_dataset
from llmaaa.data.schema import Example, LabelSet

NER_LABELS = LabelSet(("PER", "ORG", "LOC", "MISC"))


def conll03_ner(n: int, demos: int, encoder: SentenceEncoder, data_dir: str | None = None
                ) -> tuple[list[Example], DemoIndex]:
    """``n`` gold test sentences and a k-NN index over ``demos`` dev sentences (seed 0)."""
    test = [ex for ex in read_dataset("conll2003", "test", data_dir) if ex.text.strip()][:n]
    dev = [ex for ex in read_dataset("conll2003", "dev", data_dir) if ex.entities]
    return test, DemoIndex(encoder, random.Random(0).sample(dev, demos), mode="knn")


def conll04_re(n: int, demos: int, encoder: SentenceEncoder, data_dir: str | None = None
               ) -> tuple[list[Example], LabelSet, DemoIndex]:
    """``n`` gold test sentences, the demos' label set and a k-NN index over up to ``demos`` dev sentences (seed 0)."""
    test = [ex for ex in read_dataset("conll04", "test", data_dir) if len(ex.entities) >= 2][:n]
    dev = [ex for ex in read_dataset("conll04", "dev", data_dir) if ex.relations]
    pool = random.Random(0).sample(dev, min(demos, len(dev)))
    return test, LabelSet.from_examples(pool), DemoIndex(encoder, pool, mode="knn")
