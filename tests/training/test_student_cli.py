"""`python -m llmaaa train | predict | corrupt` as a user runs them."""

import dataclasses
import json
import subprocess
import sys

import pytest

from llmaaa.data.jsonl import read_jsonl, write_jsonl
from llmaaa.metrics import entity_prf

from train_cases import GOLD, TRAIN


def run(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "llmaaa", *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600)


def test_corrupt_writes_simulated_labels(tmp_path):
    gold = tmp_path / "gold.jsonl"
    write_jsonl(TRAIN * 1, gold)
    out = tmp_path / "noisy.jsonl"
    p = run("corrupt", "--task", "ner", "--input", str(gold), "--output", str(out), "--target-f1", "0.6", "--seed", "1")
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    noisy = read_jsonl(out)
    assert report["teacher"] == "simulated:f1=0.6"
    assert report["f1"] == pytest.approx(entity_prf(TRAIN, noisy)["f1"])
    assert all(ex.annotation["source"] == "simulated" for ex in noisy)


def test_bad_input_is_a_clear_error(tmp_path):
    p = run("predict", "--model", str(tmp_path), "--input", str(tmp_path / "x.jsonl"), "--output", str(tmp_path / "o"))
    assert p.returncode == 2 and "not a llmaaa model folder" in p.stderr


def test_a_project_model_folder_names_the_students_inside(tmp_path):
    """The backend's export writes model/ner and model/re; before, `--model out/model` only said "not a
    llmaaa model folder"."""
    for sub in ("ner", "re"):
        (tmp_path / "model" / sub).mkdir(parents=True)
        (tmp_path / "model" / sub / "labels.json").write_text('{"entity_labels": ["PER"]}', encoding="utf-8")
    p = run("predict", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "x.jsonl"),
            "--output", str(tmp_path / "o"))
    assert p.returncode == 2
    assert f"holds one student per task (ner, re); point to {tmp_path / 'model' / 'ner'} or " in p.stderr


@pytest.mark.slow
def test_train_then_predict(tmp_path):
    write_jsonl(TRAIN, tmp_path / "train.jsonl")
    write_jsonl(GOLD, tmp_path / "gold.jsonl")
    p = run("train", "--task", "ner", "--train", str(tmp_path / "train.jsonl"), "--gold", str(tmp_path / "gold.jsonl"),
            "--output", str(tmp_path / "model"), "--epochs", "4", "--batch-size", "4", "--lr", "1e-3", "--seed", "1",
            "--device", "cpu", env={"TRAIN_HEAD_LR": "3e-3", "TRAIN_PATIENCE": "0"})
    assert p.returncode == 0, p.stderr
    assert "gold F1 1.0000" in p.stdout and (tmp_path / "model" / "README.md").exists()
    p = run("predict", "--model", str(tmp_path / "model"), "--input", str(tmp_path / "gold.jsonl"),
            "--output", str(tmp_path / "pred.jsonl"), "--device", "cpu")
    assert p.returncode == 0, p.stderr
    assert entity_prf(GOLD, read_jsonl(tmp_path / "pred.jsonl"))["f1"] == 1.0


def test_train_refuses_a_gold_file_whose_labels_share_nothing_with_the_training_labels(tmp_path):
    write_jsonl([ex.with_labels(entities=[dataclasses.replace(s, label=f"gold_{s.label}") for s in ex.entities])
                 for ex in GOLD], tmp_path / "gold.jsonl")
    write_jsonl(TRAIN, tmp_path / "train.jsonl")
    p = run("train", "--task", "ner", "--train", str(tmp_path / "train.jsonl"), "--gold", str(tmp_path / "gold.jsonl"),
            "--output", str(tmp_path / "model"), "--epochs", "1")
    assert p.returncode == 2 and "Traceback" not in p.stderr
    assert "have nothing in common; use the same label names in both files" in p.stderr
    assert not (tmp_path / "model").exists()
