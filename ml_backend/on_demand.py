"""What ``/predict`` does for a task with no stored prediction (``PREDICT_ON_DEMAND``).

``student`` (default) runs the current student when one exists, else returns no prediction for
that task; ``llm`` asks the teacher for at most ``PREDICT_LLM_MAX_TASKS`` tasks per request (the
rest get none); ``none`` never computes on demand. Either way the answer has one element per task.

A mixin of :class:`~ml_backend.model.LLMaAABackend`, apart because it is the one slow path of
``/predict`` (model or LLM calls under Label Studio's 100 s deadline); the stored-prediction read
path and the webhook glue stay in :mod:`ml_backend.model`. What it computes is stored, so the next
request reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from ml_backend.config import BackendConfig
from ml_backend.engine import Students
from ml_backend.labeling import LabelingSchema
from ml_backend.predictions import prediction_for
from ml_backend.results import TaskError, pool_example

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext

log = logging.getLogger(__name__)

_STUDENT_CHUNK = 32  # tasks per student call on demand: the deadline is checked between calls


class OnDemandPredictions:
    """Predictions for the tasks of a ``/predict`` batch that have none stored, stored as they are made."""

    config: BackendConfig  # LLMaAABackend's

    def _on_demand(self, ctx: ProjectContext, schema: LabelingSchema, missing: list[tuple[int, int, str, Any]],
                   config: str) -> dict[int, dict]:
        mode = self.config.predict_on_demand
        if mode == "llm" and ctx.state.llm_paused() and ctx.students() is not None:
            mode = "student"  # STOP_AFTER_MATCHED: the student has caught up, on-demand calls stop too
        limit = self.config.max_text_chars
        ok: list[tuple[int, Any]] = []
        out: dict[int, dict] = {}
        for i, t, x, d in missing:
            if not x.strip() or len(x) > limit:
                out[i] = {"error": f"text is empty or longer than {limit} chars (MAX_TEXT_CHARS)"}
                continue
            try:
                ok.append((i, pool_example(t, x, d, schema)))
            except TaskError as e:  # unusable given entities: this task's error, not the request's
                out[i] = {"error": str(e)[:300]}
        version = ctx.state.current_version or f"{self.config.model_version_prefix}-0"

        def store(preds: list, source: str, asked: list[tuple[int, Any]] | None = None) -> dict[int, dict]:
            li, rows, bodies = ctx.interface(), [], {}
            for (i, _), ex in zip(ok if asked is None else asked, preds):
                if ex.failed:
                    bodies[i] = {"error": str(ex.annotation.get("error"))[:300]}
                    continue
                bodies[i] = body = prediction_for(ex, schema, li, version=version)
                rows.append((int(ex.id), version, source, body["score"], body))
            ctx.state.save_predictions(rows, config)
            return bodies

        try:
            if mode == "student" and (students := ctx.students()) is not None:
                out.update(self._student_on_demand(students, ok, store))
            elif mode == "llm" and ok:
                ok = ok[: self.config.predict_llm_max_tasks]
                out.update(self._llm_on_demand(ctx, ok, store))
        except Exception as e:  # a dead LLM or a broken model: per-task errors, never a 500
            log.error("predict on demand failed for project %s: %s", ctx.state.project_id, e)
            out.update({i: {"error": f"prediction failed: {type(e).__name__}: {e}"[:300]} for i, _ in ok})
        return out

    def _student_on_demand(self, students: Students, ok: list[tuple[int, Any]], store: Any) -> dict[int, dict]:
        """The student's predictions for ``ok`` in chunks, until ``predict_llm_deadline_s`` has passed.

        "Retrieve predictions" sends every selected task in one request, and with relations the student
        takes about a second a task on a small CPU: past Label Studio's 100 s the whole batch was lost. The
        tasks left get a per-task error; they are predicted by the next request or the next round."""
        deadline = time.monotonic() + self.config.predict_llm_deadline_s
        out: dict[int, dict] = {}
        done = 0
        while done < len(ok) and (done == 0 or time.monotonic() < deadline):  # one chunk at least: progress
            chunk = ok[done: done + _STUDENT_CHUNK]
            out.update(store(students.predict([ex for _, ex in chunk]), "student", chunk))
            done += len(chunk)
        if done < len(ok):
            log.warning("predict on demand: the student predicted %d of %d tasks within %s s (PREDICT_LLM_DEADLINE_S)",
                        done, len(ok), self.config.predict_llm_deadline_s)
            out.update({i: {"error": f"not predicted within {self.config.predict_llm_deadline_s:g} s "
                                     "(PREDICT_LLM_DEADLINE_S); retrieve its prediction again"} for i, _ in ok[done:]})
        return out

    def _llm_on_demand(self, ctx: ProjectContext, ok: list[tuple[int, Any]], store: Any) -> dict[int, dict]:
        """The teacher's predictions for ``ok``, or per-task errors once ``predict_llm_deadline_s`` has passed.

        A slow or hung LLM (each call may take ``LLM_TIMEOUT_S`` times its retries) must not hold the request
        past Label Studio's 100 s, which would drop the whole batch. The calls go on in a thread; answers that
        come late are stored all the same (and cached by the teacher), so the next /predict serves them.
        """
        deadline = self.config.predict_llm_deadline_s
        lock, done = threading.Lock(), threading.Event()
        state: dict[str, Any] = {"late": False}

        def work() -> None:
            try:
                preds = ctx.engine.annotate([ex for _, ex in ok], None)  # the demos the teacher already has
                with lock:
                    state["preds"] = preds
                    if state["late"]:
                        store(preds, "llm")
                        log.info("project %s: %d late on-demand LLM prediction(s) stored", ctx.state.project_id, len(ok))
            except Exception as e:
                state["error"] = e
                if state["late"]:
                    log.error("predict on demand failed late for project %s: %s", ctx.state.project_id, e)
            finally:
                done.set()

        threading.Thread(target=work, name="predict-llm", daemon=True).start()
        finished = done.wait(deadline)
        with lock:
            if not finished and "preds" not in state:
                state["late"] = True
                log.warning("project %s: the LLM did not answer %d on-demand task(s) within %s s "
                            "(PREDICT_LLM_DEADLINE_S)", ctx.state.project_id, len(ok), deadline)
                return {i: {"error": f"the LLM did not answer within {deadline:g} s (PREDICT_LLM_DEADLINE_S); "
                                     "the prediction is stored when it does"} for i, _ in ok}
        if "error" in state:
            raise state["error"]
        return store(state["preds"], "llm")
