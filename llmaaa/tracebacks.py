"""Traceback text that cannot itself raise.

CPython 3.11 parses each source line of a traceback to place its ``^^^`` markers, and that parse can
raise (``SystemError: AST constructor recursion depth mismatch``, seen here in worker threads on
3.11.7). ``log.exception`` formats through the same code, so in an ``except`` block it can turn a
handled error into a new one: a job thread that dies, a batch of LLM labels lost for one parser bug.
Error paths therefore log ``traceback_text(e)`` with ``log.error``.
"""

from __future__ import annotations

import traceback


def traceback_text(e: BaseException) -> str:
    """``e``'s traceback, or its one-line summary when formatting the traceback fails."""
    try:
        return "".join(traceback.format_exception(e))
    except Exception as fmt_error:
        return f"{type(e).__name__}: {e} (no traceback: formatting it failed with {type(fmt_error).__name__})"
