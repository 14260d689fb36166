"""The active loop: bookkeeping on hand-made data, and a tiny real end-to-end run with resume."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

from llmaaa.data.schema import Example, LabelSet, Relation, Span
from llmaaa.loop import LoopConfig, LoopState, LoopStateError, run_loop, sample_demo_pool
from llmaaa.loop.evaluate import strip_labels, usage_totals

LABELS = LabelSet(("PER", "LOC"))
PEOPLE = ["Alice", "Bob", "Carol", "Dmitri", "Émile", "Zoë", "Oskar", "Hana"]
PLACES = ["Paris", "Berlin", "Tokyo", "Lima", "Québec", "Oslo", "Cairo", "Perth"]


def sentence(i: int) -> Example:
    """Templated sentences with one person and one place; every 7th is Chinese, some carry emoji."""
    if i % 7 == 3:
        text = "王小明住在北京。"
        return Example(f"s{i}", text, (Span(0, 3, "PER"), Span(5, 7, "LOC")))
    who, where = PEOPLE[i % len(PEOPLE)], PLACES[(i * 3) % len(PLACES)]
    pre = "🙂 " if i % 5 == 0 else ""
    text = f"{pre}{who} flew to {where} on day {i} ."
    s = len(pre)
    return Example(f"s{i}", text, (Span(s, s + len(who), "PER"), Span(text.index(where), text.index(where) + len(where), "LOC")))


def test_config_from_env_and_budget():
    from llmaaa.config import from_env

    cfg = from_env(LoopConfig, "LOOP_", environ={"LOOP_ROUNDS": "3", "LOOP_STRATEGY": "kcenter", "LOOP_REWEIGHT": "1"})
    assert (cfg.rounds, cfg.strategy, cfg.reweight) == (3, "kcenter", True)
    assert cfg.budget == 50 + 3 * 50
    assert LoopConfig().budget == 500  # the paper's schedule


def test_state_refuses_a_different_run_and_says_what_to_do(tmp_path):
    st = LoopState(tmp_path)
    st.bind(LoopConfig(strategy="random").identity())
    st.bind(LoopConfig(strategy="random", rounds=20).identity())  # extending the schedule is a resume
    with pytest.raises(LoopStateError, match=r"strategy: 'random' -> 'entropy'.*new output directory"):
        st.bind(LoopConfig(strategy="entropy").identity())


def test_labeled_batches_round_trip_with_provenance(tmp_path):
    st = LoopState(tmp_path)
    st.add_batch(0, [sentence(1).with_labels(annotation={"source": "simulated", "error": None})])
    st.add_batch(1, [sentence(3)])
    got = LoopState(tmp_path).labeled()
    assert [(ex.id, ex.extra["loop"]["batch"]) for ex in got] == [("s1", 0), ("s3", 1)]
    assert got[1].mention(got[1].entities[0]) == "王小明"
    assert not list(tmp_path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_demo_pool_is_seeded_and_ner_keeps_sentences_with_entities():
    dev = [sentence(i) if i % 2 else Example(f"e{i}", "nothing here .") for i in range(30)]
    a = sample_demo_pool(dev, 10, task="ner", seed=42)
    assert a == sample_demo_pool(dev, 10, task="ner", seed=42)
    assert len(a) == 10 and all(ex.entities for ex in a)
    with pytest.raises(ValueError, match="only 15 usable"):
        sample_demo_pool(dev, 16, task="ner")


def test_strip_labels_hides_gold_from_teacher_and_student():
    ex = sentence(1)
    assert strip_labels(ex, "ner").entities == ()
    assert strip_labels(ex, "re").entities == ex.entities  # RE is given the entities


def test_usage_totals_separates_cached_from_paid():
    mk = lambda c, cached: Example("x", "t", extra={"annotation": {"usage": {"prompt_tokens": 10, "completion_tokens": 2, "cost": c}, "cached": cached}})  # noqa: E731
    assert usage_totals([mk(0.5, False), mk(0.25, True), Example("y", "t")]) == (20, 4, 0.75, 0.5)


# --- end to end ----------------------------------------------------------------------------------


class CountingTeacher:
    """Wraps a real teacher and records which ids it was asked to label (or fails on a given call)."""

    def __init__(self, inner, fail_on_call: int | None = None):
        self.inner, self.name, self.fail_on_call = inner, inner.name, fail_on_call
        self.calls: list[list[str]] = []

    def annotate(self, examples):
        self.calls.append([ex.id for ex in examples])
        if self.fail_on_call == len(self.calls):
            raise ConnectionError("simulated crash while the teacher was labeling")
        return self.inner.annotate(examples)


class SilentTeacher:
    """A teacher that finds nothing (F1 0): any student matches it."""

    name = "silent"

    def annotate(self, examples):
        return [ex.with_labels(entities=(), annotation={"source": "test", "error": None}) for ex in examples]


@pytest.mark.slow
def test_tiny_loop_resumes_without_relabeling(tmp_path):
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.training.trainer import TrainConfig

    pool = [sentence(i) for i in range(40)]
    demo = [sentence(i) for i in range(100, 110)]
    test = [sentence(i) for i in range(200, 208)]
    sim = SimulatedTeacher([*pool, *demo, *test], LABELS, task="ner", target_f1=0.8, seed=0)
    train = TrainConfig(epochs=1, batch_size=8, patience=1)
    cfg = LoopConfig(task="ner", strategy="least_confidence", init=8, per_round=6, rounds=1, seed=0)
    kw = dict(pool=pool, demo=demo, labels=LABELS, state_dir=tmp_path, test=test, train_config=train)

    # 1) the teacher crashes while labeling the first selected batch (its 3rd call: demo pool, init, batch 1)
    crashing = CountingTeacher(sim, fail_on_call=3)
    with pytest.raises(ConnectionError):
        run_loop(cfg, teacher=crashing, **kw)
    records = json.loads((tmp_path / "rounds.json").read_text())
    assert len(records) == 1 and len(records[0]["selected_ids"]) == 6
    selected = records[0]["selected_ids"]

    # 2) resume: the saved selection is labeled, round 0 is not retrained, round 1 is
    t2 = CountingTeacher(sim)
    res = run_loop(cfg, teacher=t2, **kw)
    assert t2.calls == [selected]
    assert [r["budget"] for r in res.records] == [8, 14]
    assert res.records[0] == records[0]
    assert res.records[1]["student_test_f1"] is not None and res.records[1]["teacher_gold_f1"] is not None
    from llmaaa.loop.evaluate import score_predictions

    bought = LoopState(tmp_path).labeled()
    gold = {ex.id: ex for ex in pool}
    assert res.records[1]["bought_labels_f1"] == score_predictions("ner", [gold[ex.id] for ex in bought], bought)["f1"]

    # 3) extend to 2 rounds: only the new batch is labeled; earlier labels are untouched
    before = (tmp_path / "labeled.jsonl").read_text(encoding="utf-8")
    t3 = CountingTeacher(sim)
    res = run_loop(LoopConfig(**{**cfg.__dict__, "rounds": 2}), teacher=t3, **kw)
    assert len(t3.calls) == 1 and len(t3.calls[0]) == 6
    assert not set(t3.calls[0]) & {ex.id for ex in LoopState(tmp_path).labeled()[:14]}
    assert (tmp_path / "labeled.jsonl").read_text(encoding="utf-8").startswith(before)
    assert [r["budget"] for r in res.records] == [8, 14, 20]
    assert len({ex.id for ex in res.labeled}) == 20
    assert sorted(p.name for p in (tmp_path / "students").iterdir()) == ["round-2"]

    # 4) a finished run re-run is a no-op for the teacher
    t4 = CountingTeacher(sim)
    run_loop(LoopConfig(**{**cfg.__dict__, "rounds": 2}), teacher=t4, **kw)
    assert t4.calls == []


@pytest.mark.slow
def test_stopping_rule_stops_buying_labels_once_the_student_matches_the_teacher(tmp_path):
    from llmaaa.training.trainer import TrainConfig

    pool = [sentence(i) for i in range(30)]
    demo = [sentence(i) for i in range(100, 106)]
    cfg = LoopConfig(task="ner", strategy="random", init=6, per_round=6, rounds=3, stop_after_rounds_matched=1)
    res = run_loop(cfg, pool=pool, demo=demo, labels=LABELS, teacher=SilentTeacher(), state_dir=tmp_path,
                   train_config=TrainConfig(epochs=1, patience=1))
    assert res.teacher_gold["f1"] == 0.0
    assert len(res.records) == 1 and len(res.labeled) == 6
    assert res.records[0]["bought_labels_f1"] == 0.0  # its labels scored against the pool's gold
    assert "matched the teacher" in res.stopped and res.records[0]["stopped"] == res.stopped
    assert res.stopped.endswith("the teacher scores 0 on the gold set, so its labels teach nothing")


@pytest.mark.slow
def test_a_match_on_the_schedules_last_round_is_no_stop(tmp_path):
    """Recorded as a stop, a run that bought its whole budget read as cut short ('not by 12 (stopped)')."""
    from llmaaa.training.trainer import TrainConfig

    pool, demo = [sentence(i) for i in range(30)], [sentence(i) for i in range(100, 106)]
    cfg = LoopConfig(task="ner", strategy="random", init=6, per_round=6, rounds=1, stop_after_rounds_matched=2)
    res = run_loop(cfg, pool=pool, demo=demo, labels=LABELS, teacher=SilentTeacher(), state_dir=tmp_path,
                   train_config=TrainConfig(epochs=1, patience=1, max_length=32))
    assert [r["budget"] for r in res.records] == [6, 12]  # the rule held on both rounds; the second was the last
    assert res.stopped is None and not any("stopped" in r for r in res.records)


@pytest.mark.slow
def test_simulate_cli_writes_curves_table_and_png(tmp_path):
    from pathlib import Path

    from llmaaa.cli import main
    from llmaaa.data.readers import resolve_data_dir

    if not (Path(resolve_data_dir()) / "conll2003" / "train.txt").exists():
        pytest.skip("needs ../shared/data (CoNLL-2003 / CoNLL04; CI has it)")
    out = tmp_path / "sim"
    argv = ["simulate", "--task", "ner", "--dataset", "conll2003", "--teacher", "simulated:f1=0.6",
            "--strategies", "random,hybrid", "--seeds", "1", "--demo-pool", "8", "--init", "8", "--rounds", "1",
            "--per-round", "8", "--pool-size", "40", "--test-size", "20", "--epochs", "1", "--output", str(out)]
    assert main(argv) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert set(curves["series"]) == {"random", "hybrid"}
    assert curves["series"]["hybrid"]["budgets"] == [8, 16]
    assert curves["teacher"]["name"] == "simulated:f1=0.6" and curves["teacher"]["f1"] is not None
    assert curves["ceiling"]["budget"] == 16
    assert (out / "curves.png").read_bytes()[:4] == b"\x89PNG"
    assert "| hybrid |" in (out / "table.md").read_text()
    # re-running the same command resumes: nothing is retrained or relabeled, the same table comes out
    before = (out / "runs" / "hybrid" / "seed-0" / "rounds.json").read_text()
    assert main(argv) == 0
    assert (out / "runs" / "hybrid" / "seed-0" / "rounds.json").read_text() == before
    # a reweighted series for one strategy joins the same report; the finished runs are not retrained
    assert main([*argv, "--compare-reweight", "hybrid"]) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert set(curves["series"]) == {"random", "hybrid", "hybrid+rw"}
    assert not (out / "runs" / "random+rw").exists()
    assert (out / "runs" / "hybrid" / "seed-0" / "rounds.json").read_text() == before
    assert "| hybrid+rw |" in (out / "table.md").read_text()
    # a later invocation on one strategy reports only what it ran; --report-only rebuilds the whole cell
    # from the runs on disk without reading the data (the data dir given here does not exist)
    assert main([*argv[:argv.index("--strategies")], "--strategies", "random", *argv[argv.index("--seeds"):]]) == 0
    assert set(json.loads((out / "curves.json").read_text())["series"]) == {"random"}
    assert main(["simulate", "--report-only", "--data-dir", str(tmp_path / "nowhere"), "--output", str(out)]) == 0
    rebuilt = json.loads((out / "curves.json").read_text())
    assert set(rebuilt["series"]) == {"random", "hybrid", "hybrid+rw"}
    assert rebuilt["series"]["hybrid"] == curves["series"]["hybrid"]
    assert rebuilt["teacher"]["f1"] == curves["teacher"]["f1"] and rebuilt["ceiling"]["f1"] == curves["ceiling"]["f1"]
    assert (out / "runs" / "hybrid" / "seed-0" / "rounds.json").read_text() == before


def test_simulate_cli_user_errors_are_one_line_and_exit_2(tmp_path, capsys):
    from llmaaa.cli import main

    base = ["simulate", "--task", "ner", "--output", str(tmp_path / "sim")]
    cases = [
        (["--dataset", "conll2003", "--strategies", "random,hybrid", "--compare-reweight", "kmeans"],
         "kmeans, which is not among the strategies run"),
        (["--dataset", "conll2003", "--strategies", "random,uncertainty"], "unknown sampler 'uncertainty'; choose one of"),
        (["--dataset", str(tmp_path / "nowhere")], "not one of conll2003, conll04 and not a folder"),
        (["--dataset", "conll2003", "--data-dir", str(tmp_path)], "pass --data-dir DIR"),
        (["--dataset", "conll2003", "--teacher", "gpt"], "unknown teacher 'gpt'"),
        (["--dataset", "conll2003", "--teacher", "simulated:f1=81"], "f1 must be a number in (0, 1]"),
        # before, each of these ran at the default F1 0.81, unsaid
        (["--dataset", "conll2003", "--teacher", "simulated:0.5"], "'0.5' is no option of the simulated teacher"),
        (["--dataset", "conll2003", "--teacher", "simulated:F1=0.5"], "'F1=0.5' is no option of the simulated teacher"),
        (["--dataset", "conll2003", "--teacher", "simulated_whatever"], "unknown teacher 'simulated_whatever'"),
        ([], "--dataset is required"),
        (["--dataset", "conll2003", "--re-unit", "pair"], "re_unit 'pair' (one entity pair per label) is for the RE task"),
        (["--report-only"], "holds no loop run"),
    ]
    for extra, message in cases:
        assert main([*base, *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "sim" / "runs").exists()


def _write_folder_dataset(folder, splits):
    from llmaaa.data.jsonl import write_jsonl

    folder.mkdir()
    for name, idx in splits.items():  # ids "1", "2", ... in every split, as users number their files
        write_jsonl([Example(str(k + 1), sentence(i).text, sentence(i).entities) for k, i in enumerate(idx)],
                    folder / f"{name}.jsonl")


def test_a_user_dataset_folder_reads_its_splits_and_says_what_is_missing(tmp_path):
    from llmaaa.data.readers import DatasetNotFound, read_dataset
    from llmaaa.loop.experiment import Experiment, load_splits

    folder = tmp_path / "mine"
    _write_folder_dataset(folder, {"train": range(0, 20), "valid": range(20, 30)})
    assert [ex.text for ex in read_dataset(str(folder), "dev")] == [sentence(i).text for i in range(20, 30)]
    with pytest.raises(DatasetNotFound, match="test split not found in .*mine: expected test.jsonl"):
        read_dataset(str(folder), "test")
    with pytest.raises(ValueError, match="not one of conll2003, conll04 and not a folder"):
        read_dataset(str(tmp_path / "nowhere"), "train")
    # no test split: the experiment runs on the demo pool only; "1" in train and in dev are different sentences
    pool, demo, test, labels, sources = load_splits(Experiment(dataset=str(folder), output=tmp_path / "out",
                                                               loop=LoopConfig(task="ner", demo_pool=5)))
    assert sources == []  # the pool is its own source unless RE is cut into pairs
    assert test == [] and len(pool) == 20 and len(demo) == 5 and labels.entity_labels == ("LOC", "PER")
    ids = [ex.id for ex in [*pool, *demo]]
    assert len(set(ids)) == len(ids) and pool[0].id == "train/1" and all(i.startswith("dev/") for i in ids[20:])


@pytest.mark.slow
def test_simulate_runs_on_a_user_dataset_folder_in_any_script(tmp_path):
    from llmaaa.cli import main

    folder = tmp_path / "mine"
    _write_folder_dataset(folder, {"train": range(0, 30), "dev": range(30, 42), "test": range(42, 56)})
    out = tmp_path / "sim"
    argv = ["simulate", "--task", "ner", "--dataset", str(folder), "--teacher", "simulated:f1=0.6",
            "--strategies", "least_confidence,least_confidence", "--demo-pool", "6", "--init", "6", "--rounds", "1",
            "--per-round", "6", "--epochs", "1", "--output", str(out)]
    assert main(argv) == 0
    curves = json.loads((out / "curves.json").read_text())
    assert curves["series"]["least_confidence"]["budgets"] == [6, 12]
    assert curves["series"]["least_confidence"]["n"] == [1, 1]  # named twice, run once (before: "2 seeds")
    # the table and curves say which experiment they show, also when rebuilt with --report-only (before: the
    # table had no heading, and the rebuilt plot was titled with the folder's name)
    heading = f"### {folder} NER, teacher simulated:f1=0.6, 1 seed(s)\n"
    assert (out / "table.md").read_text().startswith(heading) and curves["title"] == heading[4:-1]
    assert main(["simulate", "--report-only", "--output", str(out)]) == 0
    assert (out / "table.md").read_text().startswith(heading)
    labeled = [json.loads(line) for line in (out / "runs" / "least_confidence" / "seed-0" / "labeled.jsonl").open()]
    texts = {sentence(i).text for i in range(30)}
    assert len(labeled) == 12 and all(rec["text"] in texts for rec in labeled)
    assert all(rec["id"].startswith("train/") for rec in labeled)  # ids repeat across the files: made unique
    for rec in labeled:  # spans the teacher gave stay inside their (Chinese, accented, emoji) texts
        assert all(0 <= e["start"] < e["end"] <= len(rec["text"]) for e in rec.get("entities", []))

    # one more seed, without re-running seed 0
    seed0 = (out / "runs" / "least_confidence" / "seed-0" / "rounds.json").read_text()
    assert main([*argv, "--first-seed", "1"]) == 0
    assert (out / "runs" / "least_confidence" / "seed-0" / "rounds.json").read_text() == seed0
    both = json.loads((out / "curves.json").read_text())["series"]["least_confidence"]
    assert both["n"] == [1, 1]  # this invocation's report covers what it ran: seed 1
    # the kilobytes a report needs outlive the state directories; seed 0 kept only as its curves
    # (as seeds run on another machine are) pools back into the same two-seed table
    from llmaaa.loop.experiment import EARLIER_DIR, export_report_inputs, report_finished

    kept = tmp_path / "kept"
    export_report_inputs(out, kept)
    assert not list(kept.rglob("students")) and not list(kept.rglob("labeled.jsonl"))
    whole = report_finished(kept)["series"]["least_confidence"]
    assert whole["n"] == [2, 2] and whole["seeds"] == [0, 1]
    assert export_report_inputs(kept, kept) == []  # a report rebuilt where it was kept: was a SameFileError
    only0 = tmp_path / "only0"
    export_report_inputs(out, only0)
    shutil.rmtree(only0 / "runs" / "least_confidence" / "seed-1")
    (kept / EARLIER_DIR).mkdir()
    (kept / EARLIER_DIR / "seed0.json").write_text(json.dumps(report_finished(only0)))
    shutil.rmtree(kept / "runs" / "least_confidence" / "seed-0")
    pooled = report_finished(kept)["series"]["least_confidence"]
    assert pooled["mean"] == pytest.approx(whole["mean"]) and pooled["std"] == pytest.approx(whole["std"])
    assert pooled["seeds"] == [0, 1] and "(2 seeds)" not in (kept / "table.md").read_text()


@pytest.mark.slow
def test_simulate_with_an_llm_teacher_pays_each_prompt_once(tmp_path):
    """The real LLM path of ``simulate`` (scripted OpenAI server): answers in three formats, any script."""
    from llmaaa.cli import main
    from openai_stub import ScriptedOpenAI, last_user_message

    people, places = [*PEOPLE, "王小明"], [*PLACES, "北京"]

    def teacher(req: dict, n: int) -> str:
        text = last_user_message(req).split("Text:", 1)[1]
        who = [p for p in people if p in text]
        where = [c for c in places if c in text]
        if n % 3 == 0:  # a plain list that ignores the JSON format
            return "\n".join([*(f"- {p} (person)" for p in who), *(f"- {c}: LOC" for c in where)])
        if n % 3 == 1:
            return json.dumps([{"mention": p, "entity_type": "PER"} for p in who]
                              + [{"mention": c, "entity_type": "location"} for c in where], ensure_ascii=False)
        return "```json\n" + json.dumps({"PER": who, "LOC": where}, ensure_ascii=False) + "\n```"

    folder = tmp_path / "mine"
    _write_folder_dataset(folder, {"train": range(0, 24), "dev": range(24, 36), "test": range(36, 44)})
    out = tmp_path / "sim"
    with ScriptedOpenAI(teacher) as llm:
        argv = ["simulate", "--task", "ner", "--dataset", str(folder), "--teacher", "openai", "--base-url", llm.base_url,
                "--model", "stub", "--strategies", "least_confidence", "--demo-pool", "6", "--init", "6", "--rounds", "1",
                "--per-round", "6", "--epochs", "1", "--no-ceiling", "--output", str(out)]
        assert main(argv) == 0
        asked = len(llm.requests)
        curves = json.loads((out / "curves.json").read_text())
        assert curves["teacher"]["test_f1"] == 1.0 and curves["teacher"]["gold_f1"] == 1.0  # every format understood
        rounds = json.loads((out / "runs" / "least_confidence" / "seed-0" / "rounds.json").read_text())
        assert [r["budget"] for r in rounds] == [6, 12] and all(r["prompt_tokens"] > 0 for r in rounds)
        # the same command again: everything comes from the state and the LLM cache, nothing is paid twice
        assert main(argv) == 0
        assert len(llm.requests) == asked


def test_re_on_a_user_folder_logs_how_many_examples_without_a_pair_it_leaves_out(tmp_path, caplog):
    from llmaaa.data.jsonl import write_jsonl
    from llmaaa.loop.experiment import Experiment, load_splits

    pair = Example("p", "张三在华为工作", (Span(0, 2, "PER"), Span(3, 5, "ORG")), (Relation(0, 1, "works_for"),))
    single = Example("s", "张三来了", (Span(0, 2, "PER"),))
    folder = tmp_path / "mine"
    write_jsonl([pair, single, dataclasses.replace(single, id="s2")], folder / "train.jsonl")
    write_jsonl([dataclasses.replace(pair, id="d")], folder / "dev.jsonl")
    with caplog.at_level("INFO", logger="llmaaa.loop.experiment"):
        pool = load_splits(Experiment(dataset=str(folder), output=tmp_path / "out",
                                      loop=LoopConfig(task="re", demo_pool=1))).pool
    assert [ex.id for ex in pool] == ["p"]
    assert "RE: left out 2 of 3 train examples with fewer than 2 entities" in caplog.text


@pytest.mark.parametrize("bad", [{"per_round": 0}, {"per_round": -5}, {"init": 0}])
def test_a_schedule_that_buys_nothing_is_refused_before_any_teacher_call(tmp_path, bad):
    from llmaaa.loop.engine import ActiveLoop

    teacher = CountingTeacher(SilentTeacher())
    with pytest.raises(ValueError, match=next(iter(bad))):
        ActiveLoop(LoopConfig(**bad), pool=[sentence(i) for i in range(5)], demo=[sentence(9)], teacher=teacher,
                   labels=LABELS, state_dir=tmp_path)
    assert teacher.calls == []
    # rounds=0 (only the initial batch) needs no per-round batch
    ActiveLoop(LoopConfig(per_round=0, rounds=0), pool=[], demo=[], teacher=teacher, labels=LABELS, state_dir=tmp_path)


def re_sentence(i: int) -> Example:
    """A person, their employer and its city (Work_For, OrgBased_In); every 4th in Chinese, some with emoji."""
    if i % 4 == 1:
        who, org, where, text = "李明", "联合国", "北京", None
        text = f"{who}在{org}工作，{org}位于{where}。"
    else:
        who, org, where = PEOPLE[i % len(PEOPLE)], ["Siemens", "Renault", "Zürich Re"][i % 3], PLACES[(i * 3) % len(PLACES)]
        text = f"{'🙂 ' if i % 5 == 0 else ''}{who} works for {org} , based in {where} ({i}) ."
    spans = tuple(Span(text.index(m), text.index(m) + len(m), t) for m, t in ((who, "PER"), (org, "ORG"), (where, "LOC")))
    return Example(str(i), text, spans, (Relation(0, 1, "Work_For"), Relation(1, 2, "OrgBased_In")))


@pytest.mark.slow
def test_simulate_re_labels_one_entity_pair_per_budget_unit(tmp_path):
    """``--re-unit pair``: the sampler picks pairs, the teacher labels pairs, the student is tested on sentences."""
    from llmaaa.cli import main
    from llmaaa.data.jsonl import write_jsonl

    folder = tmp_path / "re"
    folder.mkdir()
    for name, idx in {"train": range(0, 20), "dev": range(20, 30), "test": range(30, 38)}.items():
        write_jsonl([re_sentence(i) for i in idx], folder / f"{name}.jsonl")
    out = tmp_path / "sim"
    argv = ["simulate", "--task", "re", "--re-unit", "pair", "--dataset", str(folder), "--teacher", "simulated:f1=0.6",
            "--strategies", "least_confidence", "--demo-pool", "6", "--init", "8", "--rounds", "1", "--per-round", "8",
            "--pool-size", "60", "--epochs", "1", "--output", str(out)]
    assert main(argv) == 0
    run = out / "runs" / "least_confidence" / "seed-0"
    assert json.loads((out / "curves.json").read_text())["series"]["least_confidence"]["budgets"] == [8, 16]
    labeled = [json.loads(line) for line in (run / "labeled.jsonl").open(encoding="utf-8")]
    assert len(labeled) == 16 and len({rec["id"] for rec in labeled}) == 16
    sentences = {ex.id: ex for ex in map(re_sentence, range(20))}
    for rec in labeled:  # one asked pair each, cut from a train sentence, relations only on that pair
        (h, t), = rec["pairs"]
        source = sentences[rec["pair_of"]]
        assert rec["id"] == f"{source.id}#{h}>{t}" and rec["text"] == source.text
        assert all((r["head"], r["tail"]) == (h, t) for r in rec.get("relations", []))
    assert json.loads((run / "config.json").read_text())["re_unit"] == "pair"
    rounds = json.loads((run / "rounds.json").read_text())
    assert rounds[-1]["student_test_f1"] is not None and rounds[-1]["teacher_gold_f1"] is not None
    ceiling = json.loads((out / "ceiling" / "seed-0.json").read_text())
    assert ceiling["budget"] == 16
    # the same output with whole sentences as the unit is another run: refused, nothing overwritten
    assert main([a if a != "pair" else "example" for a in argv]) == 2
    assert len((run / "labeled.jsonl").read_text(encoding="utf-8").splitlines()) == 16


class DeadThenAliveTeacher:
    """A teacher whose endpoint is dead (every label failed) until ``alive`` is set."""

    def __init__(self, inner):
        self.inner, self.name, self.alive = inner, inner.name, False
        self.asked: list[str] = []

    def annotate(self, examples):
        self.asked += [ex.id for ex in examples]
        if self.alive:
            return self.inner.annotate(examples)
        return [ex.with_labels(entities=(), annotation={"source": "llm", "error": "connection refused"}) for ex in examples]


def test_a_run_begun_against_a_dead_endpoint_resumes_once_it_answers(tmp_path):
    """Failed labels were saved, the teacher's F1 cached as 0, and every re-run stopped at 'no usable training
    examples': the folder had to be deleted. Now a re-run asks the failed labels and the demo pool again."""
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.training.trainer import TrainConfig, TrainingError

    pool, demo = [sentence(i) for i in range(12)], [sentence(i) for i in range(100, 104)]
    teacher = DeadThenAliveTeacher(SimulatedTeacher([*pool, *demo], LABELS, task="ner", target_f1=1.0, seed=0))
    cfg = LoopConfig(task="ner", strategy="random", init=6, per_round=3, rounds=0, seed=0)
    kw = dict(pool=pool, demo=demo, labels=LABELS, state_dir=tmp_path, train_config=TrainConfig(epochs=1, max_length=32))
    with pytest.raises(TrainingError, match="failed on all 6 labels.*re-run the same command"):
        run_loop(cfg, teacher=teacher, **kw)
    assert json.loads((tmp_path / "teacher_gold.json").read_text())["failed"] == 4

    teacher.alive, teacher.asked = True, []
    res = run_loop(cfg, teacher=teacher, **kw)
    assert sorted(teacher.asked) == sorted([ex.id for ex in demo] + [ex.id for ex in res.labeled])
    assert res.records[0]["failed_labels"] == 0 and res.teacher_gold["f1"] == 1.0
    assert {ex.extra["loop"]["batch"] for ex in res.labeled} == {0}  # asked again, kept in their batch


