"""``simulate``: run the LLMaAA protocol on a benchmark and write curves.json, curves.png and table.md."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

from llmaaa.active import available
from llmaaa.commands import count

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="run the active loop (strategies x seeds) on CoNLL03, CoNLL04 or your JSONL splits and plot learning curves",
        description=(
            "Runs the LLMaAA protocol: a gold demo pool from dev, an initial random batch, then rounds of "
            "train student -> score pool -> pick k -> teacher labels them. Re-running the same command on the "
            "same --output resumes from its state directories (no LLM call is paid twice)."
        ),
    )
    p.add_argument("--task", choices=("ner", "re"), default="ner")
    p.add_argument("--dataset", default=None,
                   help="required unless --report-only: conll2003 or conll04 (read from --data-dir), or a folder of your own train/dev/test.jsonl "
                        "(llmaaa convert writes them; or .json splits, as TACRED ships; dev gives the gold demo pool, test is optional)")
    p.add_argument("--data-dir", default=None, help="folder with conll2003/ and conll04/ (default: $LLMAAA_DATA_DIR or ../shared/data)")
    p.add_argument("--teacher", default="simulated:f1=0.81",
                   help="'simulated:f1=X' (gold labels corrupted to entity F1 X; for experiments) or 'openai' (the LLM teacher)")
    p.add_argument("--base-url", default=None, help="OpenAI-compatible endpoint for --teacher openai (else $LLM_BASE_URL)")
    p.add_argument("--model", default=None, help="model name for --teacher openai (else $LLM_MODEL)")
    p.add_argument("--strategy", default=None, help=f"one sampler: {', '.join(available())}; options after the name, "
                   "e.g. hybrid:beta=5:diversity=kcenter:measure=entropy")
    p.add_argument("--strategies", default=None, help="comma-separated samplers to compare, e.g. random,least_confidence,hybrid")
    p.add_argument("--seeds", type=count(1), default=1, help="runs per strategy, seeds 0..N-1 (paper: 3)")
    p.add_argument("--first-seed", type=count(0), default=0,
                   help="start at this seed (runs seeds S..S+N-1), to add seeds to a grid without re-running the first")
    p.add_argument("--demo-pool", type=count(1), default=None,
                   help="gold demos from dev, also the reweighting meta set (default $LOOP_DEMO_POOL, else 100)")
    p.add_argument("--init", type=count(1), default=None, help="initial random batch (default $LOOP_INIT, else 50)")
    p.add_argument("--rounds", type=count(0), default=None,
                   help="acquisition rounds after the initial batch (default $LOOP_ROUNDS, else 9)")
    p.add_argument("--per-round", type=count(1), default=None,
                   help="examples the teacher labels per round (default $LOOP_PER_ROUND, else 50)")
    p.add_argument("--pool-size", type=count(1), default=None, help="subsample the unlabeled pool (quick runs)")
    p.add_argument("--test-size", type=count(1), default=None, help="subsample the test split (quick runs)")
    p.add_argument("--reweight", action="store_true", default=None,
                   help="train with learning-to-reweight on the demo pool (default $TRAIN_REWEIGHT, else off)")
    p.add_argument("--compare-reweight", nargs="?", const="all", default=None, metavar="STRATEGIES",
                   help="also run with reweighting: every strategy, or only the comma-separated ones named")
    p.add_argument("--reduction", choices=("sum", "mean", "max"), default=None,
                   help="token/pair reduction of uncertainty scores (default: NER sum as the paper on CoNLL03, RE max)")
    p.add_argument("--re-unit", choices=("example", "pair"), default=None,
                   help="RE: what one label of the budget is: a sentence with all its entity pairs (example), or one "
                        "entity pair (pair: the paper's Re-TACRED unit, ~10x fewer LLM questions and training pairs "
                        "per label on CoNLL04; demos and test stay whole sentences; default $LOOP_RE_UNIT, else example)")
    p.add_argument("--stop-after", type=count(0), default=None,
                   help="stop buying labels once the student's gold F1 >= the teacher's for N rounds (0: never; "
                        "default $LOOP_STOP_AFTER_ROUNDS_MATCHED, else 0)")
    p.add_argument("--epochs", type=count(1), default=None,
                   help="student epochs per round, exactly (default $TRAIN_EPOCHS, else 10, more for few labels: "
                        "up to $TRAIN_MAX_EPOCHS=40 for $TRAIN_MIN_STEPS=200 steps)")
    p.add_argument("--no-ceiling", action="store_true", help="skip the gold-ceiling student")
    p.add_argument("--progress", action="store_true", help="show training progress bars")
    p.add_argument("--output", type=Path, required=True, help="output folder (state, curves.json, curves.png, table.md)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: rewrite the report of --output from every run already in it (all strategies "
                        "and seeds earlier invocations left there, partial runs included)")
    p.set_defaults(func=simulate)


def _reweighted(compare: str | None, names: list[str]) -> list[str] | None:
    """Which strategies ``--compare-reweight [STRATEGIES]`` also runs reweighted (None: all)."""
    if compare in (None, "all"):
        return None
    chosen = [s.strip() for s in compare.split(",") if s.strip()]
    missing = [s for s in chosen if s not in names]
    if missing:
        raise ValueError(f"--compare-reweight names {', '.join(missing)}, which is not among the strategies run ({', '.join(names)})")
    return chosen


def simulate(args: argparse.Namespace) -> int:
    """Run the experiment; a user error (unknown strategy or dataset, bad file, another run's state
    directory) prints one line and exits 2: the finished runs are kept and the same command resumes."""
    from llmaaa.loop.state import LoopStateError

    try:
        return _simulate(args)
    except (ValueError, FileNotFoundError, LoopStateError) as e:  # SamplerError, DatasetNotFound, JsonlError, ...
        print(f"error: {e}", file=sys.stderr)
        return 2


def _simulate(args: argparse.Namespace) -> int:
    from llmaaa.loop.experiment import report_finished, run_experiment

    if args.report_only:
        report_finished(args.output)
        return _print_report(args.output)
    run_experiment(experiment_of(args))
    return _print_report(args.output)


def experiment_of(args: argparse.Namespace) -> Any:
    """The ``Experiment`` the arguments describe: a flag left out takes its ``LOOP_``/``TRAIN_`` variable, as the
    backend and ``llmaaa student train`` do (before, the flags' defaults overrode them without a word)."""
    from llmaaa.active.base import check_spec
    from llmaaa.loop.config import LoopConfig
    from llmaaa.loop.experiment import Experiment

    if not args.dataset:
        raise ValueError("--dataset is required (conll2003, conll04 or a folder of train/dev/test.jsonl or .json)")

    names = [s.strip() for s in (args.strategies or args.strategy or "least_confidence").split(",") if s.strip()]
    for spec in names:  # an unknown name or option is said before any teacher call
        check_spec(spec)
    loop = LoopConfig.from_env(overrides={
        "task": args.task, "demo_pool": args.demo_pool, "init": args.init, "rounds": args.rounds,
        "per_round": args.per_round, "reduction": args.reduction, "stop_after_rounds_matched": args.stop_after,
        "re_unit": args.re_unit,
    })
    reweight = args.reweight
    if reweight is None:  # the student's own setting, as `llmaaa student train` reads it
        from llmaaa.config import from_env
        from llmaaa.training.trainer import TrainConfig

        reweight = from_env(TrainConfig, "TRAIN_").reweight
    if "TRAIN_SEED" in os.environ:
        log.warning("TRAIN_SEED is not used by simulate: each run's seed (sampling, demo pool, student) is one of "
                    "--first-seed .. --first-seed + --seeds - 1")
    return Experiment(
        dataset=args.dataset, output=args.output, loop=loop, teacher=args.teacher, strategies=names,
        seeds=args.seeds, first_seed=args.first_seed, reweights=(False, True) if args.compare_reweight else (reweight,),
        reweight_strategies=_reweighted(args.compare_reweight, names),
        data_dir=args.data_dir, pool_size=args.pool_size, test_size=args.test_size, ceiling=not args.no_ceiling,
        base_url=args.base_url, model=args.model, train_overrides={"epochs": args.epochs}, progress=args.progress,
    )


def _print_report(output: Path) -> int:
    print((output / "table.md").read_text(encoding="utf-8"), end="")
    print(f"\nwrote {output / 'curves.json'}, {output / 'curves.png'}, {output / 'table.md'}")
    return 0
