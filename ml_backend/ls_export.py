"""Label Studio's own "Export -> JSON" file read into llmaaa examples, so gold labeled there feeds the CLI.

``python -m ml_backend convert --config CONFIG.xml --input export.json --output gold.jsonl`` reads the
JSON list of tasks Label Studio exports (``{"id", "data", "annotations": [...], "predictions": [...]}``),
whether or not this backend was connected, and writes the JSONL that ``llmaaa annotate --demos``,
``train --gold`` and ``evaluate --gold`` read. The labeling config says which data field is the text and
which labels exist; it is read by the backend's own ``parse_config``, so a config the backend refuses is
refused here with the same reason.

Gold is what the backend counts as a human label: per task, the most recently updated annotation that
was not cancelled (skipped) and is not a copy of a prediction nobody opened
(``sync.made_from_prediction_unopened``: that is the model's label under a user's name). Predictions are
never read. A task that cannot be read costs only itself: it is reported as ``task ID: why``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from llmaaa.data.jsonl import write_jsonl
from llmaaa.data.schema import Example

from ml_backend.labeling import LabelingSchema, parse_config
from ml_backend.request import is_id
from ml_backend.results import TaskError, human_example, pool_example, task_text, unusable_gold
from ml_backend import sync

_USE_JSON = 'export the project again with Label Studio\'s "JSON" format (Export > JSON)'


def _json_type(value: Any) -> str:
    names = {str: "string", int: "number", float: "number", bool: "boolean", list: "list", dict: "object",
             type(None): "null"}
    return names.get(type(value), type(value).__name__)


class ConvertError(ValueError):
    """The conversion cannot run at all (not a Label Studio JSON export, nothing usable in it, output = input)."""


@dataclass
class Conversion:
    """What a conversion found: the examples to write and, per task left out, why."""

    examples: list[Example] = field(default_factory=list)
    without_gold: int = 0  # tasks with no gold annotation (left out, or written unlabeled)
    skipped: list[str] = field(default_factory=list)  # "task 12: why"
    include_unlabeled: bool = False

    def line(self, output: str | Path) -> str:
        """The CLI's one-line summary."""
        labeled = [ex for ex in self.examples if ex.extra.get("source") == "human"]
        n_ent = sum(len(ex.entities) for ex in labeled)
        n_rel = sum(len(ex.relations) for ex in labeled)
        n_unknown = sum(len(ex.unlabeled_pairs) for ex in labeled)
        unknown = (f", {n_unknown} relations without a label of the config (their pairs kept as unknown, "
                   "not no_relation)") if n_unknown else ""
        done = "written unlabeled" if self.include_unlabeled else "left out"
        return (f"wrote {len(self.examples)} examples to {output} ({len(labeled)} with gold labels: {n_ent} entities, "
                f"{n_rel} relations{unknown}); {self.without_gold} tasks without a gold annotation {done}; "
                f"{len(self.skipped)} tasks skipped")


