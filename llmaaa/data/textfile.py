"""Reading a user's text file line by line with errors that name the file and line.

Why not ``open(encoding="utf-8")``: a Latin-1 or UTF-16 file then fails with a bare
``UnicodeDecodeError`` (no file, and a byte position in a decode buffer rather than a line), and
a folder passed as ``--input`` with ``IsADirectoryError``. Reading bytes and decoding each line
gives the exact line, and lines are split on ``\\n`` only, so a U+2028 inside a JSON string or a
``\\r`` before ``\\n`` (a Windows file) never cuts a line in two.
"""

from __future__ import annotations

import codecs
import io
from pathlib import Path
from typing import Iterable, Iterator


def iter_lines(path: str | Path, error: type[Exception]) -> Iterator[tuple[int, str]]:
    """``(line number, line)`` of a UTF-8 file (a BOM at a line's start dropped); raise ``error`` naming file and line.

    ``error`` is the caller's own exception type, so each reader keeps the error its callers catch.
    A BOM is dropped at the start of every line, not only the first: ``cat a.conll b.conll`` of two files
    saved by a Windows editor puts one mid-file, where it became part of the first token of ``b``'s
    first line; U+FEFF starts no real line's text.
    """
    path = Path(path)
    if path.is_dir():
        raise error(f"{path} is a folder; pass a file")
    with path.open("rb") as f:
        head = f.read(1 << 16)
        f.seek(0)
        lines: Iterable[bytes] = f
        if b"\r" in head and b"\n" not in head:  # lines ended by "\r" alone, or one long line
            whole = f.read()
            lines = whole.split(b"\r") if b"\n" not in whole else io.BytesIO(whole)
        for lineno, raw in enumerate(lines, 1):
            while raw.startswith(codecs.BOM_UTF8):  # a BOM from a Windows editor is not text
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise error(
                    f"{path}:{lineno}: not UTF-8 text (byte 0x{raw[e.start]:02x} at column {e.start + 1}); "
                    "re-save the file as UTF-8"
                ) from None
