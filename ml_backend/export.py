"""What a project owner takes away: the dataset (human + LLM labels, with provenance) and the model.

``python -m ml_backend export --project ID --output DIR`` (or ``GET /export?project=ID`` for a zip)
writes, from the backend's own state (no Label Studio call, so it works after Label Studio is gone)::

    label_studio.json    tasks in Label Studio's import format: human annotations, and the LLM's
                         labels as predictions carrying their provenance (model, demos, usage)
    dataset.jsonl        one example per labeled task (human labels win over the LLM's), with
                         ``source``, the teacher's ``annotation`` record and, when the student was
                         trained with reweighting, the LLM label's ``weight`` / ``relation_weight``
    dataset.conll        the same examples as CoNLL: ``TOKEN<TAB>TAG`` lines (IOB2), a blank line between
                         examples. A tab, not a space, because a label may hold a space (``B-Person Name``);
                         ``llmaaa.data.readers.read_conll`` reads it back (Chinese text without spaces, as it was).
                         CoNLL cannot hold the text's own spacing, relations or overlapping spans: the exact
                         text and offsets are in ``dataset.jsonl``
    learning_curve.json  one record per round: version, labels by source, training metrics
    model/               the current student (``ner/`` and, with relations, ``re/``), with its card

Each task keeps the data Label Studio sent (fields beyond the text survive a re-import). An LLM label
made for an older text of its task (the task was edited since) is left out, with a warning: its offsets
would point into the wrong text. So is one made before a label now in the config was added: it has
none of that label's mentions.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmaaa.data.schema import Example

from ml_backend.config import BackendConfig
from ml_backend.labeling import LabelingSchema, UnsupportedConfig, parse_config
from ml_backend.predictions import example_to_results
from ml_backend.results import align_region, asked_fewer_labels, human_example, unusable_gold
from ml_backend.state import ProjectState
from ml_backend.task_keys import given_keys_of

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext


class ExportError(RuntimeError):
    """Nothing to export for that project (never set up here, or wrong MODEL_DIR)."""


def _write_json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=1), encoding="utf-8")


def plot_learning_curve(rounds: list[dict[str, Any]], path: Path) -> Path:
    """The learning curve as a PNG: labels by source and the student's gold F1, per round.

    Drawn with the Agg backend (no display on a server). With no round yet the figure says so,
    so the export always holds the same files.
    """
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), dpi=100)
    ax = fig.add_subplot()
    xs = [r.get("round") for r in rounds]
    if not rounds:
        ax.text(0.5, 0.5, "no round yet", ha="center", va="center", transform=ax.transAxes)
    else:
        for source in ("human", "llm"):
            ys = [(r.get("labels_by_source") or {}).get(source, 0) for r in rounds]
            ax.plot(xs, ys, marker="o", label=f"{source} labels")
        ax.set_ylabel("labels")
        f1 = [((r.get("trained") or {}).get("gold_metrics") or {}).get("f1") for r in rounds]
        if any(v is not None for v in f1):
            ax2 = ax.twinx()
            ax2.plot(xs, [float("nan") if v is None else v for v in f1], marker="s", color="tab:green",
                     label="student gold F1")
            ax2.set_ylim(0, 1)
            ax2.set_ylabel("gold F1")
            ax2.legend(loc="lower right")
        ax.legend(loc="upper left")
    ax.set_xlabel("round")
    ax.set_title("LLMaAA learning curve")
    fig.tight_layout()
    fig.savefig(path, format="png")
    return path


def write_export(state: ProjectState, out: Path) -> list[Path]:
    """Write every export file of ``state`` into ``out``; returns the paths written."""
    from llmaaa.data.jsonl import write_jsonl
    from llmaaa.data.conll_writer import write_conll

    schema = _schema(state)
    out.mkdir(parents=True, exist_ok=True)
    # One read of the student version: a round finishing mid-export must not pair one version's
    # weights with another version's model.
    version = state.get_meta("student_version")
    texts = state.tasks()
    task_data = state.task_data()
    every_human: dict[int, list[dict[str, Any]]] = {}
    for a in state.annotations(every=True):
        every_human.setdefault(a["task_id"], []).append(a)
    human = {tid: anns[-1] for tid, anns in every_human.items()}  # the newest is the task's gold
    llm = _usable_llm_labels(state, texts, schema)

    tasks = []
    for tid, text in texts.items():
        data = task_data.get(tid)
        data = schema.with_text(data, text)
        t: dict[str, Any] = {"id": tid, "data": data, "annotations": [], "predictions": []}
        for a in every_human.get(tid, ()):
            t["annotations"].append({"id": a["annotation_id"], "result": _realigned(a["result"], text), "source": "human"})
        if tid in llm:
            ex = llm[tid]
            t["predictions"].append({"result": example_to_results(ex, schema), "source": "llm",
                                     "model_version": f"llm:{(ex.annotation or {}).get('model')}",
                                     "provenance": dict(ex.annotation or {})})
        tasks.append(t)
    paths = [out / "label_studio.json"]
    _write_json(paths[0], tasks)

    weights = _student_weights(state, version)
    examples = []
    not_gold = 0
    for tid, text in texts.items():
        gold = human_example(tid, text, human[tid]["result"], schema, task_data.get(tid)) if tid in human else None
        if gold is not None and unusable_gold(gold, human[tid]["result"], schema):
            gold, not_gold = None, not_gold + 1  # no "no entities" gold, no partial gold of an edited text
        if gold is not None:
            examples.append(gold)
        elif tid in llm:
            w = {key: weights[key][str(tid)] for key in weights if str(tid) in weights[key]}
            examples.append(llm[tid].with_labels(source="llm", **w))
    write_jsonl(examples, out / "dataset.jsonl")
    write_conll(examples, out / "dataset.conll", sep="\t")  # a label may hold a space: "B-Person Name"
    paths += [out / "dataset.jsonl", out / "dataset.conll"]

    rounds = state.rounds()
    _write_json(out / "learning_curve.json", rounds)
    paths.append(out / "learning_curve.json")
    paths.append(plot_learning_curve(rounds, out / "learning_curve.png"))
    # A model/ left by an earlier export into the same folder (another project, or before the
    # student existed) would pass for this project's model: it goes either way.
    shutil.rmtree(out / "model", ignore_errors=True)
    if version and state.model_path(version).is_dir():
        shutil.copytree(state.model_path(version), out / "model")
        _write_json(out / "model" / "version.json", {"version": version, "project": state.project_id})
        paths.append(out / "model")
    if not_gold:
        log.warning("project %s: %d human annotation(s) have regions but none with a label of the config, or regions "
                    "that no longer fit their edited text: kept in label_studio.json, left out of dataset.jsonl/.conll "
                    "as gold", state.project_id, not_gold)
    log.info("project %s: exported %d tasks (%d human-labeled, %d more LLM-labeled) to %s", state.project_id,
             len(texts), len(human), sum(1 for t in llm if t not in human), out)
    return paths


def _realigned(result: Any, text: str) -> Any:
    """A human annotation's regions with their offsets moved to where their text is in the task's text now.

    A task edited in Label Studio after it was annotated keeps regions whose offsets point into the old
    text; ``dataset.jsonl`` finds them again (``results_to_example``), and so must the re-importable file.
    """
    if not isinstance(result, list):
        return result
    out = []
    for r in result:
        v = r.get("value") if isinstance(r, dict) else None
        if isinstance(v, dict) and isinstance(v.get("text"), str) and isinstance(v.get("start"), int) \
                and isinstance(v.get("end"), int) and text[v["start"]:v["end"]] != v["text"]:
            pos = align_region(text, v["start"], v["end"], v["text"])
            if pos is not None:
                r = {**r, "value": {**v, "start": pos[0], "end": pos[1]}}
        out.append(r)
    return out


def _schema(state: ProjectState) -> LabelingSchema:
    """The project's labeling schema, or an ``ExportError`` saying why there is none."""
    xml = state.get_meta("label_config")
    if not xml:
        raise ExportError(f"project {state.project_id} has no labeling config yet: connect it to this backend in "
                          "Label Studio (Settings > Model) first")
    try:
        return parse_config(xml)
    except UnsupportedConfig as e:
        raise ExportError(str(e)) from e


