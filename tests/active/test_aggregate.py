"""Per-row uncertainty and example-level reductions on hand-made probability arrays."""

import math

import numpy as np
import pytest

from llmaaa.active.aggregate import example_scores, reduce_rows, row_uncertainty, top_k


def test_row_measures_match_their_definitions():
    p = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [0.6, 0.3, 0.1]])
    np.testing.assert_allclose(row_uncertainty(p, "least_confidence"), [0.0, 0.5, 0.4])
    np.testing.assert_allclose(row_uncertainty(p, "margin"), [0.0, 1.0, 0.7])
    ent = -(0.6 * math.log(0.6) + 0.3 * math.log(0.3) + 0.1 * math.log(0.1))
    np.testing.assert_allclose(row_uncertainty(p, "entropy"), [0.0, math.log(2), ent])


def test_unknown_measure_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="least_confidence"):
        row_uncertainty(np.ones((1, 2)) / 2, "bald")


def test_ner_sum_mean_max_over_tokens():
    # example 0: tokens with least-confidence 0.5, 0.1; example 1: one token 0.4
    probs = [np.array([[0.5, 0.5], [0.9, 0.1]]), np.array([[0.6, 0.4]])]
    np.testing.assert_allclose(example_scores(probs, measure="least_confidence", reduction="sum"), [0.6, 0.4])
    np.testing.assert_allclose(example_scores(probs, measure="least_confidence", reduction="mean"), [0.3, 0.4])
    np.testing.assert_allclose(example_scores(probs, measure="least_confidence", reduction="max"), [0.5, 0.4])


def test_re_example_is_its_most_uncertain_pair_and_zero_pairs_score_zero():
    probs = [
        np.array([[0.9, 0.05, 0.05], [0.4, 0.35, 0.25]]),  # pair uncertainties 0.1, 0.6 -> 0.6
        np.zeros((0, 3)),  # no candidate pairs
        np.array([[0.7, 0.2, 0.1]]),  # 0.3
    ]
    np.testing.assert_allclose(example_scores(probs, measure="least_confidence", reduction="max"), [0.6, 0.0, 0.3])


def test_empty_segments_in_the_middle_do_not_shift_scores():
    np.testing.assert_allclose(reduce_rows(np.array([1.0, 2.0, 3.0]), [1, 0, 2, 0], "sum"), [1.0, 0.0, 5.0, 0.0])
    np.testing.assert_allclose(reduce_rows(np.array([1.0, 2.0, 3.0]), [1, 0, 2, 0], "max"), [1.0, 0.0, 3.0, 0.0])


def test_top_k_breaks_ties_by_index_and_puts_nan_last():
    assert top_k(np.array([0.2, 0.5, 0.5, np.nan, 0.5]), 3) == [1, 2, 4]
    assert top_k(np.array([np.nan, 0.1]), 2) == [1, 0]
    assert top_k(np.array([0.3]), 5) == [0]
    assert top_k(np.array([]), 5) == []


def test_rows_that_are_not_probabilities_score_nan():
    # NaN (fp16 overflow), inf, -inf, all zeros (a token no window covered), negatives (logits)
    p = np.array([[np.nan, 0.5, 0.5], [np.inf, 0.0, 0.0], [-np.inf, 0.2, 0.8], [0.0, 0.0, 0.0], [-0.1, 0.6, 0.5]])
    for measure in ("entropy", "least_confidence", "margin"):
        assert np.isnan(row_uncertainty(p, measure)).all(), measure


def test_one_broken_token_makes_the_example_nan_under_every_reduction():
    probs = [np.array([[0.6, 0.4], [np.nan, 0.5]]), np.array([[0.7, 0.3]])]
    for reduction in ("sum", "mean", "max"):
        s = example_scores(probs, measure="least_confidence", reduction=reduction)
        assert np.isnan(s[0]) and s[1] == pytest.approx(0.3), reduction


def test_rows_are_renormalised_so_a_float16_student_scores_like_float64():
    third = np.full((1, 3), 1 / 3, dtype=np.float16)  # each 0.33325..., the row sums to 0.99976
    np.testing.assert_allclose(row_uncertainty(third, "entropy"), [math.log(3)], rtol=1e-12)
    np.testing.assert_allclose(row_uncertainty(third, "least_confidence"), [2 / 3], rtol=1e-12)
    for measure in ("entropy", "least_confidence", "margin"):
        np.testing.assert_allclose(row_uncertainty(np.array([[0.45, 0.05]]), measure),
                                   row_uncertainty(np.array([[0.9, 0.1]]), measure), rtol=1e-12)


def test_row_uncertainty_leaves_the_callers_array_alone():
    p = np.array([[0.45, 0.05], [np.nan, 1.0]])
    row_uncertainty(p, "entropy")
    np.testing.assert_array_equal(p, [[0.45, 0.05], [np.nan, 1.0]])


def test_a_single_row_squeezed_to_one_dimension_is_scored_as_one_row():
    scores = example_scores([np.array([0.5, 0.5]), np.array([[0.9, 0.1]])], measure="least_confidence")
    assert scores.tolist() == pytest.approx([0.5, 0.1])
