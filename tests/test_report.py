"""Learning-curve report: aggregation over seeds, the teacher crossing, and the files a user opens."""

import json

import pytest

from llmaaa.report import build_curves, markdown_table, write_report


def run(strategy, seed, f1s, *, reweight=False, gold=None):
    return {
        "strategy": strategy,
        "reweight": reweight,
        "seed": seed,
        "records": [
            {"round": i, "budget": 50 * (i + 1), "student_test_f1": f, "student_gold_f1": (gold or f1s)[i]}
            for i, f in enumerate(f1s)
        ],
    }


RUNS = [
    run("random", 0, [0.40, 0.55, 0.60]),
    run("random", 1, [0.42, 0.57, 0.62]),
    run("least_confidence", 0, [0.40, 0.62, 0.70]),
    run("least_confidence", 1, [0.44, 0.66, 0.74], reweight=True),
]
TEACHER = {"name": "simulated:f1=0.60", "gold_f1": 0.65, "test_f1": 0.60}


def test_mean_std_over_seeds_and_first_budget_beating_the_teacher():
    c = build_curves(RUNS, teacher=TEACHER, ceiling=[{"budget": 150, "seed": 0, "gold_f1": 0.8, "test_f1": 0.75}])
    assert c["split"] == "test" and c["teacher"]["f1"] == 0.60
    r = c["series"]["random"]
    assert r["budgets"] == [50, 100, 150]
    assert r["mean"] == pytest.approx([0.41, 0.56, 0.61])
    assert r["std"] == pytest.approx([0.01, 0.01, 0.01])
    assert r["first_budget_beating_teacher"] == 150  # 0.61 > 0.60; 0.56 is not
    assert c["series"]["least_confidence"]["first_budget_beating_teacher"] == 100
    assert "least_confidence+rw" in c["series"]
    assert c["ceiling"]["f1"] == 0.75


def test_falls_back_to_gold_split_when_the_teacher_has_no_test_f1():
    c = build_curves(RUNS, teacher={"name": "t", "gold_f1": 0.65})
    assert c["split"] == "gold" and c["teacher"]["f1"] == 0.65
    assert c["series"]["random"]["first_budget_beating_teacher"] is None


def test_markdown_table_shows_every_series_and_the_reference_lines():
    md = markdown_table(build_curves(RUNS, teacher=TEACHER, ceiling=[{"budget": 150, "test_f1": 0.75}]))
    lines = md.strip().splitlines()
    assert lines[0].startswith("| strategy (test F1) | 50 | 100 | 150 | beats teacher at |")
    # the series have different seed counts, so each row says its own (a 1-seed row is no mean over 2)
    assert "| random (2 seeds) | 0.410 ± 0.010 | 0.560 ± 0.010 | 0.610 ± 0.010 | 150 |" in lines
    assert "| least_confidence+rw (1 seed) | 0.440 | 0.660 | 0.740 | 100 |" in lines
    assert any(line.startswith("| teacher simulated:f1=0.60 | 0.600") for line in lines)
    assert any(line.startswith("| gold ceiling (budget 150) | 0.750") for line in lines)


def test_rows_carry_no_seed_count_when_every_series_has_the_same():
    same = [run("random", 0, [0.40, 0.55]), run("random", 1, [0.42, 0.57]),
            run("entropy", 0, [0.41, 0.60]), run("entropy", 1, [0.43, 0.62])]
    lines = markdown_table(build_curves(same, teacher=TEACHER)).splitlines()
    assert "| random | 0.410 ± 0.010 | 0.560 ± 0.010 | never |" in lines
    assert any(line.startswith("| entropy | 0.420 ± 0.010 |") for line in lines)


