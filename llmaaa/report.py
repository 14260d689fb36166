"""Learning-curve reports of loop runs: ``curves.json``, ``curves.png`` and a markdown table.

A *series* is one strategy with or without reweighting (``least_confidence+rw``); its curve is
the mean ± std over seeds of the student's F1 at each budget. The teacher and the gold ceiling are
horizontal lines. "Beats the teacher at" is the first budget whose mean student F1 is strictly
above the teacher's F1 on the same split (test when both are known, else the demo pool), among the
budgets every seed of the series reached: a mean over the one seed that went further is no
comparison. The ± is the population std over seeds (numpy's default, ddof=0).
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

log = logging.getLogger(__name__)

RW_SUFFIX = "+rw"  # a reweighted series: ``least_confidence+rw``


def series_name(strategy: str, reweight: bool) -> str:
    return f"{strategy}{RW_SUFFIX}" if reweight else strategy


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return float(np.mean(vals)) if vals else None


def _first_beating(series: Mapping[str, Any], teacher_f1: float | None) -> int | None:
    """The first budget, among those every seed of ``series`` reached, whose mean F1 beats ``teacher_f1``."""
    full = max(series["n"], default=0)
    return next((b for b, m, n in zip(series["budgets"], series["mean"], series["n"])
                 if teacher_f1 is not None and n == full and m > teacher_f1), None)


def _last_full_budget(series: Mapping[str, Any]) -> int | None:
    full = max(series["n"], default=0)
    return max((b for b, n in zip(series["budgets"], series["n"]) if n == full), default=None)


def build_curves(
    runs: Sequence[Mapping[str, Any]],
    *,
    teacher: Mapping[str, Any] | None = None,
    ceiling: Sequence[Mapping[str, Any]] = (),
    earlier: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """Aggregate runs (``{"strategy", "reweight", "seed", "records"}``) into the curves document.

    ``teacher``: ``{"name", "gold_f1", "test_f1"}``; ``ceiling``: per-seed ``train_ceiling`` results;
    ``earlier``: curves documents of other seeds of the same grid (see ``fold_earlier``).
    """
    teacher = dict(teacher or {})
    for doc in earlier:  # what this report did not measure, an earlier record may have (fold_earlier)
        teacher.update({k: v for k, v in doc.get("teacher", {}).items()
                        if teacher.get(k) in (None, "") and v is not None})
    has_test = bool(runs) and all(rec.get("student_test_f1") is not None for run in runs for rec in run["records"])
    split = "test" if has_test and teacher.get("test_f1") is not None else "gold"
    if not runs and earlier:
        split = earlier[0].get("split", split)
    metric = f"student_{split}_f1"
    teacher_f1 = teacher.get(f"{split}_f1")
    grouped: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    seeds: dict[str, set] = defaultdict(set)
    stopped: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # runs that stopped early, runs
    for run in runs:
        name = series_name(run["strategy"], bool(run.get("reweight")))
        seeds[name].add(run.get("seed"))
        stopped[name][0] += bool(run.get("stopped"))
        stopped[name][1] += 1
        for rec in run["records"]:
            if rec.get(metric) is not None:
                grouped[name][int(rec["budget"])].append(float(rec[metric]))
    series: dict[str, Any] = {}
    for name in sorted(grouped):
        budgets = sorted(grouped[name])
        vals = [grouped[name][b] for b in budgets]
        mean = [float(np.mean(v)) for v in vals]
        series[name] = {
            "budgets": budgets,
            "mean": mean,
            "std": [float(np.std(v)) for v in vals],
            "n": [len(v) for v in vals],
            "seeds": sorted(s for s in seeds[name] if s is not None),
            "runs_stopped": stopped[name][0],
            "runs": stopped[name][1],
        }
        series[name]["first_budget_beating_teacher"] = _first_beating(series[name], teacher_f1)
    ceil_f1 = _mean([c.get(f"{split}_f1") for c in ceiling])
    curves = {
        "split": split,
        "metric": metric,
        "teacher": {**teacher, "f1": teacher_f1},
        "ceiling": {"f1": ceil_f1, "budget": max((c["budget"] for c in ceiling), default=None), "runs": list(ceiling)},
        "series": series,
        "runs": [dict(r) for r in runs],
    }
    for doc in earlier:
        curves = fold_earlier(curves, doc)
    return curves


def pool_series(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """One series from two disjoint sets of seeds, each given per budget as mean, (population) std and n.

    The pooled mean and std are exact (each side's sum and sum of squares follow from its mean, std
    and n), so seeds run apart -- on another machine, or before a checkout whose run states are gone
    -- join the table without their raw curves.
    """
    overlap = set(a.get("seeds") or ()) & set(b.get("seeds") or ())
    if overlap:
        raise ValueError(f"the same seeds {sorted(overlap)} are in both records; pooling would count them twice")
    stats: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0, 0.0])  # n, sum, sum of squares
    for side in (a, b):
        for budget, m, sd, n in zip(side["budgets"], side["mean"], side["std"], side["n"]):
            acc = stats[int(budget)]
            acc[0] += n
            acc[1] += n * m
            acc[2] += n * (sd * sd + m * m)
    budgets = sorted(stats)
    mean = [stats[x][1] / stats[x][0] for x in budgets]
    std = [float(np.sqrt(max(0.0, stats[x][2] / stats[x][0] - m * m))) for x, m in zip(budgets, mean)]
    out = {"budgets": budgets, "mean": mean, "std": std, "n": [int(stats[x][0]) for x in budgets],
           "seeds": sorted({*(a.get("seeds") or ()), *(b.get("seeds") or ())})}
    if all("runs" in side for side in (a, b)):  # older records did not count their stopped runs
        out.update(runs_stopped=a.get("runs_stopped", 0) + b.get("runs_stopped", 0), runs=a["runs"] + b["runs"])
    return out


def fold_earlier(curves: Mapping[str, Any], earlier: Mapping[str, Any]) -> dict[str, Any]:
    """``curves`` with another curves document's series pooled in (``pool_series``), series by series.

    The teacher and gold-ceiling lines are this report's own measurements where it has them (kept per
    seed on disk), the earlier document's only where it has none: an earlier record keeps a mean over
    seeds measured by older code, and letting it win hid the seeds measured since.
    ``earlier["source"]`` (where the numbers come from) is kept in ``curves["earlier"]``.
    """
    if earlier.get("split") not in (None, curves["split"]):
        raise ValueError(f"earlier record is on the {earlier['split']} split, this report on {curves['split']}")
    teacher = {**{k: v for k, v in earlier.get("teacher", {}).items() if v is not None},
               **{k: v for k, v in curves["teacher"].items() if v not in (None, "")}}
    ceiling = earlier["ceiling"] if curves["ceiling"].get("f1") is None and earlier.get("ceiling") else curves["ceiling"]
    series = {name: dict(s) for name, s in curves["series"].items()}
    for name, s in earlier.get("series", {}).items():
        try:
            series[name] = pool_series(series[name], s) if name in series else dict(s)
        except ValueError as e:
            raise ValueError(f"{name}: {e}; the earlier record is {earlier.get('source') or 'unnamed'}: drop those "
                             "seeds from it, or run other seeds (--first-seed)") from None
    for s in series.values():
        s["first_budget_beating_teacher"] = _first_beating(s, teacher.get("f1"))
    return {**curves, "teacher": teacher, "ceiling": ceiling, "series": dict(sorted(series.items())),
            "earlier": [*curves.get("earlier", []), earlier.get("source", "")]}


def series_labels(curves: Mapping[str, Any]) -> dict[str, str]:
    """Display name per series; when the series have different seed counts (a grid grown in steps),
    each name says its count, so a one-seed row is not read as a mean over three."""
    seeds = {name: max(s["n"], default=0) for name, s in curves["series"].items()}
    if len(set(seeds.values())) <= 1:
        return {name: name for name in seeds}
    return {name: f"{name} ({n} seed{'s' if n != 1 else ''})" for name, n in seeds.items()}


def markdown_table(curves: Mapping[str, Any], *, budgets: Sequence[int] | None = None) -> str:
    """Rows = series, columns = budgets (mean ± std over seeds), last column = first budget beating the teacher.

    A cell over fewer seeds than its row's others says how many (``(n=1)``): a run stopped early leaves the
    later budgets to the others, and their mean is no comparison with the earlier cells'."""
    series = curves["series"]
    all_budgets = sorted({b for s in series.values() for b in s["budgets"]})
    cols = [b for b in all_budgets if budgets is None or b in budgets]
    head = f"| strategy ({curves['split']} F1) | " + " | ".join(str(b) for b in cols) + " | beats teacher at |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    shown = series_labels(curves)
    for name, s in series.items():
        at = dict(zip(s["budgets"], zip(s["mean"], s["std"], s["n"])))
        full = max(s["n"], default=0)
        cells = []
        for b in cols:
            if b not in at:
                cells.append("")
            else:
                m, sd, n = at[b]
                # seeds that stopped early (the stopping rule, an exhausted pool) leave fewer at the later budgets
                cells.append((f"{m:.3f} ± {sd:.3f}" if n > 1 else f"{m:.3f}") + (f" (n={n})" if n < full else ""))
        beat, last = s["first_budget_beating_teacher"], _last_full_budget(s)
        if beat is None:  # a series that stopped before the others' last budget has not "never" beaten it
            # nor has one whose every run stopped early (the stopping rule, an exhausted pool), when all stopped alike
            every_run_stopped = s.get("runs", 0) > 0 and s.get("runs_stopped") == s["runs"]
            beat = ("never" if last is None or (last >= all_budgets[-1] and not every_run_stopped)
                    else f"not by {last} (stopped)")
        lines.append(f"| {shown[name]} | " + " | ".join(cells) + f" | {beat} |")
    t, c = curves["teacher"].get("f1"), curves["ceiling"].get("f1")
    if t is not None:
        lines.append(f"| teacher {curves['teacher'].get('name', '')} | {t:.3f}" + " |" * (len(cols) - 1) + " |")
    if c is not None:
        lines.append(f"| gold ceiling (budget {curves['ceiling']['budget']}) | {c:.3f}" + " |" * (len(cols) - 1) + " |")
    lines += [f"\nNote: {note}" for note in curves.get("notes", ())]
    return "\n".join(lines) + "\n"


