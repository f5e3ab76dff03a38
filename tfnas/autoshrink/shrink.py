"""AutoShrink searches: proxy evaluators with the paper's scores, and a resumable driver that logs each step."""
from __future__ import annotations

import json
import math
import os
import time

from tfnas.autoshrink.cnn import PROXY, Macro, build_cnn
from tfnas.autoshrink.train import ProxyTraining, train_proxy
from tfnas.graph import Architecture
from tfnas.runs import write_json_atomic
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


def _write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_steps(strategy: Strategy, out_dir: str) -> list[str]:
    """Write one JSON file per finished shrinking step (`steps/step_###.json`, atomic); returns new paths."""
    steps = getattr(strategy, "steps", [])
    folder = os.path.join(out_dir, "steps")
    os.makedirs(folder, exist_ok=True)
    written = []
    for step in steps:
        path = os.path.join(folder, f"step_{step['step']:03d}.json")
        if not os.path.exists(path):
            _write_text_atomic(path, json.dumps(step, indent=1))
            written.append(path)
    return written


def write_best(strategy: Strategy, out_dir: str, plots: bool = True) -> None:
    """The best cell so far: `best_cell.json` (an Architecture), `best.json` (its trial and result) and
    `best_cell.png`, each written to a temporary name and renamed, so a kill never leaves half a file."""
    best = strategy.best()
    if best is None:
        return
    _write_text_atomic(os.path.join(out_dir, "best_cell.json"), best.trial.arch.to_json(indent=1))
    write_json_atomic(os.path.join(out_dir, "best.json"),
                      {"trial": best.trial.id, "info": best.trial.info, **best.result.to_dict()})
    if plots:
        from tfnas.autoshrink.plots import plot_cell
        plot_cell(best.trial.arch, os.path.join(out_dir, "best_cell.png"), title=f"best so far: trial {best.trial.id}")


def _bar_total(strategy: Strategy) -> int | None:
    total = getattr(strategy, "total_trials", None)
    return int(total) if total is not None else None


def run_shrinking(strategy: Strategy, evaluator: Evaluator, out_dir: str, max_trials: int | None = None,
                  progress: bool = True, plots: bool = True, quality: str = "accuracy",
                  cost: str = "macs", tensorboard: bool = True) -> Strategy:
    """Run (or resume) a search with checkpoint `out_dir/search.json`; after every trial the best cell so
    far (`write_best`, when it changes) and TensorBoard scalars (`tensorboard/search`), after every step
    `steps/step_###.json`, `steps.png` and `current_cell.png`.

    The progress bar's total is the strategy's `total_trials` re-read after every trial (an upper bound
    that tightens when a step prunes several edges), so it ends at exactly the trials run."""
    from tfnas.autoshrink.plots import plot_cell, plot_steps
    os.makedirs(out_dir, exist_ok=True)
    seen, best_id = [-1], [None]
    bar = None
    scalars = None
    if tensorboard:
        from tfnas.autoshrink.progress import SearchScalars
        scalars = SearchScalars(os.path.join(out_dir, "tensorboard", "search"))

    def step_outputs():
        write_steps(strategy, out_dir)
        if plots:
            plot_steps(strategy.steps, os.path.join(out_dir, "steps.png"), quality=quality, cost=cost)
            plot_cell(strategy.current, os.path.join(out_dir, "current_cell.png"),
                      title=f"current cell after {len(strategy.steps)} step{'' if len(strategy.steps) == 1 else 's'}")

    def on_record(record):
        best = strategy.best()
        if best is not None and best.trial.id != best_id[0]:
            best_id[0] = best.trial.id
            write_best(strategy, out_dir, plots)
        current = getattr(strategy, "current", None)
        if scalars is not None:
            scalars.write(record, best.result.get(strategy.objective.name) if best is not None else None,
                          current.num_edges() if current is not None else None)
        if hasattr(strategy, "steps") and len(strategy.steps) != seen[0]:
            seen[0] = len(strategy.steps)
            step_outputs()
        if bar is not None:
            bar.total = max(_bar_total(strategy) or 0, len(strategy.history))
            bar.update(len(strategy.history) - bar.n)
            if best is not None:
                bar.set_postfix({"edges": current.num_edges() if current is not None else "-",
                                 "best": f"{best.result.get(strategy.objective.name):.4g}"}, refresh=False)
            bar.refresh()

    if progress:
        from tqdm.auto import tqdm
        from tfnas.search.loop import load_state
        checkpoint = os.path.join(out_dir, "search.json")
        if os.path.exists(checkpoint):     # show where a resumed search stands (run_search restores it again)
            load_state(strategy, checkpoint)
        bar = tqdm(total=_bar_total(strategy), initial=len(strategy.history), desc="shrinking", unit="trial")
    try:
        run_search(strategy, evaluator, os.path.join(out_dir, "search.json"), max_trials=max_trials,
                   progress=False, on_record=on_record)
    finally:
        if bar is not None:
            bar.close()
    write_best(strategy, out_dir, plots)
    if hasattr(strategy, "steps"):
        step_outputs()
    return strategy
