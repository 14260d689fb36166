"""`make run` (scripts/stack.py): the parts that need no server. The full stack runs in tests/e2e/test_browser.py."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("stack", ROOT / "scripts/stack.py")
stack = importlib.util.module_from_spec(spec)
sys.modules["stack"] = stack
spec.loader.exec_module(stack)


def make_stack(tmp_path: Path, **env) -> "stack.Stack":
    cfg = stack.from_env(stack.StackConfig, "", environ={"STACK_DIR": str(tmp_path / "state"), **env})
    return stack.Stack(cfg)


def test_stop_leaves_a_process_it_did_not_start_alive(tmp_path):
    """A stale pid file pointing at someone else's process (pid reuse) must not get it killed."""
    other = subprocess.Popen(["sleep", "60"])
    try:
        s = make_stack(tmp_path)
        s.backend_pid_file.write_text(str(other.pid))
        s.record.write_text(json.dumps(["backend"]))
        s.stop_recorded()
        time.sleep(0.2)
        assert other.poll() is None, "stack.py --stop killed a process that is not its gunicorn"
        assert json.loads(s.record.read_text()) == []
    finally:
        other.kill()
        other.wait()


def test_stop_with_nothing_recorded_says_so(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "scripts/stack.py"), "--stop"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "STACK_DIR": str(tmp_path / "state")}, timeout=60)
    assert out.returncode == 0
    assert "nothing to stop" in out.stdout


def test_embedded_llm_unless_a_base_url_is_given(tmp_path):
    s = make_stack(tmp_path, LLM_PORT="8799")
    env = s.env()
    assert env["LLM_BASE_URL"] == "http://127.0.0.1:8799/v1" and env["LLM_MODEL"] == stack.EMBEDDED_LLM_MODEL
    s = make_stack(tmp_path, LLM_BASE_URL="http://127.0.0.1:11434/v1", LLM_MODEL="qwen2.5:7b")
    assert not s.cfg.embedded_llm
    assert s.env()["LLM_BASE_URL"] == "http://127.0.0.1:11434/v1" and s.env()["LLM_MODEL"] == "qwen2.5:7b"


@pytest.mark.parametrize("name", ["pool.jsonl", "pool.JSONL", "pool.ndjson", "pool.json", "pool"])
def test_a_json_lines_data_file_is_read_as_json_whatever_its_name(tmp_path, name):
    """Before, only a lower-case ``.jsonl`` name was read as JSON; the others were read as CoNLL and failed
    with "30 columns where the file's lines have 25"."""
    path = tmp_path / name
    path.write_text("\ufeff" + "\n".join(json.dumps({"id": f"x{i}", "text": f"Anna flew to Paris {i} times."})
                                         for i in range(3)) + "\n", encoding="utf-8")
    assert [ex.id for ex in stack.load_data(str(path), None)] == ["x0", "x1", "x2"]


def test_a_json_array_data_file_gets_the_advice_to_convert_it(tmp_path):
    """A multi-line array's first line does not parse alone; it went to the CoNLL reader ("4 columns where ...")."""
    path = tmp_path / "export.json"
    path.write_text('[{"text": "Anna flew .",\n  "id": 1}]\n', encoding="utf-8")
    from llmaaa.data.jsonl import JsonlError
    with pytest.raises(JsonlError, match="one JSON array"):
        stack.load_data(str(path), None)


@pytest.mark.parametrize("body", ["-DOCSTART- O\n\nAnna B-PER\nflew O\n", "[ O\nAnna B-PER\nflew O\n"])
def test_a_conll_data_file_is_still_read_as_conll(tmp_path, body):
    path = tmp_path / "pool.txt"
    path.write_text(body, encoding="utf-8")
    (ex,) = stack.load_data(str(path), None)
    assert ex.text.endswith("Anna flew") and [ex.mention(s) for s in ex.entities] == ["Anna"]


def test_demo_pool_and_gold_demo_tasks():
    pool = stack.load_data(None, None)
    assert len(pool) == 270 and all(not ex.entities for ex in pool)
    from llmaaa.data.jsonl import read_jsonl

    demos = read_jsonl(ROOT / "demo/ner_demos.jsonl")
    schema = stack.check_inputs((ROOT / "label_config/ner.xml").read_text(), pool, demos)
    demo = next(ex for ex in demos if ex.entities)
    task = stack.gold_task_of(demo, schema)
    assert task["data"] == {"text": demo.text, "ref_id": demo.id}
    (ann,) = task["annotations"]
    for r, s in zip(ann["result"], demo.entities):
        v = r["value"]
        assert demo.text[v["start"]:v["end"]] == v["text"] and v["labels"] == [s.label]
        assert (r["from_name"], r["to_name"]) == (schema.from_name, schema.to_name)