class DeadForTheDemoPool(DeadThenAliveTeacher):
    """Dead for its first call (the demo-pool measurement), alive after."""

    def annotate(self, examples):
        out = super().annotate(examples)
        self.alive = True
        return out


@pytest.mark.slow
def test_a_teacher_outage_while_it_is_measured_does_not_stop_the_run_and_a_saved_stop_is_checked_again(tmp_path):
    """Its failed labels scored 0, any student "matched" it, and the saved stop held for good, even with the rule off."""
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.training.trainer import TrainConfig

    pool, demo = [sentence(i) for i in range(30)], [sentence(i) for i in range(100, 106)]
    sim = SimulatedTeacher([*pool, *demo], LABELS, task="ner", target_f1=1.0, seed=0)
    cfg = LoopConfig(task="ner", strategy="random", init=6, per_round=6, rounds=1, stop_after_rounds_matched=1)
    kw = dict(pool=pool, demo=demo, labels=LABELS, train_config=TrainConfig(epochs=1, patience=1, max_length=32))
    res = run_loop(cfg, teacher=DeadForTheDemoPool(sim), state_dir=tmp_path / "flaky", **kw)
    assert res.teacher_gold["failed"] == 6 and res.teacher_gold["f1"] == 0.0
    assert res.stopped is None and [r["budget"] for r in res.records] == [6, 12]

    stopping = dataclasses.replace(cfg, rounds=2)
    res = run_loop(stopping, teacher=SilentTeacher(), state_dir=tmp_path / "silent", **kw)
    assert "matched the teacher" in res.stopped and len(res.records) == 1
    res = run_loop(dataclasses.replace(stopping, stop_after_rounds_matched=0), teacher=SilentTeacher(),
                   state_dir=tmp_path / "silent", **kw)  # the rule turned off on resume: the run goes on
    assert res.stopped is None and [r["budget"] for r in res.records] == [6, 12, 18]
    assert "stopped" not in res.records[0]


