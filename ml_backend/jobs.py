"""The round: what one background job of a project does (``ml_backend.runner`` runs them one at a time).

A round (LLMaAA Alg. 1, driven by Label Studio instead of a fixed budget):

1. pull every task and annotation through the SDK (webhooks alone miss what happened while we
   were down); human annotations are gold: they join the teacher's demo index and the student's
   reweighting / early-stopping set;
2. train the student on the LLM labels (skipped, with the reason recorded, when too few);
3. rank the unlabeled pool with the sampler (the student's uncertainty; a seeded random order at
   cold start, before any student exists);
4. the teacher labels the top ``LLM_BATCH`` (its cache means no prompt is paid twice), unless the
   student has caught up with it (``STOP_AFTER_MATCHED``: then the LLM bill stops);
5. write one prediction per unannotated task with ``model_version=V`` and ``score`` = rank key
   (LLM pre-annotations for the chosen tasks, student predictions for the rest), then point the
   project at ``V`` with "Uncertainty sampling" so "Label All Tasks" follows our order;
6. publish the student as ``models/V`` and ``current = V``.

Requests keep being served from SQLite and the previous student while a round runs.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from llmaaa.data.schema import Example

from ml_backend.engine import Students, prune_model_versions, publish
from ml_backend.job_log import LLM_RETRY
from ml_backend.llm_batch import copy_labels, distinct_batch, rank_pool
from ml_backend.predictions import prediction_for
from ml_backend.results import (TaskError, asked_fewer_labels, human_example, pool_example, unicode_problem,
                                unusable_gold)
from ml_backend.sync import (LabelStudioUnavailable, clear_version, fix_webhook_auth, gold_annotation,
                             made_from_prediction_unopened, prune_prediction_versions, pull_tasks,
                             push_predictions, set_priority_order)

if TYPE_CHECKING:
    from ml_backend.model import ProjectContext

log = logging.getLogger(__name__)


def _pull(ctx: "ProjectContext", ls: Any) -> dict[str, int]:
    """Mirror Label Studio's tasks and newest annotations into our state (Label Studio is the authority)."""
    st, schema = ctx.state, ctx.schema
    # Snapshot what we know *before* the (slow) fetch: annotations that webhooks record while it runs are newer
    # than the fetched list and must not be mistaken for deleted ones.
    known = {a["annotation_id"]: a for a in st.annotations()}
    known_unreviewed = st.unreviewed_ids()
    known_tasks = set(st.tasks())
    tasks = pull_tasks(ls, int(st.project_id))
    deleted_tasks = st.delete_tasks(known_tasks - {int(t["id"]) for t in tasks})
    rows, seen_ann, unusable = [], set(), set()
    for t in tasks:
        text = schema.text_in(t.get("data"))
        if isinstance(text, str) and unicode_problem(text) is None:
            rows.append((int(t["id"]), text, t.get("data")))
        else:  # no text field, or one SQLite cannot store: left out of the round, counted
            unusable.add(int(t["id"]))
    st.upsert_tasks(rows)
    changed, unreviewed = [], []
    for t in tasks:
        anns = [a for a in t.get("annotations") or [] if not a.get("was_cancelled")]
        if not anns or int(t["id"]) in unusable:
            continue
        unreviewed += [(int(a["id"]), int(t["id"])) for a in anns if made_from_prediction_unopened(a)]
        a = gold_annotation(anns)
        if a is None:
            continue
        seen_ann.add(int(a["id"]))
        if int(a["id"]) not in known or known[int(a["id"])]["result"] != a.get("result"):
            changed.append((int(a["id"]), int(t["id"]), a.get("result") or [], None, None))
    with st.transaction():
        st.record_annotations(changed)
        st.record_unreviewed(unreviewed)  # a gold one recorded by an older version stops being gold
    now_unreviewed = {i for i, _ in unreviewed}
    gone = [i for i in {*known, *known_unreviewed} if i not in seen_ann and i not in now_unreviewed]
    if gone:
        st.delete_annotations(gone)
    gone = [i for i in gone if i in known]
    return {"tasks": len(rows), "annotated": len(seen_ann), "unreviewed": len(unreviewed), "deleted": len(gone),
            "tasks_deleted": deleted_tasks, **({"tasks_without_usable_text": len(unusable)} if unusable else {})}