def _usable_llm_labels(state: ProjectState, texts: dict[int, str], schema: LabelingSchema) -> dict[int, Example]:
    """The LLM labels to export, by task id: not failed, made for the task's current text and label set.

    A label whose text differs from its task's (the task was edited in Label Studio after the LLM
    labeled it) has offsets into the old text: as a prediction it would mark the wrong characters.
    A label made before a label now in the config was added has none of that label's mentions: in
    the dataset it would say they are not entities. Rounds label both kinds again.
    """
    current = [Example.from_dict(d) for d in state.llm_labels(current=True)]
    kept = {int(ex.id) for ex in current}
    older_text = [int(d["id"]) for d in state.llm_labels() if int(d["id"]) in texts and int(d["id"]) not in kept]
    fewer_labels = [int(ex.id) for ex in current if not ex.failed and asked_fewer_labels(ex, schema)]
    for why, tids in (("an older text (or given entities) of their task", older_text),
                      ("fewer labels than the config has now", fewer_labels)):
        if tids:
            log.warning("project %s: left out %d LLM labels made for %s (tasks %s)", state.project_id, len(tids), why,
                        ", ".join(map(str, tids[:10])) + (" ..." if len(tids) > 10 else ""))
    left_out = set(fewer_labels)
    return {int(ex.id): _in_config(ex, schema) for ex in current if not ex.failed and int(ex.id) not in left_out}