def test_a_pool_with_a_repeated_id_is_refused(tmp_path):
    pool = [sentence(i) for i in range(6)] + [Example("s3", "Another text with the same id .")]
    with pytest.raises(ValueError, match="two examples with id 's3'"):
        run_loop(LoopConfig(task="ner", strategy="random", init=2, per_round=2, rounds=0), pool=pool,
                 demo=[sentence(100)], labels=LABELS, teacher=SilentTeacher(), state_dir=tmp_path)

def test_a_schedule_that_buys_more_than_the_pool_holds_is_said_at_once(tmp_path, caplog):
    """Before, an initial batch of 40 from a pool of 30 bought 30 and stopped as "pool exhausted", unsaid."""
    from llmaaa.loop.engine import ActiveLoop

    with caplog.at_level("WARNING"):
        ActiveLoop(LoopConfig(task="ner", strategy="random", init=40, per_round=5, rounds=2),
                   pool=[sentence(i) for i in range(30)], demo=[sentence(100)], labels=LABELS,
                   teacher=SilentTeacher(), state_dir=tmp_path)
    assert "buys up to 50 labels (init 40 + 2 rounds x 5) from a pool of 30" in caplog.text


def test_a_resumed_run_on_other_data_or_training_options_is_refused(tmp_path):
    from llmaaa.loop.engine import data_fingerprint, train_identity
    from llmaaa.training.trainer import TrainConfig

    pool, demo, test = [sentence(i) for i in range(10)], [sentence(i) for i in range(100, 104)], [sentence(200)]
    ident = lambda pool, test, train: {**LoopConfig().identity(), "data": data_fingerprint(pool, demo, test),  # noqa: E731
                                       "train": train_identity(train)}
    st = LoopState(tmp_path)
    st.bind(ident(pool, test, TrainConfig(epochs=1)))
    st.bind(ident(pool, test, TrainConfig(epochs=1, device="cpu", eval_batch_size=4)))  # where and how fast: same run
    with pytest.raises(LoopStateError, match="data: "):
        st.bind(ident([sentence(i) for i in range(10, 20)], test, TrainConfig(epochs=1)))  # another dataset
    with pytest.raises(LoopStateError, match="data: "):
        st.bind(ident(pool, [sentence(200), sentence(201)], TrainConfig(epochs=1)))  # another --test-size
    with pytest.raises(LoopStateError, match="train: "):
        st.bind(ident(pool, test, TrainConfig(epochs=4)))
    # the reweighting method matters only to a reweighted run: a plain one resumes under another
    # (recorded by older versions whatever the run did)
    st.bind({**ident(pool, test, TrainConfig(epochs=1)), "train": {**train_identity(TrainConfig(epochs=1)),
                                                                     "reweight_method": "fast"}})
    st.bind(ident(pool, test, TrainConfig(epochs=1, reweight_method="exact")))
    rw = LoopState(tmp_path / "rw")
    rw.bind(ident(pool, test, TrainConfig(epochs=1, reweight=True, reweight_method="fast")))
    with pytest.raises(LoopStateError, match="reweight_method"):
        rw.bind(ident(pool, test, TrainConfig(epochs=1, reweight=True, reweight_method="exact")))
    old = LoopState(tmp_path / "old")  # a directory written before data and training were recorded resumes
    old.bind(LoopConfig().identity())
    old.bind(ident(pool, test, TrainConfig(epochs=1)))
    assert "data" in json.loads((tmp_path / "old" / "config.json").read_text())


