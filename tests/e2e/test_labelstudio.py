"""End to end with a real Label Studio 1.23.2, the backend under gunicorn and the scripted OpenAI stub.

Creates an NER + relations project through the SDK, imports 100 CoNLL04 sentences, connects the
backend, then checks what an annotator and a project owner would see: predictions of our version
that validate, "Label All Tasks" serving tasks in our priority order, annotations that stay fast
and start exactly one background training, a bumped version with refreshed priorities, and the
export. Needs ``scripts/labelstudio.sh install`` (``make test`` does it).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from openai_stub import ScriptedOpenAI, last_user_message
from waiting import free_port, wait_for

pytestmark = [pytest.mark.labelstudio, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "llmaaa-e2e-token-0123456789"
N_TASKS, LLM_BATCH, THRESHOLD = 100, 10, 5
XML = (ROOT / "label_config" / "ner_re.xml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sentences():
    from llmaaa.data.readers import read_dataset

    try:
        data = read_dataset("conll04", "train")
    except (FileNotFoundError, OSError) as e:
        pytest.skip(f"needs ../shared/data (CoNLL-2003 / CoNLL04; CI has it): {e}")
    return data[:N_TASKS]


@pytest.fixture(scope="module")
def label_studio(tmp_path_factory):
    script = ROOT / "scripts" / "labelstudio.sh"
    if not (ROOT / ".venv-ls" / "bin" / "label-studio").exists() and not os.environ.get("LS_VENV"):
        pytest.fail("Label Studio is not installed: run `scripts/labelstudio.sh install` (or `make test`)")
    port = free_port()
    data = tmp_path_factory.mktemp("lsdata")
    env = {**os.environ, "LS_PORT": str(port), "LABEL_STUDIO_BASE_DATA_DIR": str(data),
           "LABEL_STUDIO_USERNAME": "e2e@example.com", "LABEL_STUDIO_PASSWORD": "e2e-pass-123",
           "LABEL_STUDIO_USER_TOKEN": TOKEN}
    started = subprocess.run([str(script), "start"], env=env, capture_output=True, text=True, timeout=400)
    if started.returncode != 0:
        pytest.fail(f"scripts/labelstudio.sh start failed:\n{started.stderr[-3000:]}")
    pid = int((data / f"labelstudio-{port}.pid").read_text())
    environ = dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_text().split("\0") if "=" in v)
    assert environ.get("SENTRY_DSN") == "" and environ.get("FRONTEND_SENTRY_DSN") == ""  # nothing sent to HumanSignal
    try:
        yield f"http://127.0.0.1:{port}"
        # a round pages the tasks to their total: the SDK's iterator asked for one page more, an ERROR with a
        # traceback in Label Studio's log every round
        assert "Invalid page" not in (data / f"labelstudio-{port}.log").read_text(errors="replace")
    finally:
        subprocess.run([str(script), "stop"], env=env, capture_output=True, text=True, timeout=60)


def teacher_from_gold(sentences):
    """A scripted LLM that answers with CoNLL04's gold labels (NER: spans; RE: the pair's relation)."""
    by_text = {ex.text: ex for ex in sentences}

    def handler(req: dict, n: int) -> str:
        query = last_user_message(req)
        if "\nHead: " in query:
            text = query.split("Text: ", 1)[1].split("\nHead: ", 1)[0]
            head = query.split("\nHead: ", 1)[1].split(" (", 1)[0]
            tail = query.split("\nTail: ", 1)[1].split(" (", 1)[0]
            ex = by_text.get(text)
            if ex:
                for r in ex.relations:
                    if ex.mention(ex.entities[r.head]) == head and ex.mention(ex.entities[r.tail]) == tail:
                        return r.label
            return "no_relation"
        ex = by_text.get(query.split("Text: ", 1)[1].strip())
        return json.dumps([{"span": ex.mention(s), "type": s.label} for s in ex.entities] if ex else [])

    return handler


def start_backend(label_studio, model_dir: Path, llm_url: str, **extra_env: str):
    """The backend under real gunicorn (1 worker, 8 threads), as deployed; yields its record, then stops it."""
    import httpx

    port = free_port()
    env = {**os.environ, "MODEL_DIR": str(model_dir), "LABEL_STUDIO_URL": label_studio, "LABEL_STUDIO_API_KEY": TOKEN,
           "LLM_BASE_URL": llm_url, "LLM_MODEL": "stub", "LLM_API_KEY": "x", "LLM_MAX_RETRIES": "0",
           "TRAIN_THRESHOLD": str(THRESHOLD), "LLM_BATCH": str(LLM_BATCH), "MIN_TRAIN_LABELS": "5", "TEACHER_K": "2",
           "TRAIN_EPOCHS": "1", "TRAIN_MAX_LENGTH": "64", "TRAIN_PATIENCE": "0", "TRAIN_BATCH_SIZE": "8",
           "TRAIN_NEGATIVE_RATIO": "1", "PYTHONUNBUFFERED": "1", **extra_env}
    log = open(model_dir / "backend.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--timeout", "0",
                             "--bind", f"127.0.0.1:{port}", "ml_backend._wsgi:app"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    auth = (extra_env["BASIC_AUTH_USER"], extra_env["BASIC_AUTH_PASS"]) if "BASIC_AUTH_USER" in extra_env else None
    try:
        def up():
            if proc.poll() is not None:
                raise AssertionError(f"the backend exited: {(model_dir / 'backend.log').read_text()[-3000:]}")
            try:
                return httpx.get(url + "/health", timeout=1, auth=auth).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, "the backend's /health", 120)
        yield {"url": url, "model_dir": model_dir, "env": env, "auth": auth}
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


@pytest.fixture(scope="module")
def llm(sentences):
    with ScriptedOpenAI(teacher_from_gold(sentences)) as stub:
        yield stub


@pytest.fixture(scope="module")
def backend(label_studio, llm, tmp_path_factory):
    yield from start_backend(label_studio, tmp_path_factory.mktemp("model_dir"), llm.base_url,
                             KEEP_PREDICTION_VERSIONS="1")  # round 2 deletes version 1 (the default keeps two)


def metrics(backend, project: int) -> dict:
    import httpx

    r = httpx.get(backend["url"] + "/metrics", timeout=5, auth=backend.get("auth"))
    return r.json()["projects"].get(str(project), {})


def idle_at(backend, project: int, version: str):
    def ok():
        m = metrics(backend, project)
        jobs = m.get("jobs", {})
        return m.get("model_version") == version and not jobs.get("queued") and not jobs.get("running") and m
    return ok


def next_task(label_studio: str, project: int) -> dict:
    """What "Label All Tasks" asks for: POST /api/dm/actions?id=next_task with an empty body."""
    import httpx

    r = httpx.post(f"{label_studio}/api/dm/actions", params={"id": "next_task", "project": project}, json={},
                   headers={"Authorization": f"Token {TOKEN}"}, timeout=30)
    r.raise_for_status()
    return r.json()


def priority_order(ls, project: int, version: str) -> list[int]:
    preds = [p for p in ls.predictions.list(project=project) if p.model_version == version]
    return [p.task for p in sorted(preds, key=lambda p: (p.score, p.task))]


def test_label_studio_end_to_end(label_studio, backend, sentences, tmp_path):
    from label_studio_sdk import LabelStudio
    from label_studio_sdk.label_interface import LabelInterface

    from ml_backend.labeling import parse_config
    from ml_backend.predictions import example_to_results

    ls = LabelStudio(base_url=label_studio, api_key=TOKEN)
    project = ls.projects.create(title="LLMaAA e2e (NER + relations)", label_config=XML)
    pid = project.id
    imported = ls.projects.import_tasks(id=pid, request=[{"text": ex.text} for ex in sentences], return_task_ids=True)
    task_ids = list(imported.task_ids)
    assert len(task_ids) == N_TASKS
    gold_of = {tid: ex for tid, ex in zip(task_ids, sentences)}
    ls.predictions.create(task=task_ids[0], result=[], model_version="user-model-7", score=0.5)  # not ours: must stay

    # connect the backend: Label Studio calls /health and /setup; the cold-start round follows
    ls.ml.create(project=pid, url=backend["url"], title="llmaaa")
    wait_for(idle_at(backend, pid, "llmaaa-1"), "the cold-start round (llmaaa-1)", 300)

    # predictions exist with the expected version and validate; the LLM pre-annotated LLM_BATCH tasks
    li = LabelInterface(XML)
    preds = [p for p in ls.predictions.list(project=pid) if p.model_version == "llmaaa-1"]
    assert sorted(p.task for p in preds) == sorted(task_ids)
    assert all(li.validate_prediction({"result": p.result}, return_errors=True) == [] for p in preds)
    assert sum(bool(p.result) for p in preds) == LLM_BATCH
    assert any(r["type"] == "relation" for p in preds for r in p.result)
    proj = ls.projects.get(id=pid)
    assert (proj.model_version, proj.sampling) == ("llmaaa-1", "Uncertainty sampling")

    # "Label All Tasks" follows our priority; each annotation returns fast; the N-th starts one round
    order = priority_order(ls, pid, "llmaaa-1")
    schema = parse_config(XML)
    for k in range(THRESHOLD):
        task = next_task(label_studio, pid)
        assert task["id"] == order[k], f"annotator got task {task['id']}, our priority says {order[k]}"
        t0 = time.perf_counter()
        ls.annotations.create(id=task["id"], result=example_to_results(gold_of[task["id"]], schema))
        assert time.perf_counter() - t0 < 1.5  # the webhook answers at once; training runs in the background

    m = wait_for(idle_at(backend, pid, "llmaaa-2"), "the training round (llmaaa-2)", 600, every=1.0)
    assert m["labels"]["human"] == THRESHOLD
    trained = [j for j in _jobs(backend, pid) if (j.get("detail") or {}).get("trained")]
    assert len(trained) == 1, "exactly one background training"
    assert trained[0]["detail"]["trained"]["gold"] == THRESHOLD
    assert (backend["model_dir"] / str(pid) / "models" / "llmaaa-2" / "ner").is_dir()
    proj = ls.projects.get(id=pid)
    assert proj.model_version == "llmaaa-2"
    new_order = priority_order(ls, pid, "llmaaa-2")
    assert len(new_order) == N_TASKS - THRESHOLD  # every unannotated task re-prioritised
    assert next_task(label_studio, pid)["id"] == new_order[0]
    # our older version is gone from Label Studio's database, the user's own prediction is not
    assert trained[0]["detail"]["pruned_versions"] == {"llmaaa-1": N_TASKS}
    assert {p.model_version for p in ls.predictions.list(project=pid)} == {"llmaaa-2", "user-model-7"}

    # export: dataset (LS JSON with provenance, CoNLL, JSONL) and the current model
    out = tmp_path / "export"
    r = subprocess.run([sys.executable, "-m", "ml_backend", "export", "--project", str(pid), "--output", str(out)],
                       cwd=ROOT, env=backend["env"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name in ("label_studio.json", "dataset.conll", "dataset.jsonl", "learning_curve.json", "model/ner/README.md"):
        assert (out / name).exists(), name
    exported = json.loads((out / "label_studio.json").read_text(encoding="utf-8"))
    sources = {a["source"] for t in exported for a in t.get("annotations", []) + t.get("predictions", [])}
    assert {"human", "llm"} <= sources

    # "Create annotations from predictions" in the Data Manager: one bulk ANNOTATIONS_CREATED of the LLM's
    # labels under the user's name, which nobody reviewed: counted as unreviewed, not gold
    accepted = [t for t in new_order if t != task_ids[0]][:2]
    ls.actions.create(id="predictions_to_annotations", project=pid, selected_items={"all": False, "included": accepted})
    wait_for(lambda: metrics(backend, pid).get("labels", {}).get("unreviewed") == 2,
             "the annotations made from predictions (ANNOTATIONS_CREATED)", 30)
    assert metrics(backend, pid)["labels"]["human"] == THRESHOLD
    in_accepted = f"task_id IN ({accepted[0]}, {accepted[1]})"
    assert _read(backend, pid, f"SELECT task_id FROM annotations WHERE deleted = 0 AND {in_accepted}") == []
    copies = {a.task: a for a in ls.annotations.list(id=accepted[0])} | {a.task: a for a in ls.annotations.list(id=accepted[1])}
    assert all(a.parent_prediction is not None and not a.lead_time for a in copies.values())
    # one of them opened and submitted (Label Studio's editor sends the seconds spent): reviewed, gold
    ls.annotations.update(id=copies[accepted[0]].id, result=copies[accepted[0]].result, lead_time=6.5)
    wait_for(lambda: metrics(backend, pid).get("labels", {}).get("human") == THRESHOLD + 1,
             "the reviewed annotation (ANNOTATION_UPDATED)", 30)
    assert metrics(backend, pid)["labels"]["unreviewed"] == 1
    # a round's pull from Label Studio sees the same: one gold, one unreviewed
    from ml_backend.sync import made_from_prediction_unopened, pull_tasks

    pulled = {t["id"]: t for t in pull_tasks(ls, pid) if t["id"] in accepted}
    assert [made_from_prediction_unopened(pulled[t]["annotations"][0]) for t in accepted] == [False, True]
    # paged by hand to the project's total: every task once, whether the last page is full or short
    everyone = sorted(t["id"] for t in pull_tasks(ls, pid))
    assert len(everyone) == len(set(everyone)) == len(task_ids)
    for size in (len(task_ids), len(task_ids) - 1, 2):
        assert sorted(t["id"] for t in pull_tasks(ls, pid, page_size=size)) == everyone

    # a label added in Label Studio's settings reaches the backend with the PROJECT_UPDATED webhook
    edited = XML.replace("</Labels>", '<Label value="Product" background="#abcdef"/></Labels>', 1)
    assert edited != XML
    ls.projects.update(id=pid, label_config=edited)
    def served() -> str:
        return json.loads(_read(backend, pid, "SELECT value FROM meta WHERE key = 'label_config'")[0][0])
    wait_for(lambda: 'value="Product"' in served(), "the edited config (PROJECT_UPDATED)", 30)


def test_basic_auth_backend_gets_the_webhook_credentials(label_studio, llm, sentences, tmp_path):
    """With BASIC_AUTH_* on, the webhook LS creates has no credentials; the round adds them, so annotations arrive."""
    from label_studio_sdk import LabelStudio

    from ml_backend.labeling import parse_config
    from ml_backend.predictions import example_to_results

    (tmp_path / "model_dir_auth").mkdir()
    gen = start_backend(label_studio, tmp_path / "model_dir_auth", llm.base_url, BASIC_AUTH_USER="ls",
                        BASIC_AUTH_PASS="s3cret-pass", TRAIN_THRESHOLD="100")
    be = next(gen)
    try:
        ls = LabelStudio(base_url=label_studio, api_key=TOKEN)
        pid = ls.projects.create(title="LLMaAA e2e (basic auth)", label_config=XML).id
        ids = ls.projects.import_tasks(id=pid, request=[{"text": ex.text} for ex in sentences[:12]],
                                       return_task_ids=True).task_ids
        ls.ml.create(project=pid, url=be["url"], title="llmaaa", auth_method="BASIC_AUTH",
                     basic_auth_user="ls", basic_auth_pass="s3cret-pass")
        wait_for(idle_at(be, pid, "llmaaa-1"), "the cold-start round behind basic auth", 300)
        hooks = [h for h in ls.webhooks.list(project=str(pid)) if h.url.rstrip("/").endswith("/webhook")]
        assert hooks and all((h.headers or {}).get("Authorization", "").startswith("Basic ") for h in hooks)
        ls.annotations.create(id=ids[0], result=example_to_results(sentences[0], parse_config(XML)))
        wait_for(lambda: metrics(be, pid).get("labels", {}).get("human") == 1, "the annotation webhook (with auth)", 30)
    finally:
        gen.close()


def _jobs(backend, project: int) -> list[dict]:
    """The backend's job records."""
    rows = _read(backend, project, "SELECT status, detail FROM jobs ORDER BY id")
    return [{"status": s, "detail": json.loads(d) if d else None} for s, d in rows]


