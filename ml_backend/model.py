"""The backend in the familiar label-studio-ml shape: ``setup`` / ``predict`` / ``fit``.

Unlike upstream (a new model instance per request, training inline in the webhook), one
:class:`LLMaAABackend` lives for the whole process: per-project state and the current student are
loaded once, ``predict`` answers from stored predictions, and ``fit`` only records the annotation
and queues a round for the background :class:`~ml_backend.runner.JobRunner`; how an annotation
is recorded (gold, unreviewed or skipped) is :mod:`ml_backend.annotations`.

What ``/predict`` does for a task with no stored prediction (``PREDICT_ON_DEMAND``) is
:mod:`ml_backend.on_demand`.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Mapping, Sequence

from ml_backend.annotations import ids_of, record, record_bulk
from ml_backend.config import BackendConfig
from ml_backend.engine import Engine, Students, load_students
from ml_backend.export import clear_export_debris
from ml_backend.runner import JobRunner
from ml_backend.labeling import LabelingSchema, SchemaCache, UnsupportedConfig
from ml_backend.request import RequestError, is_id, project_id_of  # app, report, export import them from here
from ml_backend.model_dir_lock import lock_model_dir
from ml_backend.on_demand import OnDemandPredictions
from ml_backend.results import TaskError, task_text
from ml_backend.state import ProjectState, StateError
from ml_backend.task_keys import given_keys_of
from ml_backend import sync

log = logging.getLogger(__name__)

TRAIN_EVENTS = ("ANNOTATION_CREATED", "ANNOTATIONS_CREATED", "ANNOTATION_UPDATED", "ANNOTATIONS_DELETED",
                "START_TRAINING")


class ProjectContext:
    """Everything the backend keeps for one project: state, parsed config, engine, current student."""

    def __init__(self, backend: "LLMaAABackend", project_id: str) -> None:
        self.backend = backend
        self.config = backend.config
        self.state = ProjectState(self.config.root, project_id, given_keys=self._given_keys)
        if gone := clear_export_debris(self.state.dir):
            log.warning("project %s: removed %d export folder(s) a killed process left: %s", project_id, len(gone), gone)
        self.access_token: str | None = None
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self._students: tuple[str, Students] | None = None
        self._xml: str | None = None  # the stored label config, read once (use_config is its only writer)
        self._unserved: str | None = None  # ``unserved``, read once

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

    def _given_keys(self, tasks: Sequence[tuple[str, Any]]) -> list[str | None]:
        """The state's ``given_keys``: each ``(text, data)`` task's given entities and pairs as the current config
        reads them (asked when the LLM labels are, never stored: a config edit reads them anew); None (unknown)
        before a config is known."""
        try:
            schema = self.schema
        except (RequestError, UnsupportedConfig):
            return [None] * len(tasks)
        return given_keys_of(tasks, schema)

    @property
    def unserved(self) -> str | None:
        """Why the project's latest config is not served, when Label Studio sent one the backend refused
        (an edit in the project's settings); None once a served one arrives. Rounds wait for that: they would
        write predictions for the old config, whose regions the project no longer has."""
        if self._unserved is None:
            self._unserved = self.state.get_meta("unserved_config") or ""
        return self._unserved or None

    def _set_unserved(self, why: str) -> None:
        """Record why the latest config is refused ("" once one is served), in the state: it outlives a restart."""
        if (self.unserved or "") != why:
            self.state.set_meta("unserved_config", why)
            self._unserved = why

    def use_config(self, xml: str) -> LabelingSchema:
        try:
            schema = self.backend.schemas.get(xml)
        except UnsupportedConfig as e:
            self._set_unserved(str(e))
            raise
        self._set_unserved("")
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


class LLMaAABackend(OnDemandPredictions):
    """Process-wide: one context per project, one job thread."""

    def __init__(self, config: BackendConfig) -> None:
        self.config = config.validate()
        self.schemas = SchemaCache()
        self._contexts: dict[str, ProjectContext] = {}
        self._lock = threading.Lock()
        self.runner = JobRunner(self)
        config.root.mkdir(parents=True, exist_ok=True)
        self._dir_lock: Any = lock_model_dir(config.root, config.lock_wait_s)  # before recover(): see there
        for db in sorted(config.root.glob("*/state.db")):  # resume: queued and interrupted jobs run again
            if db.parent.name.isdecimal():
                try:
                    self.context(db.parent.name).state.recover()
                except StateError as e:  # one broken project must not take the others down
                    log.error("%s", e)
        if any(c.state.jobs(1) and c.state.jobs(1)[0]["status"] == "queued" for c in self.contexts()):
            self.runner.wake()

    def close(self) -> None:
        """Stop the job thread and let another process serve ``MODEL_DIR``."""
        self.runner.stop()
        if self._dir_lock is not None:
            self._dir_lock.close()
            self._dir_lock = None

    def contexts(self) -> list[ProjectContext]:
        with self._lock:
            return list(self._contexts.values())

    def context(self, project_id: str) -> ProjectContext:
        """The project's context; ``StateError`` while its state database cannot be read (tried again each time)."""
        with self._lock:
            ctx = self._contexts.get(project_id)
            if ctx is None:
                ctx = self._contexts[project_id] = ProjectContext(self, project_id)
            return ctx

    def queue_round(self, ctx: ProjectContext, reason: str) -> int | None:
        """Queue a round; None (logged) while the project's latest config is one the backend refused."""
        if (why := ctx.unserved) is not None:
            log.warning("project %s: no round (%s): the project's label config is not served: %s",
                        ctx.state.project_id, reason, why)
            return None
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
        last_job = ctx.state.last_job_status()
        if ctx.state.current_version is None and last_job is None:
            self.queue_round(ctx, "cold start: first LLM batch")  # connecting the backend starts the loop
        elif last_job == "done" and (why := ctx.state.llm_retry_due()):
            # only after a round that ended: not while one is queued or running, nor after one that failed or
            # was given up (a retry would fail the same way; a new annotation or Start Training asks again)
            self.queue_round(ctx, why)  # Label Studio calls /setup before every predict batch: the retry's clock
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
        texts: dict[int, str] = {}
        for i, task in enumerate(tasks):
            try:
                if not isinstance(task, Mapping) or not is_id(task.get("id")):
                    raise TaskError("task has no integer 'id'")
                text = task_text(task, schema)
                if texts.setdefault(task["id"], text) != text:  # one id, two texts: whose spans would it get?
                    raise TaskError(f"task id {task['id']} is repeated in this batch with another text")
                seen.append((task["id"], text, task.get("data")))
                todo.append((i, task["id"], text, task.get("data")))
            except TaskError as e:
                log.warning("predict: task %d of the batch: %s", i, e)
                out[i] = {"error": str(e)}
        config = schema.config_hash
        # with PREDICT_ON_DEMAND=llm a cold start's empty queue places are asked for, not served as predictions
        placeholders = ("none",) if self.config.predict_on_demand == "llm" else ()
        stored = ctx.state.prediction_json_for({tid: text for _, tid, text, _ in todo}, config,
                                               skip_sources=placeholders, data={tid: data for _, tid, _, data in todo})
        missing = []
        for i, tid, text, data in todo:
            if tid in stored:
                out[i] = stored[tid]
            else:
                missing.append((i, tid, text, data))
        # a task with a stored prediction is known: no write; the rest (new or edited) before their on-demand
        # predictions are stored, since recording an edited text, entity or pair drops the task's old prediction
        seen = [row for row in seen if row[0] not in stored]
        if seen:
            ctx.state.upsert_tasks(seen)
        if missing:
            for i, body_ in self._on_demand(ctx, schema, missing, config).items():
                out[i] = body_
        return [o if o is not None else {"detail": "no prediction yet for this task (no stored prediction, no student)"} for o in out]


    @staticmethod
    def _record_tasks(ctx: ProjectContext, tasks: Any) -> None:
        """Record the tasks an import webhook carries: a round whose pull from Label Studio fails (no API key,
        a token it refuses) labels what webhooks and /predict recorded, and these were not among them."""
        if not isinstance(tasks, list) or not ctx.label_config:
            return
        try:
            schema = ctx.schema
        except UnsupportedConfig:
            return
        rows = []
        for task in tasks:
            try:
                if isinstance(task, Mapping) and is_id(task.get("id")):
                    rows.append((task["id"], task_text(task, schema), task.get("data")))
            except TaskError:
                continue  # a task without the text field: /predict and the round name it
        if rows:
            ctx.state.upsert_tasks(rows)

    # -- fit (webhooks) -----------------------------------------------------------------------------
    def fit(self, event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
        """Record the event, queue a round when due; returns at once (Label Studio waits <= 1 s)."""
        if event == "TASKS_CREATED" and payload.get("project") is not None:
            # tasks imported after the backend was connected: the cold-start round had nothing to label yet
            ctx = self.context(project_id_of(payload.get("project")))
            self._record_tasks(ctx, payload.get("tasks"))
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
            ids = ids_of(payload.get("annotations"))
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
            if ctx.unserved is not None:  # said to the user who pressed the button, not only logged
                raise RequestError(f"no round: the project's label config is not served: {ctx.unserved}")
            return {"status": "ok", "job": self.queue_round(ctx, "START_TRAINING")}
        extra: dict[str, Any] = {}
        if event == "ANNOTATIONS_DELETED":
            sent = payload.get("annotations")
            ids = ids_of(sent)
            extra = {"annotations_deleted": ctx.state.delete_annotations(ids)}
            n_sent = len(sent) if isinstance(sent, list) else int(sent is not None)
            if n_sent > len(ids):  # named in the answer: a deleted annotation must not stay gold unseen
                extra["ignored"] = f"{n_sent - len(ids)} item(s) without an annotation id (send [{{\"id\": 12}}, ...])"
        elif event == "ANNOTATIONS_CREATED":
            extra = record_bulk(ctx, event, payload)
        else:
            extra = record(ctx, event, payload.get("annotation"), payload.get("task"))
        due = ctx.state.new_human_labels()
        job = None
        if due >= self.config.train_threshold:
            job = self.queue_round(ctx, f"{due} new human labels (TRAIN_THRESHOLD={self.config.train_threshold})")
            if job is None:
                extra["error"] = f"no round: the project's label config is not served: {ctx.unserved}"
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
        if xml == ctx.label_config and ctx.unserved is None:
            return {"status": "ok", "label_config": "unchanged"}  # a reverted edit (same XML, refused between) is not
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
        ids = ids_of(payload.get("tasks"))
        project = payload.get("project")
        contexts = [self.context(project_id_of(project))] if project is not None else self.contexts()
        return {"status": "ok", "tasks_deleted": sum(ctx.state.delete_tasks(ids) for ctx in contexts)}

    def metrics(self) -> dict[str, Any]:
        return {
            "config": self.config.public(),
            "running": self.runner.running,
            "projects": {c.state.project_id: c.state.summary() for c in self.contexts()},
        }


def _first_project(tasks: list[Any]) -> Any:
    return next((t.get("project") for t in tasks if isinstance(t, Mapping) and t.get("project") is not None), None)
