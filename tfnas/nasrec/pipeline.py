"""The whole NASRec run from one config: train the supernet, search, retrain the top-k, export the best.

Every stage writes its output under `config.run_dir` and is skipped when that output exists, and each
stage is itself resumable (supernet checkpoints, search state after every candidate, retrain results
after every model), so re-running `run` after a kill continues where it stopped.
"""
from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from tfnas.nasrec.config import NASRecConfig

STAGES = ("train-supernet", "search", "retrain", "export")


class RunData:
    """The config's CTR data: the spec and tf.data splits (planted synthetic data written first when the
    config asks for it by `data.synthetic`)."""

    def __init__(self, cfg: NASRecConfig):
        from pipelines.ctr import dataset as ctr_data

        self.cfg = cfg.data
        self.dir = cfg.data.dir
        if not os.path.exists(os.path.join(self.dir, "spec.json")):
            if not cfg.data.synthetic:
                what = "folder does not exist" if not os.path.isdir(self.dir) else "folder has no spec.json"
                raise FileNotFoundError(
                    f"data.dir {self.dir!r}: {what}; give a data folder written by `tfnas data split` "
                    "(or `tfnas data synth`), or set data.synthetic: true to write planted synthetic data there")
            from pipelines.ctr.synthetic import write_synthetic
            print(f"[nasrec] writing planted synthetic data ({cfg.data.synthetic_rows} rows) to {self.dir}",
                  flush=True)
            write_synthetic(self.dir, cfg.data.synthetic_rows, cfg.data.synthetic_seed)
        from pipelines.ctr.badrows import BadRowReport, check_policy
        check_policy(cfg.data.bad_rows)
        self.bad_rows = BadRowReport()  # rows skipped under data.bad_rows = "skip", over every split read
        self._mod = ctr_data
        spec = ctr_data.load_spec(self.dir)
        self.spec = spec.with_cap(cfg.data.vocab_cap) if cfg.data.vocab_cap > 0 else spec
        self.paths = ctr_data.split_paths(self.dir)
        for split in ("train", "val"):
            self._name(split)

    def _name(self, split: str) -> str:
        """The data directory's split name for role `split` (train / val / test), checked to exist."""
        name = {"train": self.cfg.train_split, "val": self.cfg.val_split, "test": self.cfg.test_split}[split]
        if not self.paths.get(name):
            raise ValueError(f"{self.dir}: no files for split {name!r} (data.{split}_split); "
                             f"found {sorted(k for k, v in self.paths.items() if v)}")
        return name

    def dataset(self, split: str, batch_size: int, train: bool = False, seed: int = 0, raw: bool = False):
        """Processed (or raw) batches of `split`; training sets are shuffled and repeat forever."""
        kw = {} if self.cfg.fmt == "auto" else {"fmt": self.cfg.fmt}
        return self._mod.make_split_dataset(self.dir, self._name(split), batch_size, spec=self.spec,
                                            shuffle=train, repeat=train, processed=not raw, seed=seed,
                                            bad_rows=self.cfg.bad_rows, report=self.bad_rows, **kw)

    def num_batches(self, split: str, batch_size: int) -> int:
        """Batches in one pass over `split` (counted once)."""
        return int(self.dataset(split, batch_size).reduce(0, lambda n, _: n + 1))

    def has(self, split: str) -> bool:
        name = {"train": self.cfg.train_split, "val": self.cfg.val_split, "test": self.cfg.test_split}[split]
        return bool(self.paths.get(name))

    def bayes_logloss(self) -> dict:
        """Bayes-optimal logloss per split for planted data (empty for other data)."""
        try:
            from pipelines.ctr.synthetic import bayes_logloss
        except ImportError:
            return {}
        out = {}
        for split in ("val", "test"):
            if self.has(split):
                try:
                    out[split] = float(bayes_logloss(self.dir, self._name(split)))
                except (FileNotFoundError, ValueError, KeyError):
                    return {}
        return out