def _in_config(ex: Example, schema: LabelingSchema) -> Example:
    """``ex`` with only the labels the config has now (a label removed from it drops its spans and relations,
    in every file alike), each under the config's name for it."""
    keep = {i: schema.map_entity(s.label) for i, s in enumerate(ex.entities)}
    index = {i: n for n, i in enumerate(i for i, label in keep.items() if label)}
    spans = [dataclasses.replace(s, label=keep[i]) for i, s in enumerate(ex.entities) if keep[i]]
    relations = []
    for r in ex.relations:
        label = schema.map_relation(r.label)
        if label and r.head in index and r.tail in index:
            relations.append(dataclasses.replace(r, head=index[r.head], tail=index[r.tail], label=label))
    if len(spans) == len(ex.entities) and len(relations) == len(ex.relations):
        return ex
    return ex.with_labels(entities=spans, relations=relations)


def _student_weights(state: ProjectState, version: str | None) -> dict[str, dict[str, float]]:
    """The current students' learning-to-reweight weights per LLM-labeled task, when they were reweighted.

    ``weight`` (NER student) and ``relation_weight`` (RE student, mean over the example's pairs): 1.0 is
    a plain step's weight, 0.0 means the gold set argued against this label in every epoch.
    """
    out: dict[str, dict[str, float]] = {}
    for key, sub in (("weight", "ner"), ("relation_weight", "re")):
        path = state.model_path(version) / sub / "example_weights.json" if version else None
        if path is not None and path.is_file():
            try:
                out[key] = {str(k): float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
            except (ValueError, AttributeError) as e:
                log.warning("ignoring unreadable %s: %s", path, e)
    return out


def export_project(config: BackendConfig, project_id: int, output: str | Path) -> list[Path]:
    """The CLI's export: read-only on the state (safe while the backend serves the project)."""
    if not (config.root / str(project_id) / "state.db").exists():
        raise ExportError(f"no state for project {project_id} under MODEL_DIR={config.root}; set MODEL_DIR to the backend's")
    if Path(output).exists() and not Path(output).is_dir():  # e.g. --output export.zip from an earlier run
        raise ExportError(f"--output {output} is a file; pass a folder to write the export into")
    # LLM labels judged current as the backend judges them: for the task's text and its given entities as the
    # project's config reads them (an LLM label made for entities since edited is left out)
    state = ProjectState(config.root, project_id, given_keys=lambda tasks: given_keys_of(tasks, _schema(state)))
    try:
        return write_export(state, Path(output))
    finally:
        state.close()


EXPORT_TMP_PREFIX = ".export-"


def clear_export_debris(project_dir: Path) -> list[str]:
    """Delete the work folders of exports a killed process left in ``project_dir``; returns their names.

    ``export_zip`` writes the export (the student included: ~90 MB for MiniLM) in the project's folder, on
    MODEL_DIR's disk rather than a small /tmp, where a ``kill -9`` mid-export would leave it. Called when
    the project's context is made, before any export of this process can run; the MODEL_DIR lock keeps
    other processes out.
    """
    gone = sorted(p for p in project_dir.glob(EXPORT_TMP_PREFIX + "*") if p.is_dir())
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return [p.name for p in gone]


def export_zip(ctx: "ProjectContext") -> bytes:
    """The same files as one zip (``GET /export?project=ID``); nothing to export is a 400 saying why."""
    from ml_backend.model import RequestError

    with tempfile.TemporaryDirectory(prefix=EXPORT_TMP_PREFIX, dir=ctx.state.dir) as tmp:
        try:
            write_export(ctx.state, Path(tmp))
        except ExportError as e:
            raise RequestError(str(e)) from e
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file():
                    z.write(f, f.relative_to(tmp).as_posix())
        return buf.getvalue()
