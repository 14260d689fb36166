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
