"""Checks and small helpers shared by the foreign-format converters (``formats``, ``token_formats``): the
wording of their errors ("example 'x' looks like doccano ..., but ...") is one phrase everywhere."""

from __future__ import annotations

from typing import Any, Mapping

from llmaaa.data.schema import SchemaError


def context(name: str, ex_id: Any) -> str:
    return f"example {ex_id!r} looks like {name}, but"


def is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def listed(record: Mapping[str, Any], key: str, ctx: str) -> list[Any]:
    items = record.get(key) or []
    if not isinstance(items, list):
        raise SchemaError(f"{ctx} {key!r} is not a list")
    return items


def no_relations(record: Mapping[str, Any], name: str, ex_id: Any) -> None:
    """A format without relations: relations given beside it would point at entities by a guess."""
    if record.get("relations"):
        raise SchemaError(f"{context(name, ex_id)} it has 'relations', which {name.split(' (')[0]} files do not "
                          "have; write the record in llmaaa's schema to give relations by entity index")


def without(record: Mapping[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in keys}
