"""What a request must name for the backend to act on it, and the error when it does not.

Below both :mod:`ml_backend.model` and :mod:`ml_backend.annotations`, so that the webhook recording
can raise and catch :class:`RequestError` without importing the backend object (an import cycle).
``ml_backend.model`` re-exports all three names.
"""

from __future__ import annotations

from typing import Any, Mapping


class RequestError(ValueError):
    """A request the backend cannot act on (HTTP 400); the message says what to send instead."""


def is_id(value: Any) -> bool:
    """A Label Studio object id: an int that fits SQLite's INTEGER (a bool or a 2**70 is a bad request, not a 500)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def project_id_of(value: Any) -> str:
    """Label Studio sends ``"<id>.<created timestamp>"`` to /setup and /predict, a project dict to /webhook."""
    if isinstance(value, Mapping):
        value = value.get("id")
    if isinstance(value, bool) or value is None:
        raise RequestError("the request names no project: send 'project' as '<id>.<timestamp>' or an object with 'id'")
    head = str(value).split(".", 1)[0].strip()
    if not head.isdecimal() or not is_id(int(head)):
        raise RequestError(f"project {value!r} is not a Label Studio project id")
    return str(int(head))
