"""Every sampler's exact picks on hand-made probabilities and embeddings."""

import numpy as np
import pytest

from llmaaa.active import SamplerError, available, make_sampler
from llmaaa.data.schema import Example
from llmaaa.models.base import ModelOutputs

STRATEGIES = ["random", "entropy", "least_confidence", "margin", "kmeans", "kcenter", "hybrid"]


def pool_of(n):
    return [Example(id=f"p{i}", text=f"text {i}") for i in range(n)]


def outputs_from(rows, emb=None):
    probs = [np.array([r]) for r in rows]
    if emb is None:
        emb = np.eye(len(rows), dtype=np.float32)
    return ModelOutputs(probs=probs, embeddings=np.asarray(emb, dtype=np.float32))


def test_every_documented_strategy_is_registered():
    assert set(STRATEGIES) <= set(available())
    with pytest.raises(SamplerError, match="least_confidence"):
        make_sampler("bogus")


# one-token NER examples; rows chosen so the three measures disagree
ROWS = [
    [0.50, 0.49, 0.01],  # LC 0.50, margin gap 0.01 (smallest), entropy 0.74
    [0.40, 0.30, 0.30],  # LC 0.60 (largest), gap 0.10, entropy 1.09 (largest)
    [0.90, 0.05, 0.05],  # confident
    [0.45, 0.45, 0.10],  # LC 0.55, gap 0.00, entropy 0.95
]


def test_least_confidence_picks():
    s = make_sampler("least_confidence")
    assert s.select(pool_of(4), outputs_from(ROWS), 2) == [1, 3]
    np.testing.assert_allclose(s.scores(outputs_from(ROWS)), [0.5, 0.6, 0.1, 0.55])


def test_entropy_picks():
    assert make_sampler("entropy").select(pool_of(4), outputs_from(ROWS), 3) == [1, 3, 0]


def test_margin_picks_the_smallest_top1_top2_gap():
    assert make_sampler("margin").select(pool_of(4), outputs_from(ROWS), 2) == [3, 0]


def test_ties_are_broken_by_pool_order():
    rows = [[0.5, 0.5]] * 4
    for name in ("entropy", "least_confidence", "margin"):
        assert make_sampler(name).select(pool_of(4), outputs_from(rows), 3) == [0, 1, 2]


def test_ner_reduction_changes_the_pick():
    # example 0: two mildly uncertain tokens (LC 0.3 + 0.3); example 1: one very uncertain token (0.5)
    out = ModelOutputs([np.array([[0.7, 0.3], [0.7, 0.3]]), np.array([[0.5, 0.5]])], np.eye(2, dtype=np.float32))
    assert make_sampler("least_confidence", task="ner").select(pool_of(2), out, 1) == [0]  # sum (paper default)
    assert make_sampler("least_confidence", task="ner", reduction="mean").select(pool_of(2), out, 1) == [1]
    assert make_sampler("least_confidence", task="ner", reduction="max").select(pool_of(2), out, 1) == [1]


def test_re_examples_without_pairs_come_last():
    out = ModelOutputs(
        [np.zeros((0, 3)), np.array([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2]]), np.array([[0.8, 0.1, 0.1]])],
        np.eye(3, dtype=np.float32),
    )
    assert make_sampler("entropy", task="re").select(pool_of(3), out, 3) == [1, 2, 0]


def test_random_is_seeded_and_distinct():
    a = make_sampler("random", seed=3).select(pool_of(10), None, 4)
    b = make_sampler("random", seed=3).select(pool_of(10), None, 4)
    assert a == b and len(set(a)) == 4
    assert a == [int(i) for i in np.random.default_rng(3).permutation(10)[:4]]


# two tight clusters in 2-d plus one far outlier
# three groups around (0, 0), (5, 5) and (20, 0), moved by (1, 1): a zero row is an example with nothing to learn
EMB = np.array([[0, 0], [0.1, 0], [0, 0.1], [5, 5], [5.1, 5], [5, 5.1], [20, 0]], dtype=np.float32) + 1