def plot_curves(curves: Mapping[str, Any], path: str | Path, *, title: str = "") -> Path:
    """F1 vs budget per series (mean line, ±std band), teacher and gold-ceiling lines; PNG via Agg."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=110)
    shown = series_labels(curves)
    # one colour per strategy, dashed when reweighted: each reweighted curve reads against its plain twin
    strategies = sorted({name.removesuffix(RW_SUFFIX) for name in curves["series"]})
    colour = {st: f"C{i % 10}" for i, st in enumerate(strategies)}
    for name, s in curves["series"].items():
        x, m, sd = np.array(s["budgets"]), np.array(s["mean"]), np.array(s["std"])
        c, rw = colour[name.removesuffix(RW_SUFFIX)], name.endswith(RW_SUFFIX)
        ax.plot(x, m, marker="o", ms=3, color=c, ls="--" if rw else "-", label=shown[name])
        ax.fill_between(x, m - sd, m + sd, color=c, alpha=0.08 if rw else 0.15)
    t, c = curves["teacher"].get("f1"), curves["ceiling"].get("f1")
    if t is not None:
        ax.axhline(t, color="black", ls="--", lw=1, label=f"teacher ({t:.3f})")
    if c is not None:
        ax.axhline(c, color="gray", ls=":", lw=1.5, label=f"gold ceiling ({c:.3f})")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.03 * (hi - lo))  # a line at the top of the data is not drawn on the frame
    ax.set_xlabel("LLM labels bought (budget)")
    ax.set_ylabel(f"student F1 ({curves['split']})")
    ax.set_title(title or "LLMaAA learning curves")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_report(
    out_dir: str | Path,
    runs: Sequence[Mapping[str, Any]],
    *,
    teacher: Mapping[str, Any] | None = None,
    ceiling: Sequence[Mapping[str, Any]] = (),
    earlier: Sequence[Mapping[str, Any]] = (),
    title: str = "",
    notes: Sequence[str] = (),
) -> dict[str, Any]:
    """Write ``curves.json``, ``curves.png`` and ``table.md`` into ``out_dir``; return the curves.

    ``notes``: caveats a reader of the table must see (printed under it, kept in ``curves.json``)."""
    from llmaaa.loop.state import write_json

    out = Path(out_dir)
    curves = build_curves(runs, teacher=teacher, ceiling=ceiling, earlier=earlier)
    if notes:
        curves["notes"] = list(notes)
    if title:  # which experiment, in the files themselves: a table copied out of its folder says what it shows
        curves["title"] = title
    write_json(out / "curves.json", curves)
    plot_curves(curves, out / "curves.png", title=title)
    heading = f"### {title}\n\n" if title else ""
    (out / "table.md").write_text(heading + markdown_table(curves), encoding="utf-8")
    log.info("wrote %s, %s and %s", out / "curves.json", out / "curves.png", out / "table.md")
    return curves


def load_curves(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text(encoding="utf-8"))
