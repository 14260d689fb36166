"""k-NN demo retrieval with the real packaged MiniLM: order, leave-one-out, growth, ablation modes."""

import pytest

from llmaaa.annotate.retrieval import DemoIndex, SentenceEncoder
from llmaaa.data.schema import Example

pytestmark = pytest.mark.slow  # loads the MiniLM (~8 s on 2 shared cores)

POOL = [
    Example("football", "The football team won the league final on Sunday."),
    Example("soccer", "The soccer club won the cup match last weekend."),
    Example("stocks", "Shares of the bank fell sharply on Wall Street."),
    Example("weather", "Heavy rain is expected in the north tomorrow."),
    Example("cooking", "Add two cups of flour and stir the dough gently."),
]


@pytest.fixture(scope="module")
def encoder():
    return SentenceEncoder()


def test_embeddings_are_unit_vectors_and_cached(encoder):
    vecs = encoder.encode(["Paris", "我在北京大学读书 😀"])
    assert vecs.shape == (2, 384)
    assert abs(float((vecs[0] ** 2).sum()) - 1) < 1e-4
    assert encoder.encode(["Paris"])[0].tolist() == vecs[0].tolist()


def test_knn_orders_demos_least_to_most_similar(encoder):
    index = DemoIndex(encoder, POOL)
    demos = index.nearest("The soccer team won the league match.", k=3)
    assert len(demos) == 3
    assert demos[-1].id in ("football", "soccer")  # the most similar sits last, next to the query
    assert {d.id for d in demos[-2:]} == {"football", "soccer"}


def test_leave_one_out_and_added_demos(encoder):
    index = DemoIndex(encoder, POOL)
    demos = index.nearest(POOL[2].text, k=2, exclude_ids=["stocks"])
    assert "stocks" not in [d.id for d in demos] and len(demos) == 2
    assert index.add([Example("markets", "Stock markets fell as bank shares dropped.")]) == 1
    assert index.add([Example("markets", "duplicate id is ignored")]) == 0
    assert index.nearest(POOL[2].text, k=1, exclude_ids=["stocks"])[0].id == "markets"


def test_random_and_zero_shot_modes_need_no_encoder():
    index = DemoIndex(SentenceEncoder("/nonexistent/model"), POOL, mode="random", seed=1)
    a = index.nearest("query", k=3, query_id="q1")
    assert a == index.nearest("query", k=3, query_id="q1")  # fixed per query: re-runs hit the cache
    assert len({d.id for d in a}) == 3
    assert index.nearest("query", k=3, mode="none") == []
    with pytest.raises(ValueError, match="knn, random, none"):
        index.nearest("q", k=1, mode="nearest")


def test_knn_shows_a_repeated_sentence_once_and_fills_k_with_the_next_neighbours(encoder):
    pool = [Example(f"copy{i}", "The soccer club won the cup match last weekend.") for i in range(4)] + POOL
    demos = DemoIndex(encoder, pool).nearest("The soccer team won the league match.", k=3)
    assert len(demos) == 3 and len({d.text for d in demos}) == 3
    assert demos[-1].text == "The soccer club won the cup match last weekend."  # the nearest, once


def test_a_blank_demo_never_takes_a_demo_slot(encoder):
    pool = [Example("empty", ""), Example("blank", " \n\u3000")] + POOL
    for mode in ("knn", "random"):
        demos = DemoIndex(encoder, pool, mode=mode, seed=3).nearest("", k=len(POOL), query_id="q")
        assert sorted(d.id for d in demos) == sorted(ex.id for ex in POOL), mode