def test_a_users_data_and_config_are_checked_before_any_server_starts(capsys):
    """Demos with labels the config lacks were imported with those regions dropped, a pool file's labels
    went unmentioned, and a config reading $sentence got tasks holding "text"."""
    from llmaaa.data.schema import Example, Relation, Span

    config = ('<View><Labels name="ner" toName="doc"><Label value="Person"/><Label value="Drug"/></Labels>'
              '<Relations><Relation value="treats"/></Relations><Text name="doc" value="$sentence"/></View>')
    demo = Example("d1", "Dr. Ana gave aspirin.", [Span(4, 7, "Person"), Span(13, 20, "Drug")], [Relation(0, 1, "treats")])
    pool = [Example("p1", "Zoë took ibuprofen.", [Span(0, 3, "PER")])]
    schema = stack.check_inputs(config, pool, [demo])
    assert "labels of 1 pool sentences are not imported" in capsys.readouterr().out
    assert stack.task_of(pool[0], schema)["data"] == {"sentence": "Zoë took ibuprofen.", "ref_id": "p1"}
    result = stack.gold_task_of(demo, schema)["annotations"][0]["result"]
    assert [r["value"]["labels"] for r in result[:2]] == [["Person"], ["Drug"]]
    assert result[2]["type"] == "relation" and result[2]["labels"] == ["treats"]
    with pytest.raises(stack.InputError, match="demos use labels the label config lacks: LOC, PER"):
        stack.check_inputs(config, pool, [Example("d2", "Ana in Oslo", [Span(0, 3, "PER"), Span(7, 11, "LOC")])])
    with pytest.raises(stack.InputError, match="--label-config"):
        stack.check_inputs("<View><Text name='t' value='$text'/></View>", pool, [])


def test_bigger_dataset_by_name_and_limit():
    data_dir = ROOT.parent / "shared" / "data"
    if not (data_dir / "conll2003").exists():
        pytest.skip("needs ../shared/data (CoNLL-2003 / CoNLL04; CI has it)")
    pool = stack.load_data("conll2003:dev", 50)
    assert len(pool) == 50 and pool[0].id.startswith("dev-")


def test_backend_progress_lines_reach_the_terminal(tmp_path, capsys):
    log = tmp_path / "backend.log"
    log.write_text("2026-11-24 10:00:00,000 INFO ml_backend.jobs: an old line\n")
    relay = stack.LogRelay(log)  # starts at the end: only what the backend writes from now on
    with open(log, "a") as f:
        f.write("2026-11-24 10:00:01,000 INFO httpx: HTTP Request: GET /api/tasks\n"
                "2026-11-24 10:00:02,000 INFO ml_backend.jobs: project 1: round 1 ranked 270 tasks; the LLM labels 20\n"
                "2026-11-24 10:00:03,000 WARNING llmaaa.annotate.teacher: 2 answers were not JSON\n"
                "2026-11-24 10:00:04,000 INFO ml_backend.jobs: half a li")
    relay.relay()
    out = capsys.readouterr().out
    assert "round 1 ranked 270 tasks" in out and "backend WARNING: 2 answers were not JSON" in out
    assert "httpx" not in out and "old line" not in out and "half a li" not in out
    with open(log, "a") as f:
        f.write("ne\n")
    relay.relay()
    assert "half a line" in capsys.readouterr().out


