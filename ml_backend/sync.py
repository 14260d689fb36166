"""Every call the backend makes to Label Studio (label-studio-sdk 2.x ``LabelStudio`` client).

- :func:`pull_tasks`: all tasks of a project with their annotations (the full pull on start and
  on demand; webhooks alone would miss annotations made while the backend was down).
- :func:`push_predictions` + :func:`set_priority_order`: the recipe that makes Label Studio OSS
  serve tasks in our order (../shared notes B.8): one prediction per task with
  ``model_version=V`` and ``score`` = rank key (lowest first), sampling "Uncertainty sampling",
  and ``project.model_version = V`` (``ml.create`` had set it to the backend's *title*).
- :func:`prune_prediction_versions`: each round writes a prediction per unannotated task, so old
  versions would pile up in Label Studio's database (rounds x tasks rows); only our own older
  versions are deleted, a user's other predictions never.
- :func:`fix_webhook_auth`: with basic auth on, the webhook Label Studio creates for the backend
  carries no credentials; we add them.
"""

from __future__ import annotations

import base64
import logging
import re
from datetime import datetime
from typing import Any, Iterable, Mapping

from ml_backend.config import BackendConfig
from ml_backend.request import is_id

log = logging.getLogger(__name__)


def made_from_prediction_unopened(ann: Mapping[str, Any]) -> bool:
    """Whether Label Studio made this annotation from a prediction that nobody opened.

    "Create annotations from predictions" in the Data Manager copies the LLM's prediction into an
    annotation under the clicking user's name: ``parent_prediction`` set and no ``lead_time``. It
    is the LLM's label, not a human one, and would poison the gold pool, which is the demos, the
    reweighting meta set and the stopping rule at once. An annotation submitted in the labeling
    editor always has a ``lead_time`` (the seconds the annotator spent), also when the annotator
    accepted the prediction unchanged: that one was reviewed, and is gold.
    """
    return ann.get("parent_prediction") is not None and not ann.get("lead_time")


def newest_annotation(annotations: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The most recently updated of a task's annotations (the higher id on a tie), or None for none.

    ``updated_at`` is compared as a time, not as a string: Label Studio leaves out zero microseconds
    (``10:00:00Z`` is earlier than ``10:00:00.5Z`` but sorts after it). One without a readable time
    counts as the oldest, one without a usable id as id 0, rather than failing the comparison.
    """
    def key(a: Mapping[str, Any]) -> tuple[float, int]:
        try:
            when = datetime.fromisoformat(str(a.get("updated_at"))).timestamp()
        except ValueError:
            when = float("-inf")
        return when, a["id"] if is_id(a.get("id")) else 0

    return max(annotations, key=key, default=None)


def gold_annotation(annotations: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """A task's gold: its newest annotation that a human made (not skipped, not an unopened copy of
    a prediction), or None. A copy made later over a human's labels does not unseat them."""
    return newest_annotation(a for a in annotations
                             if not a.get("was_cancelled") and not made_from_prediction_unopened(a))


class LabelStudioUnavailable(RuntimeError):
    """Label Studio cannot be reached or refuses our token; set LABEL_STUDIO_URL / LABEL_STUDIO_API_KEY."""


def client(config: BackendConfig, access_token: str | None = None, url: str | None = None) -> Any:
    """An SDK client; the configured key wins over the token Label Studio sent with /setup."""
    from label_studio_sdk import LabelStudio

    key = config.label_studio_api_key or access_token
    if not key:
        raise LabelStudioUnavailable("no Label Studio API key: set LABEL_STUDIO_API_KEY (Account & Settings > Access Token)")
    try:
        return LabelStudio(base_url=(url or config.label_studio_url).rstrip("/"), api_key=key, timeout=60)
    except Exception as e:  # the SDK raises ApiError at construction for an expired personal token
        raise LabelStudioUnavailable(f"cannot use the Label Studio API key: {e}") from e


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, Mapping):
        return dict(obj)
    return obj.model_dump() if hasattr(obj, "model_dump") else dict(obj)


