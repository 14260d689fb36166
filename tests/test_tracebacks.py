"""``traceback_text``: the error paths' log text, which must not raise where formatting a traceback does."""

import traceback

from llmaaa.tracebacks import traceback_text


def _raised() -> ValueError:
    try:
        raise ValueError("bad span 3..1")
    except ValueError as e:
        return e


def test_the_full_traceback_when_formatting_works():
    text = traceback_text(_raised())
    assert text.startswith("Traceback (most recent call last):")
    assert 'raise ValueError("bad span 3..1")' in text
    assert text.rstrip().endswith("ValueError: bad span 3..1")


def test_a_one_line_summary_when_formatting_the_traceback_raises(monkeypatch):
    def broken(*args, **kwargs):  # what CPython 3.11.7 did in a worker thread
        raise SystemError("AST constructor recursion depth mismatch (before=57, after=52)")

    monkeypatch.setattr(traceback, "format_exception", broken)
    assert traceback_text(_raised()) == ("ValueError: bad span 3..1 "
                                         "(no traceback: formatting it failed with SystemError)")
