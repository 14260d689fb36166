"""The ``python -m llmaaa`` sub-commands, one module per concept (see ``llmaaa.cli``)."""

from __future__ import annotations

import argparse


def count(minimum: int):
    """An argparse type: an integer of at least ``minimum`` (``--seeds 0`` would run nothing and say nothing)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse
