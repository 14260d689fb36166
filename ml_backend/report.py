"""The report page: what the LLM did, what it cost, and whether the student caught up.

``GET /report?project=ID`` is plain HTML (no JavaScript, no login to anything else; Label Studio
cannot embed it, so the README links it), ``GET /report/<ID>.png`` its figure (matplotlib Agg:
teacher vs student F1 on the gold set per round, labels by source, the reweighting's weight
distribution) and ``GET /report.json?project=ID`` the same numbers for scripts.

The numbers come from the backend's state through :func:`collect`, the one read-only adapter;
everything below it only lays them out, so it can be tested on hand-made :class:`ReportData`.
"""

from __future__ import annotations

import html
import io
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from string import Template
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request

from ml_backend.agreement import llm_confidence, metric_f1, teacher_f1_by_round

log = logging.getLogger(__name__)

blueprint = Blueprint("report", __name__)

ASSETS = Path(__file__).with_name("report_assets")
SOURCE_COLORS = {"human": "#2b8a3e", "llm": "#1c7ed6", "student": "#f08c00"}


@dataclass
class RoundRow:
    """One round of the loop as the report shows it."""

    round: int
    version: str | None = None
    finished_at: str | None = None
    labels_by_source: dict[str, int] = field(default_factory=dict)  # examples labeled in this round
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: float = 0.0
    failures: int = 0
    reasks: int = 0  # answers asked again because they could not be parsed
    dropped: int = 0  # mentions dropped from parsed answers: not in the text, unknown label, malformed
    teacher_f1: float | None = None  # this round's LLM labels vs the human labels later given to the same tasks
    student_f1: float | None = None  # the student trained this round, on the gold set (all human labels)
    gold_size: int | None = None


@dataclass
class QueueItem:
    task_id: int | str
    priority: float | None
    source: str | None  # whose pre-annotation the annotator will see: llm / student
    text: str


@dataclass
class ReportData:
    project: int
    model_version: str | None = None
    job: str | None = None
    rounds: list[RoundRow] = field(default_factory=list)
    labels_by_source: dict[str, int] = field(default_factory=dict)  # current totals
    # The newest student's learning-to-reweight record: per-epoch {"epoch", "n", "zero_frac", "mean", "std", ...}
    # from its history.json, and "hist" {"edges", "counts"} of the last epoch when the trainer wrote one.
    weights: list[dict[str, Any]] = field(default_factory=list)
    failure_reasons: dict[str, int] = field(default_factory=dict)
    queue_head: list[QueueItem] = field(default_factory=list)
    llm_stopped: str | None = None  # the newest round bought no LLM labels because the student caught up
    # the LLM's spans on tasks humans labeled since: kept (same span and type) per LLM confidence bin
    # (llmaaa.metrics.confidence_calibration; empty before any such task)
    llm_confidence: dict[str, Any] = field(default_factory=dict)
    # what the next round's LLM batch will cost (``Engine.estimate`` on the queue's head; nothing sent)
    next_llm_estimate: dict[str, Any] = field(default_factory=dict)

    def totals(self) -> dict[str, Any]:
        return {k: sum(getattr(r, k) for r in self.rounds) for k in ("prompt_tokens", "completion_tokens", "cost", "failures",
                                                                  "reasks", "dropped")}

    def latest(self, key: str) -> float | None:
        vals = [getattr(r, key) for r in self.rounds if getattr(r, key) is not None]
        return vals[-1] if vals else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "totals": self.totals()}


# ------------------------------------------------------------------------------- routes
def _project_arg() -> int:
    try:
        return int(request.args.get("project", ""))
    except ValueError:
        abort(400, description="add ?project=ID (the Label Studio project id that `make run` printed)")


@blueprint.get("/report")
def report_page() -> Response:
    if "project" not in request.args:
        return Response(render_index(known_projects()), mimetype="text/html")
    return Response(render_html(collect(_project_arg())), mimetype="text/html")


@blueprint.get("/report.json")
def report_json() -> Response:
    return jsonify(collect(_project_arg()).to_dict())


@blueprint.get("/report/<int:project_id>.png")
def report_png(project_id: int) -> Response:
    return Response(render_png(collect(project_id)), mimetype="image/png", headers={"Cache-Control": "no-store"})


# ------------------------------------------------------------------- reading the state
def _backend() -> Any:
    from ml_backend.app import EXTENSION

    return current_app.extensions[EXTENSION]