def test_the_teachers_test_f1_measured_with_failures_is_measured_again(tmp_path):
    """Cached at 0.0 with its failures, it stood as the teacher's test F1 (and "beats the teacher at") for good."""
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.loop.experiment import teacher_on_test

    test = [sentence(i) for i in range(200, 206)]
    teacher = DeadThenAliveTeacher(SimulatedTeacher(test, LABELS, task="ner", target_f1=1.0, seed=0))
    path = tmp_path / "teacher" / "test-seed-0.json"
    assert teacher_on_test(teacher, test, "ner", path) == 0.0
    assert json.loads(path.read_text())["failed"] == 6
    teacher.alive = True
    assert teacher_on_test(teacher, test, "ner", path) == 1.0
    teacher.asked = []
    assert teacher_on_test(teacher, test, "ner", path) == 1.0 and teacher.asked == []  # measured: cached now


def test_naming_the_default_reduction_or_one_a_sampler_never_reads_resumes_the_same_run(tmp_path):
    """A run made with the default reduction was refused when resumed with --reduction sum, and so was random."""
    LoopState(tmp_path / "lc").bind(LoopConfig(task="ner").identity())
    LoopState(tmp_path / "lc").bind(LoopConfig(task="ner", reduction="sum").identity())
    with pytest.raises(LoopStateError, match="reduction: None -> 'mean'"):
        LoopState(tmp_path / "lc").bind(LoopConfig(task="ner", reduction="mean").identity())
    LoopState(tmp_path / "rand").bind(LoopConfig(strategy="random", reduction="mean").identity())
    LoopState(tmp_path / "rand").bind(LoopConfig(strategy="random", reduction="max").identity())


