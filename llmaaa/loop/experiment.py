"""The ``simulate`` protocol: strategies x reweighting x seeds on a benchmark, then one report.

Data roles follow the paper: pool = the train split (gold labels hidden; ``pool_size`` subsamples
it), demo pool = ``demo_pool`` gold examples from dev (seed 42, shared by every run), test = the
test split (``test_size`` subsamples it). Every run has its own state directory under
``output/runs/<series>/seed-<s>``, so re-running the same command resumes instead of repeating.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from llmaaa.annotate.base import Teacher
from llmaaa.data.pairs import PAIR_OF, pair_examples
from llmaaa.data.readers import DatasetNotFound, read_dataset
from llmaaa.data.schema import Example, LabelSet
from llmaaa.loop.config import LoopConfig
from llmaaa.loop.engine import data_fingerprint, gold_fingerprint, run_loop, train_identity
from llmaaa.loop.evaluate import sample_demo_pool, score_predictions, strip_labels, train_ceiling
from llmaaa.loop.state import read_json, write_json
from llmaaa.report import build_curves, series_name, write_report

log = logging.getLogger(__name__)


class TeacherSpecError(ValueError):
    """A ``--teacher`` value that names no known teacher."""


@dataclass
class Experiment:
    """One ``simulate`` invocation; ``loop`` carries the schedule shared by every run."""

    dataset: str
    output: Path
    loop: LoopConfig = field(default_factory=LoopConfig)
    teacher: str = "simulated:f1=0.81"
    strategies: Sequence[str] = ("least_confidence",)
    seeds: int = 1
    # seeds run are first_seed .. first_seed + seeds - 1, so more seeds can be added to a grid whose
    # earlier seeds live elsewhere (another machine, a lost checkout) without re-running them
    first_seed: int = 0
    reweights: Sequence[bool] = (False,)
    # strategies that also get the reweighted series when ``reweights`` has True (None: all of them);
    # reweighting costs ~1.25x a plain run, so a grid can compare it on the paper's strategy alone
    reweight_strategies: Sequence[str] | None = None
    data_dir: str | None = None
    pool_size: int | None = None
    test_size: int | None = None
    ceiling: bool = True
    base_url: str | None = None
    model: str | None = None
    train_overrides: dict[str, Any] = field(default_factory=dict)
    progress: bool = False


def _subsample(examples: list[Example], n: int | None, seed: int = 0) -> list[Example]:
    if n is None or n >= len(examples):
        return examples
    idx = np.random.default_rng(seed).permutation(len(examples))[:n]
    return [examples[i] for i in sorted(idx)]


def _unique_ids(splits: dict[str, list[Example]]) -> dict[str, list[Example]]:
    """Ids made unique across splits (``"<split>/<id>"``) when they collide.

    The simulated teacher and the run state find examples by id; a user's files numbered from 1 in
    every split would otherwise hand the teacher a dev sentence's labels for a train sentence.
    """
    seen: set[str] = set()
    clash = False
    for examples in splits.values():
        ids = {ex.id for ex in examples}
        clash = clash or bool(ids & seen)
        seen |= ids
    if not clash:
        return splits
    log.warning("example ids repeat across splits; using '<split>/<id>' ids in this experiment")
    return {name: [dataclasses.replace(ex, id=f"{name}/{ex.id}") for ex in examples] for name, examples in splits.items()}


def _with_pairs(examples: list[Example], split: str) -> list[Example]:
    """The examples with at least two entities (an RE candidate pair); the rest are counted in the log."""
    kept = [ex for ex in examples if len(ex.entities) >= 2]
    if len(kept) < len(examples):
        log.info("RE: left out %d of %d %s examples with fewer than 2 entities (no pair to classify)",
                 len(examples) - len(kept), len(examples), split)
    return kept


class Splits(NamedTuple):
    """The experiment's data. ``sources``: with ``re_unit="pair"``, the sentences the pool's pair
    examples were cut from, which a simulated teacher labels (else empty: the pool is its own source)."""

    pool: list[Example]
    demo: list[Example]
    test: list[Example]
    labels: LabelSet
    sources: list[Example]


def load_splits(exp: Experiment) -> Splits:
    train = read_dataset(exp.dataset, "train", exp.data_dir)
    dev = read_dataset(exp.dataset, "dev", exp.data_dir)
    try:
        test = read_dataset(exp.dataset, "test", exp.data_dir)
    except DatasetNotFound as e:  # a user's folder may have no test split: curves on the demo pool only
        log.warning("%s; running without a test split (student and teacher F1 on the gold demo pool only)", e)
        test = []
    train, dev, test = _unique_ids({"train": train, "dev": dev, "test": test}).values()
    empty = [ex.id for ex in train if not ex.text.strip()]
    if empty:  # nothing to label: each would spend a label of the budget on an empty answer
        log.warning("left %d empty texts out of the pool (%s)", len(empty), ", ".join(empty[:5]))
        train = [ex for ex in train if ex.text.strip()]
    # dev is the gold demo pool: its labels are the project's even when train is unlabeled (an LLM teacher's
    # pool needs no labels); from train alone, such a run would ask with no entity types, pay, then fail
    labels = LabelSet.from_examples([*train, *dev])
    if not labels.entity_labels:
        raise ValueError(f"dataset {exp.dataset!r}: neither train nor dev has a labeled entity, so there is no label set "
                         "to ask for; label the dev split (the gold demo pool)")
    _warn_unseen_labels(labels, dev, test)
    if exp.loop.task == "re":  # RE needs candidate pairs
        train, test = _with_pairs(train, "train"), _with_pairs(test, "test")
    sources: list[Example] = []
    if exp.loop.re_unit == "pair":  # the pool is cut into pairs; demos and test stay whole sentences
        pool = _subsample(pair_examples(train), exp.pool_size)
        cut = {ex.extra[PAIR_OF] for ex in pool}
        sources = [ex for ex in train if ex.id in cut]
    else:
        pool = _subsample(train, exp.pool_size)
    demo = sample_demo_pool(dev, exp.loop.demo_pool, task=exp.loop.task, seed=42)
    return Splits(pool, demo, _subsample(test, exp.test_size), labels, sources)


def _warn_unseen_labels(labels: LabelSet, dev: Sequence[Example], test: Sequence[Example]) -> None:
    """Labels only test uses: the label set comes from train and dev, so the teacher is never asked for them and
    the student never learns them, and every gold span of theirs is a miss on test."""
    for name, split, known in (("entity", [s.label for ex in test for s in ex.entities], labels.entity_labels),
                               ("relation", [r.label for ex in test for r in ex.relations], labels.relation_labels)):
        unseen = sorted(set(split) - set(known))
        if unseen:
            log.warning("%s labels in test but never in train or dev, so never asked for nor learned (every gold one "
                        "counts as missed): %s", name, ", ".join(unseen[:10]))


def make_teacher(exp: Experiment, *, gold: Sequence[Example], demo: Sequence[Example], labels: LabelSet, seed: int) -> Teacher:
    """``simulated:f1=X`` (gold corrupted to F1 X, clearly named so) or ``openai`` (the LLM teacher)."""
    spec = check_teacher_spec(exp.teacher)
    if spec.startswith("simulated"):
        from llmaaa.annotate.simulated import SimulatedTeacher

        target = float(_simulated_options(spec).get("f1", 0.81))
        return SimulatedTeacher(list(gold), labels, task=exp.loop.task, target_f1=target, seed=seed)
    if spec in ("openai", "llm"):
        from llmaaa.annotate.factory import build_llm_teacher

        return build_llm_teacher(
            labels, demo, task=exp.loop.task, base_url=exp.base_url, model=exp.model,
            cache_path=exp.output / "llm_cache.sqlite",
        )
    raise AssertionError(spec)  # check_teacher_spec let through a spec this function does not build


def _simulated_options(spec: str) -> dict[str, str]:
    """``simulated:f1=0.6`` -> {"f1": "0.6"}; spaces around keys and values ("simulated: f1 = 0.6") dropped."""
    return {k.strip(): v.strip() for k, v in (kv.split("=", 1) for kv in spec.partition(":")[2].split(",") if "=" in kv)}


def check_teacher_spec(spec: str) -> str:
    """``spec`` if it names a teacher ``make_teacher`` builds, else ``TeacherSpecError`` (before any data is read)."""
    if spec in ("openai", "llm"):
        return spec
    if spec == "simulated" or spec.startswith("simulated:"):
        # every option named: "simulated:0.5" or "simulated:F1=0.5" ran at the default 0.81, unsaid
        parts = [kv for kv in spec.partition(":")[2].split(",") if kv.strip()]
        bad = [kv for kv in parts if "=" not in kv or kv.split("=", 1)[0].strip() != "f1"]
        if bad:
            raise TeacherSpecError(f"teacher {spec!r}: {bad[0]!r} is no option of the simulated teacher; write "
                                   "'simulated:f1=0.81' (its one option, f1, in lower case)")
        f1 = _simulated_options(spec).get("f1", "0.81")
        try:
            ok = 0.0 < float(f1) <= 1.0
        except ValueError:
            ok = False
        if not ok:
            raise TeacherSpecError(f"teacher {spec!r}: f1 must be a number in (0, 1], e.g. 'simulated:f1=0.81'")
        return spec
    raise TeacherSpecError(f"unknown teacher {spec!r}; use 'simulated:f1=0.81' or 'openai' (with --base-url/--model)")


def _cached(path: Path, identity: dict[str, Any]) -> dict[str, Any] | None:
    """The measurement cached in ``path`` if it was made on what ``identity`` names (data, budget, student).

    A cell's teacher and ceiling files are kept per seed; without this a ``--quick`` run's ceiling (60
    labels, 100 test sentences) would stand in a full run's table. Files older than the identity key
    are taken as they are."""
    cached = read_json(path)
    if cached is None or cached.get("identity") is None:
        return cached
    wanted = json.loads(json.dumps(identity))  # tuples -> lists, as the file has them
    # a key the file lacks (written before it was part of the identity) is not a difference
    if all(cached["identity"][k] == v for k, v in wanted.items() if k in cached["identity"]):
        return cached
    log.warning("%s was measured on other data or student options; measuring again", path)
    return None


def teacher_on_test(teacher: Teacher, test: Sequence[Example], task: str, path: Path) -> float | None:
    """The teacher's F1 on the test split (what the student's test F1 is compared with), cached in ``path``.

    A measurement with failed labels (a dead endpoint, a spent budget) scores them as empty answers: it is
    cached with its failures and measured again next time, as the demo-pool measurement is, instead of
    standing as the teacher's F1 for good."""
    identity = {"teacher": teacher.name, "test": data_fingerprint((), (), test), "gold": gold_fingerprint((), (), test)}
    cached = _cached(path, identity)
    if cached is not None and not cached.get("failed"):
        return cached["f1"]
    if not test:
        return None
    annotated = teacher.annotate([strip_labels(ex, task) for ex in test])
    m = score_predictions(task, test, annotated)
    write_json(path, {"teacher": teacher.name, "n": len(test), "f1": m["f1"], "precision": m["precision"],
                      "recall": m["recall"], "failed": m.get("failed", 0), "identity": identity})
    if m.get("failed"):
        log.warning("teacher %s failed on %d of %d test examples: its test F1 %.4f counts them as empty answers "
                    "(asked again on the next run: an endpoint's failure may pass, an answer that could not be read "
                    "comes back the same from the LLM cache)", teacher.name, m["failed"], len(test), m["f1"])
    return m["f1"]