def known_projects() -> list[int]:
    root = _backend().config.root
    return sorted(int(p.parent.name) for p in root.glob("*/state.db") if p.parent.name.isdecimal())


def collect(project_id: int) -> ReportData:
    """Read one project's numbers from the backend's state (read-only; never starts work)."""
    if project_id not in known_projects():
        abort(404, description=f"project {project_id} has not talked to this backend yet; connect it in Label Studio "
                               "(Settings > Model) or run `make run`")
    ctx = _backend().context(str(project_id))
    st = ctx.state
    data = ReportData(project=project_id, model_version=st.current_version, labels_by_source=st.label_counts())
    running = _backend().runner.running
    if running and str(running.get("project")) == str(project_id):
        data.job = f"round running since {_when(running.get('started_at'))} ({running.get('reason')})"
    elif (jobs := st.jobs(1)):
        j = jobs[0]
        data.job = f"last job {j['status']} at {_when(j.get('finished_at') or j.get('created_at'))}" + (
            f": {j['error']}" if j.get("error") else "")
    schema = _schema(ctx)
    teacher_f1 = teacher_f1_by_round(st, schema) if schema is not None else {}
    data.llm_confidence = llm_confidence(st, schema) if schema is not None else {}
    rounds = st.rounds()
    for r in rounds:
        usage = r.get("llm_usage") or {}
        trained = r.get("trained") or {}
        data.rounds.append(RoundRow(
            round=int(r["round"]), version=r.get("version"), finished_at=_when(r.get("finished_at")),
            labels_by_source={k: int(v) for k, v in (r.get("labels_by_source") or {}).items()},
            prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0),
            cost=float(usage.get("cost") or 0.0), failures=int(r.get("llm_failed") or 0),
            reasks=int(usage.get("reasks") or 0),
            dropped=sum(int((usage.get("dropped") or {}).get(k) or 0) for k in ("not_in_text", "unknown_labels", "malformed")),
            teacher_f1=teacher_f1.get(int(r["round"])), student_f1=metric_f1(trained.get("gold_metrics")),
            gold_size=r.get("gold_size")))
        for err in r.get("llm_errors") or []:
            data.failure_reasons[err] = data.failure_reasons.get(err, 0) + 1
    if rounds:
        data.llm_stopped = rounds[-1].get("llm_stopped") or None
        data.next_llm_estimate = rounds[-1].get("next_llm_estimate") or {}
    data.weights = _last_weights(ctx)
    data.queue_head = [QueueItem(q["task_id"], q.get("score"), q.get("source"), q.get("text") or "")
                       for q in st.queue_head(10)]
    return data


def _schema(ctx: Any) -> Any:
    """The project's labeling schema, to score the LLM's labels against the human ones; None before a usable config."""
    from ml_backend.labeling import UnsupportedConfig
    from ml_backend.model import RequestError

    try:
        return ctx.schema
    except (RequestError, UnsupportedConfig):  # no usable config from /setup yet: nothing to score with
        return None


def _last_weights(ctx: Any) -> list[dict[str, Any]]:
    """Per-epoch weight statistics of the newest student, when it was trained with reweighting."""
    import json

    version = ctx.state.get_meta("student_version")
    path = ctx.state.model_path(version) / "ner" / "history.json" if version else None
    if path is None or not path.exists():
        return []
    try:
        history = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return []
    return [{"epoch": rec.get("epoch", i + 1), **rec["weights"]} for i, rec in enumerate(history)
            if isinstance(rec, dict) and isinstance(rec.get("weights"), dict)]