def test_a_cached_teacher_score_of_other_test_data_is_measured_again(tmp_path):
    """The teacher and ceiling files are kept per seed: a --quick run's teacher score (on 100 test sentences)
    stood in the full run's table when the quick run's state directories were deleted and the cell re-run."""
    from llmaaa.annotate.simulated import SimulatedTeacher
    from llmaaa.loop.experiment import teacher_on_test

    small, full = [sentence(i) for i in range(200, 203)], [sentence(i) for i in range(200, 210)]
    teacher = SimulatedTeacher([*full], LABELS, task="ner", target_f1=1.0, seed=0)
    path = tmp_path / "teacher" / "test-seed-0.json"
    teacher_on_test(teacher, small, "ner", path)
    assert json.loads(path.read_text())["n"] == 3
    teacher_on_test(teacher, full, "ner", path)
    assert json.loads(path.read_text())["n"] == 10  # measured again, not read back
    legacy = {k: v for k, v in json.loads(path.read_text()).items() if k != "identity"}
    path.write_text(json.dumps({**legacy, "f1": 0.5}))  # written before the identity key: taken as it is
    assert teacher_on_test(teacher, small, "ner", path) == 0.5


def test_the_teachers_demo_pool_f1_is_a_mean_over_seeds_not_runs():
    from llmaaa.loop.experiment import _teacher_info

    info = _teacher_info("t", {0: [0.80] * 10, 1: [0.90] * 2}, [0.7, 0.8])
    assert info["gold_f1"] == pytest.approx(0.85) and info["test_f1"] == pytest.approx(0.75)


