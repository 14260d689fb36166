"""Hand-made examples shared by the student tests."""

from llmaaa.data.schema import Example, LabelSet, Span

LABELS = LabelSet(("PER", "LOC"))


def ex(id_, text, *ents):
    """An example from (mention, label) pairs located by their first occurrence in the text."""
    spans = []
    for mention, label in ents:
        start = text.index(mention)
        spans.append(Span(start, start + len(mention), label))
    return Example(id_, text, tuple(spans))