def test_kmeans_takes_one_point_per_cluster():
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 7, EMB)
    picks = make_sampler("kmeans", seed=0).select(pool_of(7), out, 3)
    assert len(set(picks)) == 3
    groups = {0: "a", 1: "a", 2: "a", 3: "b", 4: "b", 5: "b", 6: "c"}
    assert {groups[i] for i in picks} == {"a", "b", "c"}


def test_kmeans_on_duplicate_points_still_returns_k_distinct():
    emb = np.zeros((6, 4), dtype=np.float32)  # every centroid has the same nearest point
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 6, emb)
    picks = make_sampler("kmeans").select(pool_of(6), out, 4)
    assert sorted(picks) == sorted(set(picks)) and len(picks) == 4


def test_kcenter_without_labeled_starts_near_the_mean_then_goes_farthest():
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 7, EMB)
    # mean is (5.03, 2.17): nearest point is index 3; farthest from it is the outlier 6; then the origin cluster (0)
    assert make_sampler("kcenter").select(pool_of(7), out, 3) == [3, 6, 0]


def test_kcenter_starts_from_the_labeled_set_embeddings():
    labeled = [Example(id="l0", text="l")]
    emb = np.vstack([EMB, [[21, 1.5]]]).astype(np.float32)  # a labeled point beside the outlier
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 8, emb)
    # farthest from the labeled point: (0,0); then, covered by (0,0) and (20,0.5), the (5,5) cluster's
    # farthest members (5.1,5) and (5,5.1) tie at 51.01 and the lower index wins; the outlier is never picked
    assert make_sampler("kcenter").select(pool_of(7), out, 2, labeled) == [0, 4]


def test_kcenter_duplicates_are_only_taken_when_nothing_else_is_left():
    emb = np.array([[1, 1], [1, 1], [2, 1], [1, 1]], dtype=np.float32)
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 4, emb)
    assert make_sampler("kcenter").select(pool_of(4), out, 4) == [0, 2, 1, 3]


def test_hybrid_prefers_uncertain_and_diverse():
    # 4 uncertain points: three near-duplicates at the origin and one far away; 4 confident points
    emb = np.array([[0, 0], [0.01, 0], [0, 0.01], [9, 9], [3, 3], [3, 4], [4, 3], [6, 6]], dtype=np.float32)
    rows = [[0.5, 0.5]] * 4 + [[0.99, 0.01]] * 4
    out = outputs_from(rows, emb)
    picks = make_sampler("hybrid", beta=2, seed=0).select(pool_of(8), out, 2)
    assert len(picks) == 2 and 3 in picks and set(picks) <= {0, 1, 2, 3}
    picks = make_sampler("hybrid", beta=2, diversity="kcenter").select(pool_of(8), out, 2)
    assert picks[0] in {0, 1, 2, 3} and 3 in picks


@pytest.mark.parametrize("name", STRATEGIES)
def test_k_larger_than_pool_returns_the_whole_pool_once(name):
    out = outputs_from(ROWS, np.eye(4, dtype=np.float32))
    picks = make_sampler(name).select(pool_of(4), out, 10)
    assert sorted(picks) == [0, 1, 2, 3]