def test_backend_is_started_once_reused_and_stopped(tmp_path):
    """The backend under real gunicorn: started when absent, reused when up, and stopped by whoever started it."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {"STACK_DIR": str(tmp_path / "state"), "MODEL_DIR": str(tmp_path / "model_dir"), "ML_BACKEND_PORT": str(port)}
    first = make_stack(tmp_path, **env)
    first.ensure_backend()
    try:
        assert first.backend_up() and first.started == ["backend"]
        second = make_stack(tmp_path, **env)  # a second `make run`
        second.ensure_backend()
        assert second.started == [], "a second run must reuse the running backend"
        second.stop()
        assert first.backend_up(), "the second run stopped a backend it did not start"
    finally:
        first.stop()
    assert not first.backend_up()
    assert json.loads(first.record.read_text()) == []


TACRED_CONFIG = ('<View><Relations><Relation value="per:city_of_birth"/><Relation value="org:founded_by"/></Relations>'
                 '<Labels name="label" toName="text"><Label value="PERSON"/><Label value="CITY"/>'
                 '<Label value="ORGANIZATION"/></Labels><Text name="text" value="$text"/></View>')


def tacred_file(tmp_path: Path, **over) -> Path:
    rec = {"id": "r1", "relation": "per:city_of_birth", "token": ["Anna", "Smith", "was", "born", "in", "Zürich", "."],
           "subj_start": 0, "subj_end": 1, "obj_start": 5, "obj_end": 5, "subj_type": "PERSON", "obj_type": "CITY", **over}
    path = tmp_path / "train.json"
    path.write_text(json.dumps([rec]), encoding="utf-8")
    return path


def test_a_tacred_pool_brings_its_pair_to_the_task_so_the_llm_is_asked_that_pair_alone(tmp_path, capsys):
    """Its subject and object were not imported: the LLM found the entities again and was asked every pair,
    both directions, so a relation could come back reversed."""
    from ml_backend.results import pool_example

    pool = stack.load_data(str(tacred_file(tmp_path)), None)
    schema = stack.check_inputs(TACRED_CONFIG, pool, [])
    assert "1 pool sentences bring their entities and the pairs to classify" in capsys.readouterr().out
    data = stack.task_of(pool[0], schema)["data"]
    assert data["pairs"] == [[0, 1]] and "relations" not in data  # the relation is the LLM's to label
    assert [(e["text"], e["label"]) for e in data["entities"]] == [("Anna Smith", "PERSON"), ("Zürich", "CITY")]
    ex = pool_example(5, data["text"], data, schema)  # as the backend reads the imported task
    assert ex.extra["pairs"] == [[0, 1]] and [ex.mention(s) for s in ex.entities] == ["Anna Smith", "Zürich"]
    gold = stack.gold_task_of(pool[0], schema)  # the same record as a gold demo: the pair and its relation
    assert gold["data"]["pairs"] == [[0, 1]]
    (rel,) = [r for r in gold["annotations"][0]["result"] if r["type"] == "relation"]
    assert (rel["from_id"], rel["to_id"], rel["labels"]) == ("r1-e0", "r1-e1", ["per:city_of_birth"])


def test_a_tacred_pool_in_an_ner_project_is_imported_as_text_as_before(tmp_path, capsys):
    pool = stack.load_data(str(tacred_file(tmp_path)), None)
    schema = stack.check_inputs((ROOT / "label_config/ner.xml").read_text(), pool, [])
    assert "labels of 1 pool sentences are not imported" in capsys.readouterr().out
    assert stack.task_of(pool[0], schema)["data"] == {"text": pool[0].text, "ref_id": "r1"}


def test_given_entities_of_a_pool_the_config_cannot_label_stop_make_run_before_any_server_starts(tmp_path):
    """Imported, every task would be an error ("label 'STATE_OR_PROVINCE' is not a label of the config")."""
    pool = stack.load_data(str(tacred_file(tmp_path, obj_type="STATE_OR_PROVINCE")), None)
    with pytest.raises(stack.InputError, match="given entities .* lacks: STATE_OR_PROVINCE"):
        stack.check_inputs(TACRED_CONFIG, pool, [])
    from llmaaa.data.schema import Example, Span

    bad = Example("b1", "Anna Smith lives .", [Span(0, 4, "PERSON"), Span(5, 10, "PERSON")], extra={"pairs": [[0, 0]]})
    with pytest.raises(stack.InputError, match="--data: example 'b1': pair"):
        stack.check_inputs(TACRED_CONFIG, [bad], [])


def test_gold_demos_whose_pair_has_no_relation_label_are_refused(tmp_path):
    """A TACRED demo with relation null was imported as a human annotation with no relation: gold no_relation."""
    demos = stack.load_data(str(tacred_file(tmp_path, relation=None)), None)
    with pytest.raises(stack.InputError, match="--demos: 1 gold demos have pairs with no relation label .*: r1"):
        stack.check_inputs(TACRED_CONFIG, [], demos)
    pool = stack.load_data(str(tacred_file(tmp_path, relation=None)), None)  # as a pool it is what the LLM labels
    assert stack.task_of(pool[0], stack.check_inputs(TACRED_CONFIG, pool, []))["data"]["pairs"] == [[0, 1]]
