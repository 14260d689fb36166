"""``python -m llmaaa <command>``: one sub-command module per concept under ``llmaaa.commands``.

Each module in ``COMMAND_MODULES`` exposes ``register(subparsers)`` that adds its parsers and sets
``func`` (a callable taking the parsed namespace and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sqlite3
import sys
from pathlib import Path

COMMAND_MODULES = (
    "llmaaa.commands.data",  # convert, evaluate
    "llmaaa.commands.annotate",  # annotate
    "llmaaa.commands.student",  # train, predict, corrupt
    "llmaaa.commands.loop",  # simulate
)


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m llmaaa", description=__doc__.splitlines()[0])
    parser.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS, help="logging level")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue
        module.register(sub)
    return parser


# (input option, output option) pairs a command reads and writes: the same file for both would be
# overwritten with the command's output (the user's gold labels replaced by an LLM's, or by noise)
_IN_OUT = (("input", "output"), ("train", "output"), ("gold", "output"), ("pred", "output"))


def _same_file(args: argparse.Namespace) -> str | None:
    for src, dst in _IN_OUT:
        a, b = getattr(args, src, None), getattr(args, dst, None)
        if a and b and Path(str(a)).resolve() == Path(str(b)).resolve():
            return f"--{dst} is the same file as --{src} ({a}): it would be overwritten; write to another file"
    return None


def main(argv: list[str] | None = None) -> int:
    """Run one command; a user's mistake is one ``error:`` line and exit status 2, never a traceback."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    problem = _same_file(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except (OSError, sqlite3.DatabaseError) as e:  # a folder for a file, a file for a folder, not an SQLite cache
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
