"""The LLMaAA learning-curve table: strategies x reweighting x simulated teachers on CoNLL03 NER and CoNLL04 RE.

Each (dataset, teacher) cell is one ``simulate`` experiment (``llmaaa.loop.experiment``) written to
``<out-dir>/<dataset>-<task>-f1_<teacher>/`` (state, curves.json, curves.png, table.md). The few
kilobytes a report needs per run are copied to ``bench/results/<out-dir name>/<cell>/`` (committed),
and the tables and plots are rebuilt from there: over every run kept so far, plus the curves of
earlier seeds under ``<cell>/earlier/``. This script prints every table and writes the combined
JSON. Re-running resumes finished runs.

Full protocol (hours on 2 CPU cores; minutes on a GPU):
    .venv/bin/python bench/paper_table.py
Quick (CI-size: small pool and test, short schedule, 1 seed):
    .venv/bin/python bench/paper_table.py --quick
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from llmaaa.loop.config import LoopConfig  # noqa: E402
from llmaaa.loop.experiment import (  # noqa: E402
    EARLIER_DIR, Experiment, export_report_inputs, report_finished, run_experiment)
from llmaaa.report import markdown_table  # noqa: E402

CELLS = {"conll2003": "ner", "conll04": "re"}
FULL = dict(strategies="random,least_confidence,entropy,kcenter,hybrid", seeds=3, teachers="0.81,0.60",
            reweight="both", demo_pool=100, init=50, rounds=9, per_round=50, pool_size=None, test_size=None, epochs=None,
            lr=None, patience=None)
# quick: budgets 20/40/60 need more epochs and a higher lr than the MiniLM defaults to learn anything
QUICK = dict(strategies="random,least_confidence", seeds=1, teachers="0.60", reweight="off",
             demo_pool=20, init=20, rounds=2, per_round=20, pool_size=200, test_size=100, epochs=8,
             lr=1e-4, patience=0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="a small run: " + ", ".join(f"{k}={v}" for k, v in QUICK.items()))
    ap.add_argument("--datasets", default="conll2003,conll04")
    for key, val in FULL.items():
        ap.add_argument("--" + key.replace("_", "-"), default=None, type=type(val) if val is not None else None,
                        help=f"default {val} (--quick: {QUICK[key]})")
    ap.add_argument("--reweight-strategies", default=None,
                    help="comma list: only these strategies also run reweighted (default: every strategy)")
    ap.add_argument("--re-unit", choices=("example", "pair"), default="example",
                    help="CoNLL04: a label is a sentence with all its pairs (example) or one entity pair (pair, the "
                         "paper's Re-TACRED unit); --pool-size then counts pairs")
    ap.add_argument("--first-seed", type=int, default=0,
                    help="run seeds S..S+N-1 (N = --seeds): more seeds for a grid without re-running seed 0")
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--out-dir", type=Path, default=Path(__file__).parent / "out" / "paper_table")
    ap.add_argument("--results-dir", type=Path, default=None,
                    help="where each cell's report inputs are kept, committed (default bench/results/<out-dir name>); "
                         "the tables and plots are rebuilt from there, over every run ever kept")
    ap.add_argument("--output", type=Path, default=None, help="combined JSON (default <out-dir>/paper_table.json)")
    ap.add_argument("--report-only", action="store_true",
                    help="train nothing: copy the report inputs of the runs under --out-dir into --results-dir, "
                         "then rebuild each cell's table and plot from every run kept there")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    preset = QUICK if args.quick else FULL
    opt = {k: (getattr(args, k) if getattr(args, k) is not None else preset[k]) for k in FULL}
    train = {"epochs": opt["epochs"], "lr": opt["lr"], "patience": opt["patience"]}
    train = {k: (None if v is None else (float(v) if k == "lr" else int(v))) for k, v in train.items()}
    reweights = {"off": (False,), "on": (True,), "both": (False, True)}[opt["reweight"]]
    results_dir = args.results_dir or Path(__file__).parent / "results" / args.out_dir.name
    combined: dict[str, dict] = {}
    t_all = time.perf_counter()
    for dataset in [d for d in args.datasets.split(",") if d]:
        task = CELLS[dataset]
        for f1 in [t for t in opt["teachers"].split(",") if t]:
            unit = "-pairs" if task == "re" and args.re_unit == "pair" else ""
            name = f"{dataset}-{task}{unit}-f1_{f1}"
            loop = LoopConfig(task=task, demo_pool=int(opt["demo_pool"]), init=int(opt["init"]),
                              rounds=int(opt["rounds"]), per_round=int(opt["per_round"]),
                              re_unit=args.re_unit if task == "re" else "example")
            exp = Experiment(
                dataset=dataset, output=args.out_dir / name, loop=loop, teacher=f"simulated:f1={f1}",
                strategies=opt["strategies"].split(","), seeds=int(opt["seeds"]), first_seed=args.first_seed, reweights=reweights,
                reweight_strategies=args.reweight_strategies and args.reweight_strategies.split(","),
                data_dir=args.data_dir, pool_size=opt["pool_size"] and int(opt["pool_size"]),
                test_size=opt["test_size"] and int(opt["test_size"]), train_overrides=train,
            )
            t0 = time.perf_counter()
            if not args.report_only:
                run_experiment(exp)
            kept = results_dir / name
            export_report_inputs(exp.output, kept)
            if not (kept / "runs").is_dir() and not (kept / EARLIER_DIR).is_dir():
                continue
            what = f"{task.upper()}, one entity pair per label" if unit else task.upper()
            try:
                curves = report_finished(kept, title=f"{dataset} {what}, teacher simulated:f1={f1}")
            except FileNotFoundError as e:  # a cell whose only run has not finished its first round
                logging.getLogger(__name__).info("%s: no report yet (%s)", name, e)
                continue
            curves["seconds"] = round(time.perf_counter() - t0, 1)
            combined[name] = {k: v for k, v in curves.items() if k != "runs"}
            print(f"\n### {dataset} {task.upper()}, simulated teacher F1 {f1} ({curves['seconds']:.0f}s)\n")
            print(markdown_table(curves), end="")
    out = args.output or args.out_dir / "paper_table.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"options": opt, "quick": args.quick, "cells": combined,
                               "seconds": round(time.perf_counter() - t_all, 1)}, indent=1))
    print(f"\nwrote {out} (and table.md, curves.png per cell under {results_dir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
