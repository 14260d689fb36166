"""Relation-extraction candidate pairs, and examples that are one entity pair each.

An RE example is a text with its (given) entities; the question for the teacher and the student is
one per ordered entity pair. ``extra["pairs"]`` narrows an example to the listed pairs, which is how
both read it (:func:`candidate_pairs`).

:func:`pair_examples` turns each sentence into one example per ordered pair: the unit the paper
labels on Re-TACRED (a sentence, a head, a tail), so a budget of 500 is 500 LLM questions and 500
training pairs, where 500 CoNLL04 sentences are about 6,500 of each. The active sampler then picks
the uncertain *pairs*, not the sentences holding one. Each pair example keeps every entity of its
sentence (the entity markers index into them) and names its sentence in ``extra["pair_of"]``, so a
teacher that labels whole sentences (the simulated one) can answer it from that sentence's labels.
"""

from __future__ import annotations

from typing import Iterable

from llmaaa.data.schema import Example

PAIR_OF = "pair_of"  # extra key: the id of the sentence a pair example was cut from


def candidate_pairs(ex: Example) -> list[tuple[int, int]]:
    """Every ordered pair of the example's entities, or the listed ``extra["pairs"]``.

    A listed pair is ``[h, t]`` or ``{"head": h, "tail": t}`` (the forms the teacher writes and a
    user's file may hold); ``null`` means all pairs. A pair outside the entities, or of an entity
    with itself, is a ``ValueError`` naming the example.
    """
    listed = ex.extra.get("pairs")
    n = len(ex.entities)
    if listed is None:
        return [(h, t) for h in range(n) for t in range(n) if h != t]
    out = []
    for p in listed:
        h, t = (p["head"], p["tail"]) if isinstance(p, dict) else p
        if not (0 <= int(h) < n and 0 <= int(t) < n) or int(h) == int(t):
            raise ValueError(f"example {ex.id!r}: pair {p!r} must join two of its {n} entities")
        out.append((int(h), int(t)))
    return out


def pair_id(sentence_id: str, head: int, tail: int) -> str:
    return f"{sentence_id}#{head}>{tail}"


def pair_examples(examples: Iterable[Example]) -> list[Example]:
    """One example per candidate pair of each example, holding that pair's relations only.

    Examples with fewer than two entities have no pair and give none.
    """
    out = []
    for ex in examples:
        for h, t in candidate_pairs(ex):
            rels = [r for r in ex.relations if (r.head, r.tail) == (h, t)]
            out.append(Example(pair_id(ex.id, h, t), ex.text, ex.entities, tuple(rels),
                               {**ex.extra, "pairs": [[h, t]], PAIR_OF: ex.id}))
    return out