def _llm_stopped(ctx: "ProjectContext", trained_now: dict | None) -> str | None:
    """Why this round buys no LLM labels (``STOP_AFTER_MATCHED``), or None to buy them as usual.

    The paper's point is that the student overtakes its teacher; once it has, every further LLM call
    buys labels worse than the student's own. The rule: the student's gold F1 was at least the LLM's
    F1 against human labels in each of the last N trained rounds (this one included), the LLM's F1
    measured on at least ``STOP_MIN_OVERLAP`` tasks. It is re-checked every round, so a student that
    falls behind again (new kinds of text, a label added) brings the LLM back.

    With relations in the config the student replaces the LLM for them too, so the rule holds only when
    the queue gets the RE student's relations (``STUDENT_RELATIONS=true``) and the relation F1 of what it
    serves (``_served_relation_f1``: student spans, then student relations) has matched the LLM's relation
    F1 as well; otherwise stopping would silently empty the queue of relations (``_llm_stop_held`` says
    why the LLM goes on).
    """
    from ml_backend.agreement import metric_f1, teacher_f1

    n = ctx.config.stop_after_matched
    if n <= 0 or trained_now is None or _llm_stop_held(ctx):
        return None
    kinds = [("gold_metrics", False)] + ([("served_relation_metrics", True)] if ctx.schema.relation_labels else [])
    said = []
    for key, relations in kinds:
        history = [r["trained"].get(key) for r in ctx.state.rounds() if r.get("trained")]
        recent = [metric_f1(m) for m in [*history, trained_now.get(key)][-n:]]
        if len(recent) < n or any(f is None for f in recent):
            return None
        llm_f1, overlap = teacher_f1(ctx.state, ctx.schema, relations=relations)
        if llm_f1 is None or overlap < ctx.config.stop_min_overlap or any(f < llm_f1 for f in recent):
            return None
        said.append(f"the student's {'served relation' if relations else 'gold'} F1 ({', '.join(f'{f:.3f}' for f in recent)}) "
                    f"has matched the LLM's F1 against human labels ({llm_f1:.3f} on {overlap} tasks)")
    return (f"{' and '.join(said)} for {n} trained round(s) (STOP_AFTER_MATCHED={n}): no LLM labels bought this "
            "round; the queue gets student predictions")


def _served_relation_f1(ctx: "ProjectContext", students: Students, gold: list[Example],
                        data: dict[int, Any]) -> dict[str, Any]:
    """The relation F1 on the human labels of what the queue would serve: the NER student's spans (or the
    task's own), then the RE student's relations. The stopping rule compares it with the LLM's relations on
    its own spans; the RE student's training metric is measured on gold spans, a different and easier task."""
    from llmaaa.metrics import relation_prf

    inputs, scored = [], []
    for g in gold:
        try:
            inputs.append(pool_example(int(g.id), g.text, data.get(int(g.id)), ctx.schema))
            scored.append(g)
        except TaskError:  # unusable given entities: that task is no measure of the student
            continue
    return relation_prf(scored, students.predict(inputs, relations=True)) if inputs else {}


def _llm_stop_held(ctx: "ProjectContext") -> str | None:
    """Why ``STOP_AFTER_MATCHED`` cannot apply to this project, or None when it can."""
    if ctx.config.stop_after_matched > 0 and ctx.schema.relation_labels and not ctx.config.student_relations:
        return ("STOP_AFTER_MATCHED is held: the config has relations and the queue's student predictions carry none "
                "(STUDENT_RELATIONS=false), so the LLM goes on labeling; set STUDENT_RELATIONS=true to let the "
                "student take over relations too")
    return None


