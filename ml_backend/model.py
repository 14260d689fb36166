"""The backend in the familiar label-studio-ml shape: ``setup`` / ``predict`` / ``fit``.

Unlike upstream (a new model instance per request, training inline in the webhook), one
:class:`LLMaAABackend` lives for the whole process: per-project state and the current student are
loaded once, ``predict`` answers from stored predictions, and ``fit`` only records the annotation
and queues a round for the background :class:`~ml_backend.jobs.JobRunner`.

What ``/predict`` does for a task with no stored prediction (``PREDICT_ON_DEMAND``):
``student`` (default) runs the current student when one exists, else returns no prediction for
that task; ``llm`` asks the teacher for at most ``PREDICT_LLM_MAX_TASKS`` tasks per request (the
rest get none); ``none`` never computes on demand. Either way the answer has one element per task.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Mapping


from ml_backend.config import BackendConfig
from ml_backend.engine import Engine, Students, load_students
from ml_backend.jobs import JobRunner
from ml_backend.labeling import LabelingSchema, SchemaCache, UnsupportedConfig
from ml_backend.results import TaskError, pool_example, prediction_for, task_text, unicode_problem
from ml_backend.state import ProjectState
from ml_backend import sync

log = logging.getLogger(__name__)

TRAIN_EVENTS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                "START_TRAINING")


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
    if not head.isdigit() or not is_id(int(head)):
        raise RequestError(f"project {value!r} is not a Label Studio project id")
    return str(int(head))


class ProjectContext:
    """Everything the backend keeps for one project: state, parsed config, engine, current student."""

    def __init__(self, backend: "LLMaAABackend", project_id: str) -> None:
        self.backend = backend
        self.config = backend.config
        self.state = ProjectState(self.config.root, project_id)
        self.access_token: str | None = None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._students: tuple[str, Students] | None = None
        self._xml: str | None = None  # the stored label config, read once (use_config is its only writer)

    @property
    def label_config(self) -> str | None:
        if self._xml is None:
            self._xml = self.state.get_meta("label_config")
        return self._xml

    @property
    def schema(self) -> LabelingSchema:
        xml = self.label_config
        if not xml:
            raise RequestError(f"project {self.state.project_id} has not been set up: Label Studio sends its config to /setup")
        return self.backend.schemas.get(xml)

    def interface(self) -> Any:
        return self.backend.schemas.interface(self.label_config or "")

    def use_config(self, xml: str) -> LabelingSchema:
        schema = self.backend.schemas.get(xml)
        if xml != self.label_config:  # an in-memory compare: /predict sends the XML with every batch
            with self._lock:
                self.state.set_meta("label_config", xml)
                self._xml = xml
                self._engine = None
        return schema

    @property
    def engine(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = Engine(self.config, self.schema, self.state.dir)
            return self._engine

    def client(self) -> Any:
        return sync.client(self.config, self.access_token)

    def students(self) -> Students | None:
        """The current student (loaded once per version; None before the first trained round)."""
        version = self.state.get_meta("student_version")
        if version is None:
            return None
        with self._lock:
            if self._students is None or self._students[0] != version:
                path = self.state.model_path(version)
                if not path.exists():
                    return None
                self._students = (version, load_students(path))
            return self._students[1]

    def set_students(self, version: str, students: Students) -> None:
        with self._lock:
            self._students = (version, students)


class LLMaAABackend:
    """Process-wide: one context per project, one job thread."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config.validate()
        self.schemas = SchemaCache()
        self._contexts: dict[str, ProjectContext] = {}
        self._lock = threading.Lock()
        self.runner = JobRunner(self)
        config.root.mkdir(parents=True, exist_ok=True)
        for db in sorted(config.root.glob("*/state.db")):  # resume: queued and interrupted jobs run again
            if db.parent.name.isdigit():
                self.context(db.parent.name).state.recover()
        if any(c.state.jobs(1) and c.state.jobs(1)[0]["status"] == "queued" for c in self.contexts()):
            self.runner.wake()

    def contexts(self) -> list[ProjectContext]:
        with self._lock:
            return list(self._contexts.values())

    def context(self, project_id: str) -> ProjectContext:
        with self._lock:
            ctx = self._contexts.get(project_id)
            if ctx is None:
                ctx = self._contexts[project_id] = ProjectContext(self, project_id)
            return ctx

    def queue_round(self, ctx: ProjectContext, reason: str) -> int:
        job = ctx.state.add_job("round", reason)
        self.runner.wake()
        return job

    # -- setup -----------------------------------------------------------------------------------
    def setup(self, body: Mapping[str, Any]) -> dict[str, Any]:
        ctx = self.context(project_id_of(body.get("project")))
        try:
            ctx.use_config(body.get("schema") or body.get("label_config") or "")
        except UnsupportedConfig as e:
            raise RequestError(str(e)) from e
        if body.get("access_token"):
            ctx.access_token = str(body["access_token"])
        if ctx.state.current_version is None and not ctx.state.jobs(1):
            self.queue_round(ctx, "cold start: first LLM batch")  # connecting the backend starts the loop
        return {"model_version": ctx.state.current_version or f"{self.config.model_version_prefix}-0"}

    # -- predict ---------------------------------------------------------------------------------
    def predict(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        """One element per task, in order (see ``predict_json`` for the served form)."""
        return [json.loads(o) if isinstance(o, str) else o for o in self._predict(body)]

    def predict_json(self, body: Mapping[str, Any]) -> str:
        """The ``/predict`` response body: stored predictions go out as the JSON written with them.

        They were validated against the config when the round wrote them, so the read path neither
        parses nor re-serialises them (one SQLite read per request).
        """
        parts = [o if isinstance(o, str) else json.dumps(o, ensure_ascii=False) for o in self._predict(body)]
        return '{"results":[' + ",".join(parts) + "]}"

    def _predict(self, body: Mapping[str, Any]) -> list[dict[str, Any] | str]:
        tasks = body.get("tasks")
        if not isinstance(tasks, list):
            raise RequestError("'tasks' must be a list of Label Studio tasks")
        ctx = self.context(project_id_of(body.get("project") or _first_project(tasks)))
        xml = body.get("label_config")
        try:
            schema = ctx.use_config(xml) if xml else ctx.schema
        except UnsupportedConfig as e:
            raise RequestError(str(e)) from e
        out: list[dict[str, Any] | str | None] = [None] * len(tasks)
        seen, todo = [], []
        for i, task in enumerate(tasks):
            try:
                if not isinstance(task, Mapping) or not is_id(task.get("id")):
                    raise TaskError("task has no integer 'id'")
                text = task_text(task, schema)
                seen.append((task["id"], text, task.get("data")))
                todo.append((i, task["id"], text, task.get("data")))
            except TaskError as e:
                log.warning("predict: task %d of the batch: %s", i, e)
                out[i] = {"error": str(e)}
        stored = ctx.state.prediction_json_for({tid: text for _, tid, text, _ in todo})
        missing = []
        for i, tid, text, data in todo:
            if tid in stored:
                out[i] = stored[tid]
            else:
                missing.append((i, tid, text, data))
        # a task with a stored prediction is known: no write; the rest (new or edited) before their on-demand
        # predictions are stored, since recording an edited text drops the task's old prediction
        seen = [row for row in seen if row[0] not in stored]
        if seen:
            ctx.state.upsert_tasks(seen)
        if missing:
            for i, body_ in self._on_demand(ctx, schema, missing).items():
                out[i] = body_
        return [o if o is not None else {"detail": "no prediction yet for this task (no stored prediction, no student)"} for o in out]

    def _on_demand(self, ctx: ProjectContext, schema: LabelingSchema, missing: list[tuple[int, int, str, Any]]) -> dict[int, dict]:
        mode = self.config.predict_on_demand
        if mode == "llm" and ctx.state.llm_paused() and ctx.students() is not None:
            mode = "student"  # STOP_AFTER_MATCHED: the student has caught up, on-demand calls stop too
        limit = self.config.max_text_chars
        ok = [(i, pool_example(t, x, d, schema)) for i, t, x, d in missing if len(x) <= limit and x.strip()]
        kept = {i for i, _ in ok}
        out: dict[int, dict] = {i: {"error": f"text is empty or longer than {limit} chars (MAX_TEXT_CHARS)"}
                                for i, *_ in missing if i not in kept}
        version = ctx.state.current_version or f"{self.config.model_version_prefix}-0"
        try:
            if mode == "student" and (students := ctx.students()) is not None:
                preds = students.predict([ex for _, ex in ok])
                source = "student"
            elif mode == "llm" and ok:
                ok = ok[: self.config.predict_llm_max_tasks]
                preds = ctx.engine.annotate([ex for _, ex in ok], None)  # the demos the teacher already has
                source = "llm"
            else:
                return out
        except Exception as e:  # a dead LLM or a broken model: per-task errors, never a 500
            log.error("predict on demand failed for project %s: %s", ctx.state.project_id, e)
            out.update({i: {"error": f"prediction failed: {type(e).__name__}: {e}"[:300]} for i, _ in ok})
            return out
        li = ctx.interface()
        rows = []
        for (i, _), ex in zip(ok, preds):
            if ex.failed:
                out[i] = {"error": str(ex.annotation.get("error"))[:300]}
                continue
            body = prediction_for(ex, schema, li, version=version)
            out[i] = body
            rows.append((int(ex.id), version, source, body["score"], body))
        ctx.state.save_predictions(rows)
        return out

    # -- fit (webhooks) -----------------------------------------------------------------------------
    def fit(self, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Record the event, queue a round when due; returns at once (Label Studio waits <= 1 s)."""
        if event == "TASKS_CREATED" and payload.get("project") is not None:
            # tasks imported after the backend was connected: the cold-start round had nothing to label yet
            ctx = self.context(project_id_of(payload.get("project")))
            if ctx.state.current_version is None and ctx.label_config:
                return {"status": "ok", "job": self.queue_round(ctx, "tasks imported before the first round")}
            return {"status": "Unknown event"}
        if event == "TASKS_DELETED":
            return self._tasks_deleted(payload)
        if event == "PROJECT_UPDATED":
            return self._project_updated(payload)
        if event not in TRAIN_EVENTS:
            return {"status": "Unknown event"}
        if event == "ANNOTATIONS_DELETED" and payload.get("project") is None:
            # turning an annotation into a draft sends no project (and no ids: they are gone when Label Studio
            # serialises them); annotation ids are global there, so every project we serve is asked
            ids = _ids(payload.get("annotations"))
            for ctx in self.contexts():
                ctx.state.delete_annotations(ids)
            return {"status": "ok", "annotations_deleted": len(ids)}
        ctx = self.context(project_id_of(payload.get("project")))
        project = payload.get("project")
        if isinstance(project, Mapping) and project.get("label_config"):
            try:
                ctx.use_config(project["label_config"])
            except UnsupportedConfig:
                pass  # still record the annotation: it is never lost
        if event == "START_TRAINING":
            return {"status": "ok", "job": self.queue_round(ctx, "START_TRAINING")}
        extra: dict[str, Any] = {}
        if event == "ANNOTATIONS_DELETED":
            sent = payload.get("annotations")
            ids = _ids(sent)
            extra = {"annotations_deleted": ctx.state.delete_annotations(ids)}
            n_sent = len(sent) if isinstance(sent, list) else int(sent is not None)
            if n_sent > len(ids):  # named in the answer: a deleted annotation must not stay gold unseen
                extra["ignored"] = f"{n_sent - len(ids)} item(s) without an annotation id (send [{{\"id\": 12}}, ...])"
        elif event == "ANNOTATIONS_CREATED":
            extra = _record_bulk(ctx, event, payload)
        else:
            extra = _record(ctx, event, payload.get("annotation"), payload.get("task"))
        due = ctx.state.new_human_labels()
        job = None
        if due >= self.config.train_threshold:
            job = self.queue_round(ctx, f"{due} new human labels (TRAIN_THRESHOLD={self.config.train_threshold})")
        return {"status": "ok", "new_human_labels": due, "job": job, **extra}

    def _project_updated(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """A config edited in Label Studio is used from now on, not only from the next /setup or /predict.

        A config the backend cannot serve is kept out (the old one stays) and named in the answer: the
        event itself is not an error, and Label Studio ignores webhook answers anyway.
        """
        project = payload.get("project")
        xml = project.get("label_config") if isinstance(project, Mapping) else None
        if not isinstance(xml, str) or not xml.strip():
            return {"status": "Unknown event"}
        ctx = self.context(project_id_of(project))
        if xml == ctx.label_config:
            return {"status": "ok", "label_config": "unchanged"}
        try:
            ctx.use_config(xml)
        except UnsupportedConfig as e:
            log.warning("project %s: the updated label config is not served: %s", ctx.state.project_id, e)
            return {"status": "ok", "label_config": "not served", "error": str(e)}
        return {"status": "ok", "label_config": "updated"}

    def _tasks_deleted(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Forget tasks deleted in Label Studio, so that no round labels or pushes predictions for them.

        "Delete all tasks" through the API sends no ``project``; task ids are global in Label Studio,
        so every project we serve is asked.
        """
        ids = _ids(payload.get("tasks"))
        project = payload.get("project")
        contexts = [self.context(project_id_of(project))] if project is not None else self.contexts()
        return {"status": "ok", "tasks_deleted": sum(ctx.state.delete_tasks(ids) for ctx in contexts)}

    def metrics(self) -> dict[str, Any]:
        return {
            "config": self.config.public(),
            "running": self.runner.running,
            "projects": {c.state.project_id: c.state.summary() for c in self.contexts()},
        }


def _ids(items: Any) -> list[int]:
    """The ids of a delete event's ``[{"id": ...}]`` list (Label Studio's ``OnlyIDWebhookSerializer``); a
    script's ``[12, "13"]`` or ``{"id": 12}`` is read too, so a deleted annotation never stays gold unseen."""
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list):
        return []
    out = []
    for d in items:
        value = d.get("id") if isinstance(d, Mapping) else d
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if is_id(value):
            out.append(value)
    return out


# what a created or updated annotation is to the backend
GOLD, CANCELLED, UNREVIEWED = "gold", "cancelled", "unreviewed"


def _annotation_row(ctx: ProjectContext, event: str, ann: Any, task: Any) -> tuple[str, tuple]:
    """``(GOLD, (annotation id, task id, result, text, data))``; ``(CANCELLED, (id,))`` for a skipped one;
    ``(UNREVIEWED, (id, task id))`` for one made from a prediction nobody opened. A malformed one is a
    ``RequestError``."""
    if not isinstance(ann, Mapping) or not is_id(ann.get("id")):
        raise RequestError(f"{event} without an 'annotation' object with an integer 'id'")
    task = task if isinstance(task, Mapping) else {"id": ann.get("task")}
    if not is_id(task.get("id")):
        raise RequestError(f"{event} without the annotated task's id")
    if ann.get("was_cancelled"):
        return CANCELLED, (ann["id"],)
    if ann.get("result") is not None and not isinstance(ann["result"], list):
        raise RequestError(f"{event}: annotation {ann['id']} has a 'result' that is not a list of regions")
    if sync.made_from_prediction_unopened(ann):
        return UNREVIEWED, (ann["id"], task["id"])
    text = _text_of(task, ctx)
    problem = unicode_problem(text) if text is not None else None
    if problem:
        raise RequestError(f"{event}: annotation {ann['id']}: {problem}")
    return GOLD, (ann["id"], task["id"], ann.get("result") or [], text, task.get("data") if text is not None else None)


def _store(ctx: ProjectContext, rows: Mapping[str, list[tuple]]) -> None:
    """Record classified annotations in one commit: gold, unreviewed, and cancelled ("skipped") ones forgotten."""
    with ctx.state.transaction():
        ctx.state.record_annotations(rows.get(GOLD, []))
        if rows.get(UNREVIEWED):
            ctx.state.record_unreviewed(rows[UNREVIEWED])
        if rows.get(CANCELLED):
            ctx.state.delete_annotations([i for (i,) in rows[CANCELLED]])


def _record(ctx: ProjectContext, event: str, ann: Any, task: Any) -> dict[str, Any]:
    """Record one created or updated annotation (see ``_annotation_row``)."""
    kind, row = _annotation_row(ctx, event, ann, task)
    _store(ctx, {kind: [row]})
    return {"unreviewed": 1} if kind == UNREVIEWED else {}


def _record_bulk(ctx: ProjectContext, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    """ANNOTATIONS_CREATED ("Create annotations from predictions" in the Data Manager, or an import): lists of
    annotations and of their tasks, up to 5,000 at once with Label Studio waiting 1 s: one batched commit, and
    one malformed item does not cost the others (they are named in the answer; all malformed is a 400).
    Annotations copied from predictions nobody opened are counted as ``unreviewed``, not gold."""
    anns, tasks = payload.get("annotation"), payload.get("task")
    if not isinstance(anns, list):
        raise RequestError(f"{event} without an 'annotation' list")
    by_id = {t["id"]: t for t in tasks if isinstance(t, Mapping) and is_id(t.get("id"))} \
        if isinstance(tasks, list) else {}
    rows: dict[str, list[tuple]] = {GOLD: [], CANCELLED: [], UNREVIEWED: []}
    errors = []
    for ann in anns:
        task_id = ann.get("task") if isinstance(ann, Mapping) else None
        try:
            kind, row = _annotation_row(ctx, event, ann, by_id.get(task_id) if is_id(task_id) else None)
        except RequestError as e:
            errors.append(str(e))
            continue
        rows[kind].append(row)
    _store(ctx, rows)
    extra: dict[str, Any] = {"unreviewed": len(rows[UNREVIEWED])} if rows[UNREVIEWED] else {}
    if rows[UNREVIEWED]:
        log.info("project %s: %d annotations made from predictions nobody opened: counted, not used as gold",
                 ctx.state.project_id, len(rows[UNREVIEWED]))
    if not errors:
        return extra
    log.warning("project %s: %d of %d annotations in %s not recorded: %s", ctx.state.project_id,
                len(errors), len(anns), event, errors[0])
    if len(errors) == len(anns):
        raise RequestError(errors[0])
    return {**extra, "errors": errors[:10]}


def _first_project(tasks: list[Any]) -> Any:
    return next((t.get("project") for t in tasks if isinstance(t, Mapping) and t.get("project") is not None), None)


def _text_of(task: Mapping[str, Any], ctx: ProjectContext) -> str | None:
    data = task.get("data")
    if not isinstance(data, Mapping):
        return None
    try:
        key = ctx.schema.value_key
    except (RequestError, UnsupportedConfig):
        key = next((k for k, v in data.items() if isinstance(v, str)), None)
    value = data.get(key) if key else None
    return value if isinstance(value, str) else None