def _read(backend, project: int, sql: str) -> list[tuple]:
    """Rows of the backend's project database, read-only (the serving process owns it)."""
    db = sqlite3.connect(f"file:{backend['model_dir'] / str(project) / 'state.db'}?mode=ro", uri=True)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_a_version_written_twice_holds_one_prediction_per_task(label_studio, sentences):
    """A round killed after its push is run again under the same version: pushed on top, every task held two
    predictions of that version with different scores; ``clear_version`` first leaves one each."""
    from label_studio_sdk import LabelStudio

    from ml_backend.sync import clear_version, push_predictions

    ls = LabelStudio(base_url=label_studio, api_key=TOKEN)
    pid = ls.projects.create(title="LLMaAA e2e (re-pushed version)", label_config=XML).id
    ids = ls.projects.import_tasks(id=pid, request=[{"text": ex.text} for ex in sentences[:4]],
                                   return_task_ids=True).task_ids
    preds = lambda score: [{"task": i, "result": [], "score": score, "model_version": "llmaaa-3"} for i in ids]  # noqa: E731
    versions = lambda: ls._client_wrapper.httpx_client.request(  # noqa: E731
        f"api/projects/{pid}/model-versions/", method="GET").json()
    assert clear_version(ls, pid, "llmaaa-3") == 0  # a fresh version: nothing to delete
    push_predictions(ls, pid, preds(0.2))
    push_predictions(ls, pid, preds(0.7))
    assert versions() == {"llmaaa-3": 8}  # what the retried round did before
    assert clear_version(ls, pid, "llmaaa-3") == 8
    push_predictions(ls, pid, preds(0.7))
    assert versions() == {"llmaaa-3": 4}
    assert {p.score for p in ls.predictions.list(task=ids[0])} == {0.7}