@pytest.mark.parametrize("name", STRATEGIES)
def test_exactly_k_distinct_picks_on_a_bigger_random_pool(name):
    rng = np.random.default_rng(1)
    n = 200
    probs = [rng.dirichlet(np.ones(5), size=int(rng.integers(0, 6))) for _ in range(n)]
    emb = rng.normal(size=(n, 16)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    picks = make_sampler(name, seed=0).select(pool_of(n), ModelOutputs(probs, emb), 37)
    assert len(picks) == 37 == len(set(picks)) and all(0 <= i < n for i in picks)
    again = make_sampler(name, seed=0).select(pool_of(n), ModelOutputs(probs, emb), 37)
    assert picks == again  # deterministic for a fixed seed


@pytest.mark.parametrize("name", ["entropy", "kmeans", "kcenter", "hybrid"])
def test_model_based_samplers_explain_missing_outputs(name):
    with pytest.raises(SamplerError, match="train a student"):
        make_sampler(name).select(pool_of(3), None, 1)


# row 0 NaN (margin's partition used to skip it: score 1.0), row 2 all zeros (1 - max = 1.0),
# row 3 has a -inf (least confidence 0.45, margin 0.9): each used to beat the one real row
BROKEN = [[np.nan, 0.5, 0.5], [0.6, 0.3, 0.1], [0.0, 0.0, 0.0], [-np.inf, 0.45, 0.55]]


@pytest.mark.parametrize("name", ["entropy", "least_confidence", "margin"])
def test_broken_probability_rows_never_win(name):
    assert make_sampler(name).select(pool_of(4), outputs_from(BROKEN), 4) == [1, 0, 2, 3]


def test_kcenter_leaves_nan_embeddings_for_last():
    # finite rows 0, 2, 3: mean (2, 0) is nearest row 2, then the farthest is 3, then 0; NaN row 1 last
    emb = np.array([[0, 0], [np.nan, 0], [1, 0], [5, 0]], dtype=np.float32)
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 4, emb)
    assert make_sampler("kcenter").select(pool_of(4), out, 4) == [2, 3, 0, 1]
    assert make_sampler("kcenter").select(pool_of(4), out, 2) == [2, 3]


@pytest.mark.parametrize("name", ["kcenter", "kmeans"])
def test_an_example_with_nothing_to_learn_is_not_a_diversity_pick(name):
    """An empty text (or an RE sentence with no entity pair) has a zero embedding, far from every unit-length
    one: k-center took it first every round until one was labeled, a label spent on nothing."""
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 8)).astype(np.float32)
    emb /= np.linalg.norm(emb, axis=1, keepdims=True)
    emb[[3, 9]] = 0.0
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 12, emb)
    picks = make_sampler(name, seed=0).select(pool_of(12), out, 4)
    assert len(picks) == 4 and not {3, 9} & set(picks)
    assert make_sampler(name, seed=0).select(pool_of(12), out, 12)[-2:] == [3, 9]  # still picked, last


def test_kcenter_ignores_a_nan_labeled_embedding():
    # the labeled rows are (6, 1) and a NaN: farthest from (6, 1) is (1, 1), then (2, 1)
    emb = np.array([[1, 1], [2, 1], [5, 1], [6, 1], [np.nan, np.nan]], dtype=np.float32)
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 5, emb)
    labeled = [Example(id="l0", text="l"), Example(id="l1", text="l")]
    assert make_sampler("kcenter").select(pool_of(3), out, 2, labeled) == [0, 1]


def test_kmeans_skips_nan_embeddings_instead_of_failing():
    emb = np.insert(EMB, 2, [np.nan, np.nan], axis=0)  # faiss refused the whole pool
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 8, emb)
    picks = make_sampler("kmeans", seed=0).select(pool_of(8), out, 3)
    assert sorted(picks) == [0, 4, 7] and picks[2] == 7  # one per group; the outlier's cluster is lightest
    assert make_sampler("kmeans").select(pool_of(8), out, 8) == [0, 1, 3, 4, 5, 6, 7, 2]


def test_weighted_kmeans_survives_nan_inf_and_negative_weights():
    from llmaaa.active.diversity import cluster_picks

    # faiss aborted the process on these weights; they now count 0 (group a weighs 3e-6)
    picks = cluster_picks(EMB, 3, seed=0, weights=np.array([np.nan, -1.0, np.inf, 1, 1, 1, 1]))
    assert picks == [3, 6, 0]


# rows 0 and 2 have NaN scores and sit far from everything; 1 and 3 are the real candidates
NAN_SCORED = ([[np.nan, 0.5], [0.5, 0.5], [np.nan, 0.5], [0.6, 0.4]],
              np.array([[11, 1], [1, 1], [-9, 1], [1, 2]], dtype=np.float32))