def _when(ts: Any) -> str | None:
    import datetime as dt

    if not isinstance(ts, (int, float)):
        return None
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------- rendering
def render_png(data: ReportData) -> bytes:
    """Three panels: the learning curve, labels by source per round, and the weight histogram."""
    from matplotlib.figure import Figure  # Figure() needs no pyplot and no display: Agg

    fig = Figure(figsize=(13, 3.8), dpi=100)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    for key, label, color in (("teacher_f1", "teacher (LLM)", SOURCE_COLORS["llm"]),
                              ("student_f1", "student", SOURCE_COLORS["student"])):
        pts = [(r.round, getattr(r, key)) for r in data.rounds if getattr(r, key) is not None]
        if pts:
            ax1.plot(*zip(*pts), marker="o", label=label, color=color)
    ax1.set(title="F1 on the gold set per round", xlabel="round", ylabel="entity F1", ylim=(0, 1.05))
    ax1.grid(alpha=0.3)
    _legend_or_note(ax1, bool(ax1.get_lines()), "no round scored yet", "lower right")

    rounds = [r.round for r in data.rounds]
    bottom = [0] * len(rounds)
    for src in ("human", "llm", "student"):
        vals = [r.labels_by_source.get(src, 0) for r in data.rounds]
        if any(vals):
            ax2.bar(rounds, vals, bottom=bottom, label=src, color=SOURCE_COLORS[src])
            bottom = [b + v for b, v in zip(bottom, vals)]
    ax2.set(title="labels in each round, by source", xlabel="round", ylabel="examples")
    _legend_or_note(ax2, any(bottom), "no labels yet", "upper left")

    _plot_weights(ax3, data.weights)
    if rounds:
        for ax in (ax1, ax2):
            ax.set_xticks(rounds)
            ax.set_xlim(min(rounds) - 0.6, max(rounds) + 0.6)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _plot_weights(ax: Any, epochs: list[dict[str, Any]]) -> None:
    """The last epoch's weight histogram when recorded, else the share of LLM labels weighted 0 per epoch."""
    hist = epochs[-1].get("hist") if epochs else None
    if isinstance(hist, dict) and hist.get("counts"):
        edges, counts = hist["edges"], hist["counts"]
        ax.bar(edges[:-1], counts, width=[b - a for a, b in zip(edges, edges[1:])], align="edge", color="#7048e8")
        ax.set(title="LLM-label weights, last epoch", xlabel="weight (1 = plain step)", ylabel="LLM labels")
    elif epochs:
        xs = [e["epoch"] for e in epochs]
        mean = [float(e.get("mean", 0.0)) for e in epochs]
        std = [float(e.get("std", 0.0)) for e in epochs]
        ax.plot(xs, mean, marker="o", color="#7048e8", label="mean weight")
        ax.fill_between(xs, [m - d for m, d in zip(mean, std)], [m + d for m, d in zip(mean, std)], color="#7048e8",
                        alpha=0.2, label="± 1 std")
        if "max" in epochs[-1]:
            ax.plot(xs, [float(e.get("max", 0.0)) for e in epochs], ls=":", color="#7048e8", label="max")
        ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set(title="LLM-label weights (reweighting)", xlabel="epoch", ylabel="weight (1 = plain step)")
        last = epochs[-1]
        ax.text(0.02, 0.04, f"last epoch: {last.get('zero', 0)} of {last.get('n', 0)} LLM labels weighted 0",
                transform=ax.transAxes, fontsize=9)
        ax.set_xticks(xs)
        ax.set_ylim(bottom=0)
        ax.legend(loc="center right", fontsize=8)
    else:
        ax.set(title="learning to reweight", xlabel="weight", ylabel="LLM labels")
        ax.text(0.5, 0.5, "no reweighted training yet\n(TRAIN_REWEIGHT=true turns it on)", ha="center", va="center",
                color="#888", transform=ax.transAxes)


def _legend_or_note(ax, has_data: bool, note: str, loc: str | None) -> None:
    if not has_data:
        ax.text(0.5, 0.5, note, ha="center", va="center", color="#888", transform=ax.transAxes)
    elif loc:
        ax.legend(loc=loc)


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return html.escape(str(v))


def _table(headers: list[str], rows: list[list[str]], text_col: int | None = None) -> str:
    head = "".join(f'<th{" class=t" if i == text_col else ""}>{html.escape(h)}</th>' for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f'<td{" class=t" if i == text_col else ""}>{c}</td>' for i, c in enumerate(r)) + "</tr>"
        for r in rows
    ) or f'<tr><td class=t colspan="{len(headers)}">none yet</td></tr>'
    return f"<table><tr>{head}</tr>{body}</table>"


