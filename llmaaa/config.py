"""Typed configs with environment overrides, in one place.

Every component keeps its own ``@dataclass`` of options next to its code; this module is the one
mechanism that fills such a dataclass from defaults, then environment variables, then explicit
overrides (CLI flags). No other module reads ``os.environ`` for options.

``from_env(LLMConfig, prefix="LLM_")`` reads ``LLM_BASE_URL`` for field ``base_url``; a field may
name extra variables to fall back on with ``field(metadata={"env": ("OPENAI_API_KEY",)})``.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from typing import Any, Mapping, TypeVar

T = TypeVar("T")


class ConfigError(ValueError):
    """An option value that cannot be parsed into its declared type."""


def _parse(raw: str, tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        if raw == "" or raw.lower() == "none":
            return None
        return _parse(raw, non_none[0], name)
    if tp is bool:
        low = raw.strip().lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off", ""):
            return False
        raise ConfigError(f"{name}={raw!r}: expected true/false")
    if tp in (int, float, str):
        try:
            return tp(raw)
        except ValueError as e:
            raise ConfigError(f"{name}={raw!r}: expected {tp.__name__}") from e
    if origin in (tuple, list):
        items = [s.strip() for s in raw.split(",") if s.strip()]
        inner = args[0] if args else str
        parsed = [_parse(s, inner, name) for s in items]
        return tuple(parsed) if origin is tuple else parsed
    return raw


def from_env(
    cls: type[T],
    prefix: str = "",
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build ``cls`` from its defaults, then ``PREFIX`` + FIELD_NAME env vars, then ``overrides``.

    ``overrides`` entries that are ``None`` are ignored, so argparse namespaces with unset flags
    can be passed straight through.
    """
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if not f.init:
            continue
        names = (prefix + f.name.upper(), *f.metadata.get("env", ()))
        for var in names:
            if var in env:
                values[f.name] = _parse(env[var], hints[f.name], var)
                break
    for k, v in (overrides or {}).items():
        if v is not None and k in {f.name for f in dataclasses.fields(cls)}:  # type: ignore[arg-type]
            values[k] = v
    return cls(**values)