class Pipeline:
    """The four NASRec stages over one config; each `stage_*` method skips itself when done."""

    def __init__(self, cfg: NASRecConfig, progress: bool = True):
        cfg.check()  # before anything is written (NASRecConfig.load ran it too, naming the file)
        self.cfg, self.progress = cfg, progress
        self.run_dir = cfg.run_dir
        os.makedirs(self.run_dir, exist_ok=True)
        cfg.save(os.path.join(self.run_dir, "config.json"))
        self._data: Optional[RunData] = None
        self._space = None
        self._supernet = None
        self._supernet_run = None   # train_supernet's result when this process trained (or resumed) it

    # --------------------------------------------------------------------------- shared parts
    @property
    def data(self) -> RunData:
        if self._data is None:
            self._data = RunData(self.cfg)
        return self._data

    @property
    def space(self):
        if self._space is None:
            from tfnas.nasrec.space import NASRecSpace
            self._space = NASRecSpace(self.cfg.space.kind, num_blocks=self.cfg.space.num_blocks,
                                      **self.cfg.space.extra)
        return self._space

    def path(self, *parts) -> str:
        return os.path.join(self.run_dir, *parts)

    # --------------------------------------------------------------------------- stages
    def supernet(self):
        """The trained (or resumed) supernet: trains up to its step budget, restoring its checkpoint."""
        if self.scratch:
            raise ValueError("search.scorer is 'scratch': this run has no supernet")
        if self._supernet is None:
            from tfnas.nasrec.supernet import NASRecSupernet
            from tfnas.nasrec.training import train_supernet
            from tfnas.train.seeding import seeded
            sc, sp = self.cfg.supernet, self.cfg.space
            steps, warmup = self.supernet_budget()
            with seeded(sc.seed):  # initial weights, hence the whole search, repeat; caller's RNGs kept
                net = NASRecSupernet(self.data.spec, kind=sp.kind, num_blocks=sp.num_blocks, sampler=sc.sampler,
                                     warmup_steps=warmup, seed=sc.seed, **sp.extra, **sc.extra)
                ds = self.data.dataset("train", sc.batch_size, train=True, seed=sc.seed)
                self._supernet_run = train_supernet(
                    net, ds, steps, self.path("supernet"), learning_rate=sc.learning_rate,
                    save_every=sc.save_every, progress=self.progress,
                    tensorboard_dir=os.path.join(self.path("tensorboard"), "supernet"))
            self._supernet = net
        return self._supernet

    def supernet_budget(self) -> tuple[int, int]:
        """(steps, warm-up steps) of the supernet: fixed counts, or scaled with the data (SupernetConfig)."""
        sc = self.cfg.supernet
        if sc.epochs < 0 or not 0 <= sc.warmup_fraction <= 1:
            raise ValueError(f"supernet.epochs must be >= 0 and supernet.warmup_fraction in [0, 1], got "
                             f"{sc.epochs:g}, {sc.warmup_fraction:g}")
        if sc.epochs > 0:
            steps = max(1, round(sc.epochs * self.data.num_batches("train", sc.batch_size)))
        else:
            steps = sc.steps or self.data.num_batches("train", sc.batch_size)
        warmup = round(sc.warmup_fraction * steps) if sc.warmup_fraction > 0 else sc.warmup_steps
        return steps, warmup

    @property
    def scratch(self) -> bool:
        """Whether candidates are scored by training from scratch (search.scorer "scratch": no supernet)."""
        return self.cfg.search.scorer == "scratch"

    def stage_train_supernet(self) -> Optional[str]:
        """supernet/DONE.json once the supernet is trained; None (skipped) when search.scorer is "scratch"."""
        if self.scratch:
            if self.progress:
                print("[nasrec] search.scorer 'scratch': no supernet to train (candidates train from scratch)",
                      flush=True)
            return None
        done = self.path("supernet", "DONE.json")
        if not os.path.exists(done):
            self.supernet()
            from tfnas.runs import write_json_atomic
            # resumed_from: the step this process's training started at (> 0 after a killed run was restarted)
            write_json_atomic(done, {"steps": self.supernet_budget()[0],
                                     "resumed_from": (self._supernet_run or {}).get("resumed_from", 0)})
        return done

    def evaluator(self, finetune=None):
        """The search's scorer, with a FLOPs cache in the run dir: a SupernetEvaluator over the trained supernet,
        or a ScratchEvaluator (tfnas/nasrec/scratch.py) when search.scorer is "scratch"."""
        from tfnas.nasrec.evaluate import FlopsCache, SupernetEvaluator
        ft = finetune or self.cfg.finetune
        spec = self.data.spec

        def build(arch, spec=spec):
            from tfnas.nasrec.subnet import build_subnet
            return build_subnet(arch, spec)

        cost = FlopsCache(build, self.path("search", "flops_cache.json"),
                          build_for_flops=lambda arch: build(arch, spec.with_cap(2)))
        os.makedirs(self.path("search"), exist_ok=True)
        if self.scratch:
            from tfnas.nasrec.scratch import ScratchEvaluator
            sc = self.cfg.scratch
            return ScratchEvaluator(build, lambda: self.data.dataset("train", sc.batch_size, train=True, seed=sc.seed),
                                    self.data.dataset("val", sc.eval_batch_size), self.scratch_steps(), sc,
                                    self.cfg.retrain, cost_fn=cost)
        return SupernetEvaluator(self.supernet(),
                                 self.data.dataset("train", ft.batch_size, train=True, seed=1),
                                 self.data.dataset("val", ft.eval_batch_size), ft, cost_fn=cost)

    def scratch_steps(self) -> int:
        """Training steps per candidate under search.scorer "scratch": scratch.steps, or one pass over train."""
        sc = self.cfg.scratch
        return sc.steps or self.data.num_batches("train", sc.batch_size)

    def stage_search(self, runner: str = "loop") -> str:
        from tfnas.nasrec.search import CANDIDATES_FILE, run_nasrec_search
        out = self.path("search", CANDIDATES_FILE)
        if not os.path.exists(out):
            self.stage_train_supernet()
            strategy = run_nasrec_search(self.cfg.search, self.space, self.evaluator(), self.path("search"),
                                         runner=runner, progress=self.progress)
            if not strategy.done:
                raise RuntimeError("search stopped before it was done; run it again to resume")
        return out

    def stage_retrain(self) -> dict:
        from tfnas.nasrec.retrain import retrain_all
        from tfnas.nasrec.search import load_candidates, top_candidates
        rc = self.cfg.retrain
        rows = load_candidates(os.path.dirname(self.stage_search()))
        from tfnas.nasrec.pareto import within_budget
        top = top_candidates(within_budget(rows, self.cfg.export.max_flops), rc.top_k, self.cfg.search.objective)
        if not top:
            raise ValueError(f"no searched candidate within export.max_flops {self.cfg.export.max_flops:g}")
        steps = rc.steps_per_epoch or self.data.num_batches("train", rc.batch_size)
        # in a multi-worker strategy's scope (tfnas/distribute/nasrec.py): each worker takes its share of every
        # global batch, as `ctr train` does
        import tensorflow as tf
        from tfnas.distribute.cluster import data_sharded, is_distributed
        shard = data_sharded if is_distributed(tf.distribute.get_strategy()) else (lambda ds: ds)
        evals = {"val": shard(self.data.dataset("val", rc.eval_batch_size))}
        if self.data.has("test"):
            evals["test"] = shard(self.data.dataset("test", rc.eval_batch_size))
        def train():   # a fresh stream per retrained (model, seed), so a killed one resumes exactly (retrain.py)
            return shard(self.data.dataset("train", rc.batch_size, train=True, seed=rc.seed))
        return retrain_all(self.path("retrain"), rc, self.data.spec, top, train, steps, evals,
                           progress=self.progress, reference_arrays=self.reference_arrays)

    def reference_arrays(self) -> tuple:
        """(train, val, test or None) processed splits as numpy arrays, for the scikit-learn reference rows."""
        from pipelines.ctr.reference import arrays
        bs = self.cfg.retrain.eval_batch_size
        test = arrays(self.data.dataset("test", bs)) if self.data.has("test") else None
        return arrays(self.data.dataset("train", bs)), arrays(self.data.dataset("val", bs)), test

    def stage_export(self) -> str:
        """Export the best retrained candidate (by val logloss) with a raw-feature serving signature."""
        marker = self.path("export.json")
        if os.path.exists(marker):
            with open(marker) as f:
                return json.load(f)["path"]
        from tfnas.export import export_saved_model
        from tfnas.nasrec.retrain import Retrainer, best_candidate
        from tfnas.nasrec.subnet import build_subnet
        from tfnas.graph import Architecture
        from tfnas.runs import write_json_atomic
        results = self.stage_retrain()
        name, res = best_candidate(results, max_flops=self.cfg.export.max_flops)
        network = build_subnet(Architecture.from_dict(res["arch"]), self.data.spec)
        network.load_weights(Retrainer.weights_path_for(self.path("retrain"), name))
        path = self._export_once(lambda version: export_saved_model(network, self.data.spec, self.cfg.export.name,
                                                                    version=version, root=self.cfg.export.root))
        diff = self._check_export(network, path)
        print(f"[nasrec] exported {name} to {path}; reloaded in a fresh process on raw test rows: "
              f"max |p_served - p_keras| = {diff:.3g}", flush=True)
        if not diff < 1e-5:
            raise RuntimeError(f"{path}: the reloaded SavedModel disagrees with the Keras model ({diff:.3g})")
        write_json_atomic(marker, {"path": str(path), "model": name, "val_logloss": res["val_logloss"],
                                   "reload_max_abs_diff": diff})
        os.unlink(self.path("export.pending.json"))
        return str(path)

    def _export_once(self, write) -> str:
        """Write the export at a version chosen once and recorded first (`export.pending.json`), so a run killed
        after the SavedModel's rename but before `export.json` reuses that version on resume instead of adding
        another one."""
        from tfnas.export.serving import next_version
        from tfnas.runs import write_json_atomic
        ec, pending = self.cfg.export, self.path("export.pending.json")
        resumed = os.path.exists(pending)
        if resumed:
            with open(pending) as f:
                version = int(json.load(f)["version"])
        else:
            version = int(ec.version or next_version(ec.root, ec.name))
            write_json_atomic(pending, {"version": version})
        path = os.path.join(ec.root, ec.name, str(version))
        if resumed and os.path.isdir(path):  # this run wrote it before it was killed (the writer is atomic)
            return str(path)
        return str(write(version))

    def _check_export(self, network, path, rows: int = 256) -> float:
        """Reload the export in a fresh process and compare it with the Keras network on raw rows."""
        from tfnas.export import check_reload
        split = "test" if self.data.has("test") else "val"
        raw = next(iter(self.data.dataset(split, rows, raw=True)))
        return check_reload(network, self.data.spec, path, raw)

    def report(self) -> str:
        """Found net vs baselines (logloss, AUC, FLOPs) and the Bayes-optimal logloss, as text."""
        from tfnas.nasrec.retrain import best_candidate, comparison_table
        from tfnas.nasrec.pareto import front_text, plot_front
        results = self.stage_retrain()
        best, _ = best_candidate(results, max_flops=self.cfg.export.max_flops)
        table = comparison_table(results, self.data.bayes_logloss(), best)
        png = plot_front(results, self.path("retrain", "pareto.png"), max_flops=self.cfg.export.max_flops)
        table += f"\n{front_text(results)}\n(plotted in {png})"
        if self.scratch:
            table += (f"\nsearch scorer: scratch (beyond the paper): each candidate trained from scratch for "
                      f"{self.scratch_steps()} steps, scored by validation logloss")
        if self.cfg.search.seed_architectures or self.cfg.search.seed_baselines:
            from tfnas.nasrec.search import load_candidates, seeding_summary
            from tfnas.nasrec.seeding import seeding_report
            from tfnas.runs import write_json_atomic
            rows = load_candidates(os.path.dirname(self.stage_search()))  # best is "cand_<trial id>"
            lines, data = seeding_report(rows, results)  # also in the run's seeding.json
            table += "\n" + seeding_summary(rows, int(best[len("cand_"):])) + "\n" + lines
            write_json_atomic(self.path("seeding.json"), data)
        if self.cfg.data.bad_rows == "skip":  # what this process read; an earlier (resumed) one printed its own
            skipped = self.data.bad_rows
            table += "\n" + skipped.summary() + "".join(f"\n  e.g. {e}" for e in skipped.examples)
        return table


def run(cfg: NASRecConfig, stages: Sequence[str] = STAGES, progress: bool = True) -> dict:
    """Run the given stages in order (each skipped if its output exists); returns their outputs."""
    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise ValueError(f"unknown NASRec stage(s) {unknown}; choose from {list(STAGES)}")
    pipe, out = Pipeline(cfg, progress), {}
    for stage in STAGES:
        if stage not in stages:
            continue
        if stage == "train-supernet":
            out[stage] = pipe.stage_train_supernet()
        elif stage == "search":
            out[stage] = pipe.stage_search()
        elif stage == "retrain":
            out[stage] = pipe.stage_retrain()
            out["report"] = pipe.report()
        else:
            out[stage] = pipe.stage_export()
    return out