def render_html(data: ReportData) -> str:
    """The whole page; every string that came from users or the LLM (texts, errors) is escaped."""
    t, src = data.totals(), data.labels_by_source
    kpis = [("rounds", len(data.rounds)), ("model version", data.model_version), ("human labels", src.get("human", 0)),
            ("LLM labels", src.get("llm", 0)), ("student labels", src.get("student", 0)),
            ("LLM tokens", f"{t['prompt_tokens'] + t['completion_tokens']:,}"), ("LLM cost", f"${t['cost']:.4f}"),
            ("LLM failures", t["failures"]), ("teacher F1", data.latest("teacher_f1")),
            ("student F1", data.latest("student_f1"))]
    if src.get("unreviewed"):  # "Create annotations from predictions" without opening them: the LLM's labels
        kpis.insert(3, ("unreviewed copies of predictions (not gold)", src["unreviewed"]))
    rounds = _table(
        ["round", "version", "finished", "human", "LLM", "student", "prompt tok", "completion tok", "cost $",
         "failures", "re-asks", "dropped mentions", "teacher F1", "student F1", "gold size"],
        [[_fmt(r.round), _fmt(r.version), _fmt(r.finished_at), _fmt(r.labels_by_source.get("human", 0)),
          _fmt(r.labels_by_source.get("llm", 0)), _fmt(r.labels_by_source.get("student", 0)), _fmt(r.prompt_tokens),
          _fmt(r.completion_tokens), _fmt(r.cost, 4), _fmt(r.failures),
          _fmt(r.reasks), _fmt(r.dropped), _fmt(r.teacher_f1), _fmt(r.student_f1),
          _fmt(r.gold_size)] for r in data.rounds])
    conf = data.llm_confidence
    confidence = _table(["LLM confidence", "LLM spans", "kept by annotators"],
                        [[html.escape(b["bin"]), _fmt(b["n"]), _fmt(b["precision"])] for b in conf.get("bins", ())
                         if b["n"]])
    if conf.get("labels"):
        confidence += (f'<p class="sub" id="llm-confidence">{conf["labels"]} LLM spans on tasks humans labeled since, '
                       f'{_fmt(conf["precision"])} kept; AUROC of confidence for kept vs corrected: {_fmt(conf["auroc"])} '
                       f'(0.5: no signal); {conf["unscored"]} without a confidence (the LLM server sent no log-probabilities).</p>')
    queue = _table(["#", "task", "score (lowest first)", "pre-annotation", "text"],
                   [[str(i + 1), _fmt(q.task_id), _fmt(q.priority), _fmt(q.source), _fmt(q.text)]
                    for i, q in enumerate(data.queue_head)], text_col=4)
    return Template((ASSETS / "report.html").read_text(encoding="utf-8")).substitute(
        project=data.project,
        png=f"/report/{data.project}.png",
        job=(f'<p class="sub" id="job">job: {_fmt(data.job)}</p>' if data.job else "")
        + (f'<p class="sub" id="llm-stopped">LLM labeling paused: {_fmt(data.llm_stopped)}</p>' if data.llm_stopped else "")
        + _estimate_line(data.next_llm_estimate),
        kpis="".join(f'<div id="kpi-{k.replace(" ", "-").lower()}">{html.escape(k)}<b>{_fmt(v)}</b></div>' for k, v in kpis),
        rounds=rounds,
        failures="".join(f"<li>{html.escape(k)}: {v}</li>" for k, v in sorted(data.failure_reasons.items())) or "<li>none</li>",
        queue=queue,
        confidence=confidence,
    )


def _estimate_line(est: dict[str, Any]) -> str:
    """The next LLM batch's bill before it is run: users of LLM labeling tools ask for it up front."""
    if not est:
        return ""
    text = (f"next LLM batch (estimate, nothing sent yet): {est['tasks']} tasks, {est['requests']} requests "
            f"({est['cached']} answered from the cache), ~{est['prompt_tokens']:,} prompt tokens, "
            f"~{est['completion_tokens_expected']:,} completion tokens expected (at most {est['completion_tokens_max']:,}), "
            f"~${est['cost_expected']:.4f} (at most ${est['cost_max']:.4f})")
    if est.get("relations"):
        text += f"; relations {est['relations']}"
    return f'<p class="sub" id="next-llm-estimate">{html.escape(text)}</p>'


def render_index(projects: list[int]) -> str:
    items = "".join(f'<li><a href="/report?project={p}">project {p}</a></li>' for p in projects)
    return ("<!doctype html><html><head><meta charset=utf-8><title>LLMaAA reports</title></head><body>"
            f"<h1>LLMaAA reports</h1><ul>{items or '<li>no project has talked to this backend yet</li>'}</ul></body></html>")