@pytest.mark.parametrize("diversity", ["kcenter", "kmeans"])
def test_hybrid_keeps_nan_scored_examples_out_of_the_candidates(diversity):
    # k-center used to take row 0 second (farthest point); weighted k-means aborted on the NaN weight
    out = outputs_from(*NAN_SCORED)
    hybrid = make_sampler("hybrid", beta=2, diversity=diversity, seed=0)
    assert hybrid.select(pool_of(4), out, 2) == [1, 3]
    assert hybrid.select(pool_of(4), out, 3) == [1, 3, 0]


def test_hybrid_refuses_outputs_shorter_than_the_pool():
    out = ModelOutputs([np.array([[0.5, 0.5]])] * 2, np.eye(5, dtype=np.float32))
    with pytest.raises(SamplerError, match="outputs cover 2 examples, pool has 5"):
        make_sampler("hybrid", beta=1).select(pool_of(5), out, 4)  # used to return 2 picks for k=4


def test_hybrid_refuses_bad_options_when_made_not_after_the_first_training():
    for options, message in ((dict(reduction="avg"), "unknown reduction 'avg'"), (dict(measure="gini"), "unknown uncertainty"),
                             (dict(task="bogus"), "unknown task 'bogus'"), (dict(beta=float("nan")), "finite number"),
                             (dict(beta=float("inf")), "finite number")):
        with pytest.raises(SamplerError, match=message):
            make_sampler("hybrid", **options)


@pytest.mark.parametrize("name", ["kmeans", "kcenter", "hybrid"])
def test_finite_but_huge_embeddings_are_ranked_last_not_a_crash(name):
    """A squared norm past float32 aborted the process inside faiss (no Python exception to catch)."""
    emb = np.eye(6, dtype=np.float32)
    emb[1] *= np.float32(1e19)
    rows = [[0.5, 0.5], [0.9, 0.1], [0.6, 0.4], [0.7, 0.3], [0.55, 0.45], [0.8, 0.2]]
    picks = make_sampler(name, seed=0).select(pool_of(6), outputs_from(rows, emb), 5)
    assert len(set(picks)) == 5 and 1 not in picks


@pytest.mark.parametrize("probs", [np.full((1, 6, 5), 0.2), np.zeros((6, 0))])
def test_probabilities_of_the_wrong_shape_are_refused_with_what_was_expected(probs):
    """(1, T, C) scored 0 like an empty text (the pool came back in index order); (T, 0) a bare numpy error."""
    out = ModelOutputs([probs, np.full((3, 5), 0.2)], np.eye(2, dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected \(rows, classes\)"):
        make_sampler("least_confidence").select(pool_of(2), out, 1)



def test_a_sampler_spec_carries_its_options_and_refuses_what_the_sampler_does_not_take():
    """hybrid's beta, diversity and measure could not be set from the loop, the CLI or the backend."""
    from llmaaa.active.base import check_spec, parse_spec

    assert parse_spec("hybrid:beta=5:diversity=kcenter:measure=entropy") == (
        "hybrid", {"beta": 5, "diversity": "kcenter", "measure": "entropy"})
    h = make_sampler("hybrid:beta=2.5:diversity=kcenter", task="re", seed=3)
    assert (h.beta, h.diversity, h.needs_labeled_outputs, h.reduction, h.seed) == (2.5, "kcenter", True, "max", 3)
    assert make_sampler("hybrid:seed=9", seed=3).seed == 9  # the spec's own option wins over the caller's
    for spec, message in (("hybrid:gamma=2", "has no option gamma; it takes"), ("hybrid:beta", "key=value"),
                          ("hybrid:beta=0.5", "beta must be a finite number >= 1"), ("hybrid:diversity=dbscan", "diversity"),
                          ("entropy:beta=2", "has no option beta"), ("nope:x=1", "unknown sampler 'nope'")):
        with pytest.raises(SamplerError, match=message):
            check_spec(spec)
    # a spec picks what the plain name picks with the same options
    out = outputs_from(*NAN_SCORED)
    assert make_sampler("hybrid:beta=2:diversity=kcenter", seed=0).select(pool_of(4), out, 2) == \
        make_sampler("hybrid", beta=2, diversity="kcenter", seed=0).select(pool_of(4), out, 2)