def test_a_run_on_relabeled_gold_is_other_data(tmp_path):
    """Renamed or corrected gold labels with the same texts resumed the old run and printed its numbers."""
    from llmaaa.loop.engine import data_fingerprint, gold_fingerprint

    pool = [sentence(i) for i in range(4)]
    renamed = [ex.with_labels(entities=tuple(dataclasses.replace(s, label="ORT") if s.label == "LOC" else s
                                              for s in ex.entities)) for ex in pool]
    assert data_fingerprint(pool, [], None) == data_fingerprint(renamed, [], None)
    assert gold_fingerprint(pool, [], None) != gold_fingerprint(renamed, [], None)
    st = LoopState(tmp_path)
    st.bind({"strategy": "random", "gold": gold_fingerprint(pool, [], None)})
    with pytest.raises(LoopStateError, match="gold"):
        st.bind({"strategy": "random", "gold": gold_fingerprint(renamed, [], None)})
    st2 = LoopState(tmp_path / "old")
    st2.bind({"strategy": "random"})  # a directory from before the key resumes
    st2.bind({"strategy": "random", "gold": gold_fingerprint(pool, [], None)})


def test_empty_pool_texts_are_left_out_and_labels_missing_from_train_are_named(tmp_path, caplog):
    from llmaaa.data.jsonl import write_jsonl
    from llmaaa.loop.experiment import Experiment, load_splits

    write_jsonl([sentence(i) for i in range(6)] + [Example("blank", "  ")], tmp_path / "train.jsonl")
    write_jsonl([Example("d", "Zoë saw Apple .", (Span(0, 3, "PER"), Span(8, 13, "ORG")))], tmp_path / "dev.jsonl")
    write_jsonl([Example("t", "Zoë saw Rome .", (Span(0, 3, "PER"), Span(8, 12, "GPE")))], tmp_path / "test.jsonl")
    exp = Experiment(dataset=str(tmp_path), output=tmp_path / "out", loop=LoopConfig(task="ner", demo_pool=1))
    with caplog.at_level("WARNING"):
        splits = load_splits(exp)
    assert "blank" not in {ex.id for ex in splits.pool} and len(splits.pool) == 6
    assert "ORG" in splits.labels.entity_labels  # the gold demo pool's labels are asked for too
    assert "left 1 empty texts out of the pool" in caplog.text and "never in train or dev" in caplog.text
    assert "GPE" in caplog.text