def run_experiment(exp: Experiment) -> dict[str, Any]:
    """Run every (strategy, reweight, seed) loop, the gold ceilings, and write the report to ``exp.output``."""
    from llmaaa.training.trainer import TrainConfig

    from llmaaa.config import from_env

    check_teacher_spec(exp.teacher)
    pool, demo, test, labels, sources = load_splits(exp)
    train_cfg = from_env(TrainConfig, "TRAIN_", exp.train_overrides)
    unit = f" ({exp.loop.re_unit}s of {len(sources)} sentences)" if sources else ""
    log.info("pool %d%s, demo pool %d, test %d; labels %s", len(pool), unit, len(demo), len(test), labels)
    runs, teacher_test, ceilings = [], [], []
    teacher_gold: dict[Any, list[float]] = {}  # per seed: every run of a seed measures the same teacher
    teacher_name = exp.teacher
    gold_lookup = [*(sources or pool), *demo, *test]
    strategies = list(dict.fromkeys(exp.strategies))  # a strategy named twice would train twice in one folder
    if len(strategies) < len(exp.strategies):            # and pass for two seeds in the table
        log.warning("strategies named more than once run once: %s", ", ".join(
            sorted({s for s in exp.strategies if exp.strategies.count(s) > 1})))
    for seed in range(exp.first_seed, exp.first_seed + exp.seeds):
        teacher = make_teacher(exp, gold=gold_lookup, demo=demo, labels=labels, seed=seed)
        teacher_name = teacher.name
        t_test = teacher_on_test(teacher, test, exp.loop.task, exp.output / "teacher" / f"test-seed-{seed}.json")
        if t_test is not None:
            teacher_test.append(t_test)
        for strategy in strategies:
            for rw in exp.reweights:
                if rw and exp.reweight_strategies is not None and strategy not in exp.reweight_strategies:
                    continue
                cfg = dataclasses.replace(exp.loop, strategy=strategy, reweight=rw, seed=seed)
                # "hybrid:beta=5" as a folder name every file system takes: hybrid_beta-5
                folder = series_name(strategy, rw).replace(":", "_").replace("=", "-")
                state_dir = exp.output / "runs" / folder / f"seed-{seed}"
                log.info("run %s seed %d -> %s", series_name(strategy, rw), seed, state_dir)
                result = run_loop(cfg, pool=pool, demo=demo, teacher=teacher, labels=labels, state_dir=state_dir,
                                  test=test, train_config=train_cfg, progress=exp.progress)
                if result.teacher_gold and result.teacher_gold.get("f1") is not None:
                    teacher_gold.setdefault(seed, []).append(result.teacher_gold["f1"])
                runs.append({"strategy": strategy, "reweight": rw, "seed": seed, "records": result.records,
                             "stopped": result.stopped})
        if exp.ceiling:
            path = exp.output / "ceiling" / f"seed-{seed}.json"
            identity = {"data": data_fingerprint(pool, demo, test), "gold": gold_fingerprint(pool, demo, test),
                        "budget": exp.loop.budget,
                        "train": {k: v for k, v in train_identity(train_cfg).items() if k != "reweight_method"}}
            ceil = _cached(path, identity)
            if ceil is None:
                ceil = {**train_ceiling(exp.loop.task, pool, demo, labels, exp.loop.budget, train_config=train_cfg,
                                        seed=seed, test=test), "identity": identity}
                write_json(path, ceil)
            ceilings.append(ceil)
    teacher_info = _teacher_info(teacher_name, teacher_gold, teacher_test)
    title = f"{exp.dataset} {exp.loop.task.upper()}, teacher {exp.teacher}, {exp.seeds} seed(s)"
    return write_report(exp.output, runs, teacher=teacher_info, ceiling=ceilings, title=title)


