"""What a crash, a second process, a dead LLM or a broken file leaves behind (found by a durability review).

Each case puts MODEL_DIR in the state the event leaves (the rows a kill -9 between two writes leaves,
a truncated database, a held lock) and starts the real backend on it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from ml_backend.app import create_app
from ml_backend.engine import prune_model_versions
from ml_backend.job_log import MAX_INTERRUPTIONS
from ml_backend.model_dir_lock import ModelDirError

from openai_stub import Reply, ScriptedOpenAI
from tests.backend.conftest import NER, ls_task, make_config, predict_body, setup_body
from tests.backend.test_round import TEXTS, cold_started, quick_training, scripted_teacher, wait_idle  # noqa: F401


def test_a_round_killed_after_buying_its_batch_reuses_that_batch_when_resumed(make_app, quick_training):
    """The kill came between saving the LLM labels and recording the round: the retry buys no second batch,
    and the round's bill is the batch's."""
    with ScriptedOpenAI(scripted_teacher) as llm:
        app = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0)
        c = app.test_client()
        st = app.extensions["llmaaa"].context("1").state
        c.post("/predict", json=predict_body([ls_task(100 + i, t) for i, t in enumerate(TEXTS)], NER))
        c.post("/setup", json=setup_body(NER))
        job = wait_idle(st)[0]
        paid = len(llm.requests)
        assert paid == 3 and st.rounds()[-1]["llm_labeled"] == 3
        # as the kill left it: the labels saved, the round unrecorded, the job running, no version published
        st._q("DELETE FROM rounds")
        st._q("UPDATE jobs SET status='running', finished_at=NULL, detail=NULL WHERE id=?", (job["id"],))
        (st.dir / "current").unlink()
        app.extensions["llmaaa"].close()

        again = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0)
        st = again.extensions["llmaaa"].context("1").state
        again.test_client().post("/setup", json=setup_body(NER))
        done = wait_idle(st)[0]
        assert done["status"] == "done" and "llm_batch_resumed" in done["detail"], done
        assert len(llm.requests) == paid  # no second batch
        rnd = st.rounds()[-1]
        assert (rnd["round"], rnd["llm_labeled"]) == (1, 3)
        assert rnd["llm_usage"]["prompt_tokens"] > 0  # what the batch cost is on the record
        assert st.current_version == "llmaaa-1"


def test_a_job_the_process_dies_in_again_and_again_is_given_up_with_the_reason(make_app):
    """Out of memory in training: gunicorn restarts the worker, which resumed the round, forever."""
    for attempt in range(MAX_INTERRUPTIONS):
        backend = make_app(run_jobs=False).extensions["llmaaa"]
        st = backend.context("1").state
        if attempt == 0:
            st.add_job("round", "threshold")
        assert st.claim_job() is not None, attempt  # the resumed job starts, and the process dies in it
        backend.close()
    jobs = make_app(run_jobs=False).extensions["llmaaa"].context("1").state.jobs()
    assert [j["status"] for j in jobs] == ["failed"] + ["interrupted"] * MAX_INTERRUPTIONS
    assert f"interrupted {MAX_INTERRUPTIONS} times in a row" in jobs[0]["error"]
    assert "TRAIN_BATCH_SIZE" in jobs[0]["error"]


def test_after_a_dead_llm_the_batch_is_asked_again_with_back_off(make_app, quick_training):
    """Cold start against a dead endpoint used to serve empty predictions until someone pressed Start Training."""
    app = make_app(llm_batch=3, teacher_k=0)  # the LLM URL is a closed port
    c = app.test_client()
    st = app.extensions["llmaaa"].context("1").state
    c.post("/predict", json=predict_body([ls_task(100 + i, t) for i, t in enumerate(TEXTS)], NER))
    c.post("/setup", json=setup_body(NER))
    first = wait_idle(st)[0]
    assert (first["detail"]["llm_labeled"], first["detail"]["llm_failed"]) == (0, 3)
    c.post("/setup", json=setup_body(NER))
    assert len(st.jobs()) == 1  # within the back-off (1 min after the first failure): no new round
    app.extensions["llmaaa"].close()

    with ScriptedOpenAI(scripted_teacher) as llm:  # the endpoint is fixed; a minute has passed
        st._q("UPDATE rounds SET finished_at = finished_at - 61")
        app = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0)
        st = app.extensions["llmaaa"].context("1").state
        app.test_client().post("/setup", json=setup_body(NER))  # Label Studio calls it before every predict batch
        retry = wait_idle(st)[0]
        assert retry["reason"].startswith("LLM retry") and retry["detail"]["llm_labeled"] == 3, retry
        app.test_client().post("/setup", json=setup_body(NER))
        assert len(st.jobs()) == 2  # it worked: nothing more to retry


def test_the_back_off_doubles_per_failed_round_up_to_an_hour(make_app):
    st = make_app(run_jobs=False).extensions["llmaaa"].context("1").state
    for n in range(1, 5):
        st.add_round(n, f"llmaaa-{n}", {"llm_labeled": 0, "llm_failed": 5})
    last = st.rounds()[-1]["finished_at"]
    assert st.llm_retry_due(now=last + 479) is None and "4 round(s) in a row" in st.llm_retry_due(now=last + 481)
    for n in range(5, 12):
        st.add_round(n, f"llmaaa-{n}", {"llm_labeled": 0, "llm_failed": 5})
    last = st.rounds()[-1]["finished_at"]
    assert st.llm_retry_due(now=last + 3599) is None and st.llm_retry_due(now=last + 3601)
    st.add_round(12, "llmaaa-12", {"llm_labeled": 2, "llm_failed": 3})
    assert st.llm_retry_due(now=time.time() + 10**6) is None  # the LLM answered: not a dead endpoint


def test_a_second_backend_on_the_same_model_dir_is_refused_naming_the_first(tmp_path):
    first = create_app(make_config(tmp_path)).extensions["llmaaa"]
    try:
        with pytest.raises(ModelDirError, match=rf"served by another backend process \(pid {os.getpid()}\)"):
            create_app(make_config(tmp_path, lock_wait_s=0.3))
    finally:
        first.close()
    create_app(make_config(tmp_path, lock_wait_s=0)).extensions["llmaaa"].close()  # free once the first has gone


def test_a_model_dir_that_cannot_be_written_is_refused_at_start(tmp_path):
    with pytest.raises(ModelDirError, match="is not writable"):
        create_app(make_config(tmp_path, model_dir="/proc/self"))


def test_a_corrupt_project_database_costs_that_project_only(make_app, tmp_path):
    healthy = make_app(run_jobs=False)
    healthy.test_client().post("/setup", json=setup_body(NER))
    healthy.extensions["llmaaa"].close()
    broken = Path(make_config(tmp_path).model_dir) / "2"
    broken.mkdir(parents=True)
    (broken / "state.db").write_bytes(b"this is not a database" * 200)

    c = make_app(run_jobs=False).test_client()  # starts: project 1 is served
    assert c.post("/setup", json=setup_body(NER)).status_code == 200
    r = c.post("/setup", json=setup_body(NER, project="2.1700000000"))
    assert r.status_code == 500 and "2/state.db cannot be read" in r.json["error"] and "restore it" in r.json["error"]


def test_old_student_folders_are_pruned_and_a_crashed_publish_leaves_no_debris(tmp_path):
    models = tmp_path / "models"
    for i, name in enumerate(["llmaaa-1", "llmaaa-2", "llmaaa-3", "llmaaa-4", ".llmaaa-5.tmp"]):
        (models / name).mkdir(parents=True)
        os.utime(models / name, (1000 + i, 1000 + i))
    assert prune_model_versions(models, "llmaaa-4", 2) == [".llmaaa-5.tmp", "llmaaa-1", "llmaaa-2"]
    assert sorted(p.name for p in models.iterdir()) == ["llmaaa-3", "llmaaa-4"]
    assert prune_model_versions(models, "llmaaa-4", 0) == []  # 0 keeps all


def test_an_llm_retry_joined_by_a_corrected_gold_label_trains_on_it(make_app, quick_training):
    """The retry of a failed batch kept the last student when the label counts were unchanged, even after an
    annotator corrected a gold label (the webhook's round merged into the queued retry)."""
    from tests.backend.conftest import annotation_event, region

    dead = {"on": False}

    def teacher(req, n):
        return Reply("", status=400) if dead["on"] else scripted_teacher(req, n)

    with ScriptedOpenAI(teacher) as llm:
        app, c, st, rest = cold_started(make_app, llm_base_url=llm.base_url, llm_batch=3, teacher_k=0,
                                        min_train_labels=3, train_threshold=1)
        i = rest[0]
        text, who = TEXTS[i], TEXTS[i].split()[0] if not TEXTS[i].startswith("🙂") else TEXTS[i].split()[1]
        dead["on"] = True  # round 2 trains, then its LLM batch fails
        wrong = [region("h", text.index(who), text.index(who) + len(who), who, "LOC")]
        c.post("/webhook", json=annotation_event("ANNOTATION_CREATED", 7, 100 + i, text, wrong, NER))
        time.sleep(0.3)
        second = wait_idle(st)[0]
        assert "trained" in second["detail"] and second["detail"]["llm_labeled"] == 0, second
        app.extensions["llmaaa"].close()

        st._q("UPDATE rounds SET finished_at = finished_at - 61")
        queued = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0, min_train_labels=3, train_threshold=1,
                          run_jobs=False)
        qc = queued.test_client()
        qc.post("/setup", json=setup_body(NER))  # the retry is queued ...
        right = [region("h", text.index(who), text.index(who) + len(who), who, "PER")]
        qc.post("/webhook", json=annotation_event("ANNOTATION_UPDATED", 7, 100 + i, text, right, NER))  # ... and joined
        jobs = st.jobs()
        assert jobs[0]["status"] == "queued" and jobs[0]["reason"].startswith("LLM retry") and len(jobs) == 3
        queued.extensions["llmaaa"].close()

        dead["on"] = False
        st = make_app(llm_base_url=llm.base_url, llm_batch=3, teacher_k=0, min_train_labels=3,
                      train_threshold=1).extensions["llmaaa"].context("1").state
        third = wait_idle(st)[0]
        assert "trained" in third["detail"], third  # the corrected label is trained on
        assert (third["detail"]["llm_labeled"], third["detail"]["llm_failed"]) == (2, 0)  # the 2 tasks nobody labeled


def test_no_llm_retry_after_a_job_that_failed_or_was_given_up(make_app):
    app = make_app(run_jobs=False)
    c = app.test_client()
    c.post("/setup", json=setup_body(NER))  # queues the cold-start round (not run here)
    st = app.extensions["llmaaa"].context("1").state
    st._q("DELETE FROM jobs")
    st.add_round(1, "llmaaa-1", {"llm_labeled": 0, "llm_failed": 3})
    st._q("UPDATE rounds SET finished_at = finished_at - 7200")
    job = st.add_job("round", "threshold")
    st.claim_job()
    st.finish_job(job, "failed", error="interrupted 3 times in a row (...)")
    c.post("/setup", json=setup_body(NER))
    assert [j["status"] for j in st.jobs()] == ["failed"]  # nothing queued: the same crash would come again