def test_an_unlabeled_pool_takes_its_labels_from_the_gold_dev_split(tmp_path):
    """Before, an unlabeled train.jsonl (an LLM teacher's pool needs none) gave an empty label set: the run asked
    with no entity types, paid, then failed; with dev unlabeled too it is refused before any request."""
    from llmaaa.data.jsonl import write_jsonl
    from llmaaa.loop.experiment import Experiment, load_splits

    write_jsonl([Example(f"u{i}", f"Anna {i} went to Paris .") for i in range(6)], tmp_path / "train.jsonl")
    write_jsonl([Example("d", "Zoë saw Apple .", (Span(0, 3, "PER"), Span(8, 13, "ORG")))], tmp_path / "dev.jsonl")
    exp = Experiment(dataset=str(tmp_path), output=tmp_path / "out", loop=LoopConfig(task="ner", demo_pool=1))
    assert load_splits(exp).labels.entity_labels == ("ORG", "PER")
    write_jsonl([Example("d", "Zoë saw Apple .")], tmp_path / "dev.jsonl")
    with pytest.raises(ValueError, match="neither train nor dev has a labeled entity"):
        load_splits(exp)


def test_a_simulated_teacher_spec_with_spaces_runs_at_the_f1_it_names():
    """Before, "simulated: f1=0.6" passed the check but the reader kept the key " f1": it ran at 0.81."""
    from llmaaa.loop.experiment import _simulated_options, check_teacher_spec

    for spec in ("simulated: f1=0.6", "simulated:f1 = 0.6", "simulated:f1=0.6,"):
        assert check_teacher_spec(spec) == spec and _simulated_options(spec) == {"f1": "0.6"}
