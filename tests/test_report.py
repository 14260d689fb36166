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
