"""A crash mid-round loses nothing: the real gunicorn backend is SIGKILLed twice and restarted on the same MODEL_DIR.

The promise (ml_backend/state.py, README "A restart (also ``kill -9``) marks a job left running as
interrupted and runs it again"): state lives in files under ``MODEL_DIR``, so a ``kill -9`` of the
whole gunicorn process group, at any moment of a round, costs neither an annotation nor an LLM answer
already paid for, and never leaves a half-made model version served.

1. server 1 (long training): /predict shows 14 tasks, /setup starts the cold-start round (the
   scripted LLM labels 6), three ANNOTATION_CREATED webhooks queue a training round; once the
   student has finished an epoch (read in the backend's log) a fourth annotation arrives, then the
   process group is killed;
2. server 2 (short training): the killed job is ``interrupted`` and a resumed round queued; it
   trains, then asks the LLM about the 4 tasks left: the stub answers 2 and hangs on the rest, and
   once the 2 answers are in the teacher's cache the group is killed again;
3. server 3 (beside it, the temp folder a kill inside ``publish`` would leave): the second job is
   ``interrupted`` too, a third round completes, asks the LLM only the prompts that were never
   answered (the cache holds the others), publishes ``llmaaa-2`` whole (the leftover gone, the
   folder loads), and every annotation is there.

Label Studio is an unused loopback port (pull and push are skipped, the round runs on what webhooks
and /predict recorded); the LLM is ``tests/openai_stub.py``; the student is the packaged MiniLM.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

import pytest

from openai_stub import Reply, ScriptedOpenAI, last_user_message
from tests.backend.conftest import NER, ROOT, annotation_event, ls_task, predict_body, region, setup_body
from waiting import free_port, wait_for

PEOPLE = ["Anna", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Kenji", "Lena",
          "Marco", "Nadia"]
PLACES = ["Paris", "Berlin", "Lima", "Oslo", "Quito", "Rome", "Sofia", "Tokyo", "Vienna", "Warsaw", "Dublin", "Cairo",
          "Madrid", "Prague"]
TEXTS = [f"{p} lives in {c} ." for p, c in zip(PEOPLE, PLACES)]
TASK_IDS = [100 + i for i in range(len(TEXTS))]
LLM_BATCH, THRESHOLD = 6, 3
PROJECT_DIR = "1"  # tests.backend.conftest.PROJECT is "1.<timestamp>"

# Options the test sets itself: values from the caller's environment must not leak into the servers.
_OWN_PREFIXES = ("LLM_", "TRAIN_", "LABEL_STUDIO_")
_OWN_NAMES = {"MODEL_DIR", "OPENAI_API_KEY", "SAMPLER", "PREDICT_ON_DEMAND", "RUN_JOBS", "BASIC_AUTH_USER",
              "BASIC_AUTH_PASS", "STOP_AFTER_MATCHED", "DEVICE", "SEED", "TEACHER_K", "MIN_TRAIN_LABELS",
              "KEEP_PREDICTION_VERSIONS", "STUDENT_RELATIONS", "MODEL_VERSION_PREFIX", "MAX_TEXT_CHARS"}


class Teacher:
    """The scripted LLM: every known name (PER) and place (LOC) in the query; records what it answered.

    ``hang_after``: answer that many more requests, then hang on every further one (no answer ever
    goes out: the caller is killed meanwhile). ``answered`` lists the prompts whose answers went
    out, i.e. what was paid for.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answered: list[str] = []
        self.hung: list[str] = []
        self.hang_after: int | None = None

    def __call__(self, req: dict, n: int) -> Reply | str:
        prompt = json.dumps(req["messages"], sort_keys=True, ensure_ascii=False)
        with self.lock:
            if self.hang_after is not None:
                if self.hang_after <= 0:
                    self.hung.append(prompt)
                    return Reply(delay=3600)  # ends when the stub closes, answering nothing
                self.hang_after -= 1
            self.answered.append(prompt)
        text = last_user_message(req).split("Text:", 1)[1]
        found = [{"span": p, "type": "PER"} for p in PEOPLE if p in text]
        found += [{"span": c, "type": "LOC"} for c in PLACES if c in text]
        return json.dumps(found)


