"""What long AutoShrink commands show while they run: TensorBoard scalars
of a search (one point per trial); the stage lines (`tfnas.stages.Stages`) and the epoch bar
(`tfnas.train.callbacks.epoch_bar`) are the core's."""
from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile


class SearchScalars:
    """TensorBoard scalars of a search under `<out>/tensorboard/search`: each trial's metrics and costs and
    the best score so far, at step = trial id (a resumed search appends to the same run)."""

    def __init__(self, log_dir: str):
        import tensorflow as tf
        self.writer = tf.summary.create_file_writer(log_dir)

    def write(self, record, best_score: float | None, edges_left: int | None) -> None:
        import tensorflow as tf
        step = int(record.trial.id)
        with self.writer.as_default():
            if record.result is not None:
                for group in ("metrics", "cost"):
                    for key, value in getattr(record.result, group).items():
                        if isinstance(value, (int, float)):
                            tf.summary.scalar(f"trial/{key}", float(value), step=step)
            if best_score is not None:
                tf.summary.scalar("search/best_score", float(best_score), step=step)
            if edges_left is not None:
                tf.summary.scalar("search/edges_left", float(edges_left), step=step)
        self.writer.flush()


# Lines TensorFlow Lite's converter and interpreter write straight to the process's stderr (C++), not
# through Python logging, so TF_CPP_MIN_LOG_LEVEL and the logging filters do not reach them.
NATIVE_NOISE = re.compile(r"^(INFO: Created TensorFlow Lite|fully_quantize: |Estimated count of arithmetic ops"
                          r"|WARNING: All log messages before absl|\d{4}-\d\d-\d\d [\d:.]+: [IW] tensorflow/"
                          r"|[IW]\d{4} [\d:.]+ +\d+ )")


@contextlib.contextmanager
def native_noise_filtered(enabled: bool = True):
    """Capture file descriptor 2 while the block runs and re-print every line but `NATIVE_NOISE` ones."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines():
                if line.strip() and not NATIVE_NOISE.search(line):
                    print(line, file=sys.stderr)
