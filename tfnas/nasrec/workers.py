"""`tfnas nasrec search --workers N`: NASRec's search with candidates scored by N worker processes at once,
through keras-tuner's chief/worker mode (`tfnas.search.distributed`); the search folder gets the same
candidates.jsonl, PNGs and flops_cache.json as the sequential search, from the same proposals.

Two ways in.  `--workers N` (N >= 1): this process trains the supernet if needed, then `launch`es a local chief
and N workers and supervises them (a dead one is restarted; a restarted chief resumes).  Or, with keras-tuner's
variables ``KERASTUNER_ORACLE_IP``/``_PORT``/``_TUNER_ID`` set, the process is the chief (``chief`` in the id:
trains the supernet, serves the oracle, writes the outputs) or a worker (waits for the supernet's DONE.json,
then evaluates); start one chief and any number of workers, e.g. on several machines sharing the run folder.

Choices where keras-tuner is silent: the keras-tuner project lives in ``<run>/search/distributed/keras_tuner``
(with the chief/worker logs), so a re-run resumes it; each worker writes its own FLOPs cache
(``distributed/flops_cache.<tuner id>.json``, the shared file would have N writers) and the chief merges them
into ``search/flops_cache.json`` at the end; workers never rewrite ``<run>/config.json`` (the chief wrote it).
"""
from __future__ import annotations

import json
import os
import time

from tfnas.space import Evaluator

CLUSTER_DIR = "distributed"
PROJECT = "keras_tuner"
FACTORY = "tfnas.nasrec.workers:make_role"
SUPERNET_DONE = os.path.join("supernet", "DONE.json")


def env_role() -> str | None:
    """'chief' or 'worker' when keras-tuner's three variables are set, None when none is; one or two set is
    an error naming the missing ones."""
    from tfnas.search.distributed import ENV_ID, ENV_IP, ENV_PORT
    names = (ENV_IP, ENV_PORT, ENV_ID)
    missing = [n for n in names if not os.environ.get(n)]
    if len(missing) == len(names):
        return None
    if missing:
        raise ValueError(f"distributed search: set all of {', '.join(names)} or none; missing {', '.join(missing)}")
    return "chief" if "chief" in os.environ[ENV_ID] else "worker"


def cluster_dir(run_dir: str) -> str:
    return os.path.join(run_dir, "search", CLUSTER_DIR)


def _pipeline(run_dir: str):
    """The run's Pipeline from the config the parent/chief saved, without saving it again (N processes)."""
    from tfnas.nasrec.config import NASRecConfig
    from tfnas.nasrec.pipeline import Pipeline
    cfg = NASRecConfig.load(os.path.join(run_dir, "config.json"))
    cfg.run_dir = run_dir
    pipe = Pipeline.__new__(Pipeline)   # Pipeline.__init__ rewrites config.json (not atomically)
    pipe.cfg, pipe.progress, pipe.run_dir = cfg, False, run_dir
    pipe._data = pipe._space = pipe._supernet = None
    return pipe


class WorkerEvaluator(Evaluator):
    """The pipeline's evaluator (SupernetEvaluator; ScratchEvaluator under search.scorer "scratch"), built on
    first use (the chief never evaluates, so it never loads the supernet), with this process's own FLOPs cache
    file (module docstring)."""

    def __init__(self, pipe, cache_path: str):
        self.pipe, self.cache_path, self._inner = pipe, cache_path, None

    def build(self):
        """The SupernetEvaluator (built and cached on the first call)."""
        if self._inner is None:
            inner = self.pipe.evaluator()
            os.makedirs(os.path.dirname(self.cache_path), exist_ok=True)
            inner.cost_fn.path = self.cache_path   # entries of search/flops_cache.json were loaded already
            self._inner = inner
        return self._inner

    def evaluate(self, arch):
        return self.build().evaluate(arch)