def gold_annotation(task: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The task's gold annotation (see the module docstring), or None when it has none.

    Raises ``TaskError`` when the annotations cannot be read: skipping them silently would turn a
    labeled task into an unlabeled one.
    """
    anns = task.get("annotations")
    if anns is None:
        return None
    if not isinstance(anns, list):
        raise TaskError(f"'annotations' is a JSON {_json_type(anns)}, not a list")
    for i, a in enumerate(anns):
        if not isinstance(a, Mapping):
            raise TaskError(f"annotation #{i + 1} is not a JSON object")
    gold = sync.gold_annotation(anns)
    if gold is not None and gold.get("result") is not None and not isinstance(gold["result"], list):
        raise TaskError(f"annotation {gold.get('id')}: 'result' is not a list of regions")
    return gold


def task_example(task: Mapping[str, Any], schema: LabelingSchema, *, include_unlabeled: bool = False) -> Example | None:
    """The task as an example: labeled by its gold annotation; without one, unlabeled (``include_unlabeled``)
    or None. Raises ``TaskError`` for a task without usable text or with unreadable annotations."""
    text = task_text(task, schema)
    gold = gold_annotation(task)
    if gold is not None:
        ex = human_example(task["id"], text, gold.get("result") or [], schema, task.get("data"))
        if why := unusable_gold(ex, gold.get("result"), schema):
            raise TaskError(f"annotation {gold.get('id')}: {why}; not used as gold")
        return ex
    return pool_example(task["id"], text, task.get("data"), schema) if include_unlabeled else None


def convert_tasks(tasks: list[Any], schema: LabelingSchema, *, include_unlabeled: bool = False) -> Conversion:
    """Every task of an export, in order, as examples; the ones that cannot be read are named in ``skipped``."""
    out = Conversion(include_unlabeled=include_unlabeled)
    seen: set[str] = set()
    for pos, task in enumerate(tasks, 1):
        if not isinstance(task, Mapping):
            out.skipped.append(f"task #{pos} in the file: a JSON {_json_type(task)}, not a task object")
            continue
        tid = task.get("id")
        if not (is_id(tid) or (isinstance(tid, str) and tid.strip())):
            out.skipped.append(f"task #{pos} in the file: no 'id' (every task of Label Studio's JSON export has one)")
            continue
        if str(tid) in seen:
            out.skipped.append(f"task {tid}: a second task with this id; only the first is kept")
            continue
        seen.add(str(tid))
        try:
            ex = task_example(task, schema, include_unlabeled=include_unlabeled)
        except TaskError as e:
            out.skipped.append(f"task {tid}: {e}")
            continue
        if ex is None or ex.extra.get("source") != "human":
            out.without_gold += 1
        if ex is not None:
            out.examples.append(ex)
    return out


def read_tasks(path: str | Path) -> list[Any]:
    """The task list of a Label Studio JSON export; ``ConvertError`` for anything else (JSON-MIN, CSV, one task)."""
    path = Path(path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise ConvertError(f"{path} is not UTF-8 text (byte {e.start}); {_USE_JSON}") from None
    except json.JSONDecodeError as e:
        raise ConvertError(f"{path} is not one JSON document ({e.msg} at line {e.lineno}); {_USE_JSON}") from None
    if isinstance(data, Mapping) and isinstance(data.get("tasks"), list):
        data = data["tasks"]
    if isinstance(data, Mapping):
        what = "one task" if "data" in data else "a JSON object"
        raise ConvertError(f"{path} holds {what}, not a list of tasks; {_USE_JSON}")
    if not isinstance(data, list):
        raise ConvertError(f"{path} holds a JSON {_json_type(data)}, not a list of tasks; {_USE_JSON}")
    if data and not any(isinstance(t, Mapping) and isinstance(t.get("data"), Mapping) for t in data):
        raise ConvertError(f"{path} is a list without any task 'data' object (a JSON-MIN export?); {_USE_JSON}")
    return data


def convert_file(config: str | Path, input: str | Path, output: str | Path, *,
                 include_unlabeled: bool = False) -> Conversion:
    """Read the config and the export and write the examples to ``output``; returns what was found.

    Nothing is written when no task gave an example (the caller reports that as a failure, after the
    skipped tasks' reasons). Raises ``UnsupportedConfig`` for a config the backend cannot serve,
    ``ConvertError`` when the input is not an export or is the output, ``OSError`` for unreadable files.
    """
    if Path(output).resolve() == Path(input).resolve():
        raise ConvertError(f"--output is the same file as --input ({input}): it would be overwritten; write to another file")
    try:
        xml = Path(config).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ConvertError(f"{config} is not UTF-8 text; pass the project's labeling config "
                           "(Settings > Labeling Interface > Code) saved as UTF-8") from None
    schema = parse_config(xml)
    result = convert_tasks(read_tasks(input), schema, include_unlabeled=include_unlabeled)
    if result.examples:
        write_jsonl(result.examples, output)
    return result
