"""``llmaaa simulate``'s arguments against the LOOP_/TRAIN_ variables the rest of the tool reads."""

import logging

from llmaaa.cli import build_parser
from llmaaa.commands.loop import experiment_of


def _experiment(*flags):
    args = build_parser().parse_args(["simulate", "--dataset", "conll03", "--output", "out", *flags])
    return experiment_of(args)


def test_a_flag_left_out_takes_its_variable_and_a_flag_given_wins(monkeypatch):
    """The flags' defaults (init 50, reweight off, ...) used to override LOOP_INIT or TRAIN_REWEIGHT without a word."""
    monkeypatch.setenv("LOOP_INIT", "10")
    monkeypatch.setenv("LOOP_PER_ROUND", "5")
    monkeypatch.setenv("LOOP_ROUNDS", "3")
    monkeypatch.setenv("TRAIN_REWEIGHT", "true")
    exp = _experiment()
    assert (exp.loop.init, exp.loop.per_round, exp.loop.rounds, exp.loop.demo_pool) == (10, 5, 3, 100)
    assert exp.reweights == (True,)
    exp = _experiment("--init", "20", "--reweight")
    assert exp.loop.init == 20 and exp.reweights == (True,)
    monkeypatch.setenv("TRAIN_REWEIGHT", "false")
    assert _experiment().reweights == (False,) and _experiment("--reweight").reweights == (True,)
    assert _experiment("--compare-reweight").reweights == (False, True)


def test_the_paper_schedule_without_variables(monkeypatch):
    for var in ("LOOP_INIT", "LOOP_PER_ROUND", "LOOP_ROUNDS", "LOOP_DEMO_POOL", "LOOP_RE_UNIT", "TRAIN_REWEIGHT",
                "LOOP_STOP_AFTER_ROUNDS_MATCHED"):
        monkeypatch.delenv(var, raising=False)
    loop = _experiment().loop
    assert (loop.demo_pool, loop.init, loop.rounds, loop.per_round, loop.re_unit, loop.stop_after_rounds_matched) == \
        (100, 50, 9, 50, "example", 0)


def test_train_seed_is_said_to_be_unused(monkeypatch, caplog):
    monkeypatch.setenv("TRAIN_SEED", "7")
    with caplog.at_level(logging.WARNING):
        exp = _experiment("--first-seed", "2")
    assert exp.first_seed == 2 and "TRAIN_SEED is not used by simulate" in caplog.text



def test_a_strategy_with_options_runs_under_its_spec_and_a_bad_one_is_said_before_any_run():
    import pytest

    from llmaaa.active import SamplerError

    exp = _experiment("--strategies", "least_confidence,hybrid:beta=5:diversity=kcenter")
    assert exp.strategies == ["least_confidence", "hybrid:beta=5:diversity=kcenter"]
    with pytest.raises(SamplerError, match="has no option betta"):
        _experiment("--strategies", "hybrid:betta=5")
