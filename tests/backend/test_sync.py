"""Which of a task's Label Studio annotations is gold (the rule a round's pull and the export converter share)."""

from ml_backend.sync import gold_annotation


def ann(ann_id, updated, *, cancelled=False, lead_time=9.0, parent_prediction=None):
    return {"id": ann_id, "updated_at": updated, "was_cancelled": cancelled, "lead_time": lead_time,
            "parent_prediction": parent_prediction, "result": []}


def test_a_copy_of_a_prediction_made_over_a_human_label_does_not_unseat_it():
    """"Create annotations from predictions" run over tasks a human already labeled used to make the copy the
    task's newest annotation, and the round's pull then dropped the human's labels from the gold pool."""
    human = ann(1, "2026-11-24T10:00:00Z")
    copy = ann(2, "2026-11-25T10:00:00Z", lead_time=None, parent_prediction=7)
    assert gold_annotation([human, copy]) is human
    # opened and submitted in the editor (a lead time), the copy is a human's label, and the newest
    reviewed = {**copy, "lead_time": 3.5}
    assert gold_annotation([human, reviewed]) is reviewed


def test_skipped_and_unopened_copies_are_never_gold_and_the_newest_wins_by_time():
    assert gold_annotation([ann(1, "2026-11-24T10:00:00Z", cancelled=True),
                            ann(2, "2026-11-24T11:00:00Z", lead_time=0, parent_prediction=3)]) is None
    assert gold_annotation([]) is None
    late, early = ann(5, "2026-11-24T10:00:00.5Z"), ann(6, "2026-11-24T10:00:00Z")  # "…00Z" sorts after "…00.5Z"
    assert gold_annotation([early, late]) is late