class Server:
    """The backend under real gunicorn (1 worker, 8 threads, as deployed) in its own process group."""

    def __init__(self, model_dir: Path, llm_url: str, name: str, **extra_env: str) -> None:
        import httpx

        self.model_dir, self.name = model_dir, name
        env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES) and k not in _OWN_NAMES}
        env.update({
            "MODEL_DIR": str(model_dir), "LABEL_STUDIO_URL": f"http://127.0.0.1:{free_port()}",  # nobody listens
            "LABEL_STUDIO_API_KEY": "unused-token", "LLM_BASE_URL": llm_url, "LLM_MODEL": "stub", "LLM_API_KEY": "x",
            "LLM_MAX_RETRIES": "0", "LLM_TIMEOUT_S": "300", "TRAIN_THRESHOLD": str(THRESHOLD),
            "LLM_BATCH": str(LLM_BATCH), "MIN_TRAIN_LABELS": "4", "TEACHER_K": "2", "DEVICE": "cpu",
            "TRAIN_EPOCHS": "1", "TRAIN_MAX_LENGTH": "32", "TRAIN_PATIENCE": "0", "TRAIN_BATCH_SIZE": "4",
            "PYTHONUNBUFFERED": "1", **extra_env})
        self.log_path = model_dir.parent / f"{name}.log"
        self._log = open(self.log_path, "wb")
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--timeout", "0",
             "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", "--logger-class",
             "ml_backend.access_log.QuietPolls", "ml_backend._wsgi:app"],
            cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=30)

        def up() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"{name} exited:\n{self.log()[-3000:]}")
            try:
                return self.http.get("/health", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        try:
            wait_for(up, f"{name}'s /health", 240, every=0.5)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def post(self, path: str, body: dict) -> Any:
        r = self.http.post(path, json=body)
        assert r.status_code in (200, 201), (path, r.status_code, r.text)
        return r.json()

    def kill(self) -> None:
        """``kill -9`` of gunicorn's master and worker alike: nothing gets to clean up."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(30)
        self.http.close()
        self._log.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(30)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(30)
        self.http.close()
        self._log.close()


def read(model_dir: Path, sql: str, db: str = "state.db") -> list[tuple]:
    """Rows of a project database, read-only (the serving process owns it)."""
    con = sqlite3.connect(f"file:{model_dir / PROJECT_DIR / db}?mode=ro", uri=True, timeout=30)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def jobs(model_dir: Path) -> list[dict]:
    rows = read(model_dir, "SELECT id, status, reason FROM jobs ORDER BY id")
    return [{"id": i, "status": s, "reason": r} for i, s, r in rows]


def idle(model_dir: Path, n_jobs: int) -> Callable[[], list[dict] | None]:
    def ok() -> list[dict] | None:
        js = jobs(model_dir)
        return js if len(js) >= n_jobs and not any(j["status"] in ("queued", "running") for j in js) else None
    return ok


def running(model_dir: Path, job_id: int) -> Callable[[], bool]:
    return lambda: any(j["id"] == job_id and j["status"] == "running" for j in jobs(model_dir))


def cached_answers(model_dir: Path) -> int:
    return int(read(model_dir, "SELECT COUNT(*) FROM responses", "llm_cache.db")[0][0])


def annotation(ann_id: int, task_id: int) -> dict:
    i = TASK_IDS.index(task_id)
    text, p, c = TEXTS[i], PEOPLE[i], PLACES[i]
    start = text.index(c)
    result = [region(f"p{ann_id}", 0, len(p), p, "PER"), region(f"c{ann_id}", start, start + len(c), c, "LOC")]
    return annotation_event("ANNOTATION_CREATED", ann_id, task_id, text, result, NER)


@pytest.mark.slow
def test_sigkill_mid_round_loses_no_annotation_no_paid_answer_and_serves_no_half_model(tmp_path):
    model_dir = tmp_path / "model_dir"
    project = model_dir / PROJECT_DIR
    teacher = Teacher()
    tasks = [ls_task(t, text) for t, text in zip(TASK_IDS, TEXTS)]
    servers: list[Server] = []
    with ScriptedOpenAI(teacher) as llm:
        try:
            # -- server 1: cold start, then a training round killed while the student trains ----------------
            s1 = Server(model_dir, llm.base_url, "server1", TRAIN_EPOCHS="500")  # training outlasts the kill
            servers.append(s1)
            s1.post("/predict", predict_body(tasks, NER))  # Label Studio shows us the tasks
            assert s1.post("/setup", setup_body(NER))["model_version"] == "llmaaa-0"
            wait_for(idle(model_dir, 1), "the cold-start round", 240)
            assert (project / "current").read_text() == "llmaaa-1"
            llm_labeled = {t for (t,) in read(model_dir, "SELECT task_id FROM llm_labels WHERE error IS NULL")}
            assert len(llm_labeled) == LLM_BATCH and len(teacher.answered) == LLM_BATCH
            assert cached_answers(model_dir) == LLM_BATCH
            unlabeled = [t for t in TASK_IDS if t not in llm_labeled]
            for k, task_id in enumerate(unlabeled[:THRESHOLD]):
                s1.post("/webhook", annotation(900 + k, task_id))
            # the access log keeps the webhooks and leaves out the /health polls (QuietPolls)
            assert '"POST /webhook' in s1.log() and '"GET /health' not in s1.log()
            assert [j["status"] for j in jobs(model_dir)] in (["done", "queued"], ["done", "running"])
            wait_for(running(model_dir, 2), "the training round to start", 60)
            wait_for(lambda: "round 2 trains on" in s1.log() and "ner epoch 1:" in s1.log(),
                     "the student's first epoch (backend log)", 300)
            # an annotation made while the round runs: recorded before the answer, it must survive the kill
            s1.post("/webhook", annotation(900 + THRESHOLD, unlabeled[THRESHOLD]))
            assert running(model_dir, 2)() and len(llm.requests) == LLM_BATCH  # mid-training: no LLM call yet
            gold_before = read(model_dir, "SELECT id, task_id, result, deleted FROM annotations ORDER BY id")
            assert len(gold_before) == THRESHOLD + 1
            s1.kill()

            # the state on disk right after the kill: the round's job left 'running', nothing of it published
            assert [j["status"] for j in jobs(model_dir)] == ["done", "running"]
            assert (project / "current").read_text() == "llmaaa-1"
            assert not (project / "models" / "llmaaa-2").exists()
            assert read(model_dir, "SELECT value FROM meta WHERE key = 'student_version'") == []

            # -- server 2: the resumed round trains, then is killed while the LLM is half done -----------------
            answered_before = len(teacher.answered)
            teacher.hang_after = 2
            s2 = Server(model_dir, llm.base_url, "server2")
            servers.append(s2)
            js = jobs(model_dir)
            assert [(j["id"], j["status"]) for j in js[:2]] == [(1, "done"), (2, "interrupted")]
            assert len(js) == 3 and js[2]["reason"] == "resumed after interruption of job 2"
            # while the round runs, Label Studio is served the last complete version and nothing newer
            assert s2.post("/setup", setup_body(NER))["model_version"] == "llmaaa-1"
            served = s2.post("/predict", predict_body(tasks, NER))["results"]
            assert {r.get("model_version") for r in served} == {"llmaaa-1"}
            wait_for(lambda: len(teacher.answered) == answered_before + 2 and len(teacher.hung) == 2,
                     "the resumed round's LLM calls (2 answered, the rest hanging)", 300)
            wait_for(lambda: cached_answers(model_dir) == LLM_BATCH + 2, "the 2 answers in the teacher's cache", 30)
            assert running(model_dir, 3)()
            s2.kill()
            assert [j["status"] for j in jobs(model_dir)] == ["done", "interrupted", "running"]
            assert (project / "current").read_text() == "llmaaa-1"
            assert not (project / "models" / "llmaaa-2").exists()
            paid = set(teacher.answered)
            never_answered = set(teacher.hung)
            assert not paid & never_answered
            # what a kill inside publish() leaves (students.save into the temp folder, cut short): never served
            half = project / "models" / ".llmaaa-2.tmp" / "ner"
            half.mkdir(parents=True)
            (half / "labels.json").write_text('{"task": "ner", "lab', encoding="utf-8")

            # -- server 3: the third try completes -----------------------------------------------------------------
            teacher.hang_after = None
            answered_before = len(teacher.answered)
            s3 = Server(model_dir, llm.base_url, "server3")
            servers.append(s3)
            js = wait_for(idle(model_dir, 4), "the resumed round to complete", 300, every=0.5)
            assert [(j["id"], j["status"]) for j in js] == [(1, "done"), (2, "interrupted"), (3, "interrupted"),
                                                            (4, "done")], js
            assert js[3]["reason"] == "resumed after interruption of job 3"
            (detail,) = read(model_dir, "SELECT detail FROM jobs WHERE id = 4")[0]
            detail = json.loads(detail)
            assert detail["trained"]["gold"] == THRESHOLD + 1 and detail["trained"]["llm_labels"] == LLM_BATCH
            pool = len(TASK_IDS) - LLM_BATCH - (THRESHOLD + 1)
            assert detail["llm_labeled"] == pool and detail["llm_failed"] == 0

            # LLM answers received before a crash are not paid for again: only the never-answered prompts were asked
            asked_now = teacher.answered[answered_before:]
            assert set(asked_now) == never_answered and len(asked_now) == len(never_answered) == pool - 2
            assert len(teacher.answered) == len(set(teacher.answered)), "a prompt was paid for twice"
            assert cached_answers(model_dir) == LLM_BATCH + pool

            # every annotation is still there, unchanged
            assert read(model_dir, "SELECT id, task_id, result, deleted FROM annotations ORDER BY id") == gold_before
            metrics = s3.http.get("/metrics").json()["projects"][PROJECT_DIR]
            assert metrics["labels"]["human"] == THRESHOLD + 1 and metrics["labels"]["llm"] == LLM_BATCH + pool

            # one round per version, published whole: nothing half-written, nothing left over
            assert [(n, v) for n, v in read(model_dir, "SELECT n, version FROM rounds ORDER BY n")] == \
                [(1, "llmaaa-1"), (2, "llmaaa-2")]
            assert (project / "current").read_text() == "llmaaa-2"
            assert sorted(p.name for p in (project / "models").iterdir()) == ["llmaaa-2"]
            assert (project / "models" / "llmaaa-2" / "ner" / "README.md").exists()
            from llmaaa.data.schema import Example
            from ml_backend.engine import load_students

            [pred] = load_students(project / "models" / "llmaaa-2").predict([Example("x", "Anna lives in Oslo .")])
            assert pred.text == "Anna lives in Oslo ."  # the published folder loads whole, as a restart would
            assert s3.post("/setup", setup_body(NER))["model_version"] == "llmaaa-2"
            annotated = {t for _, t, _, _ in gold_before}
            served = s3.post("/predict", predict_body([t for t in tasks if t["id"] not in annotated], NER))["results"]
            assert {r["model_version"] for r in served} == {"llmaaa-2"} and all(r["result"] for r in served)
            [fresh] = s3.post("/predict", predict_body([ls_task(200, "Anna lives in Oslo .")], NER))["results"]
            assert fresh["model_version"] == "llmaaa-2" and "result" in fresh  # the student, on demand
        finally:
            for s in servers:
                s.stop()
