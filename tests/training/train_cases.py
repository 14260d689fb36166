"""Tiny hand-made NER data the student can fit in a few epochs."""

from llmaaa.data.schema import Example, LabelSet, Span

LABELS = LabelSet(("PER", "LOC"))

_RAW = [
    ("Anna lives in Paris.", [("Anna", "PER"), ("Paris", "LOC")]),
    ("Bob moved to Berlin.", [("Bob", "PER"), ("Berlin", "LOC")]),
    ("Carla visited Rome.", [("Carla", "PER"), ("Rome", "LOC")]),
    ("David flew to Madrid.", [("David", "PER"), ("Madrid", "LOC")]),
    ("Emma works in London.", [("Emma", "PER"), ("London", "LOC")]),
    ("Frank stayed in Vienna.", [("Frank", "PER"), ("Vienna", "LOC")]),
    ("李明住在北京。", [("李明", "PER"), ("北京", "LOC")]),
    ("王芳去了上海。", [("王芳", "PER"), ("上海", "LOC")]),
]


def example(i, text, ents, prefix="t"):
    spans = []
    for mention, label in ents:
        s = text.index(mention)
        spans.append(Span(s, s + len(mention), label))
    return Example(f"{prefix}{i}", text, tuple(spans))


TRAIN = [example(i, t, e) for i, (t, e) in enumerate(_RAW)]
GOLD = [example(i, t, e, "g") for i, (t, e) in enumerate(_RAW[:4])]