def pull_tasks(ls: Any, project_id: int, page_size: int = 500) -> list[dict[str, Any]]:
    """Every task of the project as a plain dict with ``id``, ``data`` and ``annotations``.

    Label Studio unreachable (a wrong ``LABEL_STUDIO_URL`` is the usual Docker mistake) or refusing
    the token raises :class:`LabelStudioUnavailable`: the round then runs on what webhooks recorded
    instead of failing outright, and the job record says what to fix.
    """
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    out: list[dict[str, Any]] = []
    try:
        # page by page, stopping at the project's total: the SDK's own iterator asks for one page past the
        # last, which Label Studio answers 404 with an ERROR and a traceback in its log every round
        page = 1
        while True:
            pager = ls.tasks.list(project=int(project_id), fields="all", page=page, page_size=page_size)
            items = list(pager.items or [])
            for t in items:
                d = _plain(t)
                d["annotations"] = [_plain(a) for a in d.get("annotations") or []]
                out.append(d)
            total = getattr(pager.response, "total", None)
            if len(items) < page_size or (isinstance(total, int) and len(out) >= total):
                break
            page += 1
    except httpx.HTTPError as e:
        raise LabelStudioUnavailable(f"cannot reach Label Studio ({type(e).__name__}: {e}); "
                                     "check LABEL_STUDIO_URL") from e
    except ApiError as e:
        raise LabelStudioUnavailable(f"Label Studio refused to list the tasks of project {project_id} "
                                     f"(HTTP {e.status_code}); check LABEL_STUDIO_API_KEY and that the project still exists") from e
    return out


def push_predictions(ls: Any, project_id: int, predictions: Iterable[Mapping[str, Any]], chunk: int = 500) -> int:
    """Create predictions in bulk (``{task, result, score, model_version}`` each); returns how many."""
    items = [dict(p) for p in predictions]
    for i in range(0, len(items), chunk):
        ls.projects.import_predictions(id=int(project_id), request=items[i : i + chunk])
    return len(items)


def set_priority_order(ls: Any, project_id: int, version: str) -> None:
    """Serve tasks by ascending prediction score of ``version`` (Label All Tasks follows it)."""
    ls.projects.update(id=int(project_id), sampling="Uncertainty sampling", model_version=version)


def _model_versions(ls: Any, project_id: int) -> dict[str, int]:
    """``{version: prediction count}`` of the project (``GET /api/projects/<id>/model-versions/``, which the SDK
    2.x does not wrap; its authenticated client handles personal-token refresh)."""
    r = ls._client_wrapper.httpx_client.request(f"api/projects/{int(project_id)}/model-versions/", method="GET")
    r.raise_for_status()
    return {str(v): int(n or 0) for v, n in (r.json() or {}).items()}


def _delete_version(ls: Any, project_id: int, version: str) -> None:
    """Every prediction of ``version`` in one request, instead of one per prediction."""
    r = ls._client_wrapper.httpx_client.request(f"api/projects/{int(project_id)}/model-versions/", method="DELETE",
                                                json={"model_version": version})
    r.raise_for_status()


def clear_version(ls: Any, project_id: int, version: str) -> int:
    """Delete the project's predictions of ``version`` before a round writes it; returns how many there were.

    Only a crashed attempt of the same round leaves any: pushed again on top, every task would hold two
    predictions of one version with different scores (Label Studio's queue order and its prediction
    list both read them). One GET per round; a DELETE only when the version is there.
    """
    count = _model_versions(ls, project_id).get(version, 0)
    if count:
        _delete_version(ls, project_id, version)
        log.info("project %s: deleted %d predictions of %s left by an interrupted round", project_id, count, version)
    return count


def prune_prediction_versions(ls: Any, project_id: int, prefix: str, current: int, keep: int) -> dict[str, int]:
    """Delete the predictions of our versions ``<prefix>-<n>`` with ``n <= current - keep``; returns {version: count}.

    ``keep=2`` leaves the previous version for annotators who opened a task before the push. Versions
    that are not ours (another model, an import) do not match the pattern and stay.
    """
    if keep < 1:
        return {}
    ours = re.compile(rf"{re.escape(prefix)}-(\d+)")
    deleted: dict[str, int] = {}
    for version, count in _model_versions(ls, project_id).items():
        m = ours.fullmatch(version)
        if m and int(m.group(1)) <= current - keep:
            _delete_version(ls, project_id, version)
            deleted[version] = count
    if deleted:
        log.info("project %s: deleted old prediction versions %s", project_id, deleted)
    return deleted


def fix_webhook_auth(ls: Any, project_id: int, user: str, password: str) -> int:
    """Add basic-auth headers to the project's webhooks that point at our ``/webhook``; returns how many."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    fixed = 0
    for hook in ls.webhooks.list(project=str(project_id)):
        h = _plain(hook)
        headers = dict(h.get("headers") or {})
        if not str(h.get("url", "")).rstrip("/").endswith("/webhook") or headers.get("Authorization"):
            continue
        headers["Authorization"] = f"Basic {token}"
        ls.webhooks.update(id=h["id"], url=h["url"], headers=headers)
        fixed += 1
    if fixed:
        log.info("project %s: added basic-auth headers to %d webhook(s)", project_id, fixed)
    return fixed