def _teacher_info(name: str, gold: dict[Any, list[float]], test: Sequence[float]) -> dict[str, Any]:
    """The report's teacher line: its F1 on the demo pool and on test, averaged over seeds.

    ``gold`` holds each seed's demo-pool measurements, one per run: averaged per seed first, so a seed
    with ten runs does not weigh more than a seed with five."""
    per_seed = [float(np.mean(v)) for v in gold.values() if v]
    return {"name": name, "gold_f1": float(np.mean(per_seed)) if per_seed else None,
            "test_f1": float(np.mean(test)) if test else None}


EARLIER_DIR = "earlier"  # curves documents of seeds run elsewhere, pooled into report_finished's table


def report_finished(output: Path, *, title: str = "") -> dict[str, Any]:
    """Rewrite the report of ``output`` from every run found on disk, without training or reading data.

    A grid grows by separate invocations (two strategies get more seeds, another teacher level gets
    one strategy), and each invocation's report covers only what it ran; this one reads back all of
    ``runs/<series>/seed-<s>`` (partial runs included, their budgets counted per seed in ``n``), the
    cached teacher scores and the gold ceilings, so the cell's table shows the whole grid again.
    Curves documents under ``earlier/`` (seeds whose run states are elsewhere) are pooled in.
    """
    runs, teacher_test = [], []
    teacher_gold: dict[Any, list[float]] = {}
    teacher_name = ""
    setups: dict[str, list[str]] = {}  # what each run was measured on -> its runs
    for state_dir in sorted(output.glob("runs/*/seed-*")):
        identity = read_json(state_dir / "config.json")
        records = read_json(state_dir / "rounds.json", [])
        if identity is None or not records:
            log.info("report: %s has no finished round yet; left out", state_dir)
            continue
        setups.setdefault(_setup_of(identity), []).append(f"{state_dir.parent.name}/{state_dir.name}")
        gold = read_json(state_dir / "teacher_gold.json")
        if gold and gold.get("f1") is not None:
            teacher_gold.setdefault(identity.get("seed"), []).append(gold["f1"])
        teacher_name = teacher_name or identity.get("teacher", "")
        runs.append({"strategy": identity["strategy"], "reweight": bool(identity.get("reweight")),
                     "seed": identity.get("seed"), "records": records,
                     "stopped": next((r["stopped"] for r in records if r.get("stopped")), None)})
    earlier = [read_json(path) for path in sorted(output.glob(f"{EARLIER_DIR}/*.json"))]
    if not runs and not earlier:
        raise FileNotFoundError(f"{output} holds no loop run (runs/<series>/seed-<s>/rounds.json); nothing to report")
    for path in sorted(output.glob("teacher/test-seed-*.json")):
        cached = read_json(path)
        teacher_test.append(cached["f1"])
        teacher_name = teacher_name or cached.get("teacher", "")
    ceilings = [read_json(path) for path in sorted(output.glob("ceiling/seed-*.json"))]
    data = {json.loads(setup)["data"] for setup in setups}
    measured_on = [(c.get("identity") or {}).get("data") for c in ceilings]  # None: a file from before identities
    other = [f"seed {c.get('seed', '?')}" for c, d in zip(ceilings, measured_on) if d is not None and data and d not in data]
    teacher_info = _teacher_info(teacher_name, teacher_gold, teacher_test)
    counted = build_curves(runs, teacher=teacher_info, earlier=earlier)["series"].values()
    counts = sorted({max(series["n"], default=0) for series in counted})
    seeds = f"{counts[0]} seed(s)" if len(counts) == 1 else f"{counts[0]}-{counts[-1]} seeds per series"
    # the heading the runs' own report gave (dataset and task), not the folder's name
    prior = re.sub(r", (?:\d+ seed\(s\)|\d+-\d+ seeds per series)$", "",
                   str((read_json(output / "curves.json") or {}).get("title") or ""))
    heading = title or prior or f"{output.name}, teacher {teacher_name}"
    notes = []
    if len(setups) > 1:
        odd = ", ".join(r for group in sorted(setups.values(), key=len)[:-1] for r in group)
        notes.append(f"this table pools runs of different data or options (pool, schedule, student): {odd} differ "
                     "from the rest")
        log.warning("report %s: %s; run them again with the same options, or keep them in another --out-dir",
                    output, notes[-1])
    if other:
        notes.append(f"the gold ceiling of {', '.join(other)} was measured on other data than the runs")
        log.warning("report %s: %s", output, notes[-1])
    return write_report(output, runs, teacher=teacher_info, ceiling=ceilings, earlier=earlier,
                        title=f"{heading}, {seeds}", notes=notes)


