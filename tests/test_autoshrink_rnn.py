"""ShrinkRNN: one real shrinking step of an RNN cell on a tiny slice of the built-in English corpus."""
import dataclasses
import math

import pytest

from tfnas.autoshrink.cell import active_edges, full_rnn_cell
from tfnas.search.shrinking import EdgeShrinking


def test_rnn_shrinking_step_with_real_lm_training():
    from tfnas.autoshrink.data import load_text
    from tfnas.autoshrink.rnn import LMTraining, RnnProxyEvaluator, rnn_cell_flops
    from tfnas.autoshrink.shrink import rnn_score
    from tfnas.search.loop import run_search
    corpus = load_text("pydocs")
    corpus = dataclasses.replace(corpus, train=corpus.train[:3000], valid=corpus.valid[:600])
    cfg = LMTraining(units=16, embedding=16, epochs=2, batch_size=32, bptt=10)
    arch = full_rnn_cell(3, seed=0)
    strategy = EdgeShrinking(arch, candidates_per_step=2, keep_fraction=0.5, seed=0)
    run_search(strategy, RnnProxyEvaluator(corpus, cfg), max_trials=2, progress=False)
    assert len(strategy.steps) == 1
    step = strategy.steps[0]
    for c in step["candidates"]:
        ppl, flops = c["metrics"]["perplexity"], c["cost"]["flops"]
        assert 1.0 < ppl < 5 * corpus.vocab_size and math.isfinite(ppl)
        assert c["score"] == pytest.approx(rnn_score(ppl, flops))
    best = max(step["candidates"], key=lambda c: c["score"])
    assert step["removed"] == best["edge"]
    assert rnn_cell_flops(strategy.current, 16, 16) == best["cost"]["flops"]
    assert len(active_edges(strategy.current)) < 3
