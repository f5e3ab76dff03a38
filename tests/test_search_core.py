"""Strategies: random search, regularized evolution (resume = uninterrupted), keras-tuner Oracle adapter."""
import json

import pytest

from core_toy import ChainEvaluator, ChainSpace
from tfnas.search.evolution import RegularizedEvolution
from tfnas.search.loop import run_search
from tfnas.search.random import RandomSearch
from tfnas.space import Objective


def evolution(**kw):
    args = dict(population_size=8, sample_size=3, children_per_generation=4, generations=6,
                mutations_start=3, mutations_end=1, seed=7)
    args.update(kw)
    return RegularizedEvolution(ChainSpace(), Objective("loss", "min"), **args)


def proposals(strategy):
    return [r.trial.arch.key() for r in strategy.history]


def test_random_search_runs_its_budget():
    s = run_search(RandomSearch(ChainSpace(), Objective("loss"), num_trials=10, seed=1),
                   ChainEvaluator(), progress=False)
    assert s.done and len(s.history) == 10 and s.best() is not None


def test_evolution_improves_over_its_initial_population():
    s = run_search(evolution(generations=30), ChainEvaluator(), progress=False)
    assert len(s.history) == 8 + 30 * 4
    initial_best = min(r.result.get("loss") for r in s.history[:8])
    assert s.best().result.get("loss") < initial_best
    assert len(s.population) == 8
    curve = s.best_per_generation()
    assert all(b <= a for a, b in zip(curve, curve[1:]))


def test_mutation_schedule_decays():
    s = evolution(generations=5, mutations_start=6, mutations_end=1)
    assert [s.mutations_for(g) for g in range(5)] == [6, 5, 4, 2, 1]


def test_evolution_resumed_from_saved_state_matches_uninterrupted(tmp_path):
    full = run_search(evolution(), ChainEvaluator(), progress=False)
    ckpt = str(tmp_path / "search.json")
    evaluator = ChainEvaluator()
    run_search(evolution(), evaluator, checkpoint_path=ckpt, max_trials=13, progress=False)
    # a fresh process would build a new strategy and load the checkpoint: do exactly that
    resumed = run_search(evolution(), evaluator, checkpoint_path=ckpt, progress=False)
    assert proposals(resumed) == proposals(full)
    assert evaluator.calls == len(full.history)  # nothing evaluated twice
    assert json.load(open(ckpt))["next_id"] == len(full.history)


def test_pending_trial_is_reissued_after_restore():
    s = evolution()
    t = s.ask()
    state = json.loads(json.dumps(s.state()))
    again = evolution().restore(state)
    assert again.ask().arch == t.arch


def test_restore_rejects_other_strategy_state():
    with pytest.raises(ValueError, match="cannot restore"):
        evolution().restore(RandomSearch(ChainSpace(), Objective("loss"), 3).state())


def test_keras_tuner_oracle_drives_a_strategy(tmp_path):
    from tfnas.search.oracle import EvaluatorTuner, StrategyOracle
    strategy = evolution(generations=2)
    tuner = EvaluatorTuner(StrategyOracle(strategy), ChainEvaluator(), directory=str(tmp_path),
                           project_name="toy", overwrite=True)
    tuner.search()
    assert strategy.done and len(strategy.history) == 16
    best_hp = tuner.get_best_hyperparameters(1)[0]
    from tfnas.search.oracle import architecture_from_hp
    assert architecture_from_hp(best_hp).key() == strategy.best().trial.arch.key()
    # a second tuner on the same directory resumes: nothing is left to do
    strategy2 = evolution(generations=2)
    tuner2 = EvaluatorTuner(StrategyOracle(strategy2), ChainEvaluator(), directory=str(tmp_path),
                            project_name="toy", overwrite=False)
    assert len(strategy2.history) == 16 and strategy2.done
    tuner2.search()
    assert len(strategy2.history) == 16
