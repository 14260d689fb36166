"""How fast does the backend answer Label Studio, and does a training job slow it down?

Starts the backend under gunicorn (1 worker, 8 threads, as deployed) on a MODEL_DIR holding one
project with stored predictions, then measures over real HTTP on loopback:

1. ``POST /predict`` (one task per request, as the label stream sends) at 1 and 32 concurrent
   clients, served from stored predictions (goal: p99 <= 20 ms on 2 cores);
2. ``POST /webhook`` (ANNOTATION_CREATED) and ``POST /predict`` while a training round runs in the
   same process (Label Studio gives the webhook 1 s, inside the annotator's request).

    .venv/bin/python bench/predict_latency.py [--quick] [--predict-only] [--compare OLD_CHECKOUT]
                                             [--output bench/out/predict_latency.json]

``--compare DIR`` serves a second backend from another checkout (``git archive HEAD ml_backend``
plus links to ``llmaaa``) on the same state and measures both, interleaved: the machine is shared,
so only a side-by-side run says whether a change helped.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmaaa.data.schema import Example, Span  # noqa: E402
from ml_backend.labeling import parse_config  # noqa: E402
from ml_backend.predictions import prediction_for  # noqa: E402
from ml_backend.state import ProjectState  # noqa: E402

XML = (ROOT / "label_config" / "ner.xml").read_text(encoding="utf-8")
NAMES = ["Anna", "Bruno", "Chloé", "Dmitri", "王小明", "Zoë", "Oskar", "Hana"]
PLACES = ["Paris", "Berlin", "北京", "Québec", "Lima", "Oslo", "Cairo", "Perth"]


def sentence(i: int) -> Example:
    who, where = NAMES[i % len(NAMES)], PLACES[(i * 3) % len(PLACES)]
    text = f"{who} flew to {where} on day {i} to meet the {i % 13}th delegation ."
    return Example(str(i + 1), text, (Span(0, len(who), "PER", 0.9), Span(text.index(where), text.index(where) + len(where), "LOC", 0.7)))


def populate(model_dir: Path, n_tasks: int, n_llm: int) -> None:
    """Project 1 with ``n_tasks`` stored predictions, ``n_llm`` LLM labels and 5 gold annotations (so a round trains)."""
    from label_studio_sdk.label_interface import LabelInterface

    st = ProjectState(model_dir, 1)
    st.set_meta("label_config", XML)
    schema, li = parse_config(XML), LabelInterface(XML)
    exs = [sentence(i) for i in range(n_tasks)]
    st.upsert_tasks([(int(ex.id), ex.text, {"text": ex.text}) for ex in exs])
    st.save_predictions([(int(ex.id), "llmaaa-1", "llm", (i + 1) / (n_tasks + 1),
                          prediction_for(ex, schema, li, version="llmaaa-1", score=(i + 1) / (n_tasks + 1)))
                         for i, ex in enumerate(exs)])
    st.save_llm_labels([{**ex.to_dict(), "annotation": {"source": "llm", "model": "bench", "error": None}}
                        for ex in exs[:n_llm]], 1)
    for k, ex in enumerate(exs[n_llm : n_llm + 5]):
        result = [{"id": f"g{j}", "from_name": "label", "to_name": "text", "type": "labels",
                   "value": {"start": s.start, "end": s.end, "text": ex.mention(s), "labels": [s.label]}}
                  for j, s in enumerate(ex.entities)]
        st.record_annotation(9000 + k, int(ex.id), result)
    st.publish_version("llmaaa-1")
    st.add_round(1, "llmaaa-1", {"labels_by_source": {"llm": n_llm}})
    st.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def post(conn: http.client.HTTPConnection, path: str, body: dict) -> float:
    data = json.dumps(body).encode()
    t0 = time.perf_counter()
    conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    dt = time.perf_counter() - t0
    if resp.status >= 300:
        raise RuntimeError(f"{path} answered {resp.status}")
    return dt


def predict_body(task_id: int) -> dict:
    ex = sentence(task_id - 1)
    return {"tasks": [{"id": task_id, "data": {"text": ex.text}, "annotations": [], "predictions": [], "project": 1}],
            "project": "1.1700000000", "label_config": XML, "params": {"login": None, "password": None, "context": None}}


def load(port: int, clients: int, per_client: int, n_tasks: int) -> list[float]:
    lat: list[float] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = np.random.default_rng(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = [post(conn, "/predict", predict_body(int(rng.integers(1, n_tasks + 1)))) for _ in range(per_client)]
        conn.close()
        with lock:
            lat.extend(mine)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


def stats(name: str, lat: list[float], wall: float | None = None) -> dict:
    ms = np.asarray(lat) * 1000
    row = {"case": name, "requests": len(ms), "p50_ms": round(float(np.percentile(ms, 50)), 2),
           "p99_ms": round(float(np.percentile(ms, 99)), 2), "max_ms": round(float(ms.max()), 2)}
    if wall:
        row["throughput_rps"] = round(len(ms) / wall, 1)
    return row


def wait_up(port: int) -> None:
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the backend on port {port} did not come up; see the backend log")


def during_training(port: int, n_tasks: int) -> list[dict]:
    """/webhook and /predict latency while a START_TRAINING round runs in the same process."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    post(conn, "/webhook", {"action": "START_TRAINING", "project": {"id": 1}})
    hooks, preds, k = [], [], 0
    started = time.perf_counter()
    while time.perf_counter() - started < 600:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        c.request("GET", "/metrics")
        m = json.loads(c.getresponse().read())
        running = m.get("running")
        if not running and k > 0:
            break
        if running:
            ex = sentence(n_tasks + k)
            hooks.append(post(conn, "/webhook", {
                "action": "ANNOTATION_CREATED", "project": {"id": 1},
                "annotation": {"id": 50000 + k, "task": 100000 + k, "was_cancelled": False, "result": []},
                "task": {"id": 100000 + k, "data": {"text": ex.text}}}))
            preds.append(post(conn, "/predict", predict_body(1 + k % n_tasks)))
            k += 1
        time.sleep(0.05)
    train_s = time.perf_counter() - started
    if not hooks:
        return []
    return [stats(f"/webhook during training ({train_s:.0f} s job)", hooks), stats("/predict during training", preds)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="CI size: fewer requests, a smaller training job")
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "predict_latency.json"))
    ap.add_argument("--predict-only", action="store_true", help="skip the during-training part")
    ap.add_argument("--compare", metavar="DIR", help="also serve ml_backend from DIR (e.g. an older checkout) and "
                    "measure both, interleaved, on the same machine load")
    args = ap.parse_args()
    n_tasks, n_llm = (200, 24) if args.quick else (1000, 60)
    per1, per32 = (200, 10) if args.quick else (1000, 30)

    tmp = Path(tempfile.mkdtemp(prefix="llmaaa-bench-"))
    populate(tmp, n_tasks, n_llm)
    env = {**os.environ, "MODEL_DIR": str(tmp), "LABEL_STUDIO_API_KEY": "", "LLM_BASE_URL": "http://127.0.0.1:9/v1",
           "LLM_MAX_RETRIES": "0", "LLM_BATCH": "1", "MIN_TRAIN_LABELS": "5", "TRAIN_EPOCHS": "2" if args.quick else "4",
           "TRAIN_MAX_LENGTH": "64", "TRAIN_PATIENCE": "0", "LOG_LEVEL": "WARNING", "TRAIN_THRESHOLD": "100000"}
    servers = {"this": ROOT} | ({f"compare ({args.compare})": Path(args.compare).resolve()} if args.compare else {})
    rows = []
    procs: list[subprocess.Popen] = []
    log = open(tmp / "backend.log", "wb")
    try:
        ports = {}
        for name, root in servers.items():
            ports[name] = free_port()
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "--workers", "1", "--threads", "8", "--timeout", "0",
                 "--bind", f"127.0.0.1:{ports[name]}", "ml_backend._wsgi:app"], cwd=root,
                env={**env, "PYTHONPATH": str(root)}, stdout=log, stderr=subprocess.STDOUT))
        for port in ports.values():
            wait_up(port)
            load(port, 4, 20, n_tasks)  # warm-up (imports, SQLite pages)
        suffix = (lambda name: f" [{name}]") if args.compare else (lambda name: "")
        # interleaved in halves so both servers see the same background load
        for clients, per in ((1, per1), (32, per32)):
            lat: dict[str, list[float]] = {n: [] for n in servers}
            wall: dict[str, float] = {n: 0.0 for n in servers}
            for _ in range(2 if args.compare else 1):
                for name, port in ports.items():
                    t0 = time.perf_counter()
                    lat[name] += load(port, clients, per // (2 if args.compare else 1), n_tasks)
                    wall[name] += time.perf_counter() - t0
            for name in servers:
                rows.append(stats(f"/predict, stored, {clients} client{'s' if clients > 1 else ''}{suffix(name)}",
                                  lat[name], wall[name]))
        if not args.predict_only:
            rows += during_training(ports["this"], n_tasks)
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(30)
        log.close()

    print("| case | requests | p50 ms | p99 ms | max ms | req/s |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['case']} | {r['requests']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} | {r.get('throughput_rps', '')} |")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": rows, "quick": args.quick, "cpus": os.cpu_count(), "python": platform.python_version(),
                               "gunicorn": "1 worker, 8 threads"}, indent=1), encoding="utf-8")
    print(f"\nwritten {out} (backend log: {tmp / 'backend.log'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
