"""Is the teacher server-bound? Concurrency speed-up, our per-example overhead, and a free cached re-run.

Against a loopback OpenAI-compatible server (tests/openai_stub.py) with a fixed latency (200 ms),
annotate N examples (300; ``--quick``: 64) with 5 random demos each at concurrency 1 and 32:
- throughput ratio (goal >= 20x) and the fraction of the server-bound ideal at 32
  (ideal time = ceil(N / 32) x latency; goal >= 0.9);
- per-example overhead: at concurrency 1, time per example beyond the server latency (our code +
  the openai SDK + HTTP on loopback), and the cached re-run's time per example (our code alone:
  prompt, cache lookup, parse, alignment; goal <= 1 ms);
- requests the cached re-run sends (goal 0).

    .venv/bin/python bench/teacher_throughput.py [--quick] [--n 300] [--latency 0.2] [--output bench/out/teacher_throughput.json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from openai_stub import ScriptedOpenAI, last_user_message  # noqa: E402

from llmaaa.annotate.client import LLMConfig  # noqa: E402
from llmaaa.annotate.retrieval import DemoIndex  # noqa: E402
from llmaaa.annotate.teacher import LLMTeacher  # noqa: E402
from llmaaa.data.schema import Example, LabelSet, Span  # noqa: E402

LABELS = LabelSet(("PER", "ORG", "LOC", "MISC"))
NAMES = ["Anna Schmidt", "Li Wei", "José Álvarez", "Olusegun Obasanjo", "Marie Curie"]
PLACES = ["Berlin", "北京", "São Paulo", "Lagos", "Paris"]


def make_examples(n: int, prefix: str) -> list[Example]:
    out = []
    for i in range(n):
        name, place = NAMES[i % 5], PLACES[(i // 5) % 5]
        text = f"On day {i}, {name} flew from {place} to meet officials of Acme Corp in {place}."
        s, p, o, p2 = text.index(name), text.index(place), text.index("Acme Corp"), text.rindex(place)
        out.append(Example(f"{prefix}{i}", text, (Span(s, s + len(name), "PER"), Span(p, p + len(place), "LOC"),
                                                  Span(o, o + 9, "ORG"), Span(p2, p2 + len(place), "LOC"))))
    return out


def answer(req: dict, n: int) -> str:
    text = last_user_message(req)
    ents = [{"span": w, "type": "PER"} for w in NAMES if w in text] + [{"span": w, "type": "LOC"} for w in PLACES if w in text]
    return json.dumps(ents + [{"span": "Acme Corp", "type": "ORG"}], ensure_ascii=False)


def _serve(latency: float, conn) -> None:
    with ScriptedOpenAI(answer, latency=latency) as llm:
        conn.send(llm.base_url)
        conn.recv()  # until the parent says stop


@contextlib.contextmanager
def stub_process(latency: float):
    """The stub in its own process: in-process, its HTTP threads would share the client's GIL."""
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_serve, args=(latency, child), daemon=True)
    proc.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        proc.join(10)


def request_count(base_url: str) -> int:
    with urllib.request.urlopen(base_url + "/stub/requests", timeout=10) as r:
        return json.load(r)["count"]


def run(pool, demos, base_url, concurrency, cache) -> tuple[float, LLMTeacher, list[Example]]:
    cfg = LLMConfig(base_url=base_url, model="stub-model", concurrency=concurrency, timeout_s=30)
    t = LLMTeacher(cfg, LABELS, DemoIndex(examples=demos, mode="random"), k=5, cache=cache)
    start = time.perf_counter()
    out = t.annotate([ex.with_labels(entities=()) for ex in pool])
    return time.perf_counter() - start, t, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="64 examples instead of 300")
    ap.add_argument("--n", type=int, default=None)
    ap.add_argument("--latency", type=float, default=0.2)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--output", default=str(ROOT / "bench" / "out" / "teacher_throughput.json"))
    args = ap.parse_args()
    n = args.n or (64 if args.quick else 300)
    pool, demos = make_examples(n, "q"), make_examples(50, "d")
    res: dict = {"n": n, "latency_s": args.latency, "concurrency": args.concurrency,
                 "machine": f"{platform.machine()} {platform.python_version()}"}
    with tempfile.TemporaryDirectory() as tmp, stub_process(args.latency) as base_url:
        run(pool[:4], demos, base_url, 1, None)  # warm-up: imports, first connection
        t1, _, out1 = run(pool, demos, base_url, 1, None)
        cpu0 = time.process_time()
        tc, _, outc = run(pool, demos, base_url, args.concurrency, Path(tmp) / "cache.sqlite")
        cpu_cN = time.process_time() - cpu0
        before = request_count(base_url)
        tcache, cached_teacher, outr = run(pool, demos, base_url, args.concurrency, Path(tmp) / "cache.sqlite")
        cached_requests = request_count(base_url) - before
    correct = sum(o.entities == g.entities for o, g in zip(outc, pool))
    ideal = math.ceil(n / args.concurrency) * args.latency
    res.update({
        "seconds_c1": t1, "seconds_cN": tc, "throughput_c1": n / t1, "throughput_cN": n / tc,
        "ratio": t1 / tc, "ideal_seconds_cN": ideal, "fraction_of_ideal": ideal / tc,
        "overhead_ms_c1": (t1 / n - args.latency) * 1e3, "client_cpu_ms_per_request_cN": cpu_cN / n * 1e3,
        "load_average": os.getloadavg()[0], "cpus": os.cpu_count(), "cached_seconds": tcache,
        "overhead_ms_ours": tcache / n * 1e3, "cached_rerun_requests": cached_requests,
        "cached_summary": cached_teacher.last_summary.to_dict() if cached_teacher.last_summary else None,
        "failed": sum(o.failed for o in (*out1, *outc, *outr)), "exact_labels_cN": correct,
    })
    rows = [
        ("examples", f"{n}", ""), ("server latency", f"{args.latency * 1e3:.0f} ms", ""),
        ("time at concurrency 1", f"{t1:.2f} s", f"{n / t1:.1f} ex/s"),
        (f"time at concurrency {args.concurrency}", f"{tc:.2f} s", f"{n / tc:.1f} ex/s"),
        ("throughput ratio", f"{t1 / tc:.1f}x", "goal >= 20x"),
        ("fraction of server-bound ideal", f"{ideal / tc:.2f}", f"ideal {ideal:.2f} s; goal >= 0.9"),
        ("overhead per example at c=1 (ours + SDK + HTTP)", f"{res['overhead_ms_c1']:.2f} ms", ""),
        (f"client CPU per request at c={args.concurrency} (ours + SDK + HTTP)", f"{cpu_cN / n * 1e3:.2f} ms",
         f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"),
        ("our code per example (cached re-run)", f"{res['overhead_ms_ours']:.2f} ms", "goal <= 1 ms"),
        ("requests in the cached re-run", f"{cached_requests}", "goal 0"),
        ("failed examples (all runs)", f"{res['failed']}", f"labels exact: {correct}/{n}"),
    ]
    print("| measure | value | note |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(res, indent=2, ensure_ascii=False), encoding="utf-8")
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()