def _setup_of(identity: dict[str, Any]) -> str:
    """What a run was measured on, from its ``config.json``: the data, the schedule and the student's options
    (not the strategy, reweighting or seed, which are what a table compares). The gold fingerprint is left
    out: runs written before it was recorded have none, and its data fingerprint already tells other data."""
    train = {k: v for k, v in (identity.get("train") or {}).items() if k != "reweight_method"}
    keys = ("task", "data", "pool_size", "demo_pool", "init", "per_round", "re_unit", "teacher")
    return json.dumps({**{k: identity.get(k) for k in keys}, "train": train}, sort_keys=True)


# what ``report_finished`` reads, per run and per cell: kilobytes, unlike the students and labeled sets
REPORT_INPUTS = ("runs/*/seed-*/config.json", "runs/*/seed-*/rounds.json", "runs/*/seed-*/teacher_gold.json",
                 "teacher/test-seed-*.json", "ceiling/seed-*.json", f"{EARLIER_DIR}/*.json")


def export_report_inputs(output: Path, dest: Path) -> list[Path]:
    """Copy the files ``report_finished`` needs from ``output`` to ``dest`` (which may already hold more).

    A cell's state directories are gigabytes of students and are not kept; these few JSON files
    are, so a grid's numbers outlive the machine that ran them and ``report_finished(dest)``
    rebuilds its table and plot anywhere. ``dest`` may be ``output`` itself (a report rebuilt where its runs
    were kept): nothing is copied then.
    """
    copied: list[Path] = []
    if output.resolve() == dest.resolve():
        return copied
    for pattern in REPORT_INPUTS:
        for src in sorted(output.glob(pattern)):
            target = dest / src.relative_to(output)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, target)
            copied.append(target)
    return copied