def make_role(run_dir: str):
    """The factory every chief/worker process calls: (strategy, evaluator) of the run in `run_dir`."""
    from tfnas.nasrec.search import make_strategy
    from tfnas.search.distributed import ENV_ID
    pipe = _pipeline(run_dir)
    me = os.environ.get(ENV_ID, "main")
    cache = os.path.join(cluster_dir(run_dir), f"flops_cache.{me}.json")
    return make_strategy(pipe.cfg.search, pipe.space), WorkerEvaluator(pipe, cache)


def merge_flops_caches(run_dir: str) -> str:
    """search/flops_cache.json extended with every worker's entries (written atomically); returns its path."""
    from tfnas.runs import write_json_atomic
    path = os.path.join(run_dir, "search", "flops_cache.json")
    merged = {}
    folder = cluster_dir(run_dir)
    parts = [path] + sorted(os.path.join(folder, n) for n in os.listdir(folder)
                            if n.startswith("flops_cache.") and n.endswith(".json"))
    for part in parts:
        if os.path.exists(part):
            with open(part) as f:
                merged.update(json.load(f))
    write_json_atomic(path, merged)
    return path


def _finish(pipe, strategy) -> str:
    from tfnas.nasrec.search import CANDIDATES_FILE, write_outputs
    if not strategy.done:
        raise RuntimeError("distributed search ended before the strategy was done; run it again to resume")
    merge_flops_caches(pipe.run_dir)
    write_outputs(strategy, pipe.path("search"))
    return pipe.path("search", CANDIDATES_FILE)


def search_with_workers(pipe, workers: int, timeout: float = float("inf")) -> str:
    """Train the supernet if needed, run the search with a local chief + `workers` workers, write the search
    folder's outputs; a search whose candidates.jsonl exists is skipped.  Returns candidates.jsonl's path."""
    from tfnas.nasrec.search import CANDIDATES_FILE
    from tfnas.search.distributed import launch
    out = pipe.path("search", CANDIDATES_FILE)
    if os.path.exists(out):
        return out
    pipe.stage_train_supernet()
    folder = cluster_dir(os.path.abspath(pipe.run_dir))
    print(f"[nasrec] search: a chief and {workers} worker(s) on localhost; logs in {folder}", flush=True)
    strategy = launch(FACTORY, {"run_dir": os.path.abspath(pipe.run_dir)}, folder, workers=workers,
                      project=PROJECT, timeout=timeout)
    return _finish(pipe, strategy)


def search_as_role(cfg, role: str, progress: bool = False, poll_s: float = 2.0) -> str | None:
    """This process's part of a search whose processes were started by hand (keras-tuner's variables set):
    the chief trains the supernet, serves and writes the outputs (returns candidates.jsonl's path); a worker
    waits for the trained supernet and evaluates until told to stop (returns None; it writes nothing outside
    its own files under search/distributed)."""
    from tfnas.nasrec.search import CANDIDATES_FILE
    from tfnas.search.distributed import load_result, run_role
    run_dir = os.path.abspath(cfg.run_dir)
    out = os.path.join(run_dir, "search", CANDIDATES_FILE)
    pipe = None
    if role == "chief":
        from tfnas.nasrec.pipeline import Pipeline
        pipe = Pipeline(cfg, progress)
        if os.path.exists(out):
            return out
        pipe.stage_train_supernet()
    else:
        # search.scorer "scratch" has no supernet to wait for
        done = run_dir if cfg.search.scorer == "scratch" else os.path.join(run_dir, SUPERNET_DONE)
        if not os.path.exists(done) and not os.path.exists(out):
            print(f"[nasrec] worker: waiting for the chief's trained supernet ({done})", flush=True)
        while not os.path.exists(done) and not os.path.exists(out):
            time.sleep(poll_s)
        if os.path.exists(out):
            return None
    args = {"run_dir": run_dir}
    run_role(FACTORY, args, cluster_dir(run_dir), PROJECT)
    if pipe is None:
        return None
    return _finish(pipe, load_result(FACTORY, args, cluster_dir(run_dir), PROJECT))