def run_round(ctx: "ProjectContext", job: dict[str, Any]) -> dict[str, Any]:
    """One round for ``ctx``'s project; returns the detail recorded with the job and the round."""
    if ctx.unserved is not None:  # queued before the config was edited into one the backend refuses
        raise RuntimeError(f"the project's label config is not served: {ctx.unserved}")
    cfg, st, schema, engine = ctx.config, ctx.state, ctx.schema, ctx.engine
    config = schema.config_hash  # the config this round's predictions are written for
    t0 = time.perf_counter()
    detail: dict[str, Any] = {"reason": job.get("reason")}
    ls = None
    try:
        ls = ctx.client()
        detail["pull"] = _pull(ctx, ls)
    except LabelStudioUnavailable as e:
        detail["pull"] = f"skipped: {e}"
        ls = None  # no push either: it would fail the same way, after the same timeouts
        log.warning("project %s: %s", st.project_id, e)
    # Labels this round pulled belong to it; those arriving from now on count towards the next round's threshold.
    seq = st.annotation_seq()
    st.set_meta("trained_seq", seq)

    texts = st.tasks()
    gold_rows = st.annotations()
    task_data = st.task_data()  # a task's listed pairs are its gold's too (results.asked_pairs)
    gold = [ex for a in gold_rows if not unusable_gold(ex := human_example(a["task_id"], a["text"], a["result"], schema,
                                                                           task_data.get(a["task_id"])),
                                                       a["result"], schema)]
    if len(gold) < len(gold_rows):
        detail["gold_unusable"] = len(gold_rows) - len(gold)
        log.warning("project %s: %d human annotation(s) have regions but none with a label of the config, or regions "
                    "that no longer fit their edited text: kept, not used as gold", st.project_id,
                    len(gold_rows) - len(gold))
    human = {a["task_id"] for a in gold_rows}
    # an edited task, or one labeled before a label was added to the config, is labeled again
    llm = {int(ex.id): ex for ex in map(Example.from_dict, st.llm_labels(current=True))
           if not asked_fewer_labels(ex, schema)}
    train = [ex for i, ex in llm.items() if i not in human and not ex.failed]
    n = (st.rounds()[-1]["round"] + 1) if st.rounds() else 1
    version = f"{cfg.model_version_prefix}-{n}"

    students: Students | None = None
    same = _trained_alike(st.rounds(), len(train), seq) if str(job.get("reason") or "").startswith(LLM_RETRY) else None
    if same is not None:  # a retry for the LLM: the student of the last round trained on these labels stays
        detail["skipped_training"] = f"nothing new to train on since round {same} (an LLM retry)"
        students = ctx.students()
    elif len(train) >= cfg.min_train_labels and gold:
        t1 = time.perf_counter()
        log.info("project %s: round %d trains on %d LLM labels (%d gold)", st.project_id, n, len(train), len(gold))
        students = engine.train(train, gold, log_dir=st.dir / "logs" / version)
        detail["trained"] = {"llm_labels": len(train), "gold": len(gold), "gold_seq": seq,
                             "seconds": round(time.perf_counter() - t1, 2),
                             "gold_metrics": getattr(students.ner, "gold_metrics", None)}
        if students.re is not None and cfg.stop_after_matched > 0 and cfg.student_relations:
            detail["trained"]["served_relation_metrics"] = _served_relation_f1(ctx, students, gold, task_data)
    else:
        detail["skipped_training"] = (f"{len(train)} LLM labels and {len(gold)} human labels; training needs "
                                      f">= {cfg.min_train_labels} LLM labels (MIN_TRAIN_LABELS) and >= 1 human label")
        students = ctx.students()  # rank with the previous student, when there is one

    pool, bad_tasks, too_long = [], {}, []
    for i, t in texts.items():
        if i not in human and (i not in llm or llm[i].failed):
            if len(t) > cfg.max_text_chars:  # as on /predict: one huge task would hold the round for hours
                too_long.append(i)
                continue
            try:
                pool.append(pool_example(i, t, task_data.get(i), schema))
            except TaskError as e:  # unusable given entities: that task waits for its data to be fixed
                bad_tasks[i] = str(e)
    if bad_tasks:
        detail["tasks_with_bad_entities"] = {"count": len(bad_tasks), "first": [f"task {i}: {e}" for i, e
                                                                                in list(bad_tasks.items())[:5]]}
        log.warning("project %s: %d task(s) left out of the pool: %s", st.project_id, len(bad_tasks),
                    "; ".join(detail["tasks_with_bad_entities"]["first"]))
    if too_long:
        detail["tasks_too_long"] = {"count": len(too_long), "max_text_chars": cfg.max_text_chars,
                                    "first": [f"task {i}: {len(texts[i]):,} chars" for i in too_long[:5]]}
        log.warning("project %s: %d task(s) left out of the pool, longer than MAX_TEXT_CHARS=%d (%s): split them "
                    "into shorter tasks or raise MAX_TEXT_CHARS", st.project_id, len(too_long), cfg.max_text_chars,
                    "; ".join(detail["tasks_too_long"]["first"]))
    order, ranked_by = rank_pool(ctx, pool, students, train, n)
    # A batch this round bought before a crash (kill -9, out of memory, Ctrl-C) is its batch: the retry buys
    # no second one, and the round's record carries what the first cost.
    bought = [llm[i] for i in st.llm_label_ids(n) if i in llm and i not in human]
    known = {texts[i] for i in human} | {ex.text for i, ex in llm.items() if not ex.failed}
    picks = [] if bought else distinct_batch(pool, order, cfg.llm_batch, known)
    stopped = None if bought else _llm_stopped(ctx, detail.get("trained"))
    if held := _llm_stop_held(ctx):
        detail["llm_stop_held"] = held
    if stopped:
        detail["llm_stopped"] = stopped
        picks = []
    log.info("project %s: round %d ranked %d pool tasks by %s; the LLM labels %d", st.project_id, n, len(pool), ranked_by,
             len(picks))
    annotated: list[Example] = bought
    if bought:
        detail["llm_batch_resumed"] = f"{len(bought)} LLM labels bought by an interrupted attempt of this round"
    elif picks:
        annotated = engine.annotate(picks, gold)  # a dead LLM fails per task (``error``), never the round
        st.save_llm_labels([ex.to_dict() for ex in annotated], n)
    if copies := copy_labels(pool, [*annotated, *llm.values()], {ex.id for ex in annotated}):
        st.save_llm_labels([ex.to_dict() for ex in copies], n)
        detail["llm_copied"] = len(copies)
    annotated = [ex for ex in annotated if not (ex.annotation or {}).get("copied_from")]  # a resumed round's copies
    failed = [ex for ex in annotated if ex.failed]
    detail["llm_labeled"] = len(annotated) - len(failed)
    detail["llm_failed"] = len(failed)
    if failed:
        detail["llm_errors"] = sorted({str(ex.annotation.get("error"))[:200] for ex in failed})[:5]
    not_asked: Counter = Counter()  # RE pairs the teacher left unasked (LLM_RE_PAIRS=seen, long texts)
    for ex in annotated:
        not_asked.update((ex.annotation or {}).get("pairs_not_asked") or {})
    if not_asked:
        detail["llm_pairs_not_asked"] = dict(not_asked)

    # The queue: this round's LLM pre-annotations (rank order), older ones not yet annotated, the rest by rank.
    fresh = [ex for ex in annotated if not ex.failed] + copies
    fresh_ids = {ex.id for ex in fresh}
    older = [ex for i, ex in sorted(llm.items()) if i not in human and not ex.failed and ex.id not in fresh_ids]
    rest = [pool[i] for i in order if pool[i].id not in fresh_ids]
    t1 = time.perf_counter()
    rest_pred = (students.predict(rest, relations=cfg.student_relations) if students is not None and rest
                 else [ex for ex in rest])
    if students is not None and rest:
        log.info("project %s: round %d: student predictions for %d tasks in %.1fs", st.project_id, n, len(rest),
                 time.perf_counter() - t1)
    elif rest:  # a cold start: no student yet, the other tasks only get their place in the queue
        log.info("project %s: round %d: no student yet; %d tasks queued by rank without predictions", st.project_id,
                 n, len(rest))
    queue = [(ex, "llm") for ex in fresh + older] + [(ex, "student" if students else "none") for ex in rest_pred]
    nxt = rest[: cfg.llm_batch]
    if nxt and not stopped:  # what the next LLM batch will cost, if the next student ranks the queue alike
        try:
            detail["next_llm_estimate"] = engine.estimate(nxt, gold)
        except Exception as e:  # an estimate is advice: it never costs the round
            log.warning("project %s: estimating the next LLM batch failed: %s", st.project_id, e)
    if not queue and not detail.get("trained"):
        detail["nothing_to_do"] = "no unannotated task and no new student: the model version stays"
        return detail
    li = ctx.interface()
    items, bodies = [], []
    for rank, (ex, source) in enumerate(queue):
        score = round((rank + 1) / (len(queue) + 1), 6)  # lowest is served first
        body = prediction_for(ex, schema, li, version=version, score=score)
        bodies.append((int(ex.id), version, source, score, body))
        items.append({"task": int(ex.id), **body})
    # Here first, Label Studio after: a failure (a full disk) leaves neither a served version without its
    # model nor Label Studio ahead of what this backend serves.
    if detail.get("trained") and students is not None:
        publish(students, st.dir / "models", version)
        st.set_meta("student_version", version)
        ctx.set_students(version, students)
        pruned_models = prune_model_versions(st.dir / "models", version, cfg.keep_model_versions)
        if pruned_models:
            detail["pruned_models"] = pruned_models
    with st.transaction():
        st.save_predictions(bodies, config)
        st.publish_version(version)
    if ls is not None and items:
        try:
            clear_version(ls, int(st.project_id), version)  # an interrupted attempt of this round pushed it already
            push_predictions(ls, int(st.project_id), items)
            set_priority_order(ls, int(st.project_id), version)
            if cfg.auth_enabled:
                fix_webhook_auth(ls, int(st.project_id), cfg.basic_auth_user or "", cfg.basic_auth_pass or "")
            detail["pushed"] = len(items)
        except Exception as e:  # keep the round: predictions are stored and /predict serves them
            detail["push_error"] = f"{type(e).__name__}: {e}"[:500]
            log.error("project %s: writing predictions to Label Studio failed: %s", st.project_id, e)
        if "pushed" in detail:
            try:  # housekeeping: a failure here costs nothing but disk in Label Studio
                pruned = prune_prediction_versions(ls, int(st.project_id), cfg.model_version_prefix, n,
                                                   cfg.keep_prediction_versions)
                if pruned:
                    detail["pruned_versions"] = pruned
            except Exception as e:
                detail["prune_error"] = f"{type(e).__name__}: {e}"[:300]
                log.warning("project %s: deleting old prediction versions failed: %s", st.project_id, e)
    detail.update(ranked_by=ranked_by, queue=len(queue), seconds=round(time.perf_counter() - t0, 2))
    st.add_round(n, version, {
        "labels_by_source": {"human": len(gold), "llm": len(fresh)},
        "llm_usage": _usage(annotated), "gold_size": len(gold), **{k: v for k, v in detail.items() if k != "reason"}})
    log.info("project %s: round %d -> %s (%s)", st.project_id, n, version, detail)
    return detail


