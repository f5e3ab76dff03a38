"""AutoShrink searches: proxy evaluators with the paper's scores, and a resumable driver that logs each step."""
from __future__ import annotations

import json
import math
import os
import time

from tfnas.autoshrink.cnn import PROXY, Macro, build_cnn
from tfnas.autoshrink.train import ProxyTraining, train_proxy
from tfnas.graph import Architecture
from tfnas.search.loop import run_search
from tfnas.search.strategy import Strategy
from tfnas.space import Evaluator, Result


def cnn_score(accuracy: float, macs: float, weight: float = 0.1) -> float:
    """AutoShrink CNN objective: accuracy − weight · (log10(MACs) − 6)."""
    return float(accuracy) - weight * (math.log10(max(float(macs), 1.0)) - 6.0)


def rnn_score(perplexity: float, flops: float, weight: float = 0.25) -> float:
    """AutoShrink RNN objective: weight · (200 − perplexity) − (log10(FLOPs) − 6)."""
    return weight * (200.0 - float(perplexity)) - (math.log10(max(float(flops), 1.0)) - 6.0)


class CnnProxyEvaluator(Evaluator):
    """Build the proxy network around a cell, train it on the proxy data, score accuracy against MACs."""

    def __init__(self, data, macro: Macro = PROXY, training: ProxyTraining | None = None,
                 score_weight: float = 0.1, verbose: int = 0):
        self.data, self.macro, self.training = data, macro, training or ProxyTraining()
        self.score_weight, self.verbose = score_weight, verbose

    def build(self, arch: Architecture):
        return build_cnn(arch, self.data.input_shape, self.data.num_classes, self.macro, name="proxy")

    def evaluate(self, arch: Architecture) -> Result:
        """Build and train under `seeded(training.seed)`: same numbers every call, caller's RNGs untouched."""
        from tfnas.metrics import count_params, macs_per_example
        from tfnas.train.seeding import seeded
        with seeded(self.training.seed):
            model = self.build(arch)
            macs = macs_per_example(model)
            start = time.perf_counter()
            out = train_proxy(model, self.data.train, self.data.val, self.training, verbose=self.verbose)
        acc = out["best_val_accuracy"]
        return Result({"score": cnn_score(acc, macs, self.score_weight), "accuracy": acc,
                       "epochs": out["epochs"]},
                      {"macs": macs, "params": count_params(model), "train_seconds": time.perf_counter() - start})


def write_steps(strategy: Strategy, out_dir: str) -> list[str]:
    """Write one JSON file per finished shrinking step (`steps/step_###.json`); returns new paths."""
    steps = getattr(strategy, "steps", [])
    folder = os.path.join(out_dir, "steps")
    os.makedirs(folder, exist_ok=True)
    written = []
    for step in steps:
        path = os.path.join(folder, f"step_{step['step']:03d}.json")
        if not os.path.exists(path):
            with open(path, "w") as f:
                json.dump(step, f, indent=1)
            written.append(path)
    return written


def run_shrinking(strategy: Strategy, evaluator: Evaluator, out_dir: str, max_trials: int | None = None,
                  progress: bool = True, plots: bool = True) -> Strategy:
    """Run (or resume) a search with checkpoint `out_dir/search.json`, per-step JSON and PNG plots."""
    os.makedirs(out_dir, exist_ok=True)
    seen = [len(getattr(strategy, "steps", []))]

    def on_record(_record):
        if len(getattr(strategy, "steps", [])) != seen[0]:
            seen[0] = len(strategy.steps)
            write_steps(strategy, out_dir)
            if plots:
                from tfnas.autoshrink.plots import plot_cell, plot_steps
                plot_steps(strategy.steps, os.path.join(out_dir, "steps.png"))
                plot_cell(strategy.current, os.path.join(out_dir, "current_cell.png"))

    run_search(strategy, evaluator, os.path.join(out_dir, "search.json"), max_trials=max_trials,
               progress=progress, on_record=on_record)
    write_steps(strategy, out_dir)
    best = strategy.best()
    if best is not None:
        best.trial.arch.save(os.path.join(out_dir, "best_cell.json"))
        with open(os.path.join(out_dir, "best.json"), "w") as f:
            json.dump({"trial": best.trial.id, "info": best.trial.info, **best.result.to_dict()}, f, indent=1)
        if plots:
            from tfnas.autoshrink.plots import plot_cell
            plot_cell(best.trial.arch, os.path.join(out_dir, "best_cell.png"))
    return strategy
