"""Examples, label sets, readers and writers."""

from llmaaa.data.schema import NO_RELATION, Example, LabelSet, Relation, SchemaError, Span

__all__ = ["NO_RELATION", "Example", "LabelSet", "Relation", "SchemaError", "Span"]