def _trained_alike(rounds: list[dict[str, Any]], n_train: int, seq: int) -> int | None:
    """The newest trained round when it trained on these labels: as many LLM labels, and every human
    annotation event it saw is every one there is (``seq``, so an edited or replaced annotation counts)
    with no round since buying LLM labels; else None."""
    for r in reversed(rounds):
        if r.get("trained"):
            t = r["trained"]
            return r["round"] if (t.get("llm_labels"), t.get("gold_seq")) == (n_train, seq) else None
        if r.get("llm_labeled"):
            return None
    return None


def _usage(examples: list[Example]) -> dict[str, Any]:
    """Tokens and cost of the round's LLM labels, and what parsing repaired or dropped from the answers.

    ``dropped`` tells a user why the LLM's labels look thinner than its answers: mentions not in the
    text, labels outside the config, malformed items; the repairs are counted beside them:
    ``fuzzy_matches`` were found only after ignoring case, spacing or Unicode form, ``synonym_labels``
    were answered under another name of a config label ("PERSON" for PER).
    """
    tot: dict[str, Any] = {"prompt_tokens": 0, "completion_tokens": 0, "cost": 0.0, "reasks": 0}
    dropped: dict[str, int] = {}  # the keys of ParseStats.to_dict(); unknown_labels summed over labels
    for ex in examples:
        record = ex.annotation or {}
        u = record.get("usage") or {}
        for k in ("prompt_tokens", "completion_tokens", "cost"):
            tot[k] += u.get(k) or 0
        tot["reasks"] += int(record.get("reasks") or 0)
        for k, v in (record.get("dropped") or {}).items():
            dropped[k] = dropped.get(k, 0) + (sum(v.values()) if isinstance(v, dict) else int(v or 0))
    tot["dropped"] = dropped
    return tot
