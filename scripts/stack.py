"""`make run`: the whole stack with a demo project, from one command.

Starts, each only when it is not already answering: the local LLM server (scripts/llm_server.sh;
skipped when LLM_BASE_URL names another OpenAI-compatible server), Label Studio 1.23.2
(scripts/labelstudio.sh) and the LLMaAA backend under gunicorn. Then it creates the demo project
(idempotently, by title), imports the pool and the gold demos (as human-annotated tasks: human
labels are gold), connects the backend, runs the first round and waits for the pre-annotations.

Ctrl-C (or SIGTERM) stops what this run started and nothing else; a second run reuses what is up.
``--no-wait`` sets everything up, prints and exits leaving the servers running; ``--stop`` stops
what such a run started (recorded in ``.stack/started.json``).
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from llmaaa.config import from_env  # noqa: E402
from llmaaa.data.pairs import candidate_pairs  # noqa: E402
from llmaaa.data.schema import Example  # noqa: E402
from stack_services import (  # noqa: E402
    EMBEDDED_LLM_MODEL, Stack, StackConfig, StackError, elapsed, http_json, say,
)

if TYPE_CHECKING:
    from ml_backend.labeling import LabelingSchema


# ------------------------------------------------------------------------------ demo data
def load_data(spec: str | None, limit: int | None) -> list[Example]:
    """The pool: the shipped demo, a JSONL file, a CoNLL file, or ``NAME:SPLIT`` (e.g. ``conll2003:dev``)."""
    from llmaaa.data.jsonl import read_jsonl
    from llmaaa.data.readers import read_conll, read_dataset

    if spec is None:
        examples = read_jsonl(ROOT / "demo/ner_pool.jsonl")
    elif ":" in spec and not Path(spec).exists():
        name, split = spec.split(":", 1)
        examples = read_dataset(name, split)
    elif _is_json(Path(spec)):
        examples = read_jsonl(spec)
    else:
        examples = read_conll(spec)
    return examples[:limit] if limit else examples


# a JSON file's first line: an object, or an array opening ("[", "[{...", '["...'); a CoNLL line "[ O" is none
_JSON_START = re.compile(r"\s*(?:\{|\[\s*(?:$|[\[{\"]))")


def _is_json(path: Path) -> bool:
    """Whether a data file holds JSON (JSON Lines, or one array that ``read_jsonl`` explains how to convert),
    by its first line, not its name: ``.json``, ``.JSONL`` and ``.ndjson`` files were read as CoNLL and
    failed on their "columns". An empty or unreadable file goes by its name (its reader says what is wrong)."""
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as f:
            first = next((line for line in f if line.strip()), "")
    except OSError:
        first = ""
    if first:
        return _JSON_START.match(first) is not None
    return path.suffix.casefold() in (".jsonl", ".json", ".ndjson")


def task_of(ex: Example, schema: LabelingSchema) -> dict[str, Any]:
    """A Label Studio task for one example: the text where the config reads it, and our id (the pool never
    carries labels: the LLM labels it).

    An example that lists the entity pairs to classify (``pairs``: a TACRED record's subject -> object) in a
    config with relations brings its entities and pairs as the task's ``data.entities`` / ``data.pairs``:
    the LLM is asked that pair's relation alone, not to find the entities again and label every pair in
    both directions. Its relations are not imported (the LLM labels them)."""
    data = schema.with_text({"ref_id": ex.id}, ex.text)
    if brings_pairs(ex, schema):
        data["entities"] = [{"start": s.start, "end": s.end, "label": schema.map_entity(s.label) or s.label,
                             "text": ex.mention(s)} for s in ex.entities]
        data["pairs"] = [list(p) for p in candidate_pairs(ex)]
    return {"data": data}


def brings_pairs(ex: Example, schema: LabelingSchema) -> bool:
    """Whether ``ex`` is imported with its entities and pairs (``task_of``): it lists pairs (an empty list asks
    nothing in a data file, but every pair in a task, so it is not carried) and the config has relations."""
    return bool(ex.extra.get("pairs")) and bool(schema.relation_labels)


def gold_task_of(ex: Example, schema: LabelingSchema) -> dict[str, Any]:
    """A task with one human annotation, its entities and relations: how gold demos enter Label Studio
    (human labels are gold)."""
    from ml_backend.predictions import example_to_results

    return {**task_of(ex, schema), "annotations": [{"result": example_to_results(ex, schema)}]}


class InputError(ValueError):
    """A label config, pool or demo file `make run` cannot start a project with."""


def check_inputs(label_config: str, pool: list[Example], demos: list[Example]) -> LabelingSchema:
    """The config's schema, once the demos are known to fit it, before any server starts.

    Demos are gold: a label the config lacks would be dropped from them without a word, and the LLM's
    examples and the student's gold set would teach that the thing is no entity. Labels in the pool file
    are not imported (the LLM labels the pool): said, with the options that bring a label set along; but
    the entities of an example that lists its pairs are (``task_of``), so they must fit the config too.
    """
    from ml_backend.labeling import UnsupportedConfig, parse_config

    try:
        schema = parse_config(label_config)
    except UnsupportedConfig as e:
        raise InputError(f"--label-config: {e}") from None
    known = {label.casefold() for label in (*schema.entity_labels, *schema.aliases)}
    missing = sorted({s.label for ex in demos for s in ex.entities if s.label.casefold() not in known})
    rel_known = {label.casefold() for label in schema.relation_labels}
    missing += sorted({r.label for ex in demos for r in ex.relations if r.label.casefold() not in rel_known})
    if missing:
        raise InputError(f"the gold demos use labels the label config lacks: {', '.join(missing)}; pass "
                         "--label-config with them (label_config/README.md), or --demos with demos of this config")
    unknown = [d.id for d in demos if d.unlabeled_pairs]
    if unknown:  # imported as annotations, such a pair would read as a human's no_relation
        raise InputError(f"--demos: {len(unknown)} gold demos have pairs with no relation label (e.g. a TACRED record "
                         f"with relation null: {', '.join(map(str, unknown[:3]))}); gold demos must give each pair's "
                         "relation, or no_relation")
    paired = [ex for ex in pool if brings_pairs(ex, schema)]
    for flag, examples in (("--data", paired), ("--demos", [d for d in demos if brings_pairs(d, schema)])):
        for ex in examples:  # a task's pairs the backend cannot read would fail that task
            try:
                candidate_pairs(ex)
            except (ValueError, TypeError, KeyError) as e:
                raise InputError(f"{flag}: {e}") from None
    other = sorted({s.label for ex in paired for s in ex.entities if s.label.casefold() not in known})
    if other:
        raise InputError(f"the pool's given entities (imported with its pairs) use labels the label config lacks: "
                         f"{', '.join(other[:8])}; pass --label-config with them (label_config/README.md)")
    if paired:
        say(f"data: {len(paired)} pool sentences bring their entities and the pairs to classify (imported as "
            "data.entities / data.pairs: the LLM labels only those pairs' relations)")
    labeled = sum(1 for ex in pool if ex.entities and not brings_pairs(ex, schema))
    if labeled:
        other = sorted({s.label for ex in pool for s in ex.entities if s.label.casefold() not in known})
        say(f"data: the labels of {labeled} pool sentences are not imported (the LLM labels the pool; human gold "
            "goes in --demos)" + (f"; they use labels the config lacks ({', '.join(other[:8])}): pass "
                                  "--label-config and --demos for your label set" if other else ""))
    return schema


# --------------------------------------------------------------------------- the project
class DemoProject:
    """The demo project in Label Studio, created once and found by title afterwards."""

    def __init__(self, cfg: StackConfig):
        from label_studio_sdk import LabelStudio

        self.cfg = cfg
        self.client = LabelStudio(base_url=cfg.label_studio_url, api_key=os.environ.get("LABEL_STUDIO_API_KEY") or cfg.label_studio_user_token)
        self.id: int | None = None

    def ensure(self, pool: list[Example], demos: list[Example], label_config: str, schema: LabelingSchema) -> int:
        title = self.cfg.demo_project_title
        found = [p for p in self.client.projects.list(title=title) if p.title == title]
        if found:
            project = self.client.projects.get(id=found[0].id)
            say(f"project: reusing '{title}' (id {project.id}, {project.task_number} tasks)")
        else:
            project = self.client.projects.create(
                title=title, label_config=label_config,
                description="LLMaAA demo: an LLM pre-annotates, a small student learns from it and ranks the queue.",
            )
            say(f"project: created '{title}' (id {project.id})")
        self.id = project.id
        if not project.task_number:
            tasks = [gold_task_of(ex, schema) for ex in demos] + [task_of(ex, schema) for ex in pool]
            say(f"project: importing {len(pool)} pool sentences and {len(demos)} gold demos (as human annotations)")
            self.client.projects.import_tasks(id=project.id, request=tasks, return_task_ids=False)
        return project.id

    def connect(self) -> int:
        """Connect the backend once (LS then calls /health and /setup); return the ML backend's id."""
        url = self.cfg.backend_url
        for ml in self.client.ml.list(project=self.id):
            if ml.url.rstrip("/") == url:
                return ml.id
        ml = self.client.ml.create(project=self.id, url=url, title="LLMaAA", is_interactive=False)
        say(f"backend: connected to project {self.id}")
        return ml.id

    def predictions(self) -> int:
        return self.client.projects.get(id=self.id).total_predictions_number or 0


class LogRelay:
    """Echo the backend's own progress lines (its ``ml_backend``/``llmaaa`` loggers, warnings, errors)."""

    PATTERN = re.compile(r" (INFO|WARNING|ERROR) (ml_backend|llmaaa)[\w.]*: (.*)")

    def __init__(self, path: Path):
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def relay(self) -> None:
        if not self.path.exists():
            return
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1  # whole lines only; the rest is read next time
        self.offset += end
        for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
            m = self.PATTERN.search(line)
            if m:
                say(f"backend: {m.group(3)[:300]}" if m.group(1) == "INFO" else f"backend {m.group(1)}: {m.group(3)[:300]}")


def run_first_round(cfg: StackConfig, project: DemoProject, ml_id: int, relay: LogRelay | None = None) -> None:
    """Wait for the first round's pre-annotations, with a progress line; start a round if none is queued.

    Connecting the backend (its /setup) queues the cold-start round by itself; "Start Training"
    (``ml.train``) is only needed when the project has predictions from no round and no job.
    """
    if project.predictions():
        say(f"round: project {project.id} already has {project.predictions()} predictions; not starting a new round")
        return
    state = _project_metrics(cfg, project.id)
    if not state or not state.get("last_job"):
        say("round: asking the backend for a round (Start Training)")
        project.client.ml.train(id=ml_id)
    say("round: the LLM pre-annotates a first batch picked at random (no student yet); this is the slow step")
    t0 = last_line = time.monotonic()
    deadline = t0 + cfg.ready_timeout
    while time.monotonic() < deadline:
        n = project.predictions()
        if n:
            if relay:
                relay.relay()
            say(f"round: done, {n} tasks have pre-annotations or priorities")
            return
        if relay:
            relay.relay()
        state = _project_metrics(cfg, project.id) or {}
        job = state.get("last_job") or {}
        if job.get("status") == "failed":
            raise StackError(f"the backend's round failed: {job.get('error')}; see {cfg.stack_dir}/backend.log")
        if job.get("status") == "done" and state.get("rounds") and not project.predictions():
            detail = job.get("detail") or {}
            raise StackError(f"the round finished without writing predictions to Label Studio "
                             f"({detail.get('push_error') or detail.get('llm') or detail}); see {cfg.stack_dir}/backend.log")
        if time.monotonic() - last_line > 30:
            say(f"round: {job.get('status', 'waiting')} for {time.monotonic() - t0:.0f} s")
            last_line = time.monotonic()
        time.sleep(2)
    raise StackError(f"no pre-annotations after {cfg.ready_timeout:.0f} s (READY_TIMEOUT); see {cfg.stack_dir}/backend.log")


def _project_metrics(cfg: StackConfig, project_id: int | None) -> dict[str, Any] | None:
    """This project's summary from the backend's GET /metrics (None when it does not know the project yet)."""
    metrics = http_json(f"{cfg.backend_url}/metrics")
    if not isinstance(metrics, dict):
        return None
    return (metrics.get("projects") or {}).get(str(project_id))


# --------------------------------------------------------------------------------- main
class Stopped(Exception):
    """SIGINT or SIGTERM arrived."""


def _on_signal(signum, _frame):
    raise Stopped(signal.Signals(signum).name)


def print_ready(cfg: StackConfig, project_id: int, started: list[str], keep: bool) -> None:
    ls = cfg.label_studio_url.rstrip("/")
    lines = [
        "",
        f"Ready in {elapsed():.0f} s.",
        f"  Label Studio   {ls}/projects/{project_id}/data",
        f"  login          {cfg.label_studio_username} / {cfg.label_studio_password}",
        f"  report         {cfg.backend_url}/report?project={project_id}",
        f"  LLM            {cfg.llm_base_url or f'local {EMBEDDED_LLM_MODEL} on 127.0.0.1:{cfg.llm_port}'}",
        "",
        "Next: open the project and press 'Label All Tasks'. Tasks come in the order the active-learning",
        "sampler chose, pre-annotated by the LLM; fix the spans and submit. Every few submissions the",
        "backend retrains the student and re-ranks the queue; the report shows rounds, costs and F1.",
        f"Export: {cfg.backend_url}/export?project={project_id} (zip), or .venv/bin/python -m ml_backend export "
        f"--project {project_id} --model-dir {cfg.model_dir} --output runs/export",
    ]
    if keep:
        lines.append(f"Servers keep running; stop what this command started with: make stop   ({', '.join(started) or 'nothing'})")
    else:
        lines.append(f"Ctrl-C stops what this command started ({', '.join(started) or 'nothing: all were already running'}).")
    try:
        print("\n".join(lines), flush=True)
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Bring up Label Studio + the LLMaAA backend + a local LLM with a demo project.")
    ap.add_argument("--no-wait", action="store_true", help="set up, print, and exit leaving the servers running")
    ap.add_argument("--stop", action="store_true", help="stop the servers an earlier --no-wait run started")
    ap.add_argument("--data", help="pool to import instead of the demo: a JSONL or CoNLL file, or NAME:SPLIT "
                    "(conll2003:dev reads LLMAAA_DATA_DIR, default ../shared/data)")
    ap.add_argument("--demos", default=str(ROOT / "demo/ner_demos.jsonl"), help="gold demonstrations (JSONL)")
    ap.add_argument("--limit", type=int, help="import at most this many pool sentences")
    ap.add_argument("--title", help="project title (default: DEMO_PROJECT_TITLE or 'LLMaAA demo (NER)')")
    ap.add_argument("--label-config", default=str(ROOT / "label_config/ner.xml"), help="Label Studio config XML")
    args = ap.parse_args(argv)

    cfg = from_env(StackConfig, "", {"demo_project_title": args.title})
    if args.data and not args.title and not os.environ.get("DEMO_PROJECT_TITLE"):
        cfg.demo_project_title = f"LLMaAA: {Path(args.data).name}"
    stack = Stack(cfg)
    if args.stop:
        stack.stop_recorded()
        return 0

    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)
    try:
        label_config = Path(args.label_config).read_text(encoding="utf-8")
        from llmaaa.data.jsonl import read_jsonl

        pool, demos = load_data(args.data, args.limit), read_jsonl(args.demos)
        say(f"data: {len(pool)} pool sentences, {len(demos)} gold demos")
        schema = check_inputs(label_config, pool, demos)
        stack.ensure_llm()
        stack.ensure_label_studio()
        stack.ensure_backend()
        project = DemoProject(cfg)
        project_id = project.ensure(pool, demos, label_config, schema)
        relay = LogRelay(stack.dir / "backend.log")
        ml_id = project.connect()
        run_first_round(cfg, project, ml_id, relay)
        print_ready(cfg, project_id, stack.started, keep=args.no_wait)
        if args.no_wait:
            return 0
        was_up = True
        while True:  # until Ctrl-C; say so when the backend stops or starts answering again
            time.sleep(5)
            up = stack.backend_up()
            if up != was_up:
                say("the backend answers again" if up else f"the backend stopped answering; see {cfg.stack_dir}/backend.log")
                was_up = up
    except Stopped as e:
        for sig in (signal.SIGINT, signal.SIGTERM):  # a second Ctrl-C must not cut the clean-up short
            signal.signal(sig, lambda *_: say("still stopping, one moment..."))
        say(f"{e}: stopping what this command started")
        stack.stop()
        return 130
    except (StackError, OSError, ValueError) as e:
        say(f"error: {e}")
        if not args.no_wait:
            stack.stop()
        return 1
    except Exception as e:
        from label_studio_sdk.core.api_error import ApiError

        if not isinstance(e, ApiError):
            if not args.no_wait:
                stack.stop()
            raise
        say(f"error: Label Studio refused a request (HTTP {e.status_code}): {str(e.body)[:500]}; "
            "check LABEL_STUDIO_URL and LABEL_STUDIO_USER_TOKEN (or LABEL_STUDIO_API_KEY)")
        if not args.no_wait:
            stack.stop()
        return 1


if __name__ == "__main__":
    sys.exit(main())