def test_write_report_produces_json_png_and_table(tmp_path):
    write_report(tmp_path, RUNS, teacher=TEACHER, title="toy")
    doc = json.loads((tmp_path / "curves.json").read_text())
    assert set(doc["series"]) == {"random", "least_confidence", "least_confidence+rw"}
    png = (tmp_path / "curves.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "beats teacher at" in (tmp_path / "table.md").read_text()


def test_pooling_two_seed_sets_gives_the_mean_and_std_over_all_of_them():
    from llmaaa.report import pool_series

    three = [run("random", 0, [0.40, 0.55, 0.60]), run("random", 1, [0.42, 0.57, 0.62]),
             run("random", 2, [0.30, 0.61, 0.71])]
    whole = build_curves(three, teacher=TEACHER)["series"]["random"]
    first = build_curves(three[:1], teacher=TEACHER)["series"]["random"]
    rest = build_curves(three[1:], teacher=TEACHER)["series"]["random"]
    pooled = pool_series(first, rest)
    assert pooled["mean"] == pytest.approx(whole["mean"]) and pooled["std"] == pytest.approx(whole["std"])
    assert pooled["n"] == [3, 3, 3] and pooled["seeds"] == [0, 1, 2]
    # a partial run (budget 150 missing on one side) counts only where it has values
    short = {**first, "budgets": [50, 100], "mean": first["mean"][:2], "std": [0.0, 0.0], "n": [1, 1]}
    assert pool_series(short, rest)["n"] == [3, 3, 2]
    with pytest.raises(ValueError, match=r"the same seeds \[1\] are in both"):
        pool_series(rest, build_curves(three[1:2], teacher=TEACHER)["series"]["random"])


def test_earlier_curves_fold_into_the_table_with_their_teacher_and_ceiling():
    earlier = {"source": "another machine", "split": "test",
               "teacher": {"name": "simulated:f1=0.60", "test_f1": 0.50, "f1": 0.50},
               "ceiling": {"f1": 0.9, "budget": 150, "runs": []},
               "series": {"random": {"budgets": [50, 100, 150], "mean": [0.44, 0.59, 0.64], "std": [0, 0, 0],
                                     "n": [1, 1, 1], "seeds": [7]},
                          "kcenter": {"budgets": [50, 100], "mean": [0.3, 0.45], "std": [0.0, 0.0],
                                      "n": [1, 1], "seeds": [0]}}}
    c = build_curves(RUNS, teacher=TEACHER, ceiling=[{"budget": 150, "test_f1": 0.75}], earlier=[earlier])
    assert c["series"]["random"]["mean"] == pytest.approx([0.42, 0.57, 0.62])  # (0.40, 0.42, 0.44) ...
    assert c["series"]["random"]["seeds"] == [0, 1, 7] and c["series"]["kcenter"]["n"] == [1, 1]
    # this report's own teacher and ceiling measurements win over the earlier record's means (which hid
    # the seeds measured since): 0.57 is not above 0.60, 0.62 is
    assert c["teacher"]["f1"] == 0.60 and c["ceiling"]["f1"] == 0.75 and c["earlier"] == ["another machine"]
    assert c["series"]["random"]["first_budget_beating_teacher"] == 150
    assert "| random (3 seeds) | 0.420 ± 0.016 |" in markdown_table(c)
    # without measurements of its own, the report takes the earlier record's lines and recomputes the crossing
    c = build_curves(RUNS, teacher={"name": "simulated:f1=0.60"}, earlier=[earlier])
    assert c["teacher"]["f1"] == 0.50 and c["ceiling"]["f1"] == 0.9
    assert c["series"]["random"]["first_budget_beating_teacher"] == 100
    with pytest.raises(ValueError, match=r"random: the same seeds \[0\] are in both .* another machine: drop"):
        build_curves(RUNS, teacher=TEACHER, earlier=[{**earlier, "series": {"random": {**earlier["series"]["random"],
                                                                                       "seeds": [0]}}}])
    with pytest.raises(ValueError, match="earlier record is on the gold split"):
        build_curves(RUNS, teacher=TEACHER, earlier=[{**earlier, "split": "gold"}])
    only = build_curves([], earlier=[earlier])  # a cell whose every run was kept only as curves
    assert only["split"] == "test" and only["series"]["kcenter"]["mean"] == [0.3, 0.45]


def test_a_budget_fewer_seeds_reached_says_how_many():
    """Two of three seeds stopped at 50: the later cells were one seed's numbers, shown like the 3-seed mean."""
    runs = [run("least_confidence", 0, [0.60, 0.70, 0.81]), run("least_confidence", 1, [0.80]),
            run("least_confidence", 2, [0.88])]
    table = markdown_table(build_curves(runs, teacher=TEACHER))
    row = next(line for line in table.splitlines() if line.startswith("| least_confidence"))
    assert "| 0.760 ± 0.118 | 0.700 (n=1) | 0.810 (n=1) |" in row


def test_the_teacher_crossing_counts_only_budgets_every_seed_reached():
    """Three seeds at 0.30/0.50 and one that went on to 0.90 at 150 said 'beats teacher at 150' from one seed;
    a series stopped before the others' last budget said 'never' as if it had run to the end."""
    runs = [run("least_confidence", 0, [0.30, 0.50, 0.90]), run("least_confidence", 1, [0.30, 0.50]),
            run("least_confidence", 2, [0.30, 0.50]), run("random", 0, [0.30])]
    c = build_curves(runs, teacher=TEACHER)
    assert c["series"]["least_confidence"]["first_budget_beating_teacher"] is None
    rows = {line.split(" (")[0]: line for line in markdown_table(c).splitlines()}
    assert rows["| least_confidence"].endswith("| 0.900 (n=1) | not by 100 (stopped) |")
    assert rows["| random"].endswith("| not by 50 (stopped) |")
    done = build_curves([run("random", 0, [0.30, 0.50, 0.55])], teacher=TEACHER)
    assert markdown_table(done).splitlines()[2].endswith("| never |")


def test_series_that_all_stopped_at_one_budget_say_stopped_not_never():
    """With no series going further, the last budget was everyone's and a stop read as 'never'."""
    runs = [{**run(name, 0, [0.30, 0.50]), "stopped": "pool exhausted"} for name in ("random", "entropy")]
    runs.append({**run("kcenter", 0, [0.30, 0.50]), "stopped": None})
    rows = {line.split(" |")[0]: line for line in markdown_table(build_curves(runs, teacher=TEACHER)).splitlines()}
    assert rows["| random"].endswith("| not by 100 (stopped) |")
    assert rows["| entropy"].endswith("| not by 100 (stopped) |")
    assert rows["| kcenter"].endswith("| never |")  # ran its whole schedule
    one_of_two = [{**run("random", 0, [0.3, 0.5]), "stopped": "pool exhausted"}, run("random", 1, [0.3, 0.5])]
    assert markdown_table(build_curves(one_of_two, teacher=TEACHER)).splitlines()[2].endswith("| never |")


def _kept_run(root, series, seed, pool_size, f1s):
    run = root / "runs" / series / f"seed-{seed}"
    run.mkdir(parents=True)
    config = {"task": "ner", "strategy": series, "reweight": False, "seed": seed, "demo_pool": 10, "init": 5,
              "per_round": 5, "re_unit": "example", "teacher": "simulated:f1=0.8", "pool_size": pool_size,
              "data": f"data-{pool_size}", "train": {"epochs": 3, "reweight_method": "fast"}}
    (run / "config.json").write_text(json.dumps(config))
    records = [{"round": i, "budget": 5 * (i + 1), "student_gold_f1": f, "student_test_f1": f} for i, f in enumerate(f1s)]
    (run / "rounds.json").write_text(json.dumps(records))


def test_a_report_that_pools_runs_of_other_data_says_which(tmp_path, caplog):
    """A grid grows by separate invocations; one made with another --pool-size (or schedule, or student
    options) was pooled into the same table without a word."""
    from llmaaa.loop.experiment import report_finished

    _kept_run(tmp_path, "random", 0, 300, [0.1, 0.2])
    _kept_run(tmp_path, "least_confidence", 0, 300, [0.1, 0.3])
    _kept_run(tmp_path, "least_confidence", 1, 300, [0.2, 0.3])
    report_finished(tmp_path, title="same")
    assert "pools runs" not in (tmp_path / "table.md").read_text() and "pools runs" not in caplog.text

    _kept_run(tmp_path, "entropy", 0, 3000, [0.1, 0.4])  # another pool size
    report_finished(tmp_path, title="mixed")
    table = (tmp_path / "table.md").read_text()
    assert "Note: this table pools runs of different data or options (pool, schedule, student): entropy/seed-0" in table
    assert "entropy/seed-0 differ from the rest" in caplog.text


def test_a_report_says_when_its_gold_ceiling_was_measured_on_other_data(tmp_path, caplog):
    from llmaaa.loop.experiment import report_finished

    _kept_run(tmp_path, "random", 0, 300, [0.1, 0.2])
    ceiling = tmp_path / "ceiling"
    ceiling.mkdir()
    (ceiling / "seed-0.json").write_text(json.dumps({"budget": 10, "seed": 0, "gold_f1": 0.5, "test_f1": 0.5,
                                                     "identity": {"data": "data-300"}}))
    report_finished(tmp_path)
    assert "measured on other data" not in (tmp_path / "table.md").read_text()
    (ceiling / "seed-1.json").write_text(json.dumps({"budget": 10, "seed": 1, "gold_f1": 0.6, "test_f1": 0.6,
                                                     "identity": {"data": "data-60"}}))
    (ceiling / "seed-2.json").write_text(json.dumps({"budget": 10, "seed": 2, "gold_f1": 0.6, "test_f1": 0.6}))
    report_finished(tmp_path)
    assert "Note: the gold ceiling of seed 1 was measured on other data than the runs" in (tmp_path / "table.md").read_text()
